"""Channel settlement statements as CSV: one documented layout, read and written here.

Layout (UTF-8, comma separated, a header row, one movement per row):

    channel_id,kind,request_id,channel_ref,authorization_ref,payment_id,amount,currency,fee,occurred_at

- `kind`: capture | refund | payout | return (a payout sent back).
- `request_id`: our request id as the channel echoes it; empty when the channel lost it.
- `amount`, `fee`: integer minor units; `amount` positive, `fee` zero or more.
- `currency`: ISO 4217.
- `occurred_at`: RFC 3339 in UTC (`2026-12-07T09:30:00.123456Z`).

Every reader yields `StatementLine`s: the engine takes any iterable of them, so a statement
in another format (camt.053) is one more reader.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

from payhub.channels.base import StatementKind, StatementLine
from payhub.core.currencies import get_currency
from payhub.core.errors import PayHubError
from payhub.core.money import MAX_MINOR

COLUMNS = (
    "channel_id",
    "kind",
    "request_id",
    "channel_ref",
    "authorization_ref",
    "payment_id",
    "amount",
    "currency",
    "fee",
    "occurred_at",
)
_KINDS = {k.value: k for k in StatementKind}


def _bad(line: int, detail: str) -> PayHubError:
    return PayHubError("statement_malformed", param="statement", line=line, detail=detail)


def _minor(text: str, line: int, name: str, *, positive: bool) -> int:
    if not text.isascii() or not text.isdigit():
        raise _bad(line, f"{name} must be an integer number of minor units")
    value = int(text)
    if value > MAX_MINOR or (positive and value == 0):
        raise _bad(line, f"{name} is out of range")
    return value


def _moment(text: str, line: int) -> datetime:
    if not text.endswith("Z"):
        raise _bad(line, "occurred_at must be RFC 3339 in UTC, ending in Z")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise _bad(line, "occurred_at is not an RFC 3339 time") from None
    return moment.astimezone(UTC)


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def check_header(data: bytes) -> bytes:
    """The statement without a UTF-8 byte-order mark, its header row checked."""
    data = data.removeprefix(b"\xef\xbb\xbf")
    first = data.split(b"\n", 1)[0].rstrip(b"\r").decode("utf-8", "replace")
    if not first:
        raise _bad(1, "the statement is empty (no header row)")
    if tuple(c.strip() for c in first.split(",")) != COLUMNS:
        raise _bad(1, "the header must be " + ",".join(COLUMNS))
    return data


def parse_rows(rows: Iterable[list[str]], *, channel_id: str) -> Iterator[StatementLine]:
    """Rows of the layout (header first) as lines of `channel_id`'s statement; a catalogue
    error naming the first bad row (1 = the header)."""
    it = iter(rows)
    header = next(it, None)
    if header is None:
        raise _bad(1, "the statement is empty (no header row)")
    if tuple(c.strip() for c in header) != COLUMNS:
        raise _bad(1, "the header must be " + ",".join(COLUMNS))
    currencies: dict[str, bool] = {}
    for number, row in enumerate(it, start=2):
        if not row:
            continue
        if len(row) != len(COLUMNS):
            raise _bad(number, f"expected {len(COLUMNS)} columns, found {len(row)}")
        channel, kind, request_id, ref, auth_ref, payment_id, amount, currency, fee, at = row
        if channel != channel_id:
            raise _bad(number, f"the line is for channel {channel[:64]!r}, not {channel_id!r}")
        known = _KINDS.get(kind)
        if known is None:
            raise _bad(number, "kind must be capture, refund, payout or return")
        valid = currencies.get(currency)
        if valid is None:
            valid = currencies[currency] = get_currency(currency) is not None
        if not valid:
            raise _bad(number, "currency is not an ISO 4217 currency")
        if len(request_id) > 64 or len(ref) > 100 or len(auth_ref) > 100 or len(payment_id) > 40:
            raise _bad(number, "a reference is too long")
        yield StatementLine(
            channel_id=channel,
            kind=known,
            request_id=request_id,
            channel_ref=ref,
            authorization_ref=auth_ref or None,
            payment_id=payment_id,
            amount=_minor(amount, number, "amount", positive=True),
            currency=currency,
            fee=_minor(fee, number, "fee", positive=False),
            occurred_at=_moment(at, number),
        )


def read_csv(data: bytes | str, *, channel_id: str) -> Iterator[StatementLine]:
    """A CSV statement (bytes as received, or text)."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise _bad(1, "the statement is not UTF-8 text") from None
    try:
        yield from parse_rows(csv.reader(io.StringIO(data, newline="")), channel_id=channel_id)
    except csv.Error as error:
        raise _bad(0, f"not CSV: {error}") from None


def write_csv(lines: Iterable[StatementLine], out: io.TextIOBase | io.StringIO) -> int:
    """Write lines in the layout; how many were written."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    n = 0
    for line in lines:
        writer.writerow(
            (
                line.channel_id,
                line.kind.value,
                line.request_id,
                line.channel_ref,
                line.authorization_ref or "",
                line.payment_id,
                line.amount,
                line.currency,
                line.fee,
                format_time(line.occurred_at),
            )
        )
        n += 1
    return n


def to_csv(lines: Iterable[StatementLine]) -> bytes:
    out = io.StringIO()
    write_csv(lines, out)
    return out.getvalue().encode()


def file_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
