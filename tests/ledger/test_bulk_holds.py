"""Holds many at a time (`create_holds`, `post_holds`, `void_holds`): the same books as one
by one, each hold standing or falling alone, repeats recognised."""

from __future__ import annotations

import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from payhub.core.errors import PayHubError
from payhub.db.session import Database
from payhub.ledger import service as ledger
from payhub.ledger.domain import JournalSpec
from tests.ledger.helpers import balance, open_account, post, scalar, totals, transfer


async def books(db: Database, prefix: str, funds: int, *, shards: int = 1) -> dict[str, str]:
    """A wallet holding `funds` that may not overdraw, a hot in-transit account (`shards`)
    and a custody account; their ids by short name."""
    custody = await open_account(db, f"{prefix}:custody", side="debit")
    wallet = await open_account(db, f"{prefix}:wallet", no_overdraft=True)
    transit = await open_account(db, f"{prefix}:transit", shards=shards)
    await post(db, transfer(f"{prefix}:custody", f"{prefix}:wallet", funds))
    return {"custody": custody.id, "wallet": wallet.id, "transit": transit.id}


def hold_spec(prefix: str, n: int, amount: int) -> JournalSpec:
    return transfer(f"{prefix}:wallet", f"{prefix}:transit", amount, id=f"{prefix}-h{n}")


async def create(db: Database, specs: list[JournalSpec]) -> list[PayHubError | None]:
    return await db.run_in_transaction(lambda s: ledger.create_holds(s, specs))


def codes(errors: list[PayHubError | None]) -> list[str | None]:
    return [e.code if e is not None else None for e in errors]


async def test_bulk_holds_reserve_each_alone_and_refuse_only_the_overdraft(db: Database) -> None:
    ids = await books(db, "bk1", 1000)
    specs = [hold_spec("bk1", n, amount) for n, amount in enumerate([400, 500, 300, 100])]
    # 400 + 500 fit; 300 more would overdraw (refused alone); 100 still fits.
    assert codes(await create(db, specs)) == [None, None, "insufficient_funds", None]
    wallet = await balance(db, ids["wallet"])
    assert totals(wallet) == (0, 1000, 1000, 0)
    assert wallet.available == 0
    holds = await scalar(db, "SELECT count(*) FROM ledger_holds WHERE id LIKE 'bk1-%'")
    assert holds == 3
    # Every hold journal balances: debits = credits.
    unbalanced = await scalar(
        db,
        "SELECT count(*) FROM (SELECT journal_id FROM ledger_entries e"
        " JOIN ledger_journals j ON j.id = e.journal_id WHERE j.id LIKE 'bk1-%'"
        " GROUP BY journal_id HAVING sum(CASE WHEN side = 'debit' THEN amount ELSE -amount END)"
        " <> 0) x",
    )
    assert unbalanced == 0


async def test_bulk_holds_are_idempotent_by_id(db: Database) -> None:
    await books(db, "bk2", 1000)
    specs = [hold_spec("bk2", n, 100) for n in range(3)]
    assert codes(await create(db, specs)) == [None, None, None]
    # The same holds again: repeats, nothing new reserved.
    assert codes(await create(db, specs)) == [None, None, None]
    entries = await scalar(db, "SELECT count(*) FROM ledger_entries WHERE journal_id LIKE 'bk2-%'")
    assert entries == 6
    # The same id with other content is a conflict.
    other = [hold_spec("bk2", 0, 999)]
    assert codes(await create(db, other)) == ["journal_conflict"]


async def test_post_and_void_many_holds(db: Database) -> None:
    ids = await books(db, "bk3", 1000)
    await create(db, [hold_spec("bk3", n, 100) for n in range(4)])
    sent = [transfer("bk3:transit", "bk3:custody", 100, id=f"bk3-sent{n}") for n in range(2)]
    posted, booked = await db.run_in_transaction(
        lambda s: ledger.post_holds(s, [("bk3-h0", "bk3-p0"), ("bk3-h1", "bk3-p1")], journals=sent)
    )
    assert codes(posted) == [None, None] and codes(booked) == [None, None]
    voided = await db.run_in_transaction(lambda s: ledger.void_holds(s, ["bk3-h2"]))
    assert codes(voided) == [None]
    wallet = await balance(db, ids["wallet"])
    # 200 posted out, 100 still held (bk3-h3), 100 released.
    assert totals(wallet) == (200, 1000, 100, 0)
    transit = await balance(db, ids["transit"])
    assert (transit.posted, transit.pending) == (0, 100)
    # A repeat of a post with the same journal is answered as done; other changes refused.
    again, _ = await db.run_in_transaction(
        lambda s: ledger.post_holds(s, [("bk3-h0", "bk3-p0"), ("bk3-h2", "bk3-p2")])
    )
    assert codes(again) == [None, "hold_already_resolved"]
    twice = await db.run_in_transaction(lambda s: ledger.void_holds(s, ["bk3-h0", "bk3-hx"]))
    assert codes(twice) == ["hold_already_resolved", "hold_not_found"]
    assert totals(await balance(db, ids["wallet"])) == (200, 1000, 100, 0)
    view = await db.run_in_transaction(lambda s: ledger.get_hold(s, "bk3-h0"))
    assert view.status == "posted" and view.post_journal is not None
    assert view.post_journal.id == "bk3-p0"


