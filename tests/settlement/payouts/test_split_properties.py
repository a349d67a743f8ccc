"""Properties of a batch's plan and booking, over random instructions: it never gives
away more than was collected, its journals balance, and the leader is debited exactly
what the receivers and the platform are credited."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from payhub.core.errors import PayHubError
from payhub.ledger.service import MAX_POSTINGS, Side
from payhub.settlement.payouts.models import Payee
from payhub.splits.service import BatchOrder, Cut, LineIn, booking, plan_batch

NOW = datetime(2026, 12, 7, tzinfo=UTC)
LEADER = "mer_leader"


def _payee(i: int, cap: int | None) -> Payee:
    return Payee(
        id=f"pye_{i}", merchant_id=f"mer_{i}", role="supplier", bank_account=f"ba_{i}",
        bank_code="ICBC", holder_name=f"S{i}", last4="0000", status="verified",
        screening="clear", split_cap=cap, created_at=NOW, updated_at=NOW,
    )  # fmt: skip


line = st.one_of(
    st.builds(lambda a: (a, None), st.integers(min_value=-5, max_value=2_000_000)),
    st.builds(lambda b: (None, b), st.integers(min_value=-5, max_value=10_005)),
)
cut = st.one_of(
    st.just(Cut()),
    st.builds(lambda a: Cut(amount=a), st.integers(min_value=0, max_value=500_000)),
    st.builds(lambda b: Cut(bps=b), st.integers(min_value=0, max_value=10_000)),
)


@settings(max_examples=200, deadline=None)
@given(
    net=st.integers(min_value=0, max_value=10_000_000),
    lines=st.lists(line, min_size=1, max_size=150),
    caps=st.lists(
        st.one_of(st.none(), st.integers(min_value=1, max_value=3_000_000)),
        min_size=150,
        max_size=150,
    ),
    platform=cut,
    leader=cut,
)
def test_a_batch_never_gives_more_than_collected_and_balances(
    net: int,
    lines: list[tuple[int | None, int | None]],
    caps: list[int | None],
    platform: Cut,
    leader: Cut,
) -> None:
    receivers = {f"pye_{i}": _payee(i, caps[i]) for i in range(len(lines))}
    order = BatchOrder(
        merchant_id=LEADER,
        currency="CNY",
        lines=[LineIn(f"pye_{i}", a, b) for i, (a, b) in enumerate(lines)],
        payments=("pay_x",),
        platform_commission=platform,
        leader_commission=leader,
    )
    try:
        priced, fee, kept = plan_batch(order, receivers, net)
    except PayHubError:
        return  # refused: nothing is booked
    given_away = sum(p.amount for p in priced)
    assert given_away + fee + kept <= net
    assert all(p.amount > 0 for p in priced)
    assert all(p.payee.split_cap is None or p.amount <= p.payee.split_cap for p in priced)

    specs = booking("spb_x", LEADER, "CNY", priced, fee)
    debited = credited = 0
    per_account: dict[str, int] = defaultdict(int)
    for n, spec in enumerate(specs):
        assert len(spec.postings) <= MAX_POSTINGS
        assert spec.linked == (n < len(specs) - 1)  # one chain: all or nothing
        assert sum(p.amount if p.side is Side.DEBIT else -p.amount for p in spec.postings) == 0
        for p in spec.postings:
            if p.side is Side.DEBIT:
                assert p.account == f"merchant:{LEADER}:available"
                debited += p.amount
            else:
                credited += p.amount
                per_account[p.account] += p.amount
    assert debited == credited == given_away + fee
    assert per_account.get("platform:fees", 0) == fee
    for p in priced:
        assert per_account[f"merchant:{p.payee.merchant_id}:available"] == p.amount
