"""One exception tree for the tracker library."""

from __future__ import annotations


class TrackerError(Exception):
    """Base of every error the tracker raises on purpose."""


class StorageError(TrackerError):
    """The database could not be opened, migrated or written."""


class StorageFullError(StorageError):
    """The disk or the database is full: nothing was stored."""


class IdempotencyConflict(TrackerError):
    """An idempotency key was reused with a different request body."""


class NotFound(TrackerError):
    """A pipeline, stage or skill that has no data."""
