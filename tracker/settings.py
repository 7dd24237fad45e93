"""One settings object, read from the environment.

Every field of :class:`Settings` is read from ``SESSION_BUDDY_CI_<NAME>``
(upper case). Each has a safe default and a help text; the README's
settings table is checked against this module by a test.

>>> s = Settings.from_env({"SESSION_BUDDY_CI_SLOW_STAGE_SECONDS": "120"})
>>> s.slow_stage_seconds
120.0
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .phases import WorkflowPhase, parse_phase_overrides

PREFIX = "SESSION_BUDDY_CI_"


def _setting(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


def default_data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_DATA_HOME/session-buddy-ci``, else ``~/.local/share/session-buddy-ci``."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "session-buddy-ci"


@dataclass(frozen=True)
class Settings:
    """All configuration of the tracker, the receiver and the CLI."""

    data_dir: str = _setting(
        "",
        "Folder for the default SQLite database. Default: `$XDG_DATA_HOME/session-buddy-ci` (else `~/.local/share/session-buddy-ci`).",
    )
    database_url: str = _setting(
        "",
        "SQLAlchemy URL of the database. Default: `sqlite:///<data_dir>/session-buddy-ci.db`. PostgreSQL: `postgresql+psycopg://user@host/db`.",
    )
    sqlite_synchronous: str = _setting(
        "NORMAL",
        "SQLite `synchronous` pragma: `NORMAL` (a process crash loses nothing; a power loss can lose the last commits) or `FULL` (fsync on every commit).",
    )
    bottleneck_success_rate: float = _setting(
        0.80, "A stage whose success rate is below this is a bottleneck."
    )
    high_priority_success_rate: float = _setting(
        0.70, "Below this success rate a stage gets a high-priority recommendation."
    )
    slow_stage_seconds: float = _setting(
        300.0,
        "A stage whose mean duration is above this gets a medium-priority recommendation.",
    )
    exact_percentile_limit: int = _setting(
        10_000,
        "Up to this many runs in a window, p50/p95 are exact; above it they come from per-day histograms (within 1.3%; a duration under 1 ms reads as 0).",
    )
    stage_phases: str = _setting(
        "",
        "Extra CI stage names and their phases, e.g. `e2e=verification,package=setup`.",
    )
    github_phase_words: str = _setting(
        "",
        "Extra words that map GitHub job and step names to phases, tried before the built-in ones, e.g. `smoke=verification,bundle=setup` (a word matches at the start of a word in the name).",
    )
    api_tokens: tuple[str, ...] = _setting(
        (),
        "Comma-separated bearer tokens accepted by `POST /api/v1/stage-results` and the other write endpoints.",
    )
    max_body_bytes: int = _setting(1_048_576, "Largest request body accepted by the JSON API, in bytes.")
    host: str = _setting("127.0.0.1", "Address `session-buddy-ci serve` binds to.")
    port: int = _setting(8080, "Port `session-buddy-ci serve` binds to.")
    workers: int = _setting(0, "gunicorn workers for `serve`; 0 means one per CPU (2 to 8).")
    worker_class: str = _setting(
        "gevent",
        "gunicorn worker class for `serve`: `gevent` (each request a greenlet; the faster ingest) or `gthread` (8 threads per worker).",
    )
    webhooks_enabled: str = _setting(
        "auto",
        "`auto` (on when a webhook secret is set), `true` or `false`. `true` without a secret refuses to start unless WEBHOOK_INSECURE_DEV is set.",
    )
    webhook_secrets: tuple[str, ...] = _setting(
        (),
        "Comma-separated webhook secrets; any of them verifies a delivery (rotate by adding the new one first).",
    )
    webhook_insecure_dev: bool = _setting(
        False, "Accept unsigned webhooks when no secret is set. Development only."
    )
    webhook_max_bytes: int = _setting(
        26_214_400,
        "Largest webhook body accepted, in bytes (GitHub caps payloads at 25 MB).",
    )
    github_token: str = _setting("", "Token used to comment on pull requests and to backfill.")
    github_app_id: str = _setting(
        "", "GitHub App id (with the private key, comments as the App installation)."
    )
    github_private_key: str = _setting("", "GitHub App private key (PEM text).")
    github_private_key_file: str = _setting("", "Path of a file holding the GitHub App private key.")
    github_api_url: str = _setting(
        "https://api.github.com",
        "GitHub REST API base URL (`https://HOST/api/v3` for GitHub Enterprise Server; `http://` works too).",
    )
    embedder: str = _setting(
        "auto",
        "`auto` (MiniLM when the `embeddings` extra is installed, else the fallback), `minilm` or `fallback`.",
    )
    baseline_refresh_hours: float = _setting(
        24.0, "How often the receiver recomputes community baselines; 0 turns it off."
    )
    crackerjack_command: str = _setting(
        "",
        "The `crackerjack` executable `session-buddy-ci crackerjack run` starts. Default: `crackerjack` on PATH.",
    )
    log_level: str = _setting("INFO", "Log level of the receiver and CLI.")

    def __post_init__(self) -> None:
        # OFF would let a machine crash corrupt the database; the README's
        # durability promises hold for these two.
        if self.sqlite_synchronous.upper() not in {"NORMAL", "FULL"}:
            raise ValueError(
                f"{PREFIX}SQLITE_SYNCHRONOUS must be NORMAL or FULL, not {self.sqlite_synchronous!r}"
            )
        for name in ("bottleneck_success_rate", "high_priority_success_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{PREFIX}{name.upper()} must be between 0 and 1, not {value}")
        if self.exact_percentile_limit < 0 or self.max_body_bytes <= 0 or self.webhook_max_bytes <= 0:
            raise ValueError("limits must be positive")
        if self.embedder not in {"auto", "minilm", "fallback"}:
            raise ValueError(f"{PREFIX}EMBEDDER must be auto, minilm or fallback, not {self.embedder!r}")
        if self.worker_class not in {"gevent", "gthread"}:
            raise ValueError(f"{PREFIX}WORKER_CLASS must be gevent or gthread, not {self.worker_class!r}")
        if self.webhooks_enabled not in {"auto", "true", "false"}:
            raise ValueError(
                f"{PREFIX}WEBHOOKS_ENABLED must be auto, true or false, not {self.webhooks_enabled!r}"
            )
        self.stage_phase_overrides  # validate early  # noqa: B018
        parse_phase_overrides(self.github_phase_words)

    @property
    def stage_phase_overrides(self) -> dict[str, WorkflowPhase]:
        return parse_phase_overrides(self.stage_phases)

    @property
    def resolved_database_url(self) -> str:
        """The database URL, with the documented default filled in."""
        if self.database_url:
            return self.database_url
        data_dir = Path(self.data_dir) if self.data_dir else default_data_dir()
        return f"sqlite:///{data_dir / 'session-buddy-ci.db'}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read every setting from ``environ`` (default: ``os.environ``).

        :raises ValueError: naming the variable whose value cannot be parsed.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            name = PREFIX + f.name.upper()
            if name in env:
                values[f.name] = _parse(name, env[name], f.default)
        values.update(overrides)
        return cls(**values)

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    @classmethod
    def documentation(cls) -> list[tuple[str, str, str]]:
        """(variable, default, help) for each setting, for the README."""
        rows = []
        for f in fields(cls):
            default = f.default
            shown = ",".join(default) if isinstance(default, tuple) else str(default)
            rows.append((PREFIX + f.name.upper(), shown, f.metadata["help"]))
        return rows


def _parse(name: str, raw: str, default: Any) -> Any:
    text = raw.strip()
    try:
        if isinstance(default, bool):
            if text.lower() in {"1", "true", "yes", "on"}:
                return True
            if text.lower() in {"0", "false", "no", "off", ""}:
                return False
            raise ValueError("expected true or false")
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float):
            return float(text)
        if isinstance(default, tuple):
            return tuple(part.strip() for part in text.split(",") if part.strip())
        return text
    except ValueError as exc:
        raise ValueError(f"{name}={raw!r} is not valid: {exc}") from None
