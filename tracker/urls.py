"""URLs that carry credentials (stdlib only: the Action imports it)."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def in_clear(url: str) -> bool:
    """Whether ``url`` (an http(s) URL) sends what it
    carries over the network unencrypted: ``http://`` to a host that is not
    this machine.

    >>> in_clear("http://ci-stats.example.com"), in_clear("https://ci-stats.example.com")
    (True, False)
    >>> in_clear("http://127.0.0.1:8080"), in_clear("http://localhost:8080"), in_clear("http://[::1]")
    (False, False, False)
    """
    parts = urlsplit(url)
    if parts.scheme != "http":
        return False
    host = (parts.hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name, not an address
        return True
