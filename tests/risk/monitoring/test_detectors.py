"""Each detector fires on its pattern and stays silent on the near-miss."""

from __future__ import annotations

from payhub.risk.monitoring import Transaction
from tests.risk.monitoring.factories import monitor, run, tx

YUAN = 100


def _typologies(transactions: list[Transaction], typology: str) -> list[str]:
    return [a.typology for a in run(monitor(typology), transactions).values()]


# --- fan-out / fan-in -----------------------------------------------------------------


def _fan_out(receivers: int, hours_apart: float = 1) -> list[Transaction]:
    return [tx("mule", f"r{n}", 3_000 * YUAN, hours=n * hours_apart) for n in range(receivers)]


def test_fan_out_to_ten_new_payees_fires() -> None:
    alerts = run(monitor("fan_out"), _fan_out(10))
    (alert,) = alerts.values()
    assert (alert.typology, alert.subject) == ("fan_out", "mule")
    assert len(alert.transaction_ids) == 10
    assert 0 <= alert.score <= 100
    assert {"mule", "r0", "r9"} <= set(alert.evidence.nodes)


def test_fan_out_to_nine_is_silent() -> None:
    assert _typologies(_fan_out(9), "fan_out") == []


def test_fan_out_spread_beyond_the_window_is_silent() -> None:
    assert _typologies(_fan_out(10, hours_apart=6), "fan_out") == []


def test_fan_out_to_known_payees_is_silent() -> None:
    # Last month's payroll, to the same ten people.
    last_month = [tx("employer", f"r{n}", 3_000 * YUAN, days=-30) for n in range(10)]
    this_month = [tx("employer", f"r{n}", 3_000 * YUAN) for n in range(10)]
    mon = monitor("fan_out")
    alerts = run(mon, last_month)
    assert len(alerts) == 1  # the first payroll, to people never paid: flagged
    assert run(mon, this_month) == {}


def test_fan_out_of_small_sums_is_silent() -> None:
    spree = [tx("shopper", f"m{n}", 50 * YUAN, minutes=n * 20) for n in range(12)]
    assert _typologies(spree, "fan_out") == []


def test_fan_in_from_ten_new_payers_fires_and_nine_does_not() -> None:
    ten = [tx(f"s{n}", "collector", 3_000 * YUAN, hours=n) for n in range(10)]
    assert _typologies(ten, "fan_in") == ["fan_in"]
    assert _typologies(ten[:9], "fan_in") == []


def test_fan_in_to_an_established_merchant_is_silent() -> None:
    regulars = [tx(f"c{n}", "shop", 200 * YUAN, days=-20, minutes=n) for n in range(40)]
    newcomers = [tx(f"s{n}", "shop", 3_000 * YUAN, hours=n) for n in range(10)]
    assert _typologies(regulars + newcomers, "fan_in") == []


# --- cycle ----------------------------------------------------------------------------


def test_a_closed_cycle_fires_on_the_closing_edge() -> None:
    ring = [
        tx("a", "b", 100_000 * YUAN),
        tx("b", "c", 97_000 * YUAN, hours=5),
        tx("c", "d", 95_000 * YUAN, hours=10),
        tx("d", "a", 93_000 * YUAN, hours=20),
    ]
    (alert,) = run(monitor("cycle"), ring).values()
    assert alert.subject == "a"
    assert set(alert.transaction_ids) == {t.id for t in ring}


def test_a_path_that_does_not_close_is_silent() -> None:
    path = [
        tx("a", "b", 100_000 * YUAN),
        tx("b", "c", 97_000 * YUAN, hours=5),
        tx("c", "d", 95_000 * YUAN, hours=10),
        tx("d", "e", 93_000 * YUAN, hours=20),
    ]
    assert _typologies(path, "cycle") == []


def test_a_cycle_longer_than_the_window_is_silent() -> None:
    ring = [
        tx("a", "b", 100_000 * YUAN),
        tx("b", "c", 97_000 * YUAN, hours=40),
        tx("c", "a", 95_000 * YUAN, hours=80),
    ]
    assert _typologies(ring, "cycle") == []


def test_a_cycle_that_does_not_conserve_the_amount_is_silent() -> None:
    ring = [
        tx("a", "b", 100_000 * YUAN),
        tx("b", "c", 40_000 * YUAN, hours=5),
        tx("c", "a", 39_000 * YUAN, hours=10),
    ]
    assert _typologies(ring, "cycle") == []


def test_a_payment_and_its_refund_are_not_a_cycle() -> None:
    pair = [tx("customer", "shop", 5_000 * YUAN), tx("shop", "customer", 5_000 * YUAN, hours=3)]
    assert _typologies(pair, "cycle") == []


