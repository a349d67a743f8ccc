"""Business days and cut-off moments, from a holiday calendar data file.

A calendar file (JSON, `payhub/data/<country>_business_days.json` for the shipped ones)
lists, per year, the public holidays as date ranges and the adjusted working days (调休:
weekend days declared working days to make a holiday longer). A day is a business day when
it is a declared working day, or a weekday that no holiday covers. A year the file does
not list is refused (`calendar_year_unknown`, naming the year) rather than guessed: the
weekend rule alone would call every holiday of that year a business day and settle on it.
`covers` says which years are known.

A year may be marked `"provisional": true`: its statutory holidays are known by law
(lunar dates included) before the State Council's notice fixes the bridging days and the
adjusted working days. Settling on it beats stopping settlement at New Year; it is said
wherever it is used (`is_provisional`, a warning from the settlement run, the calendar
command) until the notice replaces the block.

Cut-offs are local times in the calendar's zone (China: UTC+8 all year, no daylight
saving); `cutoff_moment` turns a day and a time into the UTC instant.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from payhub.core.clock import ensure_utc
from payhub.core.errors import PayHubError

_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_OFFSET = re.compile(r"^([+-])(\d{2}):(\d{2})$")
_CUTOFF = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
# Searching for the next business day never needs more than a few weeks; a file that
# declared a whole year a holiday would otherwise loop for long.
_MAX_SEARCH_DAYS = 366


class CalendarError(ValueError):
    """A calendar file that cannot be used, with the reason."""


def parse_cutoff(text: str) -> time:
    """'HH:MM' (24-hour) as a time; ValueError otherwise."""
    match = _CUTOFF.fullmatch(text)
    if match is None:
        raise ValueError("a cut-off is HH:MM, 00:00 to 23:59")
    return time(int(match.group(1)), int(match.group(2)))


@dataclass(frozen=True, slots=True)
class BusinessCalendar:
    country: str
    zone: tzinfo
    weekend: frozenset[int]  # date.weekday() numbers
    holidays: dict[date, str] = field(default_factory=dict)
    working_days: frozenset[date] = frozenset()
    years: frozenset[int] = frozenset()
    provisional_years: frozenset[int] = frozenset()
    default_cutoff: time = time(23, 0)

    def covers(self, day: date) -> bool:
        """Whether the file lists the holidays of `day`'s year."""
        return day.year in self.years

    def is_provisional(self, day: date) -> bool:
        """Whether `day`'s year is held only provisionally (statutory days, no notice)."""
        return day.year in self.provisional_years

    def require(self, day: date) -> None:
        """Refuse a day of a year the file does not list."""
        if day.year not in self.years:
            raise PayHubError("calendar_year_unknown", country=self.country, year=day.year)

    def holiday_name(self, day: date) -> str | None:
        self.require(day)
        return self.holidays.get(day)

    def is_business_day(self, day: date) -> bool:
        self.require(day)
        if day in self.working_days:
            return True
        return day.weekday() not in self.weekend and day not in self.holidays

    def next_business_day(self, day: date) -> date:
        """The first business day strictly after `day`."""
        return self._step(day, 1)

    def previous_business_day(self, day: date) -> date:
        """The last business day strictly before `day`."""
        return self._step(day, -1)

    def on_or_after(self, day: date) -> date:
        return day if self.is_business_day(day) else self.next_business_day(day)

    def _step(self, day: date, direction: int) -> date:
        for offset in range(1, _MAX_SEARCH_DAYS + 1):
            candidate = day + timedelta(days=direction * offset)
            if self.is_business_day(candidate):
                return candidate
        raise CalendarError(f"no business day within a year of {day.isoformat()}")

    def local_date(self, moment: datetime) -> date:
        return ensure_utc(moment).astimezone(self.zone).date()

    def cutoff_moment(self, day: date, cutoff: time | None = None) -> datetime:
        """The UTC instant of `day`'s cut-off (local time in the calendar's zone)."""
        local = datetime.combine(day, cutoff or self.default_cutoff, tzinfo=self.zone)
        return local.astimezone(UTC)

    def business_day_of(self, moment: datetime, cutoff: time | None = None) -> date:
        """The business day whose cut-off window holds `moment`: windows run from one
        business day's cut-off (included) to the next one's (excluded), so a capture after
        Friday's cut-off, on a weekend or on a holiday belongs to the next business day."""
        day = self.on_or_after(self.local_date(moment))
        while moment >= self.cutoff_moment(day, cutoff):
            day = self.next_business_day(day)
        return day

    def last_cutoff_day(self, moment: datetime, cutoff: time | None = None) -> date:
        """The latest business day whose cut-off is at or before `moment`."""
        day = self.business_day_of(moment, cutoff)
        return self.previous_business_day(day)


