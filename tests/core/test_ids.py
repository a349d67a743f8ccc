"""Prefixed, time-sortable ids and the ids clients choose."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from payhub.core.clock import FrozenClock, use_clock
from payhub.core.ids import id_pattern, is_client_id, is_id, new_id

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _decode(text: str) -> int:
    value = 0
    for ch in text:
        value = value * 32 + CROCKFORD.index(ch)
    return value


def _fresh_moment() -> datetime:
    """A time one millisecond after the newest id made so far in this process.

    Ids never go back in time (the generator keeps its last millisecond), so a frozen clock
    set earlier than that would be ignored; starting just after it keeps these tests
    independent of what ran before, without pushing later ids far into the future.
    """
    newest = _decode(new_id("tst")[4:14])
    ms = max(newest + 1, int(datetime.now(UTC).timestamp() * 1000))
    return EPOCH + timedelta(milliseconds=ms)


def test_new_id_has_the_prefix_and_shape() -> None:
    for prefix in ("pay", "acct", "jrn", "ab", "abcdefgh"):
        value = new_id(prefix)
        assert value.startswith(prefix + "_")
        body = value[len(prefix) + 1 :]
        assert len(body) == 26
        assert set(body) <= set(CROCKFORD)
        assert id_pattern(prefix).match(value)
        assert is_id(value, prefix)


def test_id_pattern_is_specific_to_the_prefix() -> None:
    value = new_id("acct")
    assert not is_id(value, "pay")
    assert not is_id(value.lower(), "acct")
    assert not is_id(value[:-1], "acct")
    assert not is_id(value + "0", "acct")
    assert not is_id(value[:-1] + "I", "acct")  # I, L, O, U are not Crockford digits
    assert not is_id(value[:-1] + "U", "acct")
    assert not is_id("acct_", "acct")


def test_the_body_starts_with_the_millisecond_timestamp() -> None:
    moment = _fresh_moment()
    with use_clock(FrozenClock(moment)):
        value = new_id("pay")
    ms = _decode(value[4:14])
    assert EPOCH + timedelta(milliseconds=ms) == moment


def test_ids_sort_in_creation_order() -> None:
    made = [new_id("jrn") for _ in range(2000)]
    assert made == sorted(made)
    assert len(set(made)) == len(made)


def test_ids_sort_in_creation_order_within_one_millisecond() -> None:
    with use_clock(FrozenClock(_fresh_moment())):
        made = [new_id("ent") for _ in range(1000)]
    assert len({m[4:14] for m in made}) == 1  # one millisecond
    assert made == sorted(made)
    assert len(set(made)) == len(made)
    # Consecutive ids in the same millisecond differ by exactly one in the random part.
    randoms = [_decode(m[14:]) for m in made]
    assert all(b - a == 1 for a, b in pairwise(randoms))


def test_ids_across_milliseconds_sort_by_time() -> None:
    clock = FrozenClock(_fresh_moment())
    made = []
    with use_clock(clock):
        for _ in range(50):
            made.append(new_id("pay"))
            made.append(new_id("pay"))
            clock.advance(timedelta(milliseconds=1))
    assert made == sorted(made)
    assert len({m[4:14] for m in made}) == 50


def test_ids_stay_monotonic_when_the_clock_goes_back() -> None:
    clock = FrozenClock(_fresh_moment())
    with use_clock(clock):
        first = new_id("pay")
        clock.advance(timedelta(hours=-1))
        second = new_id("pay")
    assert second > first


@pytest.mark.parametrize(
    "prefix", ["", "a", "Pay", "PAY", "pay_", "pa1", "toolongxx", "p-y", "支付"]
)
def test_bad_prefix_is_refused(prefix: str) -> None:
    with pytest.raises(ValueError, match="bad id prefix"):
        new_id(prefix)


@pytest.mark.parametrize(
    "value",
    [
        "j-1",
        "a",
        "7",
        "demo-capture-1",
        "order.2026:11_25",
        "ORD-20261125-000123",
        "x" * 64,
        "jrn_01JD8Z3V6W7X8Y9Z0A1B2C3D4E",
    ],
)
def test_client_ids_accepted(value: str) -> None:
    assert is_client_id(value)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "x" * 65,
        "-leading-dash",
        "_leading",
        ".leading",
        ":leading",
        "has space",
        " padded",
        "a/b",
        "a?b",
        "a#b",
        "订单1",
        "tab\tin",
        "new\nline",
    ],
)
def test_client_ids_refused(value: str) -> None:
    assert not is_client_id(value)


def test_trailing_newline_is_refused() -> None:
    assert not is_client_id("j-1\n")
    assert not is_client_id("x" * 64 + "\n")
    assert not is_id(new_id("acct") + "\n", "acct")
