"""The payout and split typologies fire on their pattern and stay silent on ordinary
business (and on the near-miss)."""

from __future__ import annotations

from datetime import timedelta

from payhub.risk.monitoring import Transaction
from tests.risk.monitoring.factories import T0, monitor, run, tx

YUAN = 100
LIMIT = 50_000 * YUAN  # an instant (real-time rail) limit for these tests
DAILY = 20_000 * YUAN


def _alerts(transactions: list[Transaction], typology: str) -> list[tuple[str, str]]:
    return [(a.typology, a.subject) for a in run(monitor(typology), transactions).values()]


def _payout(merchant: str, amount: int, account: str = "ba:own", **extra: object) -> Transaction:
    return tx(merchant, account, amount, kind="payout", **extra)  # type: ignore[arg-type]


# --- rapid pass-through -----------------------------------------------------------------


def test_collected_from_two_payers_and_withdrawn_within_hours_fires() -> None:
    flow = [
        tx("cus_a", "mer_x", 6_000 * YUAN, kind="payment"),
        tx("cus_b", "mer_x", 4_000 * YUAN, kind="payment", minutes=30),
        _payout("mer_x", 9_500 * YUAN, hours=2),
    ]
    (alert,) = run(monitor("rapid_pass_through"), flow).values()
    assert (alert.typology, alert.subject) == ("rapid_pass_through", "mer_x")
    assert set(alert.transaction_ids) == {t.id for t in flow}
    assert 60 <= alert.score <= 100


def test_a_shop_withdrawing_the_takings_of_many_customers_is_silent() -> None:
    day = [
        tx(f"cus_{n}", "mer_shop", 300 * YUAN, kind="payment", minutes=10 * n) for n in range(40)
    ]
    assert _alerts([*day, _payout("mer_shop", 12_000 * YUAN, hours=10)], "rapid_pass_through") == []


def test_a_small_shop_withdrawing_its_few_customers_payments_every_day_is_silent() -> None:
    days = [
        t
        for d in range(5)
        for t in (
            tx("cus_a", "mer_small", 4_000 * YUAN, kind="payment", days=d),
            tx("cus_b", "mer_small", 3_000 * YUAN, kind="payment", days=d, hours=1),
            _payout("mer_small", 7_000 * YUAN, days=d, hours=10),
        )
    ]
    found = _alerts(days, "rapid_pass_through")
    assert found == [("rapid_pass_through", "mer_small")]  # the first day only: no history
    (alert,) = run(monitor("rapid_pass_through"), days).values()
    assert len(alert.transaction_ids) == 3


def test_withdrawing_a_small_part_of_the_collections_is_silent() -> None:
    flow = [
        tx("cus_a", "mer_x", 10_000 * YUAN, kind="payment"),
        _payout("mer_x", 3_000 * YUAN, hours=1),
    ]
    assert _alerts(flow, "rapid_pass_through") == []


def test_a_split_line_paid_on_to_the_receiver_is_not_a_withdrawal() -> None:
    flow = [
        tx("cus_a", "mer_x", 10_000 * YUAN, kind="payment"),
        tx("mer_x", "ba:own", 9_800 * YUAN, kind="split_payout", hours=1),
    ]
    assert _alerts(flow, "rapid_pass_through") == []


# --- one bank account, many merchants ---------------------------------------------------


def test_three_merchants_withdrawing_to_one_account_fires() -> None:
    flow = [_payout(f"mer_{n}", 1_000 * YUAN, "ba:shared", days=n) for n in range(3)]
    (alert,) = run(monitor("shared_payout_account"), flow).values()
    assert (alert.typology, alert.subject) == ("shared_payout_account", "ba:shared")
    assert set(alert.transaction_ids) == {t.id for t in flow}
    assert {"mer_0", "mer_1", "mer_2"} <= set(alert.evidence.nodes)


def test_one_merchant_withdrawing_often_and_two_sharing_an_account_are_silent() -> None:
    own = [_payout("mer_a", 1_000 * YUAN, "ba:a", days=n) for n in range(10)]
    couple = [_payout(m, 1_000 * YUAN, "ba:family", days=1) for m in ("mer_b", "mer_c")]
    assert _alerts(own + couple, "shared_payout_account") == []


def test_merchants_sharing_an_account_months_apart_are_silent() -> None:
    # Beyond the retention (35 days) the earlier withdrawals are forgotten.
    flow = [_payout(f"mer_{n}", 1_000 * YUAN, "ba:shared", days=40 * n) for n in range(3)]
    assert _alerts(flow, "shared_payout_account") == []


