"""The API token of a receiver that was given none.

``session-buddy-ci serve`` without ``SESSION_BUDDY_CI_API_TOKENS`` would
refuse every write (403). Instead it generates a token once, keeps it in
``<data dir>/api-token`` (mode 0600) and reuses it at every start; the log
names the file, never the token.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
from pathlib import Path

from tracker.settings import Settings, default_data_dir

log = logging.getLogger(__name__)

FILE_NAME = "api-token"


def token_path(settings: Settings) -> Path:
    """``<data dir>/api-token``."""
    data_dir = Path(settings.data_dir) if settings.data_dir else default_data_dir()
    return data_dir / FILE_NAME


def _read(path: Path) -> str | None:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("%s was readable by others (mode %o); set it to 0600", path, stat.S_IMODE(mode))
        path.chmod(0o600)
    token = path.read_text(encoding="utf-8").strip()
    return token or None


def _create(path: Path) -> str | None:
    """Write a new token to ``path`` unless the file exists (another
    process may be creating it right now: then read theirs)."""
    token = secrets.token_urlsafe(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return None
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(token + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return token


def ensure_api_token(settings: Settings) -> tuple[Settings, Path | None]:
    """``settings`` with an API token, and the file it came from.

    Configured tokens win (then the file is ``None``). Otherwise the token
    in ``<data dir>/api-token`` is used, created on the first start.

    :raises OSError: when the data directory cannot be written.
    """
    if settings.api_tokens:
        return settings, None
    path = token_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    token = _create(path)
    if token is not None:
        log.info("no API token configured: generated one into %s (mode 0600)", path)
    else:
        token = _read(path)
        if token is None:  # an empty file, left by a crash while writing it
            path.unlink()
            token = _create(path) or _read(path)
            if token is None:
                raise OSError(f"could not write an API token to {path}")
            log.info("no API token configured: generated one into %s (mode 0600)", path)
        else:
            log.info("no API token configured: using the one in %s", path)
    return settings.with_(api_tokens=(token,)), path
