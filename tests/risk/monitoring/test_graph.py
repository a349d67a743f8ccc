"""The transaction graph: windows, pruning past the retention, aggregates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from payhub.risk.monitoring import Transaction, TransactionGraph
from payhub.risk.monitoring.graph import Direction
from tests.risk.monitoring.factories import T0, tx


def test_windows_count_amount_and_counterparties() -> None:
    graph = TransactionGraph(retention=timedelta(days=2), spans=[timedelta(hours=1)])
    graph.add(tx("a", "b", 100))
    graph.add(tx("a", "c", 50, minutes=30))
    graph.add(tx("a", "b", 25, minutes=80))
    node = graph.nodes["a"]
    hour = node.window(Direction.OUT, timedelta(hours=1))
    kept = node.window(Direction.OUT, timedelta(days=2))
    assert (hour.count, hour.amount, hour.parties) == (2, 75, {"c": 1, "b": 1})
    assert (kept.count, kept.amount, kept.parties) == (3, 175, {"b": 2, "c": 1})
    assert graph.nodes["b"].window(Direction.IN, timedelta(days=2)).amount == 125


def test_edges_past_the_retention_are_pruned_from_untouched_nodes() -> None:
    graph = TransactionGraph(retention=timedelta(days=1))
    graph.add(tx("a", "b", 100))
    graph.add(tx("c", "d", 1, days=2))
    assert graph.nodes["a"].edge_count == 0
    assert graph.nodes["b"].edge_count == 0
    assert graph.edge_count == 1


def test_a_transaction_older_than_the_retention_is_not_kept() -> None:
    graph = TransactionGraph(retention=timedelta(days=1))
    graph.add(tx("a", "b", 1, days=3))
    assert graph.add(tx("c", "d", 1)) is None
    assert graph.late == 1
    assert "c" not in graph.nodes


def test_idle_nodes_are_forgotten() -> None:
    graph = TransactionGraph(retention=timedelta(days=1), forget_after=timedelta(days=10))
    graph.add(tx("a", "b", 1))
    graph.add(tx("c", "d", 1, days=11))
    assert set(graph.nodes) == {"c", "d"}


def test_idle_time_before_the_latest_transaction() -> None:
    graph = TransactionGraph()
    graph.add(tx("a", "b", 1))
    graph.add(tx("a", "c", 1, days=31))
    assert graph.nodes["a"].idle_before_last == timedelta(days=31)
    assert graph.nodes["c"].idle_before_last == timedelta(0)


def test_times_must_be_utc() -> None:
    with pytest.raises(ValueError, match="UTC"):
        Transaction("x", datetime(2026, 1, 1), "a", "b", 1, "CNY")


_events = st.lists(
    st.tuples(
        st.integers(0, 5),  # payer
        st.integers(0, 5),  # payee
        st.integers(1, 10_000),  # amount
        st.integers(-120, 600),  # minutes after the previous one (negative: late)
    ),
    max_size=80,
)


@settings(max_examples=150, deadline=None)
@given(_events)
def test_pruning_leaves_nothing_past_retention_and_aggregates_match_a_recount(
    events: list[tuple[int, int, int, int]],
) -> None:
    retention = timedelta(hours=6)
    spans = [timedelta(hours=1), timedelta(hours=3)]
    graph = TransactionGraph(retention=retention, spans=spans)
    at = T0
    added: list[Transaction] = []
    for n, (payer, payee, amount, step) in enumerate(events):
        at += timedelta(minutes=step)
        item = Transaction(f"t{n}", at, f"n{payer}", f"n{payee}", amount, "CNY")
        if graph.add(item) is not None:
            added.append(item)
    graph.prune()
    now = graph.now
    # Nothing older than the retention is left, anywhere.
    assert all(e.at > now - retention for e in graph.edges())
    for node in graph.nodes.values():
        for window in node.windows():
            assert all(e.at > now - retention for e in window.edges)
    # The graph's edges are exactly the added transactions still within the retention.
    alive = [t for t in added if t.at > now - retention]
    assert sorted(e.id for e in graph.edges()) == sorted(t.id for t in alive)
    # Each node's windows equal a recount from those transactions.
    for node in graph.nodes.values():
        for direction in Direction:
            for span in (*spans, retention):
                window = node.window(direction, span)
                window.advance(now)
                mine = [
                    t
                    for t in alive
                    if (t.source if direction is Direction.OUT else t.target) == node.id
                    and t.at > now - span
                ]
                assert window.count == len(mine)
                assert window.amount == sum(t.amount for t in mine)
                parties: dict[str, int] = {}
                for t in mine:
                    party = t.target if direction is Direction.OUT else t.source
                    parties[party] = parties.get(party, 0) + 1
                assert window.parties == parties
                assert [e.at for e in window.edges] == sorted(e.at for e in window.edges)


def test_late_arrivals_keep_time_order() -> None:
    graph = TransactionGraph(retention=timedelta(days=1), spans=[timedelta(hours=1)])
    graph.add(tx("a", "b", 1, minutes=30))
    graph.add(tx("a", "c", 1, minutes=10))
    times = [e.at for e in graph.nodes["a"].window(Direction.OUT, timedelta(days=1)).edges]
    assert times == sorted(times)
    assert datetime.min.replace(tzinfo=UTC) < graph.now
