"""CICDTracker: record pipeline stages, read analytics and reports.

>>> tracker = CICDTracker(db_path="skills.db")              # doctest: +SKIP
>>> tracker.track_pipeline_stage(context, "test", "pytest-run", True, 45.2)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import tempfile
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from .analytics import (
    PipelineAnalytics,
    Thresholds,
    find_bottlenecks,
    phase_of_stage,
    recommend,
    trend,
    with_phases,
)
from .context import CIPipelineContext, url_safe_name
from .errors import TrackerError
from .github.rules import PhaseRules
from .metrics import PipelineStageMetrics
from .phases import (
    CRACKERJACK_PHASES,
    Integration,
    Outcome,
    PhaseMap,
    Source,
    WorkflowPhase,
    phase_map_for,
)
from .records import InvocationRecord, check_duration, to_utc_naive, utcnow
from .report import ReportFormat, render
from .settings import Settings
from .storage import SkillsStorage, StoredResult

MAX_DAYS = 3650


def check_days(days: Any) -> int:
    """A window length in whole days, 1 to 3650.

    :raises ValueError: otherwise.
    """
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise ValueError(f"days must be a whole number from 1 to {MAX_DAYS}, not {days!r}")
    return days


class CICDTracker:
    """Tracks the stages of CI/CD pipelines.

    :param db_path: a SQLite file path or any SQLAlchemy URL; ``None`` uses
        the ``SESSION_BUDDY_CI_DATABASE_URL`` setting or the default file.
    :param storage: an open :class:`SkillsStorage` to share (then ``db_path``
        is ignored).
    :param clock: returns "now" as naive UTC (tests pass a fixed clock).
    """

    def __init__(
        self,
        db_path: str | Path | None = None,
        *,
        storage: SkillsStorage | None = None,
        settings: Settings | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = settings or (storage.settings if storage else Settings.from_env())
        self.storage = storage or SkillsStorage(db_path, settings=self.settings)
        self.clock = clock
        self.thresholds = Thresholds.from_settings(self.settings)
        self.ci_map: PhaseMap = phase_map_for(Integration.CI, self.settings.stage_phase_overrides)
        # Stage names the CI map does not know get the phase their words
        # name, as a webhook's job does ("linters": verification).
        self.phase_rules = PhaseRules.from_settings(self.settings)

    def close(self) -> None:
        self.storage.close()

    def phase_for(self, stage_name: str, integration: Integration | str = Integration.CI) -> WorkflowPhase:
        """The workflow phase a stage maps to. Crackerjack phase names are
        strict (a ``ValueError`` lists the valid ones); CI stage names fall
        back to the documented default."""
        if Integration(integration) is Integration.CRACKERJACK:
            return CRACKERJACK_PHASES.strict_phase_for(stage_name)
        return phase_of_stage(stage_name, self.ci_map, self.phase_rules)

    def build_record(
        self,
        context: CIPipelineContext,
        stage_name: str,
        skill_name: str,
        completed: bool,
        duration_seconds: float,
        *,
        artifacts: dict[str, Any] | None = None,
        error_message: str | None = None,
        integration: Integration | str = Integration.CI,
        exit_code: int | None = None,
        started_at: datetime | None = None,
        source: Source = Source.CI,
        external_id: str | None = None,
    ) -> InvocationRecord:
        """The validated record :meth:`track_pipeline_stage` would store."""
        duration = check_duration(duration_seconds)
        invoked_at = (
            to_utc_naive(started_at) if started_at is not None else self.clock() - timedelta(seconds=duration)
        )
        return InvocationRecord(
            skill_name=skill_name,
            session_id=context.session_id,
            workflow_phase=self.phase_for(stage_name, integration),
            source=source,
            outcome=Outcome.from_completed(bool(completed)),
            duration_seconds=duration,
            invoked_at=invoked_at,
            stage=stage_name,
            context=context,
            error_message=error_message,
            exit_code=exit_code,
            artifacts=artifacts,
            workflow_path=context.pipeline_name,
            workflow_step_id=context.job,
            external_id=external_id,
        )

    def track_pipeline_stage(
        self,
        context: CIPipelineContext,
        stage_name: str,
        skill_name: str,
        completed: bool,
        duration_seconds: float,
        artifacts: dict[str, Any] | None = None,
        error_message: str | None = None,
        **options: Any,
    ) -> int:
        """Store one stage result with its mapped workflow phase; the
        rollups are updated in the same transaction. Returns the row id.

        Keyword ``options`` are those of :meth:`build_record`
        (``integration``, ``exit_code``, ``started_at``…).
        """
        record = self.build_record(
            context,
            stage_name,
            skill_name,
            completed,
            duration_seconds,
            artifacts=artifacts,
            error_message=error_message,
            **options,
        )
        row_id = self.storage.record_invocation(record)
        assert row_id is not None
        return row_id

    def record_stage_result(
        self, record: InvocationRecord, *, idempotency_key: str | None, body: Any
    ) -> StoredResult:
        """Store a stage result exactly once per idempotency key."""
        return self.storage.record_stage_result(record, idempotency_key=idempotency_key, body=body)

    def _stage_metrics(
        self, pipeline_name: str, start: datetime, end: datetime, stage: str | None = None
    ) -> list[PipelineStageMetrics]:
        # This tracker's settings decide, also when it shares a storage
        # opened with other settings.
        return self.storage.stage_metrics(
            pipeline_name, start, end, stage=stage, exact_limit=self.settings.exact_percentile_limit
        )

    def get_pipeline_analytics(self, pipeline_name: str, days: int = 7) -> PipelineAnalytics:
        """Per-stage analytics of the last ``days`` days (exactly: an
        invocation ``days`` days and one second old is out), with
        bottlenecks, trends and recommendations. The name is looked up as
        it is stored (see :func:`~tracker.context.url_safe_name`)."""
        check_days(days)
        pipeline_name = url_safe_name(pipeline_name)
        end = self.clock()
        start = end - timedelta(days=days)
        stages = with_phases(self._stage_metrics(pipeline_name, start, end), self.ci_map, self.phase_rules)
        # This window against the one as long before it, both exact: the
        # previous one ends just before this one starts.
        current = {s.stage_name: (s.total_runs, s.successful_runs, s.total_duration) for s in stages}
        previous = self.storage.stage_totals(
            pipeline_name, start - timedelta(days=days), start - timedelta(microseconds=1)
        )
        return PipelineAnalytics(
            pipeline_name=pipeline_name,
            days=days,
            window_start=start,
            window_end=end,
            stages=tuple(stages),
            bottlenecks=tuple(find_bottlenecks(stages, self.thresholds)),
            recommendations=tuple(recommend(stages, self.thresholds, self.ci_map, self.phase_rules)),
            trends={
                s.stage_name: trend(current.get(s.stage_name), previous.get(s.stage_name)) for s in stages
            },
        )

    def get_stage_summary(
        self, pipeline_name: str, stage_name: str, days: int = 30
    ) -> PipelineStageMetrics | None:
        """One stage's metrics over the last ``days`` days, or ``None``."""
        check_days(days)
        pipeline_name = url_safe_name(pipeline_name)
        end = self.clock()
        found = self._stage_metrics(pipeline_name, end - timedelta(days=days), end, stage=stage_name)
        return with_phases(found, self.ci_map, self.phase_rules)[0] if found else None

    def generate_pipeline_report(
        self,
        pipeline_name: str,
        days: int = 30,
        format: ReportFormat | str = ReportFormat.MARKDOWN,
    ) -> str:
        """The pipeline report (Markdown by default, readable in a terminal
        and on GitHub; ``text`` or ``json`` too)."""
        return render(self.get_pipeline_analytics(pipeline_name, days), format)

    def export_analytics(self, pipeline_name: str, path: str | Path, days: int = 30) -> Path:
        """Write the analytics as JSON (with ``schema_version``) to ``path``,
        atomically (a temporary file renamed into place).

        :raises TrackerError: when the file cannot be written (naming it).
        """
        target = Path(path)
        data = self.get_pipeline_analytics(pipeline_name, days).to_dict()
        data["exported_at"] = self.clock().isoformat() + "Z"
        try:
            write_atomically(target, json.dumps(data, indent=2) + "\n")
        except OSError as exc:
            raise TrackerError(f"cannot write {target}: {exc.strerror or exc}") from exc
        return target


