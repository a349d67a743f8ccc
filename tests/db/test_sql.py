"""The `Sql` handle: statements written once as Core, run on both databases; on PostgreSQL
a unit opens its transaction only when needed and sends deferred writes together, as one
atomic statement."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import bindparam, func, insert, select, update

from payhub.db.session import Database
from payhub.db.sql import Sql, _renumbered, _together, table_of
from payhub.events.models import Event
from tests.conftest import requires_postgres

EVENTS = table_of(Event)
INSERT = insert(EVENTS)
BY_ID = select(EVENTS).where(EVENTS.c.id == bindparam("id"))
LOCK = BY_ID.with_for_update()
COUNT = select(func.count()).select_from(EVENTS)
TYPES = (
    select(EVENTS.c.type).where(EVENTS.c.merchant_id == bindparam("merchant")).order_by(EVENTS.c.id)
)
RETYPE = update(EVENTS).where(EVENTS.c.id == bindparam("key")).values(type=bindparam("type"))
NOW = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


def event(n: int, **extra: Any) -> dict[str, Any]:
    values = {
        "id": f"evt_{n:04d}",
        "type": "test.made",
        "merchant_id": "mer_1",
        "data": {"n": n, "note": "数据"},
        "created_at": NOW,
        "dispatched_at": None,
    }
    return {**values, **extra}


async def count(db: Database) -> int:
    return int(await db.transact(lambda sql: sql.value(COUNT)))


async def test_statements_round_trip_their_types(db: Database) -> None:
    async def work(sql: Sql) -> dict[str, Any] | None:
        assert await sql.run(INSERT, **event(1)) == 1
        await sql.run_many(INSERT, [event(2), event(3)])
        return await sql.one(BY_ID, id="evt_0001")

    row = await db.transact(work)
    assert row is not None
    # JSON comes back as Python values and times as aware UTC datetimes, on both databases.
    assert row["data"] == {"n": 1, "note": "数据"}
    assert row["created_at"] == NOW and row["created_at"].tzinfo is not None
    assert row["dispatched_at"] is None
    assert await count(db) == 3
    assert await db.transact(lambda sql: sql.one(BY_ID, id="evt_none")) is None
    assert await db.transact(lambda sql: sql.value(BY_ID, id="evt_0002")) == "evt_0002"


async def test_deferred_writes_are_applied_and_visible_to_later_reads(db: Database) -> None:
    async def work(sql: Sql) -> list[str]:
        await sql.defer(INSERT, **event(1))
        await sql.defer(INSERT, **event(2))
        # A change of a row written in this unit: sent after it, never beside it (one
        # statement's parts share a snapshot and would not see each other's rows).
        await sql.defer(RETYPE, key="evt_0001", type="test.changed")
        # A read sends what is deferred first, so it sees it.
        return [r["type"] for r in await sql.all(TYPES, merchant="mer_1")]

    assert await db.transact(work) == ["test.changed", "test.made"]


async def test_a_failure_leaves_nothing_of_the_unit(db: Database) -> None:
    async def work(sql: Sql) -> None:
        await sql.defer(INSERT, **event(1))
        await sql.defer(INSERT, **event(2))
        raise RuntimeError("the work failed")

    with pytest.raises(RuntimeError):
        await db.transact(work)
    assert await count(db) == 0

    async def duplicate(sql: Sql) -> None:
        await sql.run(INSERT, **event(1))
        await sql.defer(INSERT, **event(2))
        await sql.defer(INSERT, **event(1))  # the same id again: refused at the end

    with pytest.raises(Exception):  # noqa: B017 - either driver's integrity error
        await db.transact(duplicate)
    assert await count(db) == 0


async def test_a_deferred_write_returns_nothing(db: Database) -> None:
    if db.is_sqlite:
        pytest.skip("outside a PostgreSQL unit a deferred write runs at once")

    async def work(sql: Sql) -> None:
        await sql.defer(INSERT.returning(EVENTS.c.id), **event(1))

    with pytest.raises(TypeError, match="returning no rows"):
        await db.transact(work)


@requires_postgres
async def test_a_unit_opens_its_transaction_only_when_it_must(db: Database) -> None:
    seen: dict[str, bool] = {}

    async def reads_only(sql: Sql) -> None:
        await sql.value(COUNT)
        seen["after a plain read"] = sql.connection.is_in_transaction()

    await db.transact(reads_only)
    assert seen == {"after a plain read": False}

    async def writes_at_the_end(sql: Sql) -> None:
        await sql.value(COUNT)
        await sql.defer(INSERT, **event(1))
        await sql.defer(INSERT, **event(2))
        seen["with deferred writes"] = sql.connection.is_in_transaction()

    await db.transact(writes_at_the_end)
    assert seen["with deferred writes"] is False
    assert await count(db) == 2

    async def locks(sql: Sql) -> None:
        await sql.one(LOCK, id="evt_0001")
        seen["after a locking read"] = sql.connection.is_in_transaction()

    await db.transact(locks)
    assert seen["after a locking read"] is True

    async def writes_now(sql: Sql) -> None:
        await sql.one(INSERT.returning(EVENTS.c.id), **event(3))
        seen["after a write that returns"] = sql.connection.is_in_transaction()
        raise RuntimeError("and then fails")

    with pytest.raises(RuntimeError):
        await db.transact(writes_now)
    # It ran inside the unit's transaction, so the failure took it back.
    assert seen["after a write that returns"] is True
    assert await count(db) == 2


@requires_postgres
async def test_deferred_writes_travel_as_one_statement(db: Database) -> None:
    async def work(sql: Sql) -> None:
        statements: list[str] = []

        class Spy:
            """The pooled connection, noting every command sent through `execute`."""

            def __init__(self, inner: Any) -> None:
                self.inner = inner

            async def execute(self, query: str, *args: Any) -> Any:
                statements.append(query)
                return await self.inner.execute(query, *args)

        sql.connection = Spy(sql.connection)
        for n in range(1, 5):
            await sql.defer(INSERT, **event(n))
        await sql.flush(begin=False)
        assert len(statements) == 1 and statements[0].startswith("WITH ")
        sql.connection = sql.connection.inner

    await db.transact(work)
    assert await count(db) == 4


def test_parameters_are_renumbered_in_order() -> None:
    assert _renumbered("UPDATE t SET a=$1, b=$2 WHERE id=$10", 3) == (
        "UPDATE t SET a=$4, b=$5 WHERE id=$13"
    )


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=12), min_size=1, max_size=6))
def test_joined_statements_number_every_parameter_once(widths: list[int]) -> None:
    from payhub.db.sql import _Plan

    plans = []
    for i, width in enumerate(widths):
        marks = ", ".join(f"${n}" for n in range(1, width + 1))
        plan = _Plan(f"INSERT INTO t{i} VALUES ({marks})", (), (), (), (), (), False, False)
        plans.append((plan, [f"{i}.{n}" for n in range(width)]))
    sql, args = _together(plans)
    assert args == [a for _, plan_args in plans for a in plan_args]
    numbers = [int(n) for n in __import__("re").findall(r"\$(\d+)", sql)]
    assert numbers == list(range(1, len(args) + 1))


@requires_postgres
async def test_a_burst_of_first_callers_shares_one_connection_pool(database_url: str) -> None:
    # Every pool but the one kept would hold its connections until the process ends.
    db = Database(database_url, pool_size=4)
    try:
        pools = await asyncio.gather(*(db.asyncpg_pool() for _ in range(20)))
        assert len({id(pool) for pool in pools}) == 1
    finally:
        await db.dispose()
