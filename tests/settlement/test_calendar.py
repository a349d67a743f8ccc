"""The China business-day calendar: 2026's official schedule (holidays and the weekend
days declared working days), year boundaries, cut-off moments, other countries' files."""

from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime, time, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from payhub.core.errors import PayHubError
from payhub.settlement.balances import daily, settings
from payhub.settlement.calendar import (
    CalendarError,
    calendar_from_data,
    load_calendar,
    load_calendar_file,
    shipped_countries,
)

CN = load_calendar("CN")


def business_days(start: date, end: date) -> list[date]:
    days = (end - start).days + 1
    return [d for d in (start + timedelta(n) for n in range(days)) if CN.is_business_day(d)]


def test_spring_festival_2026_is_nine_days_off_with_two_working_saturdays() -> None:
    off = [date(2026, 2, 15) + timedelta(n) for n in range(9)]
    assert all(not CN.is_business_day(d) for d in off)
    assert CN.holiday_name(date(2026, 2, 17)) == "Spring Festival"
    # 调休: Saturday 14 February and Saturday 28 February are working days.
    assert date(2026, 2, 14).weekday() == 5 and CN.is_business_day(date(2026, 2, 14))
    assert date(2026, 2, 28).weekday() == 5 and CN.is_business_day(date(2026, 2, 28))
    assert CN.next_business_day(date(2026, 2, 14)) == date(2026, 2, 24)
    assert CN.previous_business_day(date(2026, 2, 24)) == date(2026, 2, 14)
    assert business_days(date(2026, 2, 9), date(2026, 3, 1)) == [
        date(2026, 2, 9), date(2026, 2, 10), date(2026, 2, 11), date(2026, 2, 12),
        date(2026, 2, 13), date(2026, 2, 14), date(2026, 2, 24), date(2026, 2, 25),
        date(2026, 2, 26), date(2026, 2, 27), date(2026, 2, 28),
    ]  # fmt: skip


def test_national_day_2026_with_its_adjusted_weekend_days() -> None:
    assert all(not CN.is_business_day(date(2026, 10, d)) for d in range(1, 8))
    assert CN.is_business_day(date(2026, 9, 20))  # a Sunday worked
    assert CN.is_business_day(date(2026, 10, 10))  # a Saturday worked
    assert not CN.is_business_day(date(2026, 10, 11))  # an ordinary Sunday
    assert CN.next_business_day(date(2026, 9, 30)) == date(2026, 10, 8)
    # Mid-Autumn (25-27 September) is its own holiday in 2026.
    assert not CN.is_business_day(date(2026, 9, 25))
    assert CN.next_business_day(date(2026, 9, 24)) == date(2026, 9, 28)


def test_every_2026_holiday_and_working_day_of_the_notice() -> None:
    holidays = {d for d in CN.holidays if d.year == 2026}
    assert len(holidays) == 3 + 9 + 3 + 5 + 3 + 3 + 7
    assert sorted(d for d in CN.working_days if d.year == 2026) == [
        date(2026, 1, 4), date(2026, 2, 14), date(2026, 2, 28),
        date(2026, 5, 9), date(2026, 9, 20), date(2026, 10, 10),
    ]  # fmt: skip
    assert CN.covers(date(2026, 6, 1)) and CN.covers(date(2025, 6, 1))


def test_year_boundaries() -> None:
    # 2025-12-31 (Wednesday) works; 1-3 January 2026 are off; Sunday 4 January works.
    assert CN.next_business_day(date(2025, 12, 31)) == date(2026, 1, 4)
    assert CN.previous_business_day(date(2026, 1, 4)) == date(2025, 12, 31)
    assert CN.next_business_day(date(2026, 1, 4)) == date(2026, 1, 5)


def _refused(year: int) -> Any:
    return pytest.raises(PayHubError, match=f"calendar_year_unknown: .* {year}")


def test_a_year_the_file_does_not_hold_is_refused_naming_it() -> None:
    """2028 is not in the file: no day of it is guessed from the weekend rule (which would
    call its Spring Festival business days)."""
    assert not CN.covers(date(2028, 1, 1)) and not CN.covers(date(2024, 12, 31))
    with _refused(2028):
        CN.is_business_day(date(2028, 1, 27))
    with _refused(2028):
        CN.holiday_name(date(2028, 1, 1))
    with _refused(2028):
        CN.next_business_day(date(2027, 12, 31))  # the search steps into 2028
    with _refused(2024):
        CN.previous_business_day(date(2025, 1, 2))  # 1 January 2025 is off: into 2024
    with _refused(2028):
        CN.business_day_of(datetime(2027, 12, 31, 15, 0, tzinfo=UTC))  # after the cut-off
    with pytest.raises(PayHubError) as refused:
        CN.on_or_after(date(2028, 6, 1))
    assert refused.value.code == "calendar_year_unknown" and refused.value.status == 503
    assert "2028" in refused.value.message("zh") and "CN" in refused.value.message("en")
    # What needs no holiday stays available.
    assert CN.cutoff_moment(date(2028, 1, 4)) == datetime(2028, 1, 4, 15, 0, tzinfo=UTC)
    assert CN.business_day_of(datetime(2027, 12, 31, 14, 59, tzinfo=UTC)) == date(2027, 12, 31)


