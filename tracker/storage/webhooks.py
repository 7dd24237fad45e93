"""Webhook deliveries: stored before they are answered, then processed.

A delivery is stored once per ``X-GitHub-Delivery`` id (``INSERT … ON
CONFLICT DO NOTHING``): a redelivery finds the first row. Processing claims
``pending`` deliveries with a lease, so one worker at a time holds one, and
a worker that died lets go when its lease runs out.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ..records import utcnow
from .base import StorageBase
from .leases import claim_rows
from .schema import webhook_delivery, worker_lease

wd = webhook_delivery


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"  # stored, waiting for (or in) processing
    PROCESSED = "processed"
    FAILED = "failed"  # processing gave up: `replay-deliveries` retries it
    IGNORED = "ignored"  # an event we do not ingest (recorded all the same)


@dataclass(frozen=True)
class DeliveryReceipt:
    """What storing a delivery found. ``new`` is false for a redelivery;
    ``status`` is the row's status after the call."""

    new: bool
    status: DeliveryStatus
    requeued: bool = False


@dataclass(frozen=True)
class StoredDelivery:
    delivery_id: str
    event: str
    action: str | None
    hook_id: str | None
    body: bytes
    content_type: str | None
    status: DeliveryStatus
    attempts: int
    last_error: str | None
    received_at: datetime
    processed_at: datetime | None


_COLUMNS = (
    wd.c.delivery_id,
    wd.c.event,
    wd.c.action,
    wd.c.hook_id,
    wd.c.body,
    wd.c.content_type,
    wd.c.status,
    wd.c.attempts,
    wd.c.last_error,
    wd.c.received_at,
    wd.c.processed_at,
)


def _delivery(row: object) -> StoredDelivery:
    data = dict(row._mapping)  # type: ignore[attr-defined]
    data["status"] = DeliveryStatus(data["status"])
    data["body"] = bytes(data["body"])
    return StoredDelivery(**data)


@functools.cache
def _insert_delivery(dialect: str) -> Any:
    """``INSERT … ON CONFLICT (delivery_id) DO NOTHING``, built once (the
    hot statement of the webhook answer; SQLAlchemy then reuses its
    compiled form)."""
    make = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return make(wd).on_conflict_do_nothing(index_elements=["delivery_id"])


