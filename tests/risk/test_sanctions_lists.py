"""Reading watch lists (CSV, FollowTheMoney JSON lines) and loading them: all or nothing,
versioned, identical content recognised."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from payhub.core.errors import PayHubError
from payhub.db.session import Database
from payhub.risk.sanctions import registry
from payhub.risk.sanctions.lists import parse, parse_csv, parse_ftm
from payhub.risk.sanctions.models import SanctionsEntry, SanctionsListVersion
from tests.risk.helpers import HEADER, SAMPLE_CSV, SAMPLE_FTM, csv_list


def test_the_sample_list_reads() -> None:
    name, entries = parse_csv(SAMPLE_CSV, None)
    assert name == "payhub_sample"
    assert len(entries) == 13
    first = entries[0]
    assert (first.entry_id, first.name, first.aliases) == (
        "PS-001",
        "张伟",
        ("Zhang Wei", "ZHANG Wei"),
    )
    assert first.countries == ("cn",) and first.birth_dates == ("1975-04-18",)
    assert {e.entry_type for e in entries} == {"person", "organisation"}
    assert entries[1].countries == ("cn", "hk")


def test_ftm_keeps_people_and_organisations_with_their_programs() -> None:
    entries = parse_ftm(SAMPLE_FTM, "ftm_sample")
    by_id = {e.entry_id: e for e in entries}
    assert set(by_id) == {"pss-zhao-lei", "pss-ivanova", "pss-redsea"}  # no address, vessel
    zhao = by_id["pss-zhao-lei"]
    assert zhao.name == "赵磊" and "Zhao Lei" in zhao.aliases
    assert zhao.birth_dates == ("1982-08-09",) and zhao.countries == ("cn",)
    assert zhao.program == "Fictional sample programme"  # from the Sanction entity naming it
    assert by_id["pss-ivanova"].countries == ("ru",)  # nationality
    assert by_id["pss-redsea"].entry_type == "organisation"
    assert "ship-to-ship" in (by_id["pss-redsea"].program or "")  # nested sanction


def test_csv_headers_are_forgiving_and_the_list_name_can_come_from_the_file() -> None:
    text = (
        "ID,Name,Aliases,Type,Country,Birth Date,Program/Reason\n"
        "A1,Ann Lee,Anne Lee,individual,GB,1970,x\n"
    )
    name, entries = parse_csv(text, "mine")
    assert name == "mine"
    assert entries[0].entry_type == "person" and entries[0].countries == ("gb",)
    with pytest.raises(PayHubError) as caught:
        parse_csv(text, None)
    assert caught.value.code == "validation_error"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "line 1: the file is empty"),
        ("id,aliases\n1,x\n", "line 1: the header lacks name"),
        (HEADER, "the file holds no entries"),
        (csv_list("1,Ann,,person,,,", "1,Bob,,person,,,"), "line 3: the id of line 2 again"),
        (csv_list("1,,,person,,,"), "line 2: the name is empty"),
        (csv_list("1,Ann,,robot,,,"), "line 2: the type is person or organisation"),
        (csv_list("1,Ann,,person,China,,"), "line 2: countries are ISO 3166-1 alpha-2 codes"),
        (csv_list("1,Ann,,person,cn,18/04/1975,"), "line 2: birth dates are YYYY"),
        (csv_list("1,Ann,,person,cn"), "line 2: 6 columns where the header has 8"),
        (HEADER + "other,1,Ann,,person,,,\n", "line 2: every row must name the same list"),
    ],
)
def test_bad_csv_is_refused_naming_the_line(text: str, fragment: str) -> None:
    with pytest.raises(PayHubError) as caught:
        parse(text, "csv", "test_list")
    assert caught.value.code == "sanctions_list_invalid"
    assert fragment in caught.value.message()


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('{"id": "a", "schema": "Person", "properties": {"name": ["Ann"]}}\nnot json\n', "line 2"),
        ('{"id": "a", "properties": {}}\n', "line 1: an entity needs a schema"),
        ('{"id": "a", "schema": "Person", "properties": {"name": "Ann"}}\n', "list of strings"),
        ('{"id": "a", "schema": "Person", "properties": {}}\n', "the entry has no name"),
        ('{"id": "a", "schema": "Address", "properties": {}}\n', "the file holds no entries"),
    ],
)
def test_bad_ftm_is_refused_naming_the_line(text: str, fragment: str) -> None:
    with pytest.raises(PayHubError) as caught:
        parse(text, "ftm", "test_list")
    assert caught.value.code == "sanctions_list_invalid"
    assert fragment in caught.value.message()


def test_list_names_are_checked() -> None:
    with pytest.raises(PayHubError) as caught:
        parse(SAMPLE_CSV, "csv", "Bad Name!")
    assert caught.value.code == "validation_error"


async def _counts(db: Database, list_name: str) -> tuple[int, int]:
    async def count(session: object) -> tuple[int, int]:
        from sqlalchemy.ext.asyncio import AsyncSession

        assert isinstance(session, AsyncSession)
        entries = await session.scalar(
            select(func.count())
            .select_from(SanctionsEntry)
            .where(SanctionsEntry.list_name == list_name)
        )
        versions = await session.scalar(
            select(func.count())
            .select_from(SanctionsListVersion)
            .where(SanctionsListVersion.list_name == list_name)
        )
        return int(entries or 0), int(versions or 0)

    return await db.run_in_transaction(count)


async def test_a_load_replaces_the_list_and_records_a_version(db: Database) -> None:
    _, first = parse_csv(csv_list("1,Ann Lee,,person,,,", "2,Bob Ray,,person,,,"), None)
    view, created = await db.run_in_transaction(
        lambda s: registry.load_list(s, "test_list", "csv", first)
    )
    assert created and view.entries == 2 and view.current and len(view.checksum) == 64
    assert await _counts(db, "test_list") == (2, 1)

    # The same entries again (other spacing, other column order): the same version.
    again_text = "name,id\nAnn   Lee,1\nBob Ray,2\n"
    _, again = parse_csv(again_text, "test_list")
    same, created = await db.run_in_transaction(
        lambda s: registry.load_list(s, "test_list", "csv", again)
    )
    assert not created and same.id == view.id
    assert await _counts(db, "test_list") == (2, 1)

    _, second = parse_csv(csv_list("3,Cy Twombly,,person,,,"), None)
    newer, created = await db.run_in_transaction(
        lambda s: registry.load_list(s, "test_list", "csv", second)
    )
    assert created and newer.id > view.id
    assert await _counts(db, "test_list") == (1, 2)  # entries replaced, history kept
    versions, _ = await db.run_in_transaction(lambda s: registry.list_versions(s, limit=10))
    assert [(v.id, v.current) for v in versions] == [(newer.id, True), (view.id, False)]
    assert await db.run_in_transaction(registry.current_versions) == {"test_list": newer.id}


async def test_a_load_that_fails_changes_nothing(db: Database) -> None:
    _, first = parse_csv(csv_list("1,Ann Lee,,person,,,"), None)
    await db.run_in_transaction(lambda s: registry.load_list(s, "test_list", "csv", first))
    _, second = parse_csv(csv_list("2,Bob Ray,,person,,,"), None)

    async def fails_after_the_load(session: object) -> None:
        from sqlalchemy.ext.asyncio import AsyncSession

        assert isinstance(session, AsyncSession)
        await registry.load_list(session, "test_list", "csv", second)
        raise RuntimeError("the process dies before the commit")

    with pytest.raises(RuntimeError):
        await db.run_in_transaction(fails_after_the_load)
    assert await _counts(db, "test_list") == (1, 1)