def test_2027_is_provisional_statutory_days_made_up_after_weekends() -> None:
    """Until the State Council's notice for 2027: the statutory days of the holiday
    measures on 2027's dates (Spring Festival's eve 5 February, Dragon Boat 9 June,
    Mid-Autumn 15 September), each one on a weekend made up on the next weekdays; no
    adjusted working days."""
    assert CN.covers(date(2027, 1, 1)) and CN.is_provisional(date(2027, 7, 1))
    assert not CN.is_provisional(date(2026, 7, 1))
    holidays = sorted(d for d in CN.holidays if d.year == 2027)
    assert len(holidays) == 1 + 6 + 1 + 4 + 1 + 1 + 5
    assert not [d for d in CN.working_days if d.year == 2027]
    assert CN.next_business_day(date(2026, 12, 31)) == date(2027, 1, 4)
    assert CN.next_business_day(date(2027, 2, 4)) == date(2027, 2, 11)
    assert CN.holiday_name(date(2027, 2, 9)) == "Spring Festival"
    assert CN.next_business_day(date(2027, 4, 30)) == date(2027, 5, 5)
    assert CN.next_business_day(date(2027, 9, 30)) == date(2027, 10, 6)
    assert not CN.is_business_day(date(2027, 6, 9)) and CN.is_business_day(date(2027, 6, 10))


def test_a_year_added_to_the_file_is_answered(tmp_path: Path) -> None:
    """How a year is added (docs/settlement.md): its block in `years`, nothing else."""
    data = json.loads(
        resources.files("payhub.data").joinpath("cn_business_days.json").read_text("utf-8")
    )
    data["years"]["2028"] = {
        "holidays": [{"name": "New Year's Day", "start": "2028-01-03"}],
        "working_days": [],
    }
    path = tmp_path / "cn.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    extended = load_calendar_file(path)
    assert extended.covers(date(2028, 1, 1)) and not extended.is_business_day(date(2028, 1, 3))
    assert not extended.is_provisional(date(2028, 1, 3))
    assert extended.next_business_day(date(2027, 12, 31)) == date(2028, 1, 4)


def test_cutoff_moments_are_beijing_time() -> None:
    assert CN.cutoff_moment(date(2026, 3, 2)) == datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
    assert CN.cutoff_moment(date(2026, 3, 2), time(0, 30)) == datetime(
        2026, 3, 1, 16, 30, tzinfo=UTC
    )
    # Friday 6 March 2026 after 23:00 Beijing, and the weekend, belong to Monday.
    friday_late = datetime(2026, 3, 6, 15, 0, tzinfo=UTC)
    assert CN.business_day_of(friday_late - timedelta(seconds=1)) == date(2026, 3, 6)
    assert CN.business_day_of(friday_late) == date(2026, 3, 9)
    assert CN.business_day_of(datetime(2026, 3, 8, 3, 0, tzinfo=UTC)) == date(2026, 3, 9)
    assert CN.last_cutoff_day(datetime(2026, 3, 8, 3, 0, tzinfo=UTC)) == date(2026, 3, 6)
    # A capture on the eve of the Spring Festival belongs to the first day back.
    eve = datetime(2026, 2, 14, 15, 30, tzinfo=UTC)  # Saturday 14 Feb, 23:30 Beijing
    assert CN.business_day_of(eve) == date(2026, 2, 24)


def test_another_country_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "sg.json"
    path.write_text(
        json.dumps(
            {
                "country": "SG",
                "utc_offset": "+08:00",
                "weekend": ["saturday", "sunday"],
                "years": {
                    "2026": {
                        "holidays": [{"name": "National Day", "start": "2026-08-09"}],
                        "working_days": [],
                    }
                },
            }
        )
    )
    sg = load_calendar_file(path)
    assert sg.country == "SG"
    assert sg.next_business_day(date(2026, 8, 7)) == date(2026, 8, 10)
    assert "CN" in shipped_countries()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"years": {}}, "country"),
        ({"country": "CN", "utc_offset": "+08:00", "years": {"x": {}}}, "not a year"),
        (
            {
                "country": "CN",
                "utc_offset": "+08:00",
                "years": {"2026": {"holidays": [{"start": "2026-13-01"}]}},
            },
            "not a date",
        ),
        (
            {
                "country": "CN",
                "utc_offset": "+08:00",
                "years": {
                    "2026": {
                        "holidays": [{"start": "2026-10-01", "end": "2026-10-02"}],
                        "working_days": ["2026-10-02"],
                    }
                },
            },
            "both a holiday and a working day",
        ),
        ({"country": "CN", "years": {}}, "utc_offset"),
    ],
)
def test_bad_calendar_files_are_refused(data: object, message: str) -> None:
    with pytest.raises(CalendarError, match=message):
        calendar_from_data(data)


def test_unknown_country() -> None:
    with pytest.raises(CalendarError):
        load_calendar("ZZ")


def test_settling_on_a_provisional_year_is_said(caplog: pytest.LogCaptureFixture) -> None:
    """The daily run settles 2027's days (statutory calendar) and warns that it does."""
    merchant = settings.defaults("mer_provisional")
    with caplog.at_level(logging.WARNING, logger="payhub.settlement.balances.daily"):
        assert daily._days_to_run(merchant, None, datetime(2026, 12, 30, 1, tzinfo=UTC)) == [
            date(2026, 12, 29)
        ]
        assert not caplog.records
        days = daily._days_to_run(merchant, date(2027, 2, 3), datetime(2027, 2, 11, 16, tzinfo=UTC))
    assert days == [date(2027, 2, 4), date(2027, 2, 11)]  # 5–10 February are off
    warned = [r for r in caplog.records if "provisional" in r.getMessage()]
    assert warned and warned[0].years == [2027]  # type: ignore[attr-defined]
