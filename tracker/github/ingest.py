"""Processing stored deliveries: the step after the receiver's answer.

Each delivery is processed in one transaction with its status, so a
delivery is either fully applied and ``processed`` or not applied at all.
What can go wrong:

- a database that is busy or down (:class:`StorageError`): the delivery
  stays pending and is retried when its lease runs out, up to
  :data:`MAX_ATTEMPTS` times, then marked ``failed``;
- anything else (a payload stored before a parser change, a bug): marked
  ``failed`` with the error, for ``session-buddy-ci replay-deliveries``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from ..errors import StorageError
from ..storage import SkillsStorage
from ..storage.webhooks import DeliveryStatus, StoredDelivery
from .events import CONTENT_TYPE_HEADER, DELIVERY_HEADER, EVENT_HEADER, parse_event
from .rules import PhaseRules
from .workflows import parse_workflow_job, parse_workflow_run

log = logging.getLogger(__name__)

#: Events whose deliveries are processed; every other one is stored as ignored.
INGESTED_EVENTS = frozenset({"workflow_run", "workflow_job"})
MAX_ATTEMPTS = 5


@dataclass
class ProcessStats:
    """What a round of processing did."""

    processed: int = 0
    failed: int = 0
    retried: int = 0
    invocations: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.processed + self.failed + self.retried


class Ingestor:
    """Applies stored deliveries to the tracker's tables.

    :param comments: ask for PR comments (only when the receiver can write
        them: GitHub credentials are configured).
    """

    def __init__(self, storage: SkillsStorage, rules: PhaseRules, *, comments: bool = False) -> None:
        self.storage = storage
        self.rules = rules
        self.comments = comments

    def apply(self, delivery: StoredDelivery) -> int:
        """Apply one delivery and mark it processed (one transaction).
        Returns the invocation rows it added.

        :raises WebhookError: when its stored body no longer parses.
        :raises StorageError: when the database fails.
        """
        headers = {
            EVENT_HEADER: delivery.event,
            DELIVERY_HEADER: delivery.delivery_id,
            CONTENT_TYPE_HEADER: delivery.content_type or "application/json",
        }
        event = parse_event(headers, delivery.body)
        if event.name == "workflow_run":
            run = parse_workflow_run(event.payload)
            done = self.storage.ingest_workflow_run(
                run, rules=self.rules, delivery_id=delivery.delivery_id, comments=self.comments
            )
            return done.invocations
        if event.name == "workflow_job":
            job = parse_workflow_job(event.payload)
            done = self.storage.ingest_workflow_job(
                job,
                event.payload["workflow_job"],
                rules=self.rules,
                delivery_id=delivery.delivery_id,
                comments=self.comments,
            )
            return done.invocations
        self.storage.finish_delivery(delivery.delivery_id, DeliveryStatus.IGNORED)
        return 0

    def process(self, delivery: StoredDelivery, stats: ProcessStats) -> None:
        """Apply one claimed delivery, recording how it ended."""
        try:
            stats.invocations += self.apply(delivery)
            stats.processed += 1
        except StorageError as exc:
            message = f"database error: {exc}"
            if delivery.attempts >= MAX_ATTEMPTS:
                self._fail(delivery, message, stats)
            else:
                log.warning("delivery %s: %s; will retry", delivery.delivery_id, message)
                self.storage.release_delivery(delivery.delivery_id, error=message)
                stats.retried += 1
        except Exception as exc:  # any failure is recorded on the delivery for replay
            log.exception("delivery %s (%s) failed", delivery.delivery_id, delivery.event)
            self._fail(delivery, f"{type(exc).__name__}: {exc}", stats)

    def _fail(self, delivery: StoredDelivery, message: str, stats: ProcessStats) -> None:
        self.storage.finish_delivery(delivery.delivery_id, DeliveryStatus.FAILED, error=message)
        stats.failed += 1
        stats.errors.append(f"{delivery.delivery_id}: {message}")

    def process_pending(self, owner: str, *, limit: int = 1000, batch: int = 20) -> ProcessStats:
        """Claim and apply pending deliveries until none is left (or
        ``limit`` were handled)."""
        stats = ProcessStats()
        while stats.total < limit:
            claimed = self.storage.claim_deliveries(owner, limit=min(batch, limit - stats.total))
            if not claimed:
                break
            for delivery in claimed:
                self.process(delivery, stats)
        return stats
