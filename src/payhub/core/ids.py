"""Opaque, prefixed, time-sortable ids: `acct_01JD8Z3V6W7X8Y9Z0A1B2C3D4E`.

The body is 26 Crockford base-32 characters: 48 bits of milliseconds since the epoch,
then 80 bits that are random for the first id of a millisecond and incremented for the
next ones, so ids made by one process sort in creation order and ids from different
processes sort by time.
"""

from __future__ import annotations

import re
import secrets
import threading
from datetime import datetime

from payhub.core import clock

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_BODY = r"[0-9A-HJKMNP-TV-Z]{26}"
_PREFIX = re.compile(r"[a-z]{2,8}")

_lock = threading.Lock()
_last_ms = -1
_last_rand = 0


# Two base-32 characters per 10 bits: ids are made on every posting line, so encoding
# by table lookup rather than 26 divisions matters.
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]


def _encode(value: int, length: int) -> str:
    """`value` as `length` (even) Crockford base-32 characters, most significant first."""
    return "".join(_PAIRS[(value >> shift) & 0x3FF] for shift in range(5 * (length - 2), -1, -10))


def new_id(prefix: str) -> str:
    """A new id with the given prefix (lowercase letters, e.g. 'pay', 'acct')."""
    global _last_ms, _last_rand
    if not _PREFIX.fullmatch(prefix):
        raise ValueError(f"bad id prefix {prefix!r}")
    ms = int(clock.now().timestamp() * 1000)
    with _lock:
        if ms <= _last_ms:
            # Same (or an earlier, if the clock was moved back) millisecond: stay monotonic.
            ms = _last_ms
            _last_rand = (_last_rand + 1) % (1 << 80)
        else:
            _last_ms = ms
            _last_rand = secrets.randbits(79)  # headroom so increments rarely wrap
        rand = _last_rand
    return f"{prefix}_{_encode(ms, 10)}{_encode(rand, 16)}"


def id_floor(prefix: str, moment: datetime) -> str:
    """An id below every id with this prefix made at or after `moment` (and above those made
    before its millisecond): a bound for reading time-sorted ids by time."""
    if not _PREFIX.fullmatch(prefix):
        raise ValueError(f"bad id prefix {prefix!r}")
    ms = max(0, int(moment.timestamp() * 1000))
    return f"{prefix}_{_encode(ms, 10)}{'0' * 16}"


def id_pattern(prefix: str) -> re.Pattern[str]:
    return re.compile(rf"{prefix}_{_BODY}")


def is_id(value: str, prefix: str) -> bool:
    return isinstance(value, str) and bool(id_pattern(prefix).fullmatch(value))


# Ids chosen by clients (journal ids, for idempotent posting): short, printable, no spaces.
CLIENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:\-]{0,63}")


def is_client_id(value: str) -> bool:
    return isinstance(value, str) and bool(CLIENT_ID.fullmatch(value))
