"""IDEContext: where the editor's cursor is, validated.

>>> ctx = IDEContext(file_path="src/test_main.py", line_number=42,
...     selected_code="def test_foo():", language="py",
...     cursor_position=(42, 0), project_name="myproject")
>>> ctx.language, ctx.is_test_file(), ctx.has_selection(), ctx.file_extension()
('python', True, True, '.py')
>>> ctx.workflow_phase()
<WorkflowPhase.EXECUTION: 'execution'>
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any

from .ide_rules import EXTENSION_LANGUAGES, infer_phase, is_test_path, normalise_language
from .phases import WorkflowPhase
from .records import check_name, to_utc_naive, utcnow

MAX_PATH = 4096
MAX_SELECTION = 200_000
MAX_LINES = 10_000_000
#: How much of the selection goes into the semantic query.
QUERY_CODE_CHARS = 600

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NAMED_FILES = {"dockerfile", "containerfile", "makefile", "justfile"}


class FieldError(ValueError):
    """A value that is missing or malformed, with the field's name."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name


def _int(name: str, value: Any, minimum: int, maximum: int = MAX_LINES) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise FieldError(name, f"{name} must be a whole number, not {type(value).__name__}")
    if not minimum <= value <= maximum:
        raise FieldError(name, f"{name} must be from {minimum} to {maximum}, not {value}")
    return value


@dataclass(frozen=True)
class IDEContext:
    """The code in front of the user.

    :param file_path: the file, relative to the project or absolute.
    :param line_number: 1-based line of the cursor or selection start.
    :param selected_code: the selection, if any.
    :param language: editor language id or extension (``py``, ``tsx``,
        ``typescriptreact``…), normalised; inferred from the file's
        extension when empty.
    :param cursor_position: ``(line, column)``, line 1-based, column 0-based.
    :param project_name: the workspace or project.
    :param total_lines: the file's length in lines, when the editor knows it;
        then ``line_number`` and the cursor must lie inside the file.
    :raises FieldError: naming the field that is wrong.
    """

    file_path: str
    line_number: int
    selected_code: str | None = None
    language: str = ""
    cursor_position: tuple[int, int] | None = None
    project_name: str = "default"
    total_lines: int | None = None
    timestamp: datetime = field(default_factory=utcnow)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        path = self.file_path
        if not isinstance(path, str) or not path.strip():
            raise FieldError("file_path", "file_path must be a non-empty string")
        if len(path) > MAX_PATH or _CONTROL.search(path):
            raise FieldError(
                "file_path", f"file_path must be at most {MAX_PATH} characters, without control characters"
            )
        set_(self, "file_path", path.strip())
        if self.total_lines is not None:
            _int("total_lines", self.total_lines, 1)
        bound = self.total_lines or MAX_LINES
        _int("line_number", self.line_number, 1, bound)
        if self.selected_code is not None:
            if not isinstance(self.selected_code, str):
                raise FieldError("selected_code", "selected_code must be a string")
            if len(self.selected_code) > MAX_SELECTION:
                raise FieldError("selected_code", f"selected_code is longer than {MAX_SELECTION} characters")
        set_(self, "language", self._language())
        if self.cursor_position is not None:
            cursor = self.cursor_position
            if isinstance(cursor, str | bytes) or not isinstance(cursor, list | tuple) or len(cursor) != 2:
                raise FieldError("cursor_position", "cursor_position must be [line, column]")
            line = _int("cursor_position", cursor[0], 1, bound)
            column = _int("cursor_position", cursor[1], 0, 1_000_000)
            set_(self, "cursor_position", (line, column))
        try:
            set_(self, "project_name", check_name(self.project_name, "project_name"))
        except ValueError as exc:
            raise FieldError("project_name", str(exc)) from None
        set_(self, "timestamp", to_utc_naive(self.timestamp))

    def _language(self) -> str:
        raw = self.language
        if raw is not None and not isinstance(raw, str):
            raise FieldError("language", "language must be a string")
        try:
            if raw and raw.strip():
                return normalise_language(raw)
        except ValueError as exc:
            raise FieldError("language", str(exc)) from None
        name = PurePosixPath(self.file_path.replace("\\", "/")).name.lower()
        if name in _NAMED_FILES:
            return name
        return EXTENSION_LANGUAGES.get(self.file_extension().lstrip("."), "plaintext")

    @property
    def session_id(self) -> str:
        """``{project_name}_{timestamp}`` (UTC, ``YYYYmmddTHHMMSS``)."""
        return f"{self.project_name}_{self.timestamp:%Y%m%dT%H%M%S}"

    def is_test_file(self) -> bool:
        """A test file by the vocabulary's rules (name or ``tests/`` folder)."""
        return is_test_path(self.file_path)

    def has_selection(self) -> bool:
        return bool(self.selected_code and self.selected_code.strip())

    def file_extension(self) -> str:
        """The last suffix, lower case, with its dot (``.py``); ``""`` for none."""
        return PurePosixPath(self.file_path.replace("\\", "/")).suffix.lower()

    def workflow_phase(self) -> WorkflowPhase:
        """The phase this file is in (see :func:`tracker.ide_rules.infer_phase`)."""
        return infer_phase(self.file_path, is_test=self.is_test_file())

    def query_text(self, phase_words: str = "") -> str:
        """What is embedded to search the catalogue for this context."""
        stem = PurePosixPath(self.file_path.replace("\\", "/")).name
        words = " ".join(re.findall(r"[A-Za-z]+", stem))
        parts = [self.language, "test file" if self.is_test_file() else "", words, phase_words]
        if self.has_selection():
            parts.append(" ".join((self.selected_code or "")[:QUERY_CODE_CHARS].split()))
        return " ".join(p for p in parts if p)[:2000]

    def to_dict(self) -> dict[str, Any]:
        return {
            "file_path": self.file_path,
            "line_number": self.line_number,
            "selected_code": self.selected_code,
            "language": self.language,
            "cursor_position": list(self.cursor_position) if self.cursor_position else None,
            "project_name": self.project_name,
            "total_lines": self.total_lines,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> IDEContext:
        """Build from JSON; unknown keys are ignored.

        :raises FieldError: naming the missing or malformed field.
        """
        if not isinstance(data, Mapping):
            raise FieldError("context", "the body must be a JSON object")
        for required in ("file_path", "line_number"):
            if data.get(required) is None:
                raise FieldError(required, f"{required} is required")
        cursor = data.get("cursor_position")
        return cls(
            file_path=data["file_path"],
            line_number=data["line_number"],
            selected_code=data.get("selected_code"),
            language="" if data.get("language") is None else data["language"],
            cursor_position=tuple(cursor) if isinstance(cursor, list) else cursor,
            project_name="default" if data.get("project_name") is None else data["project_name"],
            total_lines=data.get("total_lines"),
        )