def _zone(data: dict[str, Any]) -> tzinfo:
    name = data.get("timezone")
    if isinstance(name, str):
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass  # no tz database here: the fixed offset below says the same for China
    offset = data.get("utc_offset")
    if not isinstance(offset, str) or not (match := _OFFSET.fullmatch(offset)):
        raise CalendarError("the calendar needs a known timezone or a utc_offset like +08:00")
    sign = 1 if match.group(1) == "+" else -1
    return timezone(sign * timedelta(hours=int(match.group(2)), minutes=int(match.group(3))))


def _day(value: Any, where: str) -> date:
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise CalendarError(f"{where}: {value!r} is not a date (YYYY-MM-DD)") from None


def calendar_from_data(data: Any) -> BusinessCalendar:
    """A calendar from the parsed file; CalendarError names what is wrong."""
    if not isinstance(data, dict) or not isinstance(data.get("years"), dict):
        raise CalendarError("a calendar is an object with 'country' and 'years'")
    country = str(data.get("country", "")).upper()
    if not re.fullmatch(r"[A-Z]{2}", country):
        raise CalendarError("country is a two-letter ISO 3166 code")
    weekend_names = data.get("weekend", ["saturday", "sunday"])
    try:
        weekend = frozenset(_WEEKDAYS.index(str(n).lower()) for n in weekend_names)
    except ValueError:
        raise CalendarError(f"weekend: unknown day in {weekend_names!r}") from None
    holidays: dict[date, str] = {}
    working: set[date] = set()
    years: set[int] = set()
    provisional: set[int] = set()
    for year_text, year in data["years"].items():
        if not str(year_text).isdigit() or not isinstance(year, dict):
            raise CalendarError(f"years: {year_text!r} is not a year with its holidays")
        years.add(int(year_text))
        if year.get("provisional", False) is True:
            provisional.add(int(year_text))
        for holiday in year.get("holidays", []):
            start = _day(holiday.get("start"), f"{year_text} holiday")
            end = _day(holiday.get("end", holiday.get("start")), f"{year_text} holiday")
            if end < start or (end - start).days > 31:
                raise CalendarError(f"{year_text}: holiday {start}–{end} is not a short range")
            for offset in range((end - start).days + 1):
                holidays[start + timedelta(days=offset)] = str(holiday.get("name", "holiday"))
        for entry in year.get("working_days", []):
            working.add(_day(entry.get("date") if isinstance(entry, dict) else entry, year_text))
    clash = sorted(working & holidays.keys())
    if clash:
        raise CalendarError(f"{clash[0].isoformat()} is both a holiday and a working day")
    cutoff = data.get("default_cutoff", "23:00")
    try:
        default_cutoff = parse_cutoff(str(cutoff))
    except ValueError as exc:
        raise CalendarError(f"default_cutoff: {exc}") from None
    return BusinessCalendar(
        country=country,
        zone=_zone(data),
        weekend=weekend,
        holidays=holidays,
        working_days=frozenset(working),
        years=frozenset(years),
        provisional_years=frozenset(provisional),
        default_cutoff=default_cutoff,
    )


def load_calendar_file(path: str | Path) -> BusinessCalendar:
    """A calendar from a file of this format (another country's, or a newer year's)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CalendarError(f"{path}: {exc}") from None
    return calendar_from_data(data)


@cache
def load_calendar(country: str = "CN") -> BusinessCalendar:
    """The shipped calendar of a country (`payhub/data/<cc>_business_days.json`)."""
    name = f"{country.lower()}_business_days.json"
    if not re.fullmatch(r"[a-z]{2}_business_days\.json", name):
        raise CalendarError(f"no calendar for {country!r}")
    try:
        text = resources.files("payhub.data").joinpath(name).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CalendarError(f"no calendar for {country!r}") from None
    return calendar_from_data(json.loads(text))


def shipped_countries() -> list[str]:
    return sorted(
        entry.name[:2].upper()
        for entry in resources.files("payhub.data").iterdir()
        if entry.name.endswith("_business_days.json")
    )
