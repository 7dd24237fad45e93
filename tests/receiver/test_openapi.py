"""The OpenAPI document: valid OpenAPI 3.1, and in step with the routes.

Generic over ``app.url_map``: an endpoint added under ``/api/``,
``/webhooks`` or ``/healthz`` without a description fails here, and so does
a description of a path or method nobody routes.
"""

from __future__ import annotations

import re
from typing import Any

import jsonschema
import pytest
from flask import Flask
from flask.testing import FlaskClient
from schemathesis.specs.openapi.definitions import OPENAPI_31

DESCRIBED_PREFIXES = ("/api/", "/webhooks", "/healthz")
IGNORED_METHODS = {"HEAD", "OPTIONS"}
_CONVERTER = re.compile(r"<(?:[a-z_]+(?:\([^)]*\))?:)?([a-zA-Z_][a-zA-Z0-9_]*)>")


def openapi_path(rule: str) -> str:
    """``/api/v1/pipelines/<path:name>/report`` → ``/api/v1/pipelines/{name}/report``."""
    return _CONVERTER.sub(r"{\1}", rule)


def routed(app: Flask) -> set[tuple[str, str]]:
    pairs = set()
    for rule in app.url_map.iter_rules():
        for method in (rule.methods or set()) - IGNORED_METHODS:
            pairs.add((openapi_path(rule.rule), method.lower()))
    return pairs


@pytest.fixture
def document(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    data = response.get_json()
    assert isinstance(data, dict)
    return data


def test_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1.")
    jsonschema.Draft202012Validator(OPENAPI_31).validate(document)


def test_component_schemas_are_valid_json_schema(document: dict[str, Any]) -> None:
    for name, schema in document["components"]["schemas"].items():
        try:
            jsonschema.Draft202012Validator.check_schema(schema)
        except jsonschema.SchemaError as exc:  # pragma: no cover - the message is the point
            pytest.fail(f"components.schemas.{name}: {exc.message}")


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    refs: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                refs.append(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    assert refs
    for ref in refs:
        assert ref.startswith("#/"), ref
        target: Any = document
        for part in ref[2:].split("/"):
            assert part in target, f"unresolved {ref}"
            target = target[part]


def test_every_api_route_is_described(app: Flask, document: dict[str, Any]) -> None:
    described = {(path, method) for path, item in document["paths"].items() for method in item}
    missing = sorted(
        (path, method)
        for path, method in routed(app)
        if path.startswith(DESCRIBED_PREFIXES) and (path, method) not in described
    )
    assert not missing, f"routes without an OpenAPI description: {missing}"


def test_every_description_is_routed(app: Flask, document: dict[str, Any]) -> None:
    methods = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
    described = {
        (path, method) for path, item in document["paths"].items() for method in item if method in methods
    }
    stale = sorted(described - routed(app))
    assert not stale, f"described but not routed: {stale}"


def test_path_parameters_match_the_template(document: dict[str, Any]) -> None:
    for path, item in document["paths"].items():
        in_template = set(re.findall(r"{([^}]+)}", path))
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            declared = {
                p["name"]
                for p in [*item.get("parameters", []), *operation.get("parameters", [])]
                if p.get("in") == "path"
            }
            assert declared == in_template, f"{method.upper()} {path}: {declared} vs {in_template}"


def test_operation_ids_are_unique(document: dict[str, Any]) -> None:
    ids = [
        op["operationId"]
        for item in document["paths"].values()
        for op in item.values()
        if isinstance(op, dict) and "operationId" in op
    ]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize(
    ("rule", "path"),
    [
        ("/api/v1/pipelines/<path:name>/report", "/api/v1/pipelines/{name}/report"),
        ("/api/v1/x/<int:n>/<slug>", "/api/v1/x/{n}/{slug}"),
        ("/healthz", "/healthz"),
    ],
)
def test_openapi_path(rule: str, path: str) -> None:
    assert openapi_path(rule) == path


def test_stage_result_operation_is_complete(document: dict[str, Any]) -> None:
    operation = document["paths"]["/api/v1/stage-results"]["post"]
    assert operation["security"] == [{"bearer": []}]
    assert set(operation["responses"]) >= {"200", "201", "400", "401", "403", "413", "415", "422", "507"}
    body = document["components"]["schemas"]["StageResult"]
    assert set(body["required"]) == {"context", "stage", "skill", "success", "duration_seconds"}
    assert set(body["properties"]) >= {"exit_code", "error", "started_at", "integration"}
    header = operation["parameters"][0]
    assert (header["name"], header["in"], header["schema"]["maxLength"]) == ("Idempotency-Key", "header", 200)