class WebhookDeliveryStore(StorageBase):
    """The ``webhook_delivery`` table."""

    def store_delivery(
        self,
        *,
        delivery_id: str,
        event: str,
        action: str | None,
        hook_id: str | None,
        body: bytes,
        content_type: str | None,
        status: DeliveryStatus = DeliveryStatus.PENDING,
    ) -> DeliveryReceipt:
        """Store a delivery unless its id is stored already (one statement,
        safe under concurrent workers). A redelivery of a ``failed`` one
        is queued again (GitHub's "Redeliver" is how people retry)."""
        now = utcnow()
        with self.write("storing a webhook delivery") as conn:
            inserted = conn.execute(
                _insert_delivery(self.dialect),
                {
                    "delivery_id": delivery_id,
                    "event": event,
                    "action": action,
                    "hook_id": hook_id,
                    "received_at": now,
                    "body": body,
                    "content_type": content_type,
                    "status": status.value,
                    "attempts": 0,
                    "processed_at": now if status is not DeliveryStatus.PENDING else None,
                },
            ).rowcount
            if inserted:
                return DeliveryReceipt(True, status)
            found = DeliveryStatus(
                conn.execute(select(wd.c.status).where(wd.c.delivery_id == delivery_id)).scalar_one()
            )
            if found is DeliveryStatus.FAILED:
                self._requeue(conn, [delivery_id])
                return DeliveryReceipt(False, DeliveryStatus.PENDING, requeued=True)
            return DeliveryReceipt(False, found)

    def delivery(self, delivery_id: str) -> StoredDelivery | None:
        with self.read("reading a webhook delivery") as conn:
            row = conn.execute(select(*_COLUMNS).where(wd.c.delivery_id == delivery_id)).first()
        return _delivery(row) if row is not None else None

    def deliveries(self, *, status: DeliveryStatus | None = None, limit: int = 1000) -> list[StoredDelivery]:
        """Deliveries, oldest first, optionally of one status."""
        query = select(*_COLUMNS).order_by(wd.c.received_at, wd.c.delivery_id).limit(limit)
        if status is not None:
            query = query.where(wd.c.status == status.value)
        with self.read("listing webhook deliveries") as conn:
            return [_delivery(r) for r in conn.execute(query)]

    def delivery_counts(self) -> dict[str, int]:
        """How many deliveries there are of each status."""
        query = select(wd.c.status, func.count()).group_by(wd.c.status)
        with self.read("counting webhook deliveries") as conn:
            return {status: int(n) for status, n in conn.execute(query)}

    def take_lease(self, name: str, owner: str, seconds: float) -> bool:
        """Hold the lease ``name`` for ``seconds`` (or extend it): true
        unless another owner holds it and it has not run out."""
        now = utcnow()
        wl = worker_lease
        make = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        stmt = make(wl).values(name=name, owner=owner, lease_until=now + timedelta(seconds=seconds))
        stmt = stmt.on_conflict_do_update(
            index_elements=["name"],
            set_={"owner": stmt.excluded.owner, "lease_until": stmt.excluded.lease_until},
            where=or_(wl.c.owner == owner, wl.c.lease_until < now),
        )
        with self.write("taking a worker lease") as conn:
            return conn.execute(stmt).rowcount > 0

    def drop_lease(self, name: str, owner: str) -> None:
        """Let go of a lease this owner holds."""
        with self.write("dropping a worker lease") as conn:
            conn.execute(
                delete(worker_lease).where(worker_lease.c.name == name, worker_lease.c.owner == owner)
            )

    def pending_window(self) -> tuple[datetime | None, datetime | None]:
        """When the oldest and the newest pending deliveries arrived (two
        index look-ups; readers never block the writers of WAL)."""
        pending = wd.c.status == DeliveryStatus.PENDING.value
        with self.read("reading the webhook inbox") as conn:
            oldest = conn.execute(select(func.min(wd.c.received_at)).where(pending)).scalar()
            newest = conn.execute(select(func.max(wd.c.received_at)).where(pending)).scalar()
        return oldest, newest

    def claim_deliveries(
        self, owner: str, *, limit: int = 50, lease_seconds: float = 120.0
    ) -> list[StoredDelivery]:
        """Take up to ``limit`` pending deliveries nobody holds (or whose
        holder's lease ran out), oldest first, for ``lease_seconds``."""
        now = utcnow()
        free = and_(
            wd.c.status == DeliveryStatus.PENDING.value,
            or_(wd.c.lease_until.is_(None), wd.c.lease_until < now),
        )
        with self.write("claiming webhook deliveries") as conn:
            rows = claim_rows(
                conn,
                wd,
                wd.c.delivery_id,
                free=free,
                oldest_first=wd.c.received_at,
                limit=limit,
                owner=owner,
                now=now,
                lease_seconds=lease_seconds,
                columns=_COLUMNS,
            )
        return [_delivery(row) for row in rows]

    def finish_delivery(
        self,
        delivery_id: str,
        status: DeliveryStatus,
        *,
        error: str | None = None,
        conn: Connection | None = None,
    ) -> None:
        """Record how processing ended (and let go of the lease). Pass
        ``conn`` to commit it with the processing's own writes."""
        values = {
            "status": status.value,
            "last_error": error[:4000] if error else None,
            "processed_at": utcnow() if status is not DeliveryStatus.PENDING else None,
            "lease_owner": None,
            "lease_until": None,
        }
        stmt = update(wd).where(wd.c.delivery_id == delivery_id).values(**values)
        if conn is not None:
            conn.execute(stmt)
            return
        with self.write("recording a webhook delivery's outcome") as own:
            own.execute(stmt)

    def release_delivery(self, delivery_id: str, *, error: str, retry_in: float = 5.0) -> None:
        """Give a delivery back (still pending) after a passing failure; no
        worker takes it again for ``retry_in`` seconds."""
        with self.write("releasing a webhook delivery") as conn:
            conn.execute(
                update(wd)
                .where(wd.c.delivery_id == delivery_id)
                .values(
                    lease_owner=None,
                    lease_until=utcnow() + timedelta(seconds=retry_in),
                    last_error=error[:4000],
                )
            )

    def requeue_failed(self, delivery_ids: Sequence[str] | None = None) -> int:
        """Set failed deliveries (all, or those named) pending again; how many."""
        with self.write("queueing failed webhook deliveries again") as conn:
            if delivery_ids is None:
                delivery_ids = list(
                    conn.execute(
                        select(wd.c.delivery_id).where(wd.c.status == DeliveryStatus.FAILED.value)
                    ).scalars()
                )
            return self._requeue(conn, list(delivery_ids))

    def _requeue(self, conn: Connection, delivery_ids: list[str]) -> int:
        if not delivery_ids:
            return 0
        return conn.execute(
            update(wd)
            .where(wd.c.delivery_id.in_(delivery_ids), wd.c.status == DeliveryStatus.FAILED.value)
            .values(
                status=DeliveryStatus.PENDING.value, lease_owner=None, lease_until=None, processed_at=None
            )
        ).rowcount
