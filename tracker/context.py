"""Pipeline context: which pipeline, build, commit and branch a result is for.

Standard library only: the GitHub Action imports this module on every step.

>>> ctx = CIPipelineContext(pipeline_name="CI", build_number="42",
...     git_commit="abc123def456", git_branch="main", environment="staging",
...     triggered_by="push")
>>> ctx.session_id, ctx.get_short_commit()
('CI-42', 'abc123d')
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

_HEX = re.compile(r"^[0-9a-f]{7,40}$")
_BUILD = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]{0,63}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# \s of a str pattern is str.isspace(): both use Py_UNICODE_ISSPACE.
_SPACE = re.compile(r"\s")

#: Longest accepted value of a free-text context field.
MAX_FIELD_LENGTH = 255


def _check_text(name: str, value: object, *, allow_space: bool = True) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string, not {type(value).__name__}")
    text = value.strip()
    if not text:
        raise ValueError(f"{name} must not be empty")
    if len(text) > MAX_FIELD_LENGTH:
        raise ValueError(f"{name} is {len(text)} characters long; the limit is {MAX_FIELD_LENGTH}")
    if _CONTROL.search(text):
        raise ValueError(f"{name} must not contain control characters")
    if not allow_space and _SPACE.search(text):
        raise ValueError(f"{name} must not contain whitespace: {text!r}")
    return text


#: What a "." or ".." between slashes becomes: one and two dot leaders.
_DOT_SEGMENTS = {".": "\u2024", "..": "\u2025"}


def url_safe_name(name: str) -> str:
    """``name`` with each ``.`` or ``..`` between slashes written with dot
    leaders (U+2024, U+2025), which look the same.

    A pipeline name is a path in the dashboard's and the API's URLs, where
    a browser resolves dot segments: ``a/../b`` would open pipeline ``b``.
    Every source (the Action, the API, webhooks) names a pipeline through
    this, so one workflow keeps one name.

    >>> url_safe_name("./ci"), url_safe_name("release/v2.1")
    ('․/ci', 'release/v2.1')
    """
    parts = name.split("/")
    if not any(part in _DOT_SEGMENTS for part in parts):
        return name
    return "/".join(_DOT_SEGMENTS.get(part, part) for part in parts)


_FIELD_NAMES: dict[type, tuple[frozenset[str], tuple[str, ...]]] = {}


def _field_names(cls: type) -> tuple[frozenset[str], tuple[str, ...]]:
    """A dataclass's field names, and those without a ``None`` default
    (``fields()`` costs microseconds a call; contexts are built per request)."""
    found = _FIELD_NAMES.get(cls)
    if found is None:
        every = fields(cls)
        found = frozenset(f.name for f in every), tuple(f.name for f in every if f.default is not None)
        _FIELD_NAMES[cls] = found
    return found


def build_number_for(run_number: str, run_attempt: int | None) -> str:
    """The build number of a GitHub run attempt: ``"42"`` for the first
    attempt, ``"42.2"`` for the second. Re-runs are kept apart this way, and
    the Action and the webhooks name the same build the same way.

    >>> build_number_for("42", 1), build_number_for("42", 3)
    ('42', '42.3')
    """
    return run_number if not run_attempt or run_attempt <= 1 else f"{run_number}.{run_attempt}"


def _ref_name(ref: str) -> str:
    """What GitHub puts in ``GITHUB_REF_NAME`` for ``ref`` (older act
    versions set only ``GITHUB_REF``): ``refs/heads/feature/x`` →
    ``feature/x``, ``refs/pull/7/merge`` → ``7/merge``.

    >>> _ref_name("refs/heads/feature/login"), _ref_name("refs/tags/v1.0")
    ('feature/login', 'v1.0')
    """
    for prefix in ("refs/heads/", "refs/tags/", "refs/pull/"):
        if ref.startswith(prefix):
            return ref.removeprefix(prefix)
    return ref


def _owner_name(repo: str) -> bool:
    return repo.count("/") == 1 and not repo.startswith("/") and not repo.endswith("/")


def repository_or_none(value: str) -> str | None:
    """``GITHUB_REPOSITORY`` when it looks like owner/name, else ``None``:
    the field is optional, and act sets the path of a clone of a local
    repository there, which must not cost the whole result.

    >>> repository_or_none("octo-org/octo-repo"), repository_or_none("/work/main"), repository_or_none("")
    ('octo-org/octo-repo', None, None)
    """
    value = value.strip()
    return value if value and _owner_name(value) else None


@dataclass(frozen=True)
class CIPipelineContext:
    """The CI/CD context of a stage result, validated on construction.

    :raises ValueError: for an empty or malformed field, naming it.
    """

    pipeline_name: str
    build_number: str
    git_commit: str
    git_branch: str
    environment: str
    triggered_by: str
    repository: str | None = None
    run_id: str | None = None
    run_attempt: int | None = None
    job: str | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "pipeline_name", url_safe_name(_check_text("pipeline_name", self.pipeline_name)))
        build = _check_text(
            "build_number",
            str(self.build_number) if isinstance(self.build_number, int) else self.build_number,
        )
        if not _BUILD.match(build):
            raise ValueError(
                f"build_number {build!r} must be 1-64 letters, digits, '.', '_' or '-', "
                "starting with a letter or digit"
            )
        set_(self, "build_number", build)
        commit = _check_text("git_commit", self.git_commit).lower()
        if not _HEX.match(commit):
            raise ValueError(f"git_commit {commit!r} must be 7 to 40 hexadecimal characters")
        set_(self, "git_commit", commit)
        set_(
            self,
            "git_branch",
            _check_text("git_branch", self.git_branch, allow_space=False),
        )
        set_(self, "environment", _check_text("environment", self.environment))
        set_(self, "triggered_by", _check_text("triggered_by", self.triggered_by))
        if self.repository is not None:
            repo = _check_text("repository", self.repository, allow_space=False)
            if not _owner_name(repo):
                raise ValueError(f"repository {repo!r} must look like owner/name")
            set_(self, "repository", repo)
        if self.run_id is not None:
            set_(
                self,
                "run_id",
                _check_text("run_id", str(self.run_id), allow_space=False),
            )
        if self.run_attempt is not None and (
            isinstance(self.run_attempt, bool)
            or not isinstance(self.run_attempt, int)
            or self.run_attempt < 1
        ):
            raise ValueError(f"run_attempt must be an integer >= 1, not {self.run_attempt!r}")
        if self.job is not None:
            set_(self, "job", _check_text("job", self.job))

    @property
    def session_id(self) -> str:
        """``{pipeline_name}-{build_number}``."""
        return f"{self.pipeline_name}-{self.build_number}"

    def get_short_commit(self) -> str:
        """The first 7 characters of the commit."""
        return self.git_commit[:7]

    short_commit = get_short_commit

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; fields that are ``None`` are left out."""
        return {k: v for k, v in asdict(self).items() if v is not None}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CIPipelineContext:
        """Build from a mapping; unknown keys are ignored.

        :raises ValueError: for a missing or malformed field.
        """
        if not isinstance(data, Mapping):
            raise ValueError("context must be a JSON object")
        names, required = _field_names(cls)
        missing = [n for n in required if data.get(n) in (None, "")]
        if missing:
            raise ValueError(f"context is missing {', '.join(missing)}")
        return cls(**{k: v for k, v in data.items() if k in names})

    @classmethod
    def from_json(cls, text: str) -> CIPipelineContext:
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_github_env(
        cls, environ: Mapping[str, str], *, environment: str | None = None
    ) -> CIPipelineContext:
        """Build the context of the current GitHub Actions (or act) job.

        Reads ``GITHUB_WORKFLOW``, ``GITHUB_RUN_NUMBER`` (else
        ``GITHUB_RUN_ID``), ``GITHUB_RUN_ATTEMPT``, ``GITHUB_SHA``,
        ``GITHUB_HEAD_REF`` (pull requests) else ``GITHUB_REF_NAME`` (else
        the name in ``GITHUB_REF``),
        ``GITHUB_EVENT_NAME``, ``GITHUB_REPOSITORY``, ``GITHUB_RUN_ID`` and
        ``GITHUB_JOB``. ``environment`` defaults to ``"ci"``.

        :raises ValueError: naming every variable that is missing.
        """

        def get(name: str) -> str:
            return (environ.get(name) or "").strip()

        run_number = get("GITHUB_RUN_NUMBER") or get("GITHUB_RUN_ID")
        branch = get("GITHUB_HEAD_REF") or get("GITHUB_REF_NAME") or _ref_name(get("GITHUB_REF"))
        missing = [
            label
            for label, value in (
                ("GITHUB_WORKFLOW", get("GITHUB_WORKFLOW")),
                ("GITHUB_RUN_NUMBER or GITHUB_RUN_ID", run_number),
                ("GITHUB_SHA", get("GITHUB_SHA")),
                ("GITHUB_REF_NAME, GITHUB_HEAD_REF or GITHUB_REF", branch),
                ("GITHUB_EVENT_NAME", get("GITHUB_EVENT_NAME")),
            )
            if not value
        ]
        if missing:
            raise ValueError("not a GitHub Actions environment: missing " + ", ".join(missing))
        attempt_text = get("GITHUB_RUN_ATTEMPT") or "1"
        if not (attempt_text.isascii() and attempt_text.isdigit()) or int(attempt_text) < 1:
            raise ValueError(f"GITHUB_RUN_ATTEMPT must be a positive integer, not {attempt_text!r}")
        attempt = int(attempt_text)
        return cls(
            pipeline_name=get("GITHUB_WORKFLOW"),
            build_number=build_number_for(run_number, attempt),
            git_commit=get("GITHUB_SHA"),
            git_branch=branch,
            environment=environment or "ci",
            triggered_by=get("GITHUB_EVENT_NAME"),
            repository=repository_or_none(get("GITHUB_REPOSITORY")),
            run_id=get("GITHUB_RUN_ID") or None,
            run_attempt=attempt,
            job=get("GITHUB_JOB") or None,
        )