def test_cycle_out_of_time_order_is_silent() -> None:
    # The "return" leg happened before the money arrived: not a flow.
    ring = [
        tx("c", "a", 95_000 * YUAN),
        tx("a", "b", 100_000 * YUAN, hours=5),
        tx("b", "c", 97_000 * YUAN, hours=10),
    ]
    assert _typologies(ring, "cycle") == []


# --- scatter-gather / gather-scatter --------------------------------------------------


def _scatter_gather(paths: int) -> list[Transaction]:
    out: list[Transaction] = []
    for n in range(paths):
        out.append(tx("boss", f"m{n}", 20_000 * YUAN, hours=n))
        out.append(tx(f"m{n}", "sink", 19_000 * YUAN, hours=n + 5))
    return out


def test_scatter_gather_over_five_intermediaries_fires() -> None:
    (alert,) = run(monitor("scatter_gather"), _scatter_gather(5)).values()
    assert alert.subject == "sink"
    assert len(alert.transaction_ids) == 10


def test_scatter_gather_over_four_is_silent() -> None:
    assert _typologies(_scatter_gather(4), "scatter_gather") == []


def _gather_scatter(payers: int, payees: int, share: float = 0.95) -> list[Transaction]:
    ins = [tx(f"p{n}", "hub", 10_000 * YUAN, hours=n) for n in range(payers)]
    each = round(10_000 * YUAN * payers * share / payees)
    outs = [tx("hub", f"q{n}", each, hours=20 + n) for n in range(payees)]
    return ins + outs


def test_gather_scatter_fires() -> None:
    (alert,) = run(monitor("gather_scatter"), _gather_scatter(5, 5)).values()
    assert alert.subject == "hub"
    assert len(alert.transaction_ids) == 10


def test_gather_scatter_to_four_payees_is_silent() -> None:
    assert _typologies(_gather_scatter(5, 4), "gather_scatter") == []


def test_gather_scatter_keeping_most_of_the_money_is_silent() -> None:
    assert _typologies(_gather_scatter(5, 5, share=0.3), "gather_scatter") == []


# --- rapid in-and-out -----------------------------------------------------------------


def test_rapid_in_and_out_fires() -> None:
    flow = [tx("x", "mule", 50_000 * YUAN), tx("mule", "y", 47_000 * YUAN, hours=2)]
    (alert,) = run(monitor("rapid_in_out"), flow).values()
    assert set(alert.transaction_ids) == {t.id for t in flow}


def test_in_and_out_after_the_window_is_silent() -> None:
    flow = [tx("x", "mule", 50_000 * YUAN), tx("mule", "y", 47_000 * YUAN, hours=13)]
    assert _typologies(flow, "rapid_in_out") == []


def test_salary_then_rent_is_silent() -> None:
    flow = [tx("employer", "me", 15_000 * YUAN), tx("me", "landlord", 5_000 * YUAN, hours=3)]
    assert _typologies(flow, "rapid_in_out") == []


def test_a_sweep_to_a_known_account_is_silent() -> None:
    flow = [
        tx("psp", "owner", 30_000 * YUAN, days=-1),
        tx("owner", "savings", 29_000 * YUAN, days=-1, hours=1),
        tx("psp", "owner", 30_000 * YUAN),
        tx("owner", "savings", 29_000 * YUAN, hours=1),
    ]
    alerts = run(monitor("rapid_in_out"), flow)
    assert len(alerts) == 1  # the first sweep, to a payee never paid before
    (alert,) = alerts.values()
    assert alert.raised_at == flow[1].at


# --- dormant then active --------------------------------------------------------------


def _wake(idle_days: float) -> list[Transaction]:
    return [
        tx("sleeper", "shop", 80 * YUAN, days=-idle_days),
        tx("sleeper", "a", 10_000 * YUAN),
        tx("b", "sleeper", 8_000 * YUAN, hours=3),
        tx("sleeper", "c", 9_000 * YUAN, hours=6),
    ]


def test_dormant_then_active_fires() -> None:
    (alert,) = run(monitor("dormant_then_active"), _wake(31)).values()
    assert alert.subject == "sleeper"
    assert len(alert.transaction_ids) == 3


def test_idle_for_less_than_the_dormancy_is_silent() -> None:
    assert _typologies(_wake(29), "dormant_then_active") == []


def test_waking_with_an_ordinary_payment_is_silent() -> None:
    back = [tx("sleeper", "shop", 80 * YUAN, days=-40), tx("sleeper", "shop", 60 * YUAN)]
    assert _typologies(back, "dormant_then_active") == []


