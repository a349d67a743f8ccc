"""The injectable clock and RFC 3339 'Z' timestamps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payhub.core import clock
from payhub.core.clock import (
    FrozenClock,
    SystemClock,
    ensure_utc,
    parse_rfc3339,
    set_clock,
    to_rfc3339,
    use_clock,
)

BEIJING = timezone(timedelta(hours=8))


def test_to_rfc3339_converts_to_utc_and_ends_in_z() -> None:
    local = datetime(2026, 11, 25, 16, 30, 0, tzinfo=BEIJING)
    assert to_rfc3339(local) == "2026-11-25T08:30:00Z"
    # Crossing midnight backwards into the previous UTC day.
    early = datetime(2026, 1, 1, 7, 59, 59, 500000, tzinfo=BEIJING)
    assert to_rfc3339(early) == "2025-12-31T23:59:59.500000Z"
    west = datetime(2026, 11, 25, 3, 30, tzinfo=timezone(timedelta(hours=-5)))
    assert to_rfc3339(west) == "2026-11-25T08:30:00Z"


def test_to_rfc3339_microseconds_only_when_present() -> None:
    assert to_rfc3339(datetime(2026, 11, 25, 8, 30, tzinfo=UTC)) == "2026-11-25T08:30:00Z"
    assert (
        to_rfc3339(datetime(2026, 11, 25, 8, 30, 0, 123, tzinfo=UTC))
        == "2026-11-25T08:30:00.000123Z"
    )


def test_naive_datetimes_are_taken_as_utc() -> None:
    assert to_rfc3339(datetime(2026, 11, 25, 8, 30)) == "2026-11-25T08:30:00Z"
    assert ensure_utc(datetime(2026, 11, 25, 8, 30)) == datetime(2026, 11, 25, 8, 30, tzinfo=UTC)
    converted = ensure_utc(datetime(2026, 11, 25, 16, 30, tzinfo=BEIJING))
    assert converted.utcoffset() == timedelta(0)
    assert converted.hour == 8


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-25T08:30:00Z", datetime(2026, 11, 25, 8, 30, tzinfo=UTC)),
        ("2026-11-25t08:30:00z", datetime(2026, 11, 25, 8, 30, tzinfo=UTC)),
        ("2026-11-25T16:30:00+08:00", datetime(2026, 11, 25, 8, 30, tzinfo=UTC)),
        ("2026-11-25T03:30:00-05:00", datetime(2026, 11, 25, 8, 30, tzinfo=UTC)),
        ("2026-11-25T08:30:00.5Z", datetime(2026, 11, 25, 8, 30, 0, 500000, tzinfo=UTC)),
        (
            "2026-11-25T08:30:00.123456789Z",
            datetime(2026, 11, 25, 8, 30, 0, 123456, tzinfo=UTC),
        ),
        ("2026-01-01T07:59:59+08:00", datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC)),
    ],
)
def test_parse_rfc3339(text: str, expected: datetime) -> None:
    parsed = parse_rfc3339(text)
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-25T08:30:00",  # no zone
        "2026-11-25T08:30:00.123",  # no zone
        "2026-11-25",
        "2026-11-25 08:30:00Z",
        "2026-11-25T08:30Z",
        "2026-11-25T08:30:00+0800",
        "2026-11-25T08:30:00 Z",
        "20261125T083000Z",
        "2026-13-01T00:00:00Z",
        "2026-02-30T00:00:00Z",
        "yesterday",
        "",
    ],
)
def test_parse_rfc3339_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_rfc3339(text)


def test_parse_rfc3339_refuses_trailing_newline() -> None:
    with pytest.raises(ValueError):
        parse_rfc3339("2026-11-25T08:30:00Z\n")


@given(
    st.datetimes(
        min_value=datetime(1970, 1, 1),
        max_value=datetime(9999, 12, 31),
        timezones=st.sampled_from([UTC, BEIJING, timezone(timedelta(hours=-9, minutes=-30))]),
    )
)
def test_round_trip(moment: datetime) -> None:
    text = to_rfc3339(moment)
    assert text.endswith("Z")
    parsed = parse_rfc3339(text)
    assert parsed == moment
    assert parsed.tzinfo is UTC
    assert to_rfc3339(parsed) == text


def test_system_clock_is_utc_and_current() -> None:
    before = datetime.now(UTC)
    got = clock.now()
    after = datetime.now(UTC)
    assert got.utcoffset() == timedelta(0)
    assert before <= got <= after
    assert SystemClock().now().tzinfo is not None


def test_frozen_clock_moves_only_when_told() -> None:
    start = datetime(2026, 11, 25, 16, 30, tzinfo=BEIJING)
    frozen = FrozenClock(start)
    assert frozen.now() == datetime(2026, 11, 25, 8, 30, tzinfo=UTC)
    assert frozen.now().utcoffset() == timedelta(0)
    assert frozen.now() == frozen.now()
    frozen.advance(timedelta(minutes=90))
    assert frozen.now() == datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    frozen.set(datetime(2030, 1, 1))
    assert frozen.now() == datetime(2030, 1, 1, tzinfo=UTC)


def test_use_clock_moves_the_module_clock_and_restores_it() -> None:
    frozen = FrozenClock(datetime(2026, 11, 25, 8, 30, tzinfo=UTC))
    with use_clock(frozen) as active:
        assert active is frozen
        assert clock.now() == datetime(2026, 11, 25, 8, 30, tzinfo=UTC)
        frozen.advance(timedelta(seconds=5))
        assert clock.now() == datetime(2026, 11, 25, 8, 30, 5, tzinfo=UTC)
        assert to_rfc3339(clock.now()) == "2026-11-25T08:30:05Z"
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=5)


def test_use_clock_restores_after_an_exception() -> None:
    frozen = FrozenClock(datetime(2000, 1, 1, tzinfo=UTC))
    with pytest.raises(RuntimeError), use_clock(frozen):
        assert clock.now().year == 2000
        raise RuntimeError("boom")
    assert clock.now().year >= 2025


def test_set_clock_returns_the_previous_clock() -> None:
    frozen = FrozenClock(datetime(2000, 1, 1, tzinfo=UTC))
    previous = set_clock(frozen)
    try:
        assert clock.now() == datetime(2000, 1, 1, tzinfo=UTC)
    finally:
        assert set_clock(previous) is frozen
    assert clock.now().year >= 2025