async def test_posting_holds_reserved_on_several_shards_of_a_hot_account(db: Database) -> None:
    """Holds made in separate passes sit on different shards of the hot account: one pass
    posting all of them must release each on its own shard."""
    ids = await books(db, "bk4", 10_000, shards=8)
    for n in range(12):
        await create(db, [hold_spec("bk4", n, 100 + n)])
    shards = await scalar(
        db,
        "SELECT count(DISTINCT shard) FROM ledger_entries WHERE journal_id LIKE 'bk4-h%'"
        " AND account_id = :a",
        a=ids["transit"],
    )
    assert shards >= 2
    posts = [(f"bk4-h{n}", f"bk4-p{n}") for n in range(12)]
    posted, _ = await db.run_in_transaction(lambda s: ledger.post_holds(s, posts))
    assert codes(posted) == [None] * 12
    transit = await balance(db, ids["transit"])
    assert transit.pending == 0 and transit.posted == sum(100 + n for n in range(12))
    negative = await scalar(
        db,
        "SELECT count(*) FROM ledger_balances WHERE account_id = :a"
        " AND (debits_pending < 0 OR credits_pending < 0)",
        a=ids["transit"],
    )
    assert negative == 0


outcomes = st.lists(
    st.tuples(st.integers(min_value=1, max_value=400), st.sampled_from(["post", "void", "keep"])),
    min_size=1,
    max_size=12,
)


async def _one_by_one(db: Database, prefix: str, plan: list[tuple[int, str]]) -> None:
    for n, (amount, _) in enumerate(plan):
        try:
            await db.run_in_transaction(
                lambda s, n=n, amount=amount: ledger.create_hold(s, hold_spec(prefix, n, amount))
            )
        except PayHubError as error:
            assert error.code == "insufficient_funds"
    for n, (_, then) in enumerate(plan):
        hold_id = f"{prefix}-h{n}"
        exists = await scalar(db, "SELECT count(*) FROM ledger_holds WHERE id = :h", h=hold_id)
        if not exists or then == "keep":
            continue
        if then == "post":
            await db.run_in_transaction(
                lambda s, h=hold_id, n=n: ledger.post_hold(s, h, journal_id=f"{prefix}-p{n}")
            )
        else:
            await db.run_in_transaction(lambda s, h=hold_id: ledger.void_hold(s, h))


async def _in_bulk(db: Database, prefix: str, plan: list[tuple[int, str]]) -> None:
    errors = await create(db, [hold_spec(prefix, n, a) for n, (a, _) in enumerate(plan)])
    made = [n for n, e in enumerate(errors) if e is None]
    posts = [(f"{prefix}-h{n}", f"{prefix}-p{n}") for n in made if plan[n][1] == "post"]
    voids = [f"{prefix}-h{n}" for n in made if plan[n][1] == "void"]

    async def resolve(session: Any) -> None:
        posted, _ = await ledger.post_holds(session, posts)
        assert codes(posted) == [None] * len(posts)
        assert codes(await ledger.void_holds(session, voids)) == [None] * len(voids)

    await db.run_in_transaction(resolve)


@settings(
    max_examples=15,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=outcomes, shards=st.sampled_from([1, 4]))
async def test_bulk_and_one_by_one_give_the_same_balances(
    db: Database, plan: list[tuple[int, str]], shards: int
) -> None:
    tag = uuid.uuid4().hex[:8]
    single, bulk = f"s{tag}", f"b{tag}"
    single_ids = await books(db, single, 1000, shards=shards)
    bulk_ids = await books(db, bulk, 1000, shards=shards)
    await _one_by_one(db, single, plan)
    await _in_bulk(db, bulk, plan)
    for name in ("wallet", "transit", "custody"):
        one = await balance(db, single_ids[name])
        many = await balance(db, bulk_ids[name])
        assert totals(one) == totals(many), name
    wallet = await balance(db, bulk_ids["wallet"])
    assert wallet.available >= 0
    statuses = await scalar(
        db,
        "SELECT count(*) FROM ledger_holds a JOIN ledger_holds b"
        " ON b.id = :b || substr(a.id, length(:s) + 1)"
        " WHERE a.id LIKE :s || '-%' AND a.status <> b.status",
        s=single,
        b=bulk,
    )
    assert statuses == 0
