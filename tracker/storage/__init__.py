"""Storage: every SQL statement of the product lives in this package.

:class:`SkillsStorage` is the one class callers use; its methods are split
by concern across the modules here (writes, analytics reads, look-ups) so
no file grows past what a reader can hold.

>>> storage = SkillsStorage("skills.db")        # doctest: +SKIP
>>> storage = SkillsStorage("postgresql+psycopg://ci@db/ci")  # doctest: +SKIP
"""

from __future__ import annotations

from .analytics import AnalyticsQueries, PipelineListing
from .base import database_url
from .catalogue import CatalogueStore
from .crackerjack import CrackerjackQueries
from .github_reports import GitHubReportQueries
from .github_state import GitHubStateStore
from .ide import IDEStore
from .invocations import InvocationStore
from .queries import InvocationQueries
from .rollups import RollupMaintenance
from .skill_history import SkillHistoryQueries
from .stage_results import StageResultStore, StoredResult, request_hash
from .user_queries import UserQueryStore


class SkillsStorage(
    GitHubStateStore,
    GitHubReportQueries,
    StageResultStore,
    IDEStore,
    InvocationStore,
    AnalyticsQueries,
    InvocationQueries,
    RollupMaintenance,
    CatalogueStore,
    UserQueryStore,
    SkillHistoryQueries,
    CrackerjackQueries,
):
    """The product's database: SQLite by default, any SQLAlchemy URL.

    :param target: a file path, a SQLAlchemy URL, or ``None`` for the
        ``SESSION_BUDDY_CI_DATABASE_URL`` setting (else the default file).
    :param vector: load sqlite-vec where a driver can (else vector search
        runs in Python).
    :param migrate_schema: bring the schema to the newest revision on open.
    """


__all__ = [
    "PipelineListing",
    "SkillsStorage",
    "StoredResult",
    "database_url",
    "request_hash",
]
