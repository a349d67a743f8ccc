"""Watch lists as data: reading a list from CSV or from FollowTheMoney JSON lines.

Parsing is all or nothing: the first bad row refuses the whole file
(`sanctions_list_invalid`, naming the line), so a list is never loaded half-read.

CSV: a header row, then one entry a row. Columns (header names are case-insensitive;
spaces and "/" count as "_"): `id` and `name` required; `list` (when present, every row
must name the list being loaded), `aliases` (separated by ";"), `type` (`person`, the
default, or `organisation`), `country` (ISO 3166-1 alpha-2 codes separated by ";"),
`birth_date` (`YYYY`, `YYYY-MM` or `YYYY-MM-DD`, several separated by ";"), `program` or
`reason`.

FollowTheMoney (the OpenSanctions `entities.ftm.json` and `targets.nested.json` exports):
one JSON entity a line, `{"id", "schema", "properties": {"name": [...], "alias": [...],
"birthDate": [...], "country": [...], ...}}`. People (`Person`) and organisations
(`Organization`, `Company`, `LegalEntity`, `PublicBody`) are kept; the other schemas of
the graph (sanctions, addresses, passports, vessels, relationships) are skipped. The
program comes from `program`, a nested `sanctions` entity's `program` or `reason`, or the
`topics`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

from payhub.core.errors import PayHubError

Format = Literal["csv", "ftm"]
ENTRY_TYPES = ("person", "organisation")
LIST_NAME = re.compile(r"[a-z0-9][a-z0-9_.\-]{0,63}")
MAX_NAME = 500
MAX_ALIASES = 100
MAX_ENTRIES = 2_000_000
_BIRTH_DATE = re.compile(r"\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?)?")
_COUNTRY = re.compile(r"[a-z]{2}")
_TYPES = {
    "person": "person",
    "individual": "person",
    "organisation": "organisation",
    "organization": "organisation",
    "entity": "organisation",
    "company": "organisation",
}
FTM_TYPES = {
    "Person": "person",
    "Organization": "organisation",
    "Company": "organisation",
    "LegalEntity": "organisation",
    "PublicBody": "organisation",
}


@dataclass(frozen=True, slots=True)
class WatchEntry:
    list_name: str
    entry_id: str
    name: str
    aliases: tuple[str, ...] = ()
    entry_type: str = "person"
    countries: tuple[str, ...] = ()
    birth_dates: tuple[str, ...] = ()
    program: str | None = None

    def snapshot(self) -> dict[str, Any]:
        """What a hit keeps of the entry, so it still reads the same after the list moves on."""
        out = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}


def _bad(line: int, detail: str) -> PayHubError:
    return PayHubError("sanctions_list_invalid", detail=f"line {line}: {detail}")


def check_list_name(name: str) -> str:
    if not LIST_NAME.fullmatch(name):
        raise PayHubError(
            "validation_error",
            param="list",
            detail="a list name is 1-64 lowercase letters, digits and _ . -",
        )
    return name


def _clean_name(value: str, line: int, what: str) -> str:
    text = " ".join(value.split())
    if not text:
        raise _bad(line, f"{what} is empty")
    if len(text) > MAX_NAME:
        raise _bad(line, f"{what} is longer than {MAX_NAME} characters")
    return text


def _entry(
    line: int,
    list_name: str,
    *,
    entry_id: str,
    names: list[str],
    aliases: Iterable[str],
    entry_type: str,
    countries: Iterable[str],
    birth_dates: Iterable[str],
    program: str | None,
) -> WatchEntry:
    entry_id = entry_id.strip()
    if not entry_id or len(entry_id) > 200:
        raise _bad(line, "the id must be 1 to 200 characters")
    if not names:
        raise _bad(line, "the entry has no name")
    name = _clean_name(names[0], line, "the name")
    extra = [_clean_name(a, line, "an alias") for a in [*names[1:], *aliases] if a.strip()]
    kept_aliases = tuple(a for a in dict.fromkeys(extra) if a != name)
    if len(kept_aliases) > MAX_ALIASES:
        raise _bad(line, f"more than {MAX_ALIASES} aliases")
    codes = tuple(dict.fromkeys(c.strip().lower() for c in countries if c.strip()))
    for code in codes:
        if not _COUNTRY.fullmatch(code):
            raise _bad(line, "countries are ISO 3166-1 alpha-2 codes")
    dates = tuple(dict.fromkeys(d.strip() for d in birth_dates if d.strip()))
    for date in dates:
        if not _BIRTH_DATE.fullmatch(date):
            raise _bad(line, "birth dates are YYYY, YYYY-MM or YYYY-MM-DD")
    reason = " ".join((program or "").split())[:500] or None
    return WatchEntry(list_name, entry_id, name, kept_aliases, entry_type, codes, dates, reason)


def _column(header: str) -> str:
    return re.sub(r"[\s/]+", "_", header.strip().lower())


def _split(value: str | None) -> list[str]:
    return [part for part in (value or "").split(";") if part.strip()]


def parse_csv(text: str, list_name: str | None) -> tuple[str, list[WatchEntry]]:
    """The list's name (given, or the one the file's `list` column holds) and its entries."""
    rows = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    try:
        header = [_column(h) for h in next(rows)]
    except StopIteration:
        raise _bad(1, "the file is empty") from None
    except csv.Error as error:
        raise _bad(1, f"not CSV ({error})") from None
    if "program_reason" in header:
        header[header.index("program_reason")] = "program"
    missing = {"id", "name"} - set(header)
    if missing:
        raise _bad(1, f"the header lacks {', '.join(sorted(missing))}")
    entries: list[tuple[int, WatchEntry]] = []
    try:
        for number, row in enumerate(rows, start=2):
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise _bad(number, f"{len(row)} columns where the header has {len(header)}")
            cells = dict(zip(header, row, strict=True))
            named = cells.get("list", "").strip()
            if list_name is None and named:
                list_name = check_list_name(named)
            if named and named != list_name:
                raise _bad(number, "every row must name the same list (the one being loaded)")
            kind = _TYPES.get(cells.get("type", "").strip().lower() or "person")
            if kind is None:
                raise _bad(number, "the type is person or organisation")
            entries.append(
                (
                    number,
                    _entry(
                        number,
                        list_name or "",
                        entry_id=cells["id"],
                        names=[cells["name"]],
                        aliases=_split(cells.get("aliases")),
                        entry_type=kind,
                        countries=_split(cells.get("country")),
                        birth_dates=_split(cells.get("birth_date")),
                        program=cells.get("program") or cells.get("reason"),
                    ),
                )
            )
    except csv.Error as error:
        raise _bad(rows.line_num, f"not CSV ({error})") from None
    if list_name is None:
        raise PayHubError("validation_error", param="list", detail="name the list to load")
    return list_name, [replace(e, list_name=list_name) for e in _checked(entries)]


def _strings(properties: Mapping[str, Any], name: str, line: int) -> list[str]:
    values = properties.get(name, [])
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise _bad(line, f"properties.{name} must be a list of strings")
    return values


def _ftm_program(
    properties: Mapping[str, Any], line: int, linked: list[str] | None = None
) -> str | None:
    programs = _strings(properties, "program", line) + (linked or [])
    for sanction in properties.get("sanctions", []):
        if isinstance(sanction, dict) and isinstance(sanction.get("properties"), dict):
            nested = sanction["properties"]
            programs += _strings(nested, "program", line) or _strings(nested, "reason", line)
    programs = programs or _strings(properties, "topics", line)
    return "; ".join(dict.fromkeys(programs)) or None


def _ftm_entities(text: str) -> Iterable[tuple[int, dict[str, Any]]]:
    for number, line in enumerate(text.lstrip("\ufeff").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entity = json.loads(line)
        except ValueError:
            raise _bad(number, "not a JSON object") from None
        if not isinstance(entity, dict) or not isinstance(entity.get("schema"), str):
            raise _bad(number, "an entity needs a schema")
        yield number, entity


def parse_ftm(text: str, list_name: str) -> list[WatchEntry]:
    """The people and organisations of a FollowTheMoney JSON lines file."""
    entities = list(_ftm_entities(text))
    # In the flat export a sanction is an entity of its own that names its target.
    programs: dict[str, list[str]] = {}
    for number, entity in entities:
        if entity["schema"] == "Sanction" and isinstance(entity.get("properties"), dict):
            properties = entity["properties"]
            found = _strings(properties, "program", number) or _strings(
                properties, "reason", number
            )
            for target in _strings(properties, "entity", number):
                programs.setdefault(target, []).extend(found)
    entries: list[tuple[int, WatchEntry]] = []
    for number, entity in entities:
        kind = FTM_TYPES.get(entity["schema"])
        if kind is None:
            continue
        properties = entity.get("properties", {})
        entity_id = entity.get("id")
        if not isinstance(properties, dict) or not isinstance(entity_id, str):
            raise _bad(number, "an entity needs an id and properties")
        countries = _strings(properties, "country", number)
        countries += _strings(properties, "nationality", number)
        entries.append(
            (
                number,
                _entry(
                    number,
                    list_name,
                    entry_id=entity_id,
                    names=_strings(properties, "name", number),
                    aliases=_strings(properties, "alias", number)
                    + _strings(properties, "previousName", number),
                    entry_type=kind,
                    countries=countries,
                    birth_dates=[d[:10] for d in _strings(properties, "birthDate", number)],
                    program=_ftm_program(properties, number, programs.get(entity_id)),
                ),
            )
        )
    return _checked(entries)


def _checked(numbered: list[tuple[int, WatchEntry]]) -> list[WatchEntry]:
    """The entries, once it is clear the list is not empty and no id repeats."""
    if not numbered:
        raise PayHubError("sanctions_list_invalid", detail="the file holds no entries")
    if len(numbered) > MAX_ENTRIES:
        raise PayHubError("sanctions_list_invalid", detail=f"more than {MAX_ENTRIES} entries")
    first: dict[str, int] = {}
    for line, entry in numbered:
        if entry.entry_id in first:
            raise _bad(line, f"the id of line {first[entry.entry_id]} again")
        first[entry.entry_id] = line
    return [entry for _, entry in numbered]


def parse(text: str, fmt: Format, list_name: str | None) -> tuple[str, list[WatchEntry]]:
    if list_name is not None:
        check_list_name(list_name)
    if fmt == "csv":
        return parse_csv(text, list_name)
    if list_name is None:
        raise PayHubError("validation_error", param="list", detail="name the list to load")
    return list_name, parse_ftm(text, list_name)


def checksum(entries: Iterable[WatchEntry]) -> str:
    """SHA-256 of the entries as loaded (not of the file): the same list re-exported with
    other spacing or column order is the same version."""
    digest = hashlib.sha256()
    for entry in sorted(entries, key=lambda e: e.entry_id):
        digest.update(json.dumps(entry.snapshot(), sort_keys=True, ensure_ascii=False).encode())
        digest.update(b"\n")
    return digest.hexdigest()
