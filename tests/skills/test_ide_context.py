"""IDEContext and IDESuggestion: validation, normalisation, helpers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tracker.ide import IDESuggestion
from tracker.ide_context import FieldError, IDEContext
from tracker.phases import WorkflowPhase


def make(**changes: Any) -> IDEContext:
    fields: dict[str, Any] = {
        "file_path": "src/test_main.py",
        "line_number": 42,
        "selected_code": "def test_foo():",
        "language": "python",
        "cursor_position": (42, 0),
        "project_name": "myproject",
    }
    fields.update(changes)
    return IDEContext(**fields)


def test_the_brief_context() -> None:
    ctx = make()
    assert ctx.is_test_file()
    assert ctx.has_selection()
    assert ctx.file_extension() == ".py"
    assert ctx.workflow_phase() is WorkflowPhase.EXECUTION
    assert ctx.cursor_position == (42, 0)


def test_session_id_is_project_and_timestamp() -> None:
    ctx = make(timestamp=datetime(2026, 11, 25, 7, 30, 5, tzinfo=UTC))
    assert ctx.session_id == "myproject_20261125T073005"


@pytest.mark.parametrize(
    ("language", "path", "expected"),
    [
        ("py", "a.py", "python"),
        ("TS", "a.ts", "typescript"),
        ("typescriptreact", "a.tsx", "typescript"),
        ("", "web/app.tsx", "typescript"),
        ("", "web/app.mjs", "javascript"),
        ("", "Dockerfile", "dockerfile"),
        ("", "notes", "plaintext"),
    ],
)
def test_language_normalised_or_inferred(language: str, path: str, expected: str) -> None:
    assert make(language=language, file_path=path).language == expected


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"file_path": ""}, "file_path"),
        ({"file_path": "a\x00b.py"}, "file_path"),
        ({"file_path": 3}, "file_path"),
        ({"line_number": 0}, "line_number"),
        ({"line_number": -1}, "line_number"),
        ({"line_number": True}, "line_number"),
        ({"line_number": "42"}, "line_number"),
        ({"line_number": 43, "total_lines": 42, "cursor_position": None}, "line_number"),
        ({"cursor_position": (43, 0), "total_lines": 42}, "cursor_position"),
        ({"cursor_position": (0, 0)}, "cursor_position"),
        ({"cursor_position": (1, -1)}, "cursor_position"),
        ({"cursor_position": (1,)}, "cursor_position"),
        ({"cursor_position": "1,0"}, "cursor_position"),
        ({"total_lines": 0}, "total_lines"),
        ({"selected_code": 5}, "selected_code"),
        ({"selected_code": "x" * 200_001}, "selected_code"),
        ({"language": "py thon"}, "language"),
        ({"language": 3}, "language"),
        ({"project_name": ""}, "project_name"),
        ({"project_name": "a\nb"}, "project_name"),
    ],
)
def test_validation_names_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(FieldError) as caught:
        make(**changes)
    assert caught.value.field == field


def test_cursor_inside_a_known_file() -> None:
    ctx = make(line_number=42, cursor_position=(42, 7), total_lines=42)
    assert ctx.cursor_position == (42, 7)


def test_no_selection() -> None:
    assert not make(selected_code=None).has_selection()
    assert not make(selected_code="   \n").has_selection()


def test_from_dict_ignores_unknown_keys_and_requires_the_rest() -> None:
    ctx = IDEContext.from_dict(
        {"file_path": "web/a.spec.ts", "line_number": 3, "cursor_position": [3, 1], "editor": "vscode"}
    )
    assert ctx.cursor_position == (3, 1)
    assert ctx.language == "typescript"
    assert ctx.project_name == "default"
    with pytest.raises(FieldError) as caught:
        IDEContext.from_dict({"file_path": "a.py"})
    assert caught.value.field == "line_number"
    with pytest.raises(FieldError):
        IDEContext.from_dict([])  # type: ignore[arg-type]


def test_query_text_carries_language_test_file_and_selection() -> None:
    text = make().query_text("run tests")
    assert text.startswith("python test file")
    assert "run tests" in text and "def test_foo():" in text


def test_suggestion_validation_and_dict() -> None:
    s = IDESuggestion("pytest-run", "Run tests.", 0.5, "Ctrl+Shift+T", 1.25, WorkflowPhase.EXECUTION, ("x",))
    assert s.to_dict() == {
        "skill_name": "pytest-run",
        "description": "Run tests.",
        "confidence": 0.5,
        "shortcut": "Ctrl+Shift+T",
        "estimated_duration": 1.25,
        "workflow_phase": "execution",
        "reasons": ["x"],
    }
    with pytest.raises(ValueError, match="confidence"):
        IDESuggestion("pytest-run", "", 1.5)
    with pytest.raises(ValueError, match="estimated_duration"):
        IDESuggestion("pytest-run", "", 0.5, estimated_duration=-1)
