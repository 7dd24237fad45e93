"""The editor's persisted state: keyboard shortcuts and suggestion feedback."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BindParameter, Connection, bindparam, case, func, select

from ..errors import TrackerError
from ..ide_rules import DEFAULT_SHORTCUTS
from ..records import InvocationRecord, utcnow
from .invocations import InvocationStore
from .schema import ide_feedback, ide_feedback_stats, ide_shortcut


class ShortcutConflict(TrackerError):
    """The key combination belongs to another skill."""

    def __init__(self, shortcut: str, owner: str) -> None:
        super().__init__(
            f"{shortcut} is already the shortcut of {owner}; pass override=true to move it to this skill"
        )
        self.shortcut = shortcut
        self.owner = owner


@dataclass(frozen=True)
class FeedbackStats:
    """Accepted and rejected suggestions of a skill: overall and for one language."""

    accepted: int = 0
    rejected: int = 0
    language_accepted: int = 0
    language_rejected: int = 0


_stats = ide_feedback_stats
_LANGUAGE: BindParameter[str] = bindparam("language")
_FEEDBACK_OF = (
    select(
        _stats.c.skill_name,
        func.sum(_stats.c.accepted).label("accepted"),
        func.sum(_stats.c.rejected).label("rejected"),
        func.sum(case((_stats.c.language == _LANGUAGE, _stats.c.accepted), else_=0)).label("lang_accepted"),
        func.sum(case((_stats.c.language == _LANGUAGE, _stats.c.rejected), else_=0)).label("lang_rejected"),
    )
    .where(_stats.c.skill_name.in_(bindparam("names", expanding=True)))
    .group_by(_stats.c.skill_name)
)
_SHORTCUTS = select(ide_shortcut.c.skill_name, ide_shortcut.c.shortcut)


def _effective(rows: Sequence[Any]) -> dict[str, str]:
    shortcuts = dict(DEFAULT_SHORTCUTS)
    for r in rows:
        if r.shortcut is None:
            shortcuts.pop(r.skill_name, None)
        else:
            shortcuts[r.skill_name] = r.shortcut
    return dict(sorted(shortcuts.items()))


class IDEStore(InvocationStore):
    """Shortcuts (defaults overlaid with the user's) and feedback counters."""

    def shortcuts(self) -> dict[str, str]:
        """Every skill's shortcut: the vocabulary's defaults, then what users
        registered (which can also move a default to another skill)."""
        with self.read("reading shortcuts") as conn:
            return self._shortcuts(conn)

    def _shortcuts(self, conn: Connection) -> dict[str, str]:
        return _effective(conn.execute(_SHORTCUTS).all())

    def set_shortcut(self, skill_name: str, shortcut: str, *, override: bool = False) -> dict[str, str]:
        """Bind ``shortcut`` (canonical form) to ``skill_name``; returns all
        shortcuts. Check and change share one write transaction.

        :raises ShortcutConflict: when another skill has it and ``override``
            is false; with ``override`` that skill loses it.
        """
        now = utcnow()
        with self.write("registering a shortcut") as conn:
            current = self._shortcuts(conn)
            owner = next((s for s, combo in current.items() if combo == shortcut and s != skill_name), None)
            if owner is not None:
                if not override:
                    raise ShortcutConflict(shortcut, owner)
                self.upsert(
                    conn,
                    ide_shortcut,
                    {"skill_name": owner, "shortcut": None, "updated_at": now},
                    ["skill_name"],
                    {"shortcut": None, "updated_at": now},
                )
            self.upsert(
                conn,
                ide_shortcut,
                {"skill_name": skill_name, "shortcut": shortcut, "updated_at": now},
                ["skill_name"],
                {"shortcut": shortcut, "updated_at": now},
            )
            return self._shortcuts(conn)

    def record_feedback(
        self,
        skill_name: str,
        accepted: bool,
        *,
        language: str | None = None,
        project_name: str | None = None,
        file_path: str | None = None,
        workflow_phase: str | None = None,
        confidence: float | None = None,
        run: InvocationRecord | None = None,
    ) -> tuple[int, int | None]:
        """Store what the editor did with a suggestion, and the ``run`` of
        the skill when there is one, in one transaction: a failure stores
        neither, so a retry never counts the feedback twice. Returns the
        feedback's id and the run's (or ``None``)."""
        now = utcnow()
        with self.write("recording IDE feedback") as conn:
            result = conn.execute(
                ide_feedback.insert().values(
                    skill_name=skill_name,
                    accepted=accepted,
                    language=language,
                    project_name=project_name,
                    file_path=file_path,
                    workflow_phase=workflow_phase,
                    confidence=confidence,
                    created_at=now,
                )
            )
            stats = ide_feedback_stats
            self.upsert(
                conn,
                stats,
                {
                    "skill_name": skill_name,
                    "language": language or "",
                    "accepted": int(accepted),
                    "rejected": int(not accepted),
                },
                ["skill_name", "language"],
                {
                    "accepted": stats.c.accepted + int(accepted),
                    "rejected": stats.c.rejected + int(not accepted),
                },
            )
            assert result.inserted_primary_key is not None
            run_id = self._insert(conn, run) if run is not None else None
            return int(result.inserted_primary_key[0]), run_id

    def feedback_stats(self, names: Sequence[str], language: str | None = None) -> dict[str, FeedbackStats]:
        """Feedback counts of ``names`` (skills without feedback are left out)."""
        if not names:
            return {}
        with self.read("reading IDE feedback") as conn:
            return {
                r.skill_name: FeedbackStats(
                    int(r.accepted), int(r.rejected), int(r.lang_accepted), int(r.lang_rejected)
                )
                for r in conn.execute(_FEEDBACK_OF, {"names": list(names), "language": language or ""})
            }
