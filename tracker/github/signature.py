"""Verifying ``X-Hub-Signature-256`` (HMAC-SHA256 of the raw body).

Pure: bytes and strings in, ``None`` or :class:`SignatureError` out. Only
``sha256`` is accepted (GitHub's older ``X-Hub-Signature`` uses SHA-1).
Several secrets may be configured at once so a secret can be rotated
without downtime: add the new one, switch the hook, remove the old one.

GitHub's documented test vector:

>>> verify_signature(b"Hello, World!", secrets=["It's a Secret to Everybody"],
...     signature="sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")
>>> sign(b"Hello, World!", "It's a Secret to Everybody")[:15]
'sha256=757107ea'
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence

from .errors import SignatureError

PREFIX = "sha256="
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def sign(body: bytes, secret: str) -> str:
    """The ``X-Hub-Signature-256`` value GitHub sends for ``body``."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return PREFIX + digest


def verify_signature(body: bytes, *, signature: str | None, secrets: Sequence[str]) -> None:
    """Check ``signature`` against the HMAC of ``body`` under each secret.

    Every configured secret is compared, each in constant time, without
    stopping at the first match, so timing tells nothing about which one
    matched.

    :raises SignatureError: when there is no secret, no signature, a
        signature that is not ``sha256=<64 hex>``, or no secret matches.
    """
    usable = [s for s in secrets if s]
    if not usable:
        raise SignatureError("no webhook secret is configured: cannot verify the delivery")
    if not signature:
        raise SignatureError("missing X-Hub-Signature-256 header")
    text = signature.strip()
    if not text.startswith(PREFIX) or not _HEX64.match(text[len(PREFIX) :].lower()):
        raise SignatureError("X-Hub-Signature-256 must be 'sha256=' followed by 64 hex digits")
    given = text[len(PREFIX) :].lower().encode("ascii")
    matched = False
    for secret in usable:
        expected = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest().encode("ascii")
        matched |= hmac.compare_digest(given, expected)
    if not matched:
        raise SignatureError("X-Hub-Signature-256 does not match the body under any configured secret")
