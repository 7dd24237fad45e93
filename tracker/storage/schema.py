"""Table definitions (SQLAlchemy Core).

The Alembic migrations in ``tracker/migrations`` create these tables; a test
checks that a migrated database and this metadata agree, so a change here
without a migration fails the suite.

Timestamps are naive UTC ``DateTime`` columns: they read well in ad-hoc SQL
(``invoked_at >= '2026-11-01'``) and compare correctly as text in SQLite.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

metadata = MetaData()

#: One row per skill run, whatever recorded it.
skill_invocation = Table(
    "skill_invocation",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # Columns that the brief's users already query.
    Column("skill_name", String(200), nullable=False),
    Column("invoked_at", DateTime, nullable=False),
    Column("session_id", String(300), nullable=False),
    Column("workflow_path", String(300)),
    Column("completed", Boolean, nullable=False),
    Column("duration_seconds", Float, nullable=False),
    Column("user_query", Text),
    Column("alternatives_considered", JSON(none_as_null=True)),
    Column("selection_rank", Integer),
    Column("follow_up_actions", JSON(none_as_null=True)),
    Column("error_type", String(200)),
    Column("workflow_phase", String(20), nullable=False),
    Column("workflow_step_id", String(300)),
    # What the product adds beside them.
    Column("source", String(20), nullable=False),
    Column("stage", String(200)),
    Column("outcome", String(20), nullable=False),
    Column("error_message", Text),
    # What a failure is counted under: error_type, else the message's first line.
    Column("error_key", String(200)),
    Column("exit_code", Integer),
    Column("duration_bucket", Integer, nullable=False),
    Column("queue_seconds", Float),
    Column("artifacts", JSON(none_as_null=True)),
    Column("pipeline_name", String(255)),
    Column("build_number", String(64)),
    Column("git_commit", String(40)),
    Column("git_branch", String(255)),
    Column("environment", String(255)),
    Column("triggered_by", String(255)),
    Column("repository", String(255)),
    Column("run_id", String(64)),
    Column("run_attempt", Integer),
    Column("job", String(255)),
    # Stable identity of a result that can arrive more than once (a webhook
    # step, a backfilled job): "gh:job:<id>:step:<n>".
    Column("external_id", String(300), unique=True),
    Column("recorded_at", DateTime, nullable=False),
)
# Covering index of the analytics window queries: the edge-day scans read
# only the index, never the table.
Index(
    "ix_invocation_pipeline_time",
    skill_invocation.c.pipeline_name,
    skill_invocation.c.invoked_at,
    skill_invocation.c.stage,
    skill_invocation.c.duration_seconds,
    skill_invocation.c.outcome,
    skill_invocation.c.duration_bucket,
)
Index(
    "ix_invocation_skill_time",
    skill_invocation.c.skill_name,
    skill_invocation.c.invoked_at,
)
Index("ix_invocation_session", skill_invocation.c.session_id)
Index(
    "ix_invocation_build",
    skill_invocation.c.pipeline_name,
    skill_invocation.c.build_number,
)

#: Running aggregates per skill; ``workflow_phase = 'all'`` is the skill's total.
skill_metrics = Table(
    "skill_metrics",
    metadata,
    Column("skill_name", String(200), primary_key=True),
    Column("workflow_phase", String(20), primary_key=True),
    Column("total_invocations", Integer, nullable=False, default=0),
    Column("completed_invocations", Integer, nullable=False, default=0),
    Column("abandoned_invocations", Integer, nullable=False, default=0),
    Column("total_duration_seconds", Float, nullable=False, default=0.0),
    Column("first_invoked_at", DateTime, nullable=False),
    Column("last_invoked_at", DateTime, nullable=False),
)

#: Counters behind ``skill_metrics``' per-path counts and common errors.
skill_metric_counts = Table(
    "skill_metric_counts",
    metadata,
    Column("skill_name", String(200), primary_key=True),
    Column("kind", String(20), primary_key=True),  # 'workflow_path' | 'error_type'
    Column("key", String(300), primary_key=True),
    Column("count", Integer, nullable=False),
)

#: Per skill and day.
skill_time_series = Table(
    "skill_time_series",
    metadata,
    Column("skill_name", String(200), primary_key=True),
    Column("period_start", Date, primary_key=True),
    Column("invocation_count", Integer, nullable=False),
    Column("completed_count", Integer, nullable=False),
    Column("total_duration_seconds", Float, nullable=False),
    Column("unique_sessions", Integer, nullable=False),
)

#: Which sessions used a skill on a day (feeds ``unique_sessions``).
skill_session_day = Table(
    "skill_session_day",
    metadata,
    Column("skill_name", String(200), primary_key=True),
    Column("period_start", Date, primary_key=True),
    Column("session_id", String(300), primary_key=True),
    # A key-only table: without a rowid it is stored once, not twice.
    sqlite_with_rowid=False,
)

skill_community_baselines = Table(
    "skill_community_baselines",
    metadata,
    Column("skill_name", String(200), primary_key=True),
    Column("total_users", Integer, nullable=False),
    Column("total_invocations", Integer, nullable=False),
    Column("global_completion_rate", Float, nullable=False),
    Column("global_mean_duration", Float, nullable=False),
    Column("most_common_workflow_phase", String(20)),
    Column("effectiveness_percentile", Float, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

#: Per pipeline, stage and day: the rollup the analytics read for whole days.
stage_daily = Table(
    "stage_daily",
    metadata,
    Column("pipeline_name", String(255), primary_key=True),
    Column("stage", String(200), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("runs", Integer, nullable=False),
    Column("successes", Integer, nullable=False),
    Column("failures", Integer, nullable=False),
    Column("skipped", Integer, nullable=False),
    Column("cancelled", Integer, nullable=False),
    Column("total_duration_seconds", Float, nullable=False),
    Column("queued_runs", Integer, nullable=False),
    Column("total_queue_seconds", Float, nullable=False),
)

#: Per pipeline, stage, day and duration bucket: counts for percentiles.
#: Clustered (WITHOUT ROWID) on (pipeline, day, …): a window reads only its
#: own days, with no second lookup (7 days of a million runs over 90 days:
#: 5 ms instead of 18 ms; 90 days: 56 ms instead of 89 ms).
stage_daily_histogram = Table(
    "stage_daily_histogram",
    metadata,
    Column("pipeline_name", String(255), nullable=False),
    Column("stage", String(200), nullable=False),
    Column("day", Date, nullable=False),
    Column("bucket", Integer, nullable=False),
    Column("count", Integer, nullable=False),
    PrimaryKeyConstraint("pipeline_name", "day", "stage", "bucket"),
    sqlite_with_rowid=False,
)

#: Per pipeline, stage, day and failure label (error type or first line).
stage_failure_daily = Table(
    "stage_failure_daily",
    metadata,
    Column("pipeline_name", String(255), primary_key=True),
    Column("stage", String(200), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("error_key", String(200), primary_key=True),
    Column("count", Integer, nullable=False),
)

#: Which skills a stage has used, and when last: "skills used" in a window
#: is ``last_seen >= start`` (no scan of the invocations).
stage_skill = Table(
    "stage_skill",
    metadata,
    Column("pipeline_name", String(255), primary_key=True),
    Column("stage", String(200), primary_key=True),
    Column("skill_name", String(200), primary_key=True),
    Column("runs", Integer, nullable=False),
    Column("first_seen", DateTime, nullable=False),
    Column("last_seen", DateTime, nullable=False),
)

#: The skill catalogue; embeddings are float32 bytes (the vec0 table, where
#: sqlite-vec loads, is an index rebuilt from these).
skill_catalogue = Table(
    "skill_catalogue",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("description", Text, nullable=False),
    Column("workflow_phase", String(20)),
    Column("languages", JSON(none_as_null=True)),
    Column("builtin", Boolean, nullable=False, default=False),
    Column("embedding", LargeBinary),
    Column("embedder", String(100)),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

#: One row (id 1): the catalogue's version (bumped by every catalogue
#: write, so each process knows when its in-memory vectors are stale), which
#: embedder and version the vec0 index holds, and when the community
#: baselines were last recomputed.
skills_state = Table(
    "skills_state",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("catalogue_version", Integer, nullable=False),
    Column("vector_embedder", String(100)),
    Column("vector_version", Integer),
    Column("baselines_refreshed_at", DateTime),
)

#: Distinct user queries (recommendation and search texts), embedded once.
skill_query = Table(
    "skill_query",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("query_hash", String(64), nullable=False, unique=True),
    Column("text", Text, nullable=False),
    Column("embedding", LargeBinary),
    Column("embedder", String(100)),
    Column("uses", Integer, nullable=False),
    Column("first_seen", DateTime, nullable=False),
    Column("last_seen", DateTime, nullable=False),
)

#: Shortcuts users registered; the vocabulary's defaults apply to the
#: skills not listed here. A NULL shortcut unbinds a default that another
#: skill took over.
ide_shortcut = Table(
    "ide_shortcut",
    metadata,
    Column("skill_name", String(200), primary_key=True),
    Column("shortcut", String(60), unique=True),
    Column("updated_at", DateTime, nullable=False),
)

#: What the editor did with a suggestion.
ide_feedback = Table(
    "ide_feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("skill_name", String(200), nullable=False),
    Column("accepted", Boolean, nullable=False),
    Column("language", String(50)),
    Column("project_name", String(255)),
    Column("file_path", Text),
    Column("workflow_phase", String(20)),
    Column("confidence", Float),
    Column("created_at", DateTime, nullable=False),
)
Index("ix_ide_feedback_skill", ide_feedback.c.skill_name, ide_feedback.c.created_at)

#: Accepted and rejected counts per skill and language ('' = not given),
#: kept with each feedback row: what the ranking reads.
ide_feedback_stats = Table(
    "ide_feedback_stats",
    metadata,
    Column("skill_name", String(200), primary_key=True),
    Column("language", String(50), primary_key=True),
    Column("accepted", Integer, nullable=False),
    Column("rejected", Integer, nullable=False),
)

# Crackerjack reports (source, project, phase) and "recent use of a skill in
# this project" (project, skill, time): workflow_path holds the project.
Index(
    "ix_invocation_source_path_stage",
    skill_invocation.c.source,
    skill_invocation.c.workflow_path,
    skill_invocation.c.stage,
)
Index(
    "ix_invocation_path_skill_time",
    skill_invocation.c.workflow_path,
    skill_invocation.c.skill_name,
    skill_invocation.c.invoked_at,
)

#: Every webhook delivery, stored before it is answered.
webhook_delivery = Table(
    "webhook_delivery",
    metadata,
    Column("delivery_id", String(100), primary_key=True),
    Column("event", String(100), nullable=False),
    Column("action", String(100)),
    Column("hook_id", String(100)),
    Column("received_at", DateTime, nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("status", String(20), nullable=False),  # pending|processed|failed|ignored
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("processed_at", DateTime),
    # Added by 0002: how to decode `body` again, and who is processing it
    # (a worker holds a delivery until `lease_until`; then another may).
    Column("content_type", String(100)),
    Column("lease_owner", String(100)),
    Column("lease_until", DateTime),
)
Index(
    "ix_webhook_delivery_status",
    webhook_delivery.c.status,
    webhook_delivery.c.received_at,
)

#: Idempotency keys of the stage-result API, with the first answer.
stage_result_request = Table(
    "stage_result_request",
    metadata,
    Column("idempotency_key", String(200), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("invocation_id", Integer, nullable=False),
    Column("created_at", DateTime, nullable=False),
)

#: One row per workflow run attempt, as its latest payload describes it
#: (``status_rank`` and ``state_at`` decide which payload is the latest).
github_run = Table(
    "github_run",
    metadata,
    Column("run_id", BigInteger, primary_key=True, autoincrement=False),
    Column("run_attempt", Integer, primary_key=True, autoincrement=False),
    Column("repository", String(255), nullable=False),
    Column("pipeline_name", String(255), nullable=False),
    Column("workflow_path", String(300)),
    Column("run_number", Integer, nullable=False),
    Column("build_number", String(64), nullable=False),
    Column("head_sha", String(40), nullable=False),
    Column("head_branch", String(255)),
    Column("head_repository", String(255)),
    Column("head_owner", String(255)),
    Column("event", String(100), nullable=False),
    Column("status", String(20), nullable=False),
    Column("status_rank", Integer, nullable=False),
    Column("conclusion", String(30)),
    Column("created_at", DateTime),
    Column("run_started_at", DateTime),
    Column("updated_at", DateTime),
    Column("state_at", DateTime, nullable=False),
    Column("duration_seconds", Float),
    Column("pull_requests", JSON(none_as_null=True)),
    Column("html_url", String(500)),
    Column("installation_id", BigInteger),
    Column("recorded_at", DateTime, nullable=False),
)
Index("ix_github_run_build", github_run.c.pipeline_name, github_run.c.build_number)

#: One row per workflow job (job ids are unique across attempts).
#: ``materialised_at`` is set once its steps are in ``skill_invocation``
#: (or found already recorded by the Action: ``covered_by_action``).
github_job = Table(
    "github_job",
    metadata,
    Column("job_id", BigInteger, primary_key=True, autoincrement=False),
    Column("run_id", BigInteger, nullable=False),
    Column("run_attempt", Integer, nullable=False),
    Column("repository", String(255), nullable=False),
    Column("name", String(200), nullable=False),
    Column("status", String(20), nullable=False),
    Column("status_rank", Integer, nullable=False),
    Column("conclusion", String(30)),
    Column("created_at", DateTime),
    Column("started_at", DateTime),
    Column("completed_at", DateTime),
    Column("state_at", DateTime, nullable=False),
    Column("queue_seconds", Float),
    Column("duration_seconds", Float),
    Column("data", JSON, nullable=False),
    Column("installation_id", BigInteger),
    Column("materialised_at", DateTime),
    Column("covered_by_action", Boolean),
    Column("pipeline_name", String(255)),
    Column("build_number", String(64)),
    Column("recorded_at", DateTime, nullable=False),
)
Index("ix_github_job_run", github_job.c.run_id, github_job.c.run_attempt)
Index("ix_github_job_build", github_job.c.pipeline_name, github_job.c.build_number)

#: Run attempts that completed jobs wait for: no ``workflow_run`` delivery
#: of the attempt was stored (a hook sending only ``workflow_job``). The
#: receiver reads them from the API when ``next_lookup`` comes; the row goes
#: when the attempt's run is stored.
github_run_awaited = Table(
    "github_run_awaited",
    metadata,
    Column("run_id", BigInteger, primary_key=True, autoincrement=False),
    Column("run_attempt", Integer, primary_key=True, autoincrement=False),
    Column("repository", String(255), nullable=False),
    Column("installation_id", BigInteger),
    Column("since", DateTime, nullable=False),
    Column("next_lookup", DateTime, nullable=False),
    Column("failures", Integer, nullable=False),
    Column("last_error", String(500)),
)
Index("ix_github_run_awaited_next", github_run_awaited.c.next_lookup)

#: Which run attempts belong to which pull request.
github_pr_run = Table(
    "github_pr_run",
    metadata,
    Column("repository", String(255), primary_key=True),
    Column("pr_number", Integer, primary_key=True, autoincrement=False),
    Column("run_id", BigInteger, primary_key=True, autoincrement=False),
    Column("run_attempt", Integer, primary_key=True, autoincrement=False),
    Column("linked_at", DateTime, nullable=False),
)
Index("ix_github_pr_run_run", github_pr_run.c.run_id, github_pr_run.c.run_attempt)

#: Work for the PR comment: ``comment`` jobs (one per PR: writes to a PR
#: are serialised by the lease and coalesced by the generations
#: ``requested``/``done``) and ``resolve`` jobs (find a fork run's PR).
github_comment_job = Table(
    "github_comment_job",
    metadata,
    Column("job_key", String(400), primary_key=True),
    Column("kind", String(20), nullable=False),
    Column("repository", String(255), nullable=False),
    Column("pr_number", Integer),
    Column("run_id", BigInteger),
    Column("run_attempt", Integer),
    Column("installation_id", BigInteger),
    Column("requested", Integer, nullable=False),
    Column("done", Integer, nullable=False),
    Column("status", String(20), nullable=False),  # pending|done|failed
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text),
    Column("delivery_id", String(100)),
    Column("comment_id", BigInteger),
    Column("lease_owner", String(100)),
    Column("lease_until", DateTime),
    Column("updated_at", DateTime, nullable=False),
)
Index("ix_github_comment_job_status", github_comment_job.c.status, github_comment_job.c.updated_at)

#: Leases that let one process at a time do a kind of background work
#: (applying webhook deliveries: SQLite has one writer, so several
#: processes applying at once only wait on each other).
worker_lease = Table(
    "worker_lease",
    metadata,
    Column("name", String(50), primary_key=True),
    Column("owner", String(100), nullable=False),
    Column("lease_until", DateTime, nullable=False),
)
