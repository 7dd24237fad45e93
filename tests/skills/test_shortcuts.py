"""Shortcuts: the defaults, registration (validated, persisted across
storage instances), conflicts and overrides; feedback rows."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from tracker.embeddings import HashingEmbedder
from tracker.errors import StorageFullError
from tracker.ide import IDEPluginProtocol
from tracker.ide_context import FieldError, IDEContext
from tracker.ide_rules import DEFAULT_SHORTCUTS
from tracker.semantic import SkillCatalogue
from tracker.settings import Settings
from tracker.storage import SkillsStorage
from tracker.storage.ide import ShortcutConflict
from tracker.storage.schema import ide_feedback

from .conftest import StorageFactory


def open_plugin(make_storage: StorageFactory) -> IDEPluginProtocol:
    store = make_storage("ide.db")
    return IDEPluginProtocol(store, catalogue=SkillCatalogue(store, HashingEmbedder()))


def test_defaults(make_storage: StorageFactory) -> None:
    plugin = open_plugin(make_storage)
    assert plugin.get_available_shortcuts() == dict(sorted(DEFAULT_SHORTCUTS.items()))
    assert plugin.get_shortcut("pytest-run") == "Ctrl+Shift+T"
    assert plugin.get_shortcut("bandit-security") is None


def test_registered_shortcuts_persist_across_storage_instances(make_storage: StorageFactory) -> None:
    plugin = open_plugin(make_storage)
    assert plugin.register_shortcut("bandit-security", "ctrl+alt+b") == "Ctrl+Alt+B"
    assert plugin.register_shortcut("ruff-check", "shift+ctrl+k") == "Ctrl+Shift+K"  # a default, changed
    plugin.close()
    again = open_plugin(make_storage)
    assert again.get_shortcut("bandit-security") == "Ctrl+Alt+B"
    assert again.get_shortcut("ruff-check") == "Ctrl+Shift+K"
    assert again.get_shortcut("pytest-run") == "Ctrl+Shift+T"


def test_conflicts_and_override(make_storage: StorageFactory) -> None:
    plugin = open_plugin(make_storage)
    with pytest.raises(ShortcutConflict, match="pytest-run") as caught:
        plugin.register_shortcut("bandit-security", "Ctrl+Shift+T")
    assert caught.value.owner == "pytest-run"
    assert plugin.get_shortcut("bandit-security") is None  # nothing changed
    plugin.register_shortcut("bandit-security", "ctrl+shift+t", override=True)
    shortcuts = plugin.get_available_shortcuts()
    assert shortcuts["bandit-security"] == "Ctrl+Shift+T"
    assert "pytest-run" not in shortcuts  # the default moved away
    assert list(shortcuts.values()).count("Ctrl+Shift+T") == 1
    # pytest-run can take a new one; its old combination stays with bandit.
    plugin.register_shortcut("pytest-run", "Ctrl+Alt+T")
    plugin.register_shortcut("pytest-run", "Ctrl+Alt+T")  # the same again is no conflict
    assert plugin.get_shortcut("pytest-run") == "Ctrl+Alt+T"


@pytest.mark.parametrize(
    ("skill", "shortcut", "field"),
    [
        ("pytest-run", "T", "shortcut"),
        ("pytest-run", "Ctrl+Hyper+T", "shortcut"),
        ("no-such-skill", "Ctrl+Alt+N", "skill_name"),
        ("", "Ctrl+Alt+N", "skill_name"),
    ],
)
def test_validation(make_storage: StorageFactory, skill: str, shortcut: str, field: str) -> None:
    plugin = open_plugin(make_storage)
    with pytest.raises(FieldError) as caught:
        plugin.register_shortcut(skill, shortcut)
    assert caught.value.field == field
    assert plugin.get_available_shortcuts() == dict(sorted(DEFAULT_SHORTCUTS.items()))


def test_feedback_and_its_run_are_stored_together_or_not_at_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SkillsStorage(tmp_path / "f.db", settings=Settings(embedder="fallback"))
    plugin = IDEPluginProtocol(db_path=None, storage=store)

    def disk_full(*args: object, **kwargs: object) -> None:
        raise StorageFullError("the database or its disk is full")

    monkeypatch.setattr(store, "_insert", disk_full)
    with pytest.raises(StorageFullError):
        plugin.record_feedback("pytest-run", True, completed=True, duration=4.0)
    with store.read() as conn:
        assert conn.execute(select(func.count()).select_from(ide_feedback)).scalar() == 0
    assert store.feedback_stats(["pytest-run"]) == {}


def test_feedback_rows_and_runs(tmp_path: Path) -> None:
    store = SkillsStorage(tmp_path / "f.db", settings=Settings(embedder="fallback"))
    plugin = IDEPluginProtocol(db_path=None, storage=store)
    context = IDEContext(file_path="tests/test_a.py", line_number=3, language="py", project_name="shop")
    feedback_id, run_id = plugin.record_feedback("pytest-run", True, context, completed=True, duration=4.0)
    _, no_run = plugin.record_feedback("ruff-check", False)
    assert no_run is None
    with store.read() as conn:
        row = conn.execute(select(ide_feedback).where(ide_feedback.c.id == feedback_id)).one()
    assert (row.skill_name, row.accepted, row.language, row.project_name, row.workflow_phase) == (
        "pytest-run",
        True,
        "python",
        "shop",
        "execution",
    )
    [run] = store.invocations(source="ide")
    assert run["id"] == run_id and run["session_id"] == context.session_id and run["workflow_path"] == "shop"
    assert run["duration_seconds"] == 4.0 and run["completed"] is True
    stats = store.feedback_stats(["pytest-run", "ruff-check"], "python")
    assert (stats["pytest-run"].accepted, stats["pytest-run"].language_accepted) == (1, 1)
    assert (stats["ruff-check"].rejected, stats["ruff-check"].language_rejected) == (1, 0)
    store.close()


def test_db_path_opens_its_own_file(tmp_path: Path) -> None:
    plugin = IDEPluginProtocol(db_path=tmp_path / "own.db", settings=Settings(embedder="fallback"))
    assert plugin.get_shortcut("pytest-run") == "Ctrl+Shift+T"
    assert (tmp_path / "own.db").exists()
    plugin.close()
