"""Property-based: random sequences of ledger operations keep the books consistent.

Each example opens its own accounts (codes under a fresh prefix) in the test's database, runs
a generated list of operations and, after every step, checks what must always hold by
reading the tables directly:

* posted entries balance per currency, and so do the entries of holds still pending;
* no account that may not overdraw has debits (posted + pending) above its posted credits;
* every balance row (and so every account, summed over shards) equals the sums of its
  entries: posted entries → posted totals, entries of pending holds → pending totals;
* each account's totals equal what a plain Python model of the accepted operations expects,
  and every operation is accepted or refused exactly as the model predicts.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from payhub.core.errors import PayHubError
from payhub.db.session import Database
from payhub.ledger import service as ledger
from payhub.ledger.domain import JournalSpec, PostingSpec, Side

_prefixes = itertools.count()

# name → (currency, normal side, may not overdraw, shards)
ACCOUNTS: dict[str, tuple[str, str, bool, int]] = {
    "bank": ("CNY", "debit", False, 1),
    "w1": ("CNY", "credit", True, 1),
    "w2": ("CNY", "credit", True, 1),
    "w3": ("CNY", "credit", True, 1),
    "hot": ("CNY", "credit", False, 4),
    "usd_bank": ("USD", "debit", False, 1),
    "usd_w": ("USD", "credit", True, 1),
}
LIMITED = {name for name, (_, _, limited, _) in ACCOUNTS.items() if limited}

Line = tuple[str, str, int]  # account name, side, amount

cny = st.sampled_from(["bank", "bank", "w1", "w2", "w3", "hot"])
amounts = st.integers(min_value=1, max_value=400)
pick = st.integers(min_value=0, max_value=1000)

post_op = st.tuples(st.just("post"), cny, cny, amounts)
fx_op = st.tuples(st.just("fx"), cny, cny, amounts, st.booleans(), amounts)
hold_op = st.tuples(st.just("hold"), cny, cny, amounts)
post_hold_op = st.tuples(
    st.just("post_hold"), pick, st.sampled_from(["full", "partial", "partial", "over"]), amounts
)
void_op = st.tuples(st.just("void"), pick)
reverse_op = st.tuples(st.just("reverse"), pick)
repeat_op = st.tuples(st.just("repeat"), pick, st.booleans())
batch_op = st.tuples(
    st.just("batch"),
    st.lists(st.tuples(cny, cny, amounts, st.booleans()), min_size=1, max_size=5),
)
# Repeated entries weigh the choice towards the operations that need earlier ones.
operations = st.one_of(
    post_op,
    post_op,
    fx_op,
    hold_op,
    hold_op,
    post_hold_op,
    post_hold_op,
    void_op,
    reverse_op,
    reverse_op,
    repeat_op,
    batch_op,
    batch_op,
)
# Every example starts with money in the wallets, so that more operations go through.
FUNDING = [
    ("post", "bank", "w1", 600),
    ("post", "bank", "w2", 400),
    ("fx", "bank", "w3", 300, True, 500),
]


@dataclass
class Journal:
    id: str
    kind: str
    lines: list[Line]
    spec: JournalSpec | None = None


@dataclass
class HoldState:
    id: str
    lines: list[Line]
    status: str = "pending"


@dataclass
class Model:
    prefix: str
    ids: dict[str, str] = field(default_factory=dict)  # name → account id
    totals: dict[str, list[int]] = field(
        default_factory=lambda: {name: [0, 0, 0, 0] for name in ACCOUNTS}
    )  # debits_posted, credits_posted, debits_pending, credits_pending
    journals: list[Journal] = field(default_factory=list)
    holds: list[HoldState] = field(default_factory=list)
    reversed: set[str] = field(default_factory=set)
    serial: itertools.count[int] = field(default_factory=itertools.count)

    def new_id(self, kind: str) -> str:
        return f"{self.prefix}-{kind}{next(self.serial)}"

    def code(self, name: str) -> str:
        return f"{self.prefix}:{name}"

    def spec(
        self, lines: list[Line], *, id: str | None = None, linked: bool = False
    ) -> JournalSpec:
        return JournalSpec(
            id=id,
            linked=linked,
            postings=tuple(
                PostingSpec(self.code(name), Side(side), amount, ACCOUNTS[name][0])
                for name, side, amount in lines
            ),
        )

    def apply(
        self, lines: list[Line], *, pending: bool = False, release: tuple[Line, ...] = ()
    ) -> str | None:
        """What the engine does with one journal: None if accepted (totals changed), else the
        error code (totals unchanged)."""
        before = {name: list(values) for name, values in self.totals.items()}
        for name, side, amount in release:
            self.totals[name][2 if side == "debit" else 3] -= amount
        for name, side, amount in lines:
            if side == "debit":
                self.totals[name][2 if pending else 0] += amount
            else:
                self.totals[name][3 if pending else 1] += amount
        for name in {n for n, _, _ in (*release, *lines)}:
            dpost, cpost, dpend, _ = self.totals[name]
            if name in LIMITED and dpost + dpend > cpost:
                self.totals = before
                return "insufficient_funds"
        return None


def transfer_lines(source: str, target: str, amount: int) -> list[Line]:
    return [(source, "debit", amount), (target, "credit", amount)]


def mirror(lines: list[Line]) -> list[Line]:
    return [(n, "credit" if s == "debit" else "debit", a) for n, s, a in lines]


async def outcome(work: Any) -> tuple[str | None, Any]:
    """(error code or None, result)."""
    try:
        return None, await work
    except PayHubError as error:
        return error.code, None


async def open_books(db: Database) -> Model:
    model = Model(prefix=f"pt{next(_prefixes)}")
    specs = [
        ledger.AccountSpec(
            model.code(name),
            currency,
            Side(side),
            debits_must_not_exceed_credits=limited,
            shards=shards,
        )
        for name, (currency, side, limited, shards) in ACCOUNTS.items()
    ]
    views = await db.run_in_transaction(lambda s: ledger.create_accounts(s, specs))
    model.ids = {name: view.id for name, view in zip(ACCOUNTS, views, strict=True)}
    return model


async def step(db: Database, model: Model, op: tuple[Any, ...]) -> None:
    kind = op[0]
    if kind in ("post", "fx"):
        lines = transfer_lines(op[1], op[2], op[3])
        if kind == "fx":
            usd = ("usd_bank", "usd_w") if op[4] else ("usd_w", "usd_bank")
            lines += transfer_lines(*usd, op[5])
        spec = model.spec(lines, id=model.new_id("j"))
        expected = model.apply(lines)
        error, result = await outcome(db.run_in_transaction(lambda s: ledger.post_journal(s, spec)))
        assert error == expected, (op, error, expected)
        if expected is None:
            view, created = result
            assert created is True and view.id == spec.id
            model.journals.append(Journal(view.id, "standard", lines, spec))

    elif kind == "hold":
        lines = transfer_lines(op[1], op[2], op[3])
        spec = model.spec(lines, id=model.new_id("h"))
        expected = model.apply(lines, pending=True)
        error, result = await outcome(db.run_in_transaction(lambda s: ledger.create_hold(s, spec)))
        assert error == expected, (op, error, expected)
        if expected is None:
            view, created = result
            assert created is True and view.status == "pending"
            model.holds.append(HoldState(view.id, lines))
            model.journals.append(Journal(view.id, "hold", lines))

    elif kind in ("post_hold", "void"):
        if not model.holds:
            return
        hold = model.holds[op[1] % len(model.holds)]
        held_amount = hold.lines[0][2]
        source, target = hold.lines[0][0], hold.lines[1][0]
        if kind == "void":
            expected = None if hold.status == "pending" else "hold_already_resolved"
            if expected is None:
                assert model.apply([], release=tuple(hold.lines)) is None
                hold.status = "voided"
            error, result = await outcome(
                db.run_in_transaction(lambda s: ledger.void_hold(s, hold.id))
            )
            assert error == expected, (op, error, expected)
            if expected is None:
                assert result.status == "voided"
            return
        mode, amount = op[2], op[3]
        postings: tuple[PostingSpec, ...] | None = None
        lines = hold.lines
        if mode != "full":
            part = held_amount + amount if mode == "over" else (amount - 1) % held_amount + 1
            lines = transfer_lines(source, target, part)
            postings = model.spec(lines).postings
        if hold.status != "pending":
            expected = "hold_already_resolved"
        elif mode == "over":
            expected = "hold_post_exceeds_pending"
        else:
            expected = model.apply(lines, release=tuple(hold.lines))
            assert expected is None  # posting at most what was reserved cannot overdraw
            hold.status = "posted"
        error, result = await outcome(
            db.run_in_transaction(lambda s: ledger.post_hold(s, hold.id, postings=postings))
        )
        assert error == expected, (op, error, expected)
        if expected is None:
            assert result.status == "posted" and result.post_journal is not None
            assert [e.amount for e in result.post_journal.postings] == [a for _, _, a in lines]
            model.journals.append(Journal(result.post_journal.id, "hold_post", lines))

    elif kind == "reverse":
        if not model.journals:
            return
        journal = model.journals[op[1] % len(model.journals)]
        if journal.kind in ("hold", "reversal"):
            expected = "journal_not_reversible"
        elif journal.id in model.reversed:
            expected = "journal_already_reversed"
        else:
            expected = model.apply(mirror(journal.lines))
        error, result = await outcome(
            db.run_in_transaction(lambda s: ledger.reverse_journal(s, journal.id))
        )
        assert error == expected, (op, journal.kind, error, expected)
        if expected is None:
            view, created = result
            assert created is True and view.reverses_journal_id == journal.id
            model.reversed.add(journal.id)
            model.journals.append(Journal(view.id, "reversal", mirror(journal.lines)))

    elif kind == "repeat":
        standard = [j for j in model.journals if j.kind == "standard"]
        if not standard:
            return
        journal = standard[op[1] % len(standard)]
        assert journal.spec is not None
        spec = journal.spec
        if op[2]:  # the same id with other content
            spec = JournalSpec(id=spec.id, postings=spec.postings, description="changed")
        error, result = await outcome(db.run_in_transaction(lambda s: ledger.post_journal(s, spec)))
        if op[2]:
            assert error == "journal_conflict", (op, error)
        else:
            assert error is None, (op, error)
            view, created = result
            assert created is False and view.id == journal.id

    elif kind == "batch":
        items = list(op[1])
        items[-1] = (*items[-1][:3], False)  # the last journal cannot link on
        lines_of = [transfer_lines(src, dst, amount) for src, dst, amount, _ in items]
        specs = [
            model.spec(lines, id=model.new_id("b"), linked=linked)
            for lines, (_, _, _, linked) in zip(lines_of, items, strict=True)
        ]
        expected: list[str | None] = [None] * len(items)
        chain: list[int] = []
        for i, (_, _, _, linked) in enumerate(items):
            chain.append(i)
            if linked:
                continue
            before = {name: list(values) for name, values in model.totals.items()}
            for j in chain:
                failed = model.apply(lines_of[j])
                if failed:
                    model.totals = before
                    for other in chain:
                        expected[other] = "linked_journal_failed"
                    expected[j] = failed
                    break
            chain = []
        outcomes = await db.run_in_transaction(lambda s: ledger.post_journals(s, specs))
        got = [o.error.code if o.error else None for o in outcomes]
        assert got == expected, (op, got, expected)
        for o, spec, lines in zip(outcomes, specs, lines_of, strict=True):
            if o.status == "created":
                assert o.journal is not None and o.journal.id == spec.id
                model.journals.append(Journal(o.journal.id, "standard", lines, spec))
            else:
                assert o.status == "rejected"


def _sums(rows: list[Any]) -> dict[tuple[Any, ...], int]:
    out: dict[tuple[Any, ...], int] = defaultdict(int)
    for *key, amount in rows:
        out[tuple(key)] += int(amount)
    return out


async def check_invariants(db: Database, model: Model) -> None:
    async with db.engine.connect() as conn:

        async def rows(sql: str) -> list[Any]:
            return list((await conn.execute(text(sql))).all())

        posted = _sums(
            await rows(
                "SELECT currency, side, sum(amount) FROM ledger_entries"
                " WHERE NOT pending GROUP BY currency, side"
            )
        )
        held = _sums(
            await rows(
                "SELECT e.currency, e.side, sum(e.amount) FROM ledger_entries e"
                " JOIN ledger_holds h ON h.id = e.journal_id"
                " WHERE h.status = 'pending' GROUP BY e.currency, e.side"
            )
        )
        for sums in (posted, held):
            for currency in {c for c, _ in sums}:
                assert sums[(currency, "debit")] == sums[(currency, "credit")], (currency, sums)

        overdrawn = await rows(
            "SELECT a.code FROM ledger_accounts a JOIN ledger_balances b ON b.account_id = a.id"
            " WHERE a.debits_must_not_exceed_credits GROUP BY a.code"
            " HAVING sum(b.debits_posted) + sum(b.debits_pending) > sum(b.credits_posted)"
        )
        assert overdrawn == []

        entries_posted = _sums(
            await rows(
                "SELECT account_id, shard, side, sum(amount) FROM ledger_entries"
                " WHERE NOT pending GROUP BY account_id, shard, side"
            )
        )
        entries_pending = _sums(
            await rows(
                "SELECT e.account_id, e.shard, e.side, sum(e.amount) FROM ledger_entries e"
                " JOIN ledger_holds h ON h.id = e.journal_id WHERE h.status = 'pending'"
                " GROUP BY e.account_id, e.shard, e.side"
            )
        )
        balances = await rows(
            "SELECT account_id, shard, debits_posted, credits_posted, debits_pending,"
            " credits_pending FROM ledger_balances"
        )
        per_account: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        from_entries: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        for account, shard, *stored in balances:
            expected = [
                entries_posted.get((account, shard, "debit"), 0),
                entries_posted.get((account, shard, "credit"), 0),
                entries_pending.get((account, shard, "debit"), 0),
                entries_pending.get((account, shard, "credit"), 0),
            ]
            assert [int(v) for v in stored] == expected, (account, shard, stored, expected)
            for i in range(4):
                per_account[account][i] += int(stored[i])
                from_entries[account][i] += expected[i]
        assert per_account == from_entries

    for name, account_id in model.ids.items():
        assert per_account[account_id] == model.totals[name], (name, per_account[account_id])


async def check_through_the_api(db: Database, model: Model) -> None:
    for name, account_id in model.ids.items():
        view = await db.run_in_transaction(lambda s, a=account_id: ledger.get_balance(s, a))
        dpost, cpost, dpend, cpend = model.totals[name]
        assert (view.debits_posted, view.credits_posted) == (dpost, cpost), name
        assert (view.debits_pending, view.credits_pending) == (dpend, cpend), name
        normal = ACCOUNTS[name][1]
        assert view.posted == (dpost - cpost if normal == "debit" else cpost - dpost), name
        if name in LIMITED:
            assert view.available >= 0, name
    for hold in model.holds:
        view = await db.run_in_transaction(lambda s, h=hold.id: ledger.get_hold(s, h))
        assert view.status == hold.status, hold.id


@settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(operations, min_size=3, max_size=25))
async def test_random_operations_keep_the_books_consistent(
    db: Database, ops: list[tuple[Any, ...]]
) -> None:
    model = await open_books(db)
    for op in [*FUNDING, *ops]:
        await step(db, model, op)
        await check_invariants(db, model)
    await check_through_the_api(db, model)


@settings(
    max_examples=15,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    ops=st.lists(
        st.one_of(
            st.tuples(st.just("post"), st.just("bank"), st.sampled_from(["w1", "w2"]), amounts),
            st.tuples(st.just("post"), st.sampled_from(["w1", "w2"]), cny, amounts),
            st.tuples(st.just("hold"), st.sampled_from(["w1", "w2"]), cny, amounts),
            st.tuples(st.just("post_hold"), pick, st.sampled_from(["full", "partial"]), amounts),
            st.tuples(st.just("void"), pick),
        ),
        min_size=5,
        max_size=30,
    )
)
async def test_wallets_never_overdraw(db: Database, ops: list[tuple[Any, ...]]) -> None:
    """Money flowing mostly out of the limited wallets: the limit is what gets exercised."""
    model = await open_books(db)
    for op in [*FUNDING, *ops]:
        await step(db, model, op)
    await check_invariants(db, model)
    await check_through_the_api(db, model)