_DESCRIPTOR = re.compile(r"/dev/(?:std(in|out|err)|fd/([0-9]+))|/proc/(self|[0-9]+)/fd/([0-9]+)")


def _open_descriptor(target: Path) -> int | None:
    """The descriptor number ``target`` names, if it or a link on the way
    to its file names one of this process's (``/dev/stdout`` → 1)."""
    path = target
    for _ in range(40):  # the kernel's limit of links followed
        match = _DESCRIPTOR.fullmatch(os.path.normpath(path))
        if match is not None:
            std, fd, pid, proc_fd = match.groups()
            if std is not None:
                return {"in": 0, "out": 1, "err": 2}[std]
            if fd is not None:
                return int(fd)
            return int(proc_fd) if pid in ("self", str(os.getpid())) else None
        if not path.is_symlink():
            return None
        path = path.parent / os.readlink(path)
    return None


def write_atomically(target: Path, text: str) -> None:
    """Replace ``target`` with ``text``: readers see the old file or the
    new one, never half of it, and a failure leaves no temporary file.

    An open descriptor named as a file (``/dev/stdout``, ``/dev/fd/3``) is
    written to as it is: reopening it would truncate the file it was
    redirected to. What is no regular file (a FIFO, a device) is written
    to, as shell redirection would; replacing it would put a file where
    the device was. A symlink stays one: the file it names is replaced (a
    loop of links is an error, ELOOP, as for the shell)."""
    fd = _open_descriptor(target)
    if fd is not None:
        for stream in (sys.stdout, sys.stderr):  # what was printed before comes first
            if stream is not None:
                with contextlib.suppress(ValueError, OSError):  # closed
                    stream.flush()
        data = text.encode("utf-8")
        while data:
            data = data[os.write(fd, data) :]
        return
    if target.is_symlink():
        try:
            target = Path(os.path.realpath(target, strict=True))
        except FileNotFoundError:  # dangling: the file it names is created
            target = Path(os.path.realpath(target))
    if target.exists() and not target.is_file():
        with target.open("w", encoding="utf-8") as out:
            out.write(text)
        return
    # Unique and beside the target: same file system, so the rename is
    # atomic, and two exports at once never share a temporary file.
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        # mkstemp makes the file private (0600); an export is for sharing.
        tmp.chmod(target.stat().st_mode & 0o777 if target.exists() else 0o644)
        tmp.replace(target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
