"""Reading whole numbers from query strings."""

from __future__ import annotations

import re

# ASCII digits only: str.isdigit() also accepts "²" and "①", which int()
# refuses, and int() refuses more than 4,300 digits.
_WHOLE = re.compile(r"[0-9]{1,18}", re.ASCII)


def bounded_int(raw: str, low: int, high: int) -> int | None:
    """``raw`` as an int from ``low`` to ``high``, else ``None``.

    >>> bounded_int("30", 1, 3650), bounded_int("0", 1, 3650), bounded_int("²", 1, 3650)
    (30, None, None)
    """
    if not _WHOLE.fullmatch(raw):
        return None
    value = int(raw)
    return value if low <= value <= high else None
