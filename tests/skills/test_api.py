"""The IDE, skills and Crackerjack endpoints with the Flask client: answers,
validation field by field, authentication, and the OpenAPI examples."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from flask.testing import FlaskClient

from tracker.ide_rules import DEFAULT_SHORTCUTS
from tracker.storage import SkillsStorage

CONTEXT = {
    "file_path": "src/test_main.py",
    "line_number": 42,
    "selected_code": "def test_foo():",
    "language": "py",
    "cursor_position": [42, 0],
    "project_name": "myproject",
}


def test_recommendations(client: FlaskClient) -> None:
    response = client.post("/api/v1/ide/recommendations", json={**CONTEXT, "limit": 3})
    assert response.status_code == 200
    data = response.get_json()
    assert data["embedder"] == "hashing-v1"  # the settings fixture's embedder
    assert data["workflow_phase"] == "execution"
    assert data["session_id"].startswith("myproject_")
    suggestions = data["suggestions"]
    assert suggestions[0]["skill_name"] == "pytest-run" and len(suggestions) == 3
    assert suggestions[0]["shortcut"] == "Ctrl+Shift+T" and 0 < suggestions[0]["confidence"] <= 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"line_number": 1}, "file_path"),
        ({"file_path": "a.py"}, "line_number"),
        ({"file_path": "a.py", "line_number": 0}, "line_number"),
        ({"file_path": "a.py", "line_number": "1"}, "line_number"),
        ({"file_path": "a.py", "line_number": 9, "total_lines": 8}, "line_number"),
        ({"file_path": "a.py", "line_number": 1, "cursor_position": [1]}, "cursor_position"),
        (
            {"file_path": "a.py", "line_number": 1, "cursor_position": [9, 0], "total_lines": 8},
            "cursor_position",
        ),
        ({"file_path": "a.py", "line_number": 1, "language": "py thon"}, "language"),
        ({"file_path": "a.py", "line_number": 1, "project_name": ""}, "project_name"),
        ({"file_path": "a.py", "line_number": 1, "selected_code": 3}, "selected_code"),
        ({"file_path": "a.py", "line_number": 1, "limit": 0}, "limit"),
        ({"file_path": "a.py", "line_number": 1, "limit": True}, "limit"),
        ({"file_path": "a\ud800.py", "line_number": 1}, "file_path"),
    ],
)
def test_recommendations_validation(client: FlaskClient, body: dict[str, Any], field: str) -> None:
    response = client.post("/api/v1/ide/recommendations", json=body)
    assert response.status_code == 400
    assert response.get_json()["field"] == field


def test_body_errors(client: FlaskClient, auth: dict[str, str]) -> None:
    path = "/api/v1/ide/recommendations"
    assert client.post(path, data="{", content_type="application/json").get_json()["field"] == "body"
    assert client.post(path, json=[CONTEXT]).status_code == 400
    assert client.post(path, data="x", content_type="text/plain").status_code == 415
    big = {**CONTEXT, "selected_code": "x" * 1_100_000}
    assert client.post(path, json=big).status_code == 413


def test_shortcuts(client: FlaskClient, auth: dict[str, str]) -> None:
    assert client.get("/api/v1/ide/shortcuts").get_json() == {
        "shortcuts": dict(sorted(DEFAULT_SHORTCUTS.items()))
    }
    body = {"skill_name": "bandit-security", "shortcut": "ctrl+alt+b"}
    assert client.put("/api/v1/ide/shortcuts", json=body).status_code == 401
    assert (
        client.put("/api/v1/ide/shortcuts", json=body, headers={"Authorization": "Bearer x"}).status_code
        == 403
    )
    ok = client.put("/api/v1/ide/shortcuts", json=body, headers=auth)
    assert ok.status_code == 200 and ok.get_json()["shortcut"] == "Ctrl+Alt+B"
    assert client.get("/api/v1/ide/shortcuts").get_json()["shortcuts"]["bandit-security"] == "Ctrl+Alt+B"
    clash = client.put(
        "/api/v1/ide/shortcuts", json={"skill_name": "ruff-check", "shortcut": "Ctrl+Alt+B"}, headers=auth
    )
    assert clash.status_code == 409 and clash.get_json()["owner"] == "bandit-security"
    moved = {"skill_name": "ruff-check", "shortcut": "Ctrl+Alt+B", "override": True}
    assert client.put("/api/v1/ide/shortcuts", json=moved, headers=auth).status_code == 200
    for bad, field in [
        ({"skill_name": "ruff-check", "shortcut": "B"}, "shortcut"),
        ({"skill_name": "nope", "shortcut": "Ctrl+B"}, "skill_name"),
        ({"shortcut": "Ctrl+B"}, "skill_name"),
        ({"skill_name": "ruff-check"}, "shortcut"),
        ({"skill_name": "ruff-check", "shortcut": "Ctrl+B", "override": "yes"}, "override"),
    ]:
        response = client.put("/api/v1/ide/shortcuts", json=bad, headers=auth)
        assert (response.status_code, response.get_json()["field"]) == (400, field)


def test_feedback(client: FlaskClient, auth: dict[str, str], storage: SkillsStorage) -> None:
    body = {
        "skill_name": "pytest-run",
        "accepted": True,
        "context": CONTEXT,
        "completed": True,
        "duration_seconds": 3,
    }
    assert client.post("/api/v1/ide/feedback", json=body).status_code == 401
    response = client.post("/api/v1/ide/feedback", json=body, headers=auth)
    assert response.status_code == 201
    data = response.get_json()
    assert data["id"] >= 1 and data["invocation_id"] is not None
    assert storage.feedback_stats(["pytest-run"], "python")["pytest-run"].language_accepted == 1
    [run] = storage.invocations(source="ide")
    assert run["skill_name"] == "pytest-run" and run["workflow_path"] == "myproject"
    for bad, field in [
        ({"skill_name": "pytest-run"}, "accepted"),
        ({"skill_name": "pytest-run", "accepted": "yes"}, "accepted"),
        ({"skill_name": "a\u0007", "accepted": True}, "skill_name"),
        ({"skill_name": "pytest-run", "accepted": True, "confidence": 2}, "confidence"),
        ({"skill_name": "pytest-run", "accepted": True, "context": "x"}, "context"),
        ({"skill_name": "pytest-run", "accepted": True, "context": {"file_path": "a.py"}}, "line_number"),
        ({"skill_name": "pytest-run", "accepted": True, "completed": True}, "duration_seconds"),
        ({"skill_name": "pytest-run", "accepted": True, "completed": 1, "duration_seconds": 1}, "completed"),
        (
            {"skill_name": "pytest-run", "accepted": True, "completed": True, "duration_seconds": -1},
            "duration_seconds",
        ),
        # Beyond a year: a run's start before year 1, once a 500 after the
        # feedback was already stored.
        *(
            (
                {"skill_name": "pytest-run", "accepted": True, "completed": True, "duration_seconds": d},
                "duration_seconds",
            )
            for d in (1e12, 2**63, 1e308, 2**1100)
        ),
    ]:
        response = client.post("/api/v1/ide/feedback", json=bad, headers=auth)
        assert (response.status_code, response.get_json()["field"]) == (400, field), bad
    assert storage.feedback_stats(["pytest-run"])["pytest-run"].accepted == 1  # the first post's only


def test_skills_catalogue_endpoints(client: FlaskClient, auth: dict[str, str]) -> None:
    listing = client.get("/api/v1/skills?limit=5").get_json()
    assert len(listing["skills"]) == 5 and listing["total"] >= 48
    new = {
        "name": "alembic-check",
        "description": "Check database migrations match the models",
        "languages": ["py"],
    }
    assert client.post("/api/v1/skills", json=new).status_code == 401
    created = client.post("/api/v1/skills", json={**new, "workflow_phase": "verification"}, headers=auth)
    assert created.status_code == 201 and created.get_json()["languages"] == ["python"]
    assert client.post("/api/v1/skills", json=new, headers=auth).status_code == 409
    assert client.post("/api/v1/skills", json={**new, "replace": True}, headers=auth).status_code == 201
    found = client.get("/api/v1/skills/search", query_string={"q": "database migrations models", "limit": 3})
    data = found.get_json()
    assert found.status_code == 200 and data["embedder"] == "hashing-v1"
    assert data["results"][0]["skill_name"] == "alembic-check"
    for bad, field in [
        ({"description": "x"}, "name"),
        ({"name": "x"}, "description"),
        ({"name": "x", "description": "y", "workflow_phase": "testing"}, "workflow_phase"),
        ({"name": "x", "description": "y", "languages": "py"}, "languages"),
        ({"name": "x", "description": "y", "languages": ["p y"]}, "languages"),
        ({"name": "x", "description": "y", "replace": 1}, "replace"),
    ]:
        response = client.post("/api/v1/skills", json=bad, headers=auth)
        assert (response.status_code, response.get_json()["field"]) == (400, field), bad
    for query, field in [
        ({}, "q"),
        ({"q": " "}, "q"),
        ({"q": "x", "limit": "0"}, "limit"),
        ({"q": "x", "limit": "²"}, "limit"),
        ({"q": "x", "limit": "9" * 5000}, "limit"),
        ({"q": "x", "workflow_phase": "y"}, "workflow_phase"),
    ]:
        response = client.get("/api/v1/skills/search", query_string=query)
        assert (response.status_code, response.get_json()["field"]) == (400, field)


#: A Crackerjack phase result as the API takes it.
CRACKERJACK_PHASE = {
    "project": "shop",
    "session_id": "42",
    "phase": "fast_hooks",
    "skill": "ruff-check",
    "completed": False,
    "duration_seconds": 2.5,
    "error_message": "E501",
    "started_at": "2026-11-25T06:00:00Z",
}


def test_crackerjack_endpoints(client: FlaskClient, auth: dict[str, str]) -> None:
    body = dict(CRACKERJACK_PHASE)
    assert client.post("/api/v1/crackerjack/phases", json=body).status_code == 401
    created = client.post("/api/v1/crackerjack/phases", json=body, headers=auth)
    assert created.status_code == 201
    assert created.get_json() == {
        "id": created.get_json()["id"],
        "session_id": "crackerjack_42",
        "project": "shop",
        "workflow_phase": "setup",
    }
    report = client.get("/api/v1/crackerjack/projects/shop/report").get_json()
    assert report["phases"]["fast_hooks"]["common_failures"] == [{"error": "E501", "count": 1}]
    assert report["phases"]["fast_hooks"]["last_run"] == "2026-11-25T06:00:00"
    for duration in (1e12, 1.7e305, 2**63):
        too_long = client.post(
            "/api/v1/crackerjack/phases", json={**body, "duration_seconds": duration}, headers=auth
        )
        assert (too_long.status_code, too_long.get_json()["field"]) == (400, "duration_seconds")
    bad_phase = client.post("/api/v1/crackerjack/phases", json={**body, "phase": "lint"}, headers=auth)
    assert (
        bad_phase.status_code == 400
        and "fast_hooks, tests, comprehensive_hooks, ai_fix" in bad_phase.get_json()["message"]
    )
    changes: list[tuple[dict[str, Any], str]] = [
        ({"duration_seconds": -1}, "duration_seconds"),
        ({"duration_seconds": "2"}, "duration_seconds"),
        ({"completed": "no"}, "completed"),
        ({"started_at": "yesterday"}, "started_at"),
        ({"skill": ""}, "skill"),
        ({"project": None}, "project"),
        ({"error_message": 5}, "error_message"),
    ]
    for change, field in changes:
        response = client.post("/api/v1/crackerjack/phases", json={**body, **change}, headers=auth)
        assert (response.status_code, response.get_json()["field"]) == (400, field), change


def test_openapi_examples_validate_against_their_schemas(client: FlaskClient) -> None:
    document = client.get("/api/v1/openapi.json").get_json()
    checked = 0
    for path in (
        "/api/v1/ide/recommendations",
        "/api/v1/ide/shortcuts",
        "/api/v1/ide/feedback",
        "/api/v1/skills",
        "/api/v1/skills/search",
        "/api/v1/crackerjack/phases",
    ):
        for operation in document["paths"][path].values():
            bodies = [operation.get("requestBody", {}).get("content", {}).get("application/json", {})]
            bodies += [
                r.get("content", {}).get("application/json", {}) for r in operation["responses"].values()
            ]
            for media in bodies:
                if "example" in media:
                    schema = {**media["schema"], "components": document["components"]}
                    jsonschema.Draft202012Validator(schema).validate(media["example"])
                    checked += 1
    assert checked >= 8


def test_examples_work_against_the_api(client: FlaskClient, auth: dict[str, str]) -> None:
    """What an editor extension copies from the document is accepted as is."""
    document = client.get("/api/v1/openapi.json").get_json()
    paths = document["paths"]

    def example(path: str, method: str) -> Any:
        return paths[path][method]["requestBody"]["content"]["application/json"]["example"]

    assert (
        client.post(
            "/api/v1/ide/recommendations", json=example("/api/v1/ide/recommendations", "post")
        ).status_code
        == 200
    )
    assert (
        client.put(
            "/api/v1/ide/shortcuts", json=example("/api/v1/ide/shortcuts", "put"), headers=auth
        ).status_code
        == 200
    )
    assert (
        client.post(
            "/api/v1/ide/feedback", json=example("/api/v1/ide/feedback", "post"), headers=auth
        ).status_code
        == 201
    )
    assert (
        client.post("/api/v1/skills", json=example("/api/v1/skills", "post"), headers=auth).status_code == 201
    )
    assert (
        client.post(
            "/api/v1/crackerjack/phases", json=example("/api/v1/crackerjack/phases", "post"), headers=auth
        ).status_code
        == 201
    )