# --- many-to-one collection -----------------------------------------------------------


def _collection(payers: int) -> list[Transaction]:
    return [tx(f"p{n}", "collector", 8_000 * YUAN + n * 10 * YUAN, days=n) for n in range(payers)]


def test_many_to_one_collection_fires() -> None:
    (alert,) = run(monitor("many_to_one"), _collection(8)).values()
    assert alert.subject == "collector"
    assert len(alert.transaction_ids) == 8


def test_collection_from_seven_payers_is_silent() -> None:
    assert _typologies(_collection(7), "many_to_one") == []


def test_collection_of_unequal_amounts_is_silent() -> None:
    varied = [tx(f"p{n}", "collector", (3_000 + 900 * n) * YUAN, days=n) for n in range(10)]
    assert _typologies(varied, "many_to_one") == []


def test_a_subscription_merchant_with_history_is_silent() -> None:
    history = [tx(f"old{n}", "club", 8_000 * YUAN, days=-30 + n) for n in range(20)]
    mon = monitor("many_to_one")
    run(mon, history)
    now = [tx(f"p{n}", "club", 8_000 * YUAN, days=n * 0.2) for n in range(8)]
    assert run(mon, now) == {}


# --- high-frequency small amounts -----------------------------------------------------


def _burst(count: int, minutes_apart: float = 5, amount: int = 50 * YUAN) -> list[Transaction]:
    return [tx("payer", f"shop{n % 2}", amount, minutes=n * minutes_apart) for n in range(count)]


def test_ten_small_payments_in_an_hour_fire() -> None:
    (alert,) = run(monitor("high_frequency_small"), _burst(10)).values()
    assert alert.subject == "payer"
    assert len(alert.transaction_ids) == 10


def test_nine_small_payments_are_silent() -> None:
    assert _typologies(_burst(9), "high_frequency_small") == []


def test_ten_small_payments_over_more_than_an_hour_are_silent() -> None:
    assert _typologies(_burst(10, minutes_apart=7), "high_frequency_small") == []


def test_ten_payments_that_are_not_small_are_silent() -> None:
    assert _typologies(_burst(10, amount=500 * YUAN), "high_frequency_small") == []


def test_a_weekly_burst_becomes_a_habit() -> None:
    mon = monitor("high_frequency_small")
    first = run(mon, _burst(10))
    assert len(first) == 1
    week_later = [tx("payer", "shop", 50 * YUAN, days=7, minutes=n * 5) for n in range(10)]
    assert run(mon, week_later) == {}


# --- location anomaly -----------------------------------------------------------------

BEIJING = {"latitude": 39.90, "longitude": 116.40}
SHANGHAI = {"latitude": 31.23, "longitude": 121.47}  # about 1,070 km away


def test_an_impossible_jump_fires_on_the_far_payment_only() -> None:
    home = tx("cus", "shop", 30 * YUAN, **BEIJING)
    far = tx("cus", "shop2", 900 * YUAN, minutes=30, **SHANGHAI)
    (alert,) = run(monitor("location_anomaly"), [home, far]).values()
    assert alert.transaction_ids == (far.id,)
    assert {e.id for e in alert.evidence.edges} == {home.id, far.id}


def test_a_plausible_trip_is_silent() -> None:
    home = tx("cus", "shop", 30 * YUAN, **BEIJING)
    there = tx("cus", "shop2", 900 * YUAN, hours=3, **SHANGHAI)
    assert _typologies([home, there], "location_anomaly") == []


def test_paying_from_home_again_after_a_jump_is_silent() -> None:
    home = tx("cus", "shop", 30 * YUAN, **BEIJING)
    far = tx("cus", "shop2", 900 * YUAN, minutes=30, **SHANGHAI)
    back = tx("cus", "shop", 30 * YUAN, minutes=40, **BEIJING)
    (alert,) = run(monitor("location_anomaly"), [home, far, back]).values()
    assert alert.transaction_ids == (far.id,)


def test_payments_without_a_location_are_ignored() -> None:
    assert (
        _typologies(
            [tx("cus", "shop", 30 * YUAN), tx("cus", "s", 1, minutes=1)], "location_anomaly"
        )
        == []
    )


def test_fan_in_from_established_customers_is_silent() -> None:
    # A new shop's first buyers: each already pays several other shops.
    history = [
        tx(f"s{n}", f"other{k}", 100 * YUAN, days=-5, minutes=n * 10 + k)
        for n in range(10)
        for k in range(4)
    ]
    buyers = [tx(f"s{n}", "new_shop", 3_000 * YUAN, hours=n) for n in range(10)]
    assert _typologies(history + buyers, "fan_in") == []