# --- a split to a receiver bound minutes ago --------------------------------------------


def _line(amount: int, total: int, bound_minutes_before: float) -> Transaction:
    return tx(
        "mer_leader",
        "mer_new",
        amount,
        kind="split",
        batch_total=total,
        bound_at=T0 - timedelta(minutes=bound_minutes_before),
    )


def test_most_of_a_round_to_a_receiver_bound_ten_minutes_ago_fires() -> None:
    line = _line(8_000 * YUAN, 10_000 * YUAN, 10)
    (alert,) = run(monitor("split_to_new_receiver"), [line]).values()
    assert (alert.typology, alert.subject) == ("split_to_new_receiver", "mer_leader")
    assert alert.transaction_ids == (line.id,)
    assert "10 minutes" in alert.explanation


def test_a_small_share_or_an_old_receiver_is_silent() -> None:
    small_share = _line(1_000 * YUAN, 10_000 * YUAN, 10)
    long_known = _line(8_000 * YUAN, 10_000 * YUAN, 60 * 24 * 30)
    tiny_round = _line(400 * YUAN, 450 * YUAN, 5)
    assert _alerts([small_share, long_known, tiny_round], "split_to_new_receiver") == []


def test_a_split_batch_of_many_small_lines_is_not_a_burst_of_small_payments() -> None:
    lines = [
        tx("mer_leader", f"mer_s{n}", 50 * YUAN, kind="split", minutes=n / 10) for n in range(15)
    ]
    assert _alerts(lines, "high_frequency_small") == []
    payments = [tx("cus_a", f"mer_s{n}", 50 * YUAN, minutes=n) for n in range(15)]
    assert _alerts(payments, "high_frequency_small") == [("high_frequency_small", "cus_a")]


# --- structuring of withdrawals ----------------------------------------------------------


def test_withdrawals_just_under_the_instant_limit_fire() -> None:
    flow = [
        _payout("mer_x", LIMIT - 100 * n * YUAN, hours=8 * n, instant_limit=LIMIT)
        for n in range(1, 4)
    ]
    (alert,) = run(monitor("structured_withdrawals"), flow).values()
    assert (alert.typology, alert.subject) == ("structured_withdrawals", "mer_x")
    assert set(alert.transaction_ids) == {t.id for t in flow}
    assert "instant limit" in alert.explanation


def test_days_just_under_the_daily_limit_fire() -> None:
    flow = [
        _payout("mer_x", part, days=day, hours=h, daily_limit=DAILY)
        for day in range(3)
        for h, part in ((0, 10_000 * YUAN), (5, 9_500 * YUAN))
    ]
    (alert,) = run(monitor("structured_withdrawals"), flow).values()
    assert alert.subject == "mer_x" and "daily limit" in alert.explanation
    assert len(alert.transaction_ids) == 6


def test_ordinary_withdrawals_and_two_near_misses_are_silent() -> None:
    ordinary = [
        _payout("mer_a", 8_000 * YUAN, days=d, instant_limit=LIMIT, daily_limit=DAILY)
        for d in range(7)
    ]
    two = [
        _payout("mer_b", LIMIT - YUAN, hours=h, instant_limit=LIMIT, daily_limit=None)
        for h in (0, 30)
    ]
    spread = [
        _payout("mer_c", LIMIT - YUAN, days=5 * d, instant_limit=LIMIT) for d in range(3)
    ]  # three, but never three within a week
    assert _alerts(ordinary + two + spread, "structured_withdrawals") == []


def test_parts_of_a_split_withdrawal_carry_no_limit_and_are_silent() -> None:
    # The platform cut one large withdrawal into parts at the limit: not the merchant's
    # choice of amount (the consumer leaves their instant limit out).
    parts = [_payout("mer_x", LIMIT, minutes=n) for n in range(4)]
    assert _alerts(parts, "structured_withdrawals") == []


def test_a_leader_splitting_a_round_at_once_is_not_a_rapid_in_and_out() -> None:
    round_ = [tx(f"cus_{n}", "mer_leader", 5_000 * YUAN, minutes=n) for n in range(2)]
    lines = [tx("mer_leader", f"mer_s{n}", 4_800 * YUAN, kind="split", hours=1) for n in range(2)]
    assert _alerts(round_ + lines, "rapid_in_out") == []
    transfers = [tx("mer_leader", f"acct_{n}", 4_800 * YUAN, hours=1) for n in range(2)]
    assert _alerts(round_ + transfers, "rapid_in_out") == [("rapid_in_out", "mer_leader")]
