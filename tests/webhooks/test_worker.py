"""The background worker's rules: one process applies deliveries at a time,
and it gives way while a burst is being answered."""

from __future__ import annotations

from datetime import timedelta

from flask.testing import FlaskClient
from sqlalchemy import update

from receiver.webhook_worker import LEASE, WebhookWorker
from tests.webhooks.helpers import post, run_payload
from tracker.github.rules import PhaseRules
from tracker.records import utcnow
from tracker.storage import SkillsStorage
from tracker.storage.schema import webhook_delivery, worker_lease


def test_lease_is_held_by_one_owner_until_it_runs_out(storage: SkillsStorage) -> None:
    assert storage.take_lease("x", "a", 30)
    assert not storage.take_lease("x", "b", 30)
    assert storage.take_lease("x", "a", 30)  # renewed by its owner
    with storage.write() as conn:
        conn.execute(update(worker_lease).values(lease_until=utcnow() - timedelta(seconds=1)))
    assert storage.take_lease("x", "b", 30)  # a dead owner's lease is taken over
    storage.drop_lease("x", "a")  # not a's any more: nothing happens
    assert not storage.take_lease("x", "a", 30)
    storage.drop_lease("x", "b")
    assert storage.take_lease("x", "a", 30)


def _age(storage: SkillsStorage, seconds: float) -> None:
    with storage.write() as conn:
        conn.execute(update(webhook_delivery).values(received_at=utcnow() - timedelta(seconds=seconds)))


def test_worker_waits_while_deliveries_arrive(client: FlaskClient, storage: SkillsStorage) -> None:
    worker = WebhookWorker(storage, PhaseRules.default(), quiet_seconds=5, max_defer_seconds=60)
    assert not worker._busy()  # nothing pending
    post(client, "workflow_run", run_payload())
    assert worker._busy()  # the newest pending delivery is younger than quiet_seconds
    _age(storage, 6)
    assert not worker._busy()  # quiet for 6 s: apply now
    post(client, "workflow_run", run_payload(run_id=2), delivery="newer")
    assert worker._busy()
    _age(storage, 61)
    post(client, "workflow_run", run_payload(run_id=3), delivery="newest")
    assert not worker._busy()  # the oldest has waited past max_defer_seconds


def test_only_the_lease_holder_applies_deliveries(client: FlaskClient, storage: SkillsStorage) -> None:
    post(client, "workflow_run", run_payload())
    _age(storage, 10)
    holder = WebhookWorker(storage, PhaseRules.default())
    other = WebhookWorker(storage, PhaseRules.default())
    assert storage.take_lease(LEASE, holder.owner, 30)
    other._round()
    assert storage.delivery_counts() == {"pending": 1}
    holder._round()
    assert storage.delivery_counts() == {"processed": 1}
    assert storage.take_lease(LEASE, other.owner, 30)  # the idle holder let go
