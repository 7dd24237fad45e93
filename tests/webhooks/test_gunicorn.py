"""The webhook endpoint under real gunicorn: a small signed burst, end to end."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import WEBHOOK_SECRET
from tests.support.server import gunicorn
from tests.support.webhook_client import WebhookPoster
from tests.webhooks.helpers import body, job_payload, run_payload
from tracker.settings import Settings
from tracker.storage import SkillsStorage

pytestmark = pytest.mark.slow
JOBS = 40


def test_signed_burst_is_stored_and_processed(tmp_path: Path) -> None:
    db = tmp_path / "hooks.db"
    env = {
        "SESSION_BUDDY_CI_DATABASE_URL": f"sqlite:///{db}",
        "SESSION_BUDDY_CI_WEBHOOK_SECRETS": f"rotated-away,{WEBHOOK_SECRET}",
        "SESSION_BUDDY_CI_WEBHOOK_MAX_BYTES": "65536",
        "SESSION_BUDDY_CI_GITHUB_TOKEN": "",
    }
    # serve's gevent workers: deliveries are applied by a greenlet beside the answers.
    with gunicorn(env, workers=2, log_dir=tmp_path) as server:
        first = WebhookPoster(server.url, WEBHOOK_SECRET)
        assert first.post("workflow_run", body(run_payload()), "burst-run").status == 202

        def deliver(i: int) -> int:
            poster = WebhookPoster(server.url, WEBHOOK_SECRET)
            try:
                return poster.post(
                    "workflow_job", body(job_payload(job_id=10_000 + i)), f"burst-job-{i}"
                ).status
            finally:
                poster.close()

        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(deliver, range(JOBS)))
        assert statuses == [202] * JOBS
        # Refused: a repeated id, a bad signature, an oversize chunked body.
        again = first.post("workflow_job", body(job_payload(job_id=10_000)), "burst-job-0")
        assert (again.status, again.answer["status"]) == (200, "duplicate")
        assert (
            first.post(
                "workflow_job", body(job_payload(job_id=1)), "bad-sig", signature="sha256=" + "0" * 64
            ).status
            == 401
        )
        big = body({**job_payload(job_id=2), "padding": "x" * 70_000})
        assert first.post("workflow_job", big, "too-big", chunked=True).status == 413
        first.close()

        storage = SkillsStorage(settings=Settings(database_url=f"sqlite:///{db}"))
        deadline = time.monotonic() + 60
        while storage.delivery_counts() != {"processed": JOBS + 1}:
            assert time.monotonic() < deadline, (storage.delivery_counts(), server.log())
            time.sleep(0.1)
        assert storage.count_github_rows() == {"github_run": 1, "github_job": JOBS, "github_pr_run": 0}
        assert storage.count_invocations(source="webhook") == JOBS * 12
        assert len({j["job_id"] for j in storage.github_jobs()}) == JOBS
        storage.close()
