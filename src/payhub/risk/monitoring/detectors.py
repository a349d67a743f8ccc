"""One detector per typology, each looking only around the transaction just added.

A detector reads the windows of the one or two nodes the transaction touches (and, for
cycles and scatter-gather, a bounded walk from them); none scans the graph. Each has a
frozen rule of thresholds with defaults; `MonitorConfig` gathers them. Amount thresholds
are minor units of the platform's currency (CNY by default); amounts of different
currencies are never compared with each other.

"New" counterparty, used by the flow detectors: one that the node had no edge with in the
same direction in the retention before the detector's window, nor any edge at all in the
other direction (a customer refunded by the merchant it paid is not new to it). Known counterparties
(last month's payroll, a merchant refunding its own payers) are what keeps ordinary
business quiet.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from payhub.risk.monitoring.alerts import Evidence, Hit
from payhub.risk.monitoring.graph import Direction, Node, Transaction, TransactionGraph, Window


class Detector(Protocol):
    typology: str

    def spans(self) -> Iterable[timedelta]:
        """The window lengths it reads (the graph keeps them per node)."""
        ...

    def inspect(self, tx: Transaction, graph: TransactionGraph) -> list[Hit]: ...

    def sweep(self, now: datetime) -> None:
        """Forget its own state that can no longer matter at `now`."""
        ...


def _score(value: float, threshold: float, full: float) -> int:
    """60 at the threshold, rising linearly to 100 at `full` (and capped there)."""
    if full <= threshold:
        return 100
    share = min(1.0, max(0.0, (value - threshold) / (full - threshold)))
    return round(60 + 40 * share)


def _new_parties(node: Node, window: Window, graph: TransactionGraph) -> list[str]:
    """The counterparties in `window` that `node` had no edge with before the window in
    the same direction, nor at all in the other direction."""
    same = node.window(window.direction, graph.retention).parties
    other = node.window(other_direction(window.direction), graph.retention).parties
    return [
        party
        for party, count in window.parties.items()
        if same[party] == count and party not in other
    ]


def _degree(graph: TransactionGraph, node_id: str) -> int:
    """Counterparties of a node in the retention, both directions (an upper bound: one
    that paid and was paid counts twice)."""
    node = graph.nodes.get(node_id)
    if node is None:
        return 0
    retention = graph.retention
    return len(node.window(Direction.IN, retention).parties) + len(
        node.window(Direction.OUT, retention).parties
    )


def other_direction(direction: Direction) -> Direction:
    return Direction.OUT if direction is Direction.IN else Direction.IN


def _edges_with(window: Window, parties: set[str]) -> list[Transaction]:
    if window.direction is Direction.IN:
        return [tx for tx in window.edges if tx.source in parties]
    return [tx for tx in window.edges if tx.target in parties]


# --- fan-out and fan-in ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FanRule:
    """`min_parties` new counterparties within `window`, moving `min_total` or more."""

    window: timedelta = timedelta(hours=48)
    min_parties: int = 10
    min_total: int = 2_000_000
    # fan-in only: the new payers are at least this share of the payee's payers in the
    # retention (an established merchant's new customers are a small share of its payers)
    min_new_share: float = 0.5
    # Counterparties with a life of their own (edges with `established_degree` other
    # parties in the retention) are ordinary customers: a new shop's first buyers, a new
    # employer's staff. When more than `max_established_share` of the new counterparties
    # are, it is business, not funds being spread or pooled through mules.
    established_degree: int = 3
    max_established_share: float = 0.5


class FanOut:
    """One payer sends to many new payees in a short time (funds being spread)."""

    typology = "fan_out"
    direction = Direction.OUT

    def __init__(self, rule: FanRule) -> None:
        self.rule = rule

    def spans(self) -> Iterable[timedelta]:
        return (self.rule.window,)

    def _subject(self, tx: Transaction) -> str:
        return tx.source if self.direction is Direction.OUT else tx.target

    def inspect(self, tx: Transaction, graph: TransactionGraph) -> list[Hit]:
        rule = self.rule
        node = graph.nodes[self._subject(tx)]
        window = node.window(self.direction, rule.window)
        if len(window.parties) < rule.min_parties or window.amount < rule.min_total:
            return []
        new = _new_parties(node, window, graph)
        if len(new) < rule.min_parties:
            return []
        if self.direction is Direction.IN:
            payers = node.window(Direction.IN, graph.retention).parties
            if len(new) < rule.min_new_share * len(payers):
                return []
        edges = _edges_with(window, set(new))
        total = sum(e.amount for e in edges)
        if total < rule.min_total:
            return []
        established = sum(1 for party in new if _degree(graph, party) > rule.established_degree)
        if established > rule.max_established_share * len(new):
            return []
        hours = rule.window.total_seconds() / 3600
        way = "to" if self.direction is Direction.OUT else "from"
        return [
            Hit(
                self.typology,
                node.id,
                _score(len(new), rule.min_parties, 3 * rule.min_parties),
                tuple(e.id for e in edges),
                Evidence.of(edges, (node.id,)),
                f"{len(new)} new counterparties {way} {node.id} within {hours:g} h, "
                f"{total} minor units in all",
            )
        ]

    def sweep(self, now: datetime) -> None:
        return None


class FanIn(FanOut):
    """Many new payers send to one payee in a short time (funds being pooled)."""

    typology = "fan_in"
    direction = Direction.IN


# --- cycle ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CycleRule:
    """A closed path of 3..`max_hops` edges in time order within `window`, each hop passing
    on between `min_kept` and `max_grown` of what it received."""

    window: timedelta = timedelta(hours=72)
    max_hops: int = 5
    min_hops: int = 3  # a 2-cycle is a payment and its refund
    min_kept: float = 0.8
    max_grown: float = 1.02
    min_amount: int = 100_000
    max_fanin: int = 200  # in-edges looked at per node on the walk, the newest first
    budget: int = 2_000  # edges looked at per transaction at most


class Cycle:
    """Money that comes back to where it started: on the edge that closes it."""

    typology = "cycle"

    def __init__(self, rule: CycleRule) -> None:
        self.rule = rule

    def spans(self) -> Iterable[timedelta]:
        return (self.rule.window,)

    def inspect(self, tx: Transaction, graph: TransactionGraph) -> list[Hit]:
        rule = self.rule
        if tx.amount < rule.min_amount or tx.source == tx.target:
            return []
        # Walk back from the payer through earlier, amount-conserving edges to the payee.
        start = graph.now - rule.window
        budget = rule.budget
        path: list[Transaction] = [tx]
        on_path = {tx.source}

        def walk(node_id: str, later: Transaction) -> bool:
            nonlocal budget
            node = graph.nodes.get(node_id)
            if node is None:
                return False
            looked = 0
            for edge in reversed(node.window(Direction.IN, rule.window).edges):
                looked += 1
                budget -= 1
                if looked > rule.max_fanin or budget <= 0 or edge.at <= start:
                    return False
                if edge.at >= later.at or edge.currency != later.currency:
                    continue
                if not (
                    rule.min_kept * edge.amount <= later.amount <= rule.max_grown * edge.amount
                ):
                    continue
                if edge.source == tx.target:
                    if len(path) + 1 >= rule.min_hops:
                        path.append(edge)
                        return True
                    continue
                if edge.source in on_path or len(path) + 1 >= rule.max_hops:
                    continue
                path.append(edge)
                on_path.add(edge.source)
                if walk(edge.source, edge):
                    return True
                path.pop()
                on_path.discard(edge.source)
            return False

        if not walk(tx.source, tx):
            return []
        hops = list(reversed(path))
        ring = " → ".join([hops[0].source, *(e.target for e in hops)])
        kept = hops[-1].amount / hops[0].amount if hops[0].amount else 1.0
        return [
            Hit(
                self.typology,
                tx.target,
                _score(len(hops), rule.min_hops - 1, rule.max_hops),
                tuple(e.id for e in hops),
                Evidence.of(hops),
                f"{len(hops)}-hop cycle {ring}, {kept:.0%} of the amount came back",
            )
        ]

    def sweep(self, now: datetime) -> None:
        return None


# --- scatter-gather and gather-scatter --------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScatterGatherRule:
    """One payer reaches one payee through at least `min_paths` distinct intermediaries
    within `window`, each passing on between `min_kept` and `max_grown` of what it got."""

    window: timedelta = timedelta(hours=72)
    min_paths: int = 5
    min_kept: float = 0.8
    max_grown: float = 1.02
    min_amount: int = 100_000
    max_fanin: int = 50  # an intermediary with more in-edges in the window is not one


class ScatterGather:
    """Funds split from one source over several intermediaries that pay one sink: on each
    intermediary's payment to the sink, the source → intermediary legs it passes on are
    counted per (source, sink)."""

    typology = "scatter_gather"

    def __init__(self, rule: ScatterGatherRule) -> None:
        self.rule = rule
        # sink → source → intermediary → (leg in, leg out)
        self._paths: dict[str, dict[str, dict[str, tuple[Transaction, Transaction]]]] = {}

    def spans(self) -> Iterable[timedelta]:
        return (self.rule.window,)

    def inspect(self, tx: Transaction, graph: TransactionGraph) -> list[Hit]:
        rule = self.rule
        if tx.amount < rule.min_amount or tx.source == tx.target:
            return []
        middle = graph.nodes[tx.source]
        legs_in = middle.window(Direction.IN, rule.window)
        if legs_in.count == 0 or legs_in.count > rule.max_fanin:
            return []
        start = graph.now - rule.window
        by_source = self._paths.setdefault(tx.target, {})
        hits: list[Hit] = []
        for leg in legs_in.edges:
            if (
                leg.at >= tx.at
                or leg.source in (tx.target, tx.source)
                or leg.currency != tx.currency
                or not (rule.min_kept * leg.amount <= tx.amount <= rule.max_grown * leg.amount)
            ):
                continue
            paths = by_source.setdefault(leg.source, {})
            paths[tx.source] = (leg, tx)
            for key in [m for m, (first, _) in paths.items() if first.at <= start]:
                del paths[key]
            if len(paths) >= rule.min_paths:
                edges = [e for pair in paths.values() for e in pair]
                hits.append(
                    Hit(
                        self.typology,
                        tx.target,
                        _score(len(paths), rule.min_paths, 3 * rule.min_paths),
                        tuple(e.id for e in edges),
                        Evidence.of(edges, (leg.source, tx.target)),
                        f"{leg.source} reached {tx.target} through {len(paths)} "
                        f"intermediaries within {rule.window.total_seconds() / 3600:g} h",
                    )
                )
        return hits

    def sweep(self, now: datetime) -> None:
        start = now - self.rule.window
        for sink in list(self._paths):
            by_source = self._paths[sink]
            for source in list(by_source):
                paths = {m: p for m, p in by_source[source].items() if p[0].at > start}
                if paths:
                    by_source[source] = paths
                else:
                    del by_source[source]
            if not by_source:
                del self._paths[sink]


@dataclass(frozen=True, slots=True)
class GatherScatterRule:
    """A hub with at least `min_in` new payers and `min_out` new payees within `window`,
    paying out between `min_out_share` and `max_out_share` of what it took in."""

    window: timedelta = timedelta(hours=72)
    min_in: int = 5
    min_out: int = 5
    min_total: int = 1_000_000
    min_out_share: float = 0.7
    max_out_share: float = 1.05


class GatherScatter:
    """Funds pooled from several payers into a hub and spread again to several payees."""

    typology = "gather_scatter"

    def __init__(self, rule: GatherScatterRule) -> None:
        self.rule = rule

    def spans(self) -> Iterable[timedelta]:
        return (self.rule.window,)

    def inspect(self, tx: Transaction, graph: TransactionGraph) -> list[Hit]:
        rule = self.rule
        hub = graph.nodes[tx.source]
        took = hub.window(Direction.IN, rule.window)
        gave = hub.window(Direction.OUT, rule.window)
        if (
            len(took.parties) < rule.min_in
            or len(gave.parties) < rule.min_out
            or took.amount < rule.min_total
        ):
            return []
        payers = _new_parties(hub, took, graph)
        payees = _new_parties(hub, gave, graph)
        if len(payers) < rule.min_in or len(payees) < rule.min_out:
            return []
        ins = _edges_with(took, set(payers))
        outs = _edges_with(gave, set(payees))
        total_in = sum(e.amount for e in ins)
        total_out = sum(e.amount for e in outs)
        if total_in < rule.min_total or not (
            rule.min_out_share * total_in <= total_out <= rule.max_out_share * total_in
        ):
            return []
        edges = ins + outs
        return [
            Hit(
                self.typology,
                hub.id,
                _score(min(len(payers), len(payees)), rule.min_in, 3 * rule.min_in),
                tuple(e.id for e in edges),
                Evidence.of(edges, (hub.id,)),
                f"{hub.id} took {total_in} from {len(payers)} new payers and passed "
                f"{total_out / total_in:.0%} on to {len(payees)} new payees",
            )
        ]

    def sweep(self, now: datetime) -> None:
        return None


# --- rapid in-and-out -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RapidRule:
    """Within `window`, a node that received at least `min_amount` in at most `max_inflows`
    payments sends on between `min_share` and `max_share` of it to payees it had not paid
    before the window (an owner sweeping takings to the same savings account every day is
    not passing funds through)."""

    window: timedelta = timedelta(hours=12)
    min_amount: int = 1_000_000
    max_inflows: int = 5
    min_share: float = 0.8
    max_share: float = 1.1
    # A group leader's split batch passes a round's takings on to its suppliers by design
    # (the split typologies watch it): not a pass-through.
    ignored_kinds: tuple[str, ...] = ("split",)


class RapidInOut:
    """Funds that leave within hours of arriving, most of the amount (a pass-through)."""

    typology = "rapid_in_out"

    def __init__(self, rule: RapidRule) -> None:
        self.rule = rule

    def spans(self) -> Iterable[timedelta]:
        return (self.rule.window,)

    def inspect(self, tx: Transaction, graph: TransactionGraph) -> list[Hit]:
        rule = self.rule
        if tx.source == tx.target or tx.kind in rule.ignored_kinds:
            return []
        node = graph.nodes[tx.source]
        came = node.window(Direction.IN, rule.window)
        if came.count == 0 or came.count > rule.max_inflows or came.amount < rule.min_amount:
            return []
        first_in = came.edges[0].at
        sent = node.window(Direction.OUT, rule.window)
        known = node.window(Direction.OUT, graph.retention).parties
        went = [
            e
            for e in sent.edges
            if e.at >= first_in
            and known[e.target] == sent.parties[e.target]
            and e.kind not in rule.ignored_kinds
        ]
        gone = sum(e.amount for e in went if e.currency == tx.currency)
        got = sum(e.amount for e in came.edges if e.currency == tx.currency)
        if not got or not (rule.min_share * got <= gone <= rule.max_share * got):
            return []
        edges = [*came.edges, *went]
        hours = (tx.at - first_in).total_seconds() / 3600
        return [
            Hit(
                self.typology,
                node.id,
                _score(gone / got, rule.min_share, 1.0),
                tuple(e.id for e in edges),
                Evidence.of(edges, (node.id,)),
                f"{node.id} passed on {gone / got:.0%} of {got} received, within {hours:.1f} h",
            )
        ]

    def sweep(self, now: datetime) -> None:
        return None


# --- dormant then active --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DormantRule:
    """A node with history that was idle for `dormancy`, then within `active_within` of
    waking moves at least `min_amount` in at least `min_count` transactions."""

    dormancy: timedelta = timedelta(days=30)
    active_within: timedelta = timedelta(hours=48)
    min_count: int = 3
    min_amount: int = 2_000_000


class DormantThenActive:
    """An account asleep for a month that wakes up moving large sums."""

    typology = "dormant_then_active"

    def __init__(self, rule: DormantRule) -> None:
        self.rule = rule
        self._woke: dict[str, tuple[datetime, int]] = {}  # node → (woke at, idle days)

    def spans(self) -> Iterable[timedelta]:
        return (self.rule.active_within,)

    def inspect(self, tx: Transaction, graph: TransactionGraph) -> list[Hit]:
        hits: list[Hit] = []
        for node_id in {tx.source, tx.target}:
            hit = self._check(graph.nodes[node_id], tx)
            if hit is not None:
                hits.append(hit)
        return hits

    def _check(self, node: Node, tx: Transaction) -> Hit | None:
        rule = self.rule
        if node.idle_before_last >= rule.dormancy and tx.at == node.last_seen:
            self._woke[node.id] = (tx.at, node.idle_before_last.days)
        if node.id not in self._woke:
            return None
        woke, idle_days = self._woke[node.id]
        if tx.at - woke > rule.active_within:
            del self._woke[node.id]
            return None
        edges = [
            e
            for direction in (Direction.IN, Direction.OUT)
            for e in node.window(direction, rule.active_within).edges
            if e.at >= woke
        ]
        total = sum(e.amount for e in edges)
        if len(edges) < rule.min_count or total < rule.min_amount:
            return None
        return Hit(
            self.typology,
            node.id,
            _score(total, rule.min_amount, 5 * rule.min_amount),
            tuple(e.id for e in edges),
            Evidence.of(edges, (node.id,)),
            f"{node.id} woke after {idle_days} idle days and moved {total} "
            f"in {len(edges)} transactions",
        )

    def sweep(self, now: datetime) -> None:
        horizon = now - self.rule.active_within
        self._woke = {k: v for k, v in self._woke.items() if v[0] > horizon}


# --- many-to-one collection -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CollectionRule:
    """A payee whose traffic is mostly recent receives, within `window`, near-equal amounts
    (within `tolerance` of the latest) from at least `min_payers` distinct payers."""

    window: timedelta = timedelta(days=14)
    min_payers: int = 8
    tolerance: float = 0.05
    # Friends sharing a bill or a trip deposit pay one organiser the same small share.
    min_amount: int = 300_000
    # the window holds at least this share of the payee's retained in-edges (a collector
    # is new; a subscription merchant has a steady history)
    min_recent_share: float = 0.8
    max_scan: int = 400


class ManyToOne:
    """Many payers paying one collector the same amount: contributions being collected."""

    typology = "many_to_one"

    def __init__(self, rule: CollectionRule) -> None:
        self.rule = rule

    def spans(self) -> Iterable[timedelta]:
        return (self.rule.window,)

    def inspect(self, tx: Transaction, graph: TransactionGraph) -> list[Hit]:
        rule = self.rule
        if tx.amount < rule.min_amount:
            return []
        node = graph.nodes[tx.target]
        window = node.window(Direction.IN, rule.window)
        if len(window.parties) < rule.min_payers:
            return []
        retained = node.window(Direction.IN, graph.retention).count
        if window.count < rule.min_recent_share * retained or window.count > rule.max_scan:
            return []
        low, high = tx.amount * (1 - rule.tolerance), tx.amount * (1 + rule.tolerance)
        alike = [
            e
            for e in window.edges
            if low <= e.amount <= high and e.currency == tx.currency and e.source != e.target
        ]
        payers = {e.source for e in alike}
        if len(payers) < rule.min_payers:
            return []
        days = rule.window.days
        return [
            Hit(
                self.typology,
                node.id,
                _score(len(payers), rule.min_payers, 3 * rule.min_payers),
                tuple(e.id for e in alike),
                Evidence.of(alike, (node.id,)),
                f"{len(payers)} payers each paid {node.id} about {tx.amount} within {days} days",
            )
        ]

    def sweep(self, now: datetime) -> None:
        return None


# --- high-frequency small amounts -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class SmallRule:
    """At least `min_count` payments of at most the small line within `window` from one
    payer. `small` is per currency; `default_small` for the others."""

    window: timedelta = timedelta(hours=1)
    min_count: int = 10
    # A payer with this many earlier bursts (a day or more apart) within `habit_within` is
    # a habit, say a reseller buying top-ups every week: its bursts are no longer alerted.
    habit_after: int = 1
    habit_within: timedelta = timedelta(days=35)
    small: tuple[tuple[str, int], ...] = (("CNY", 20_000), ("USD", 3_000), ("EUR", 3_000))
    default_small: int = 20_000
    # A split batch's lines are one instruction of the group leader, not a payer's spree.
    ignored_kinds: tuple[str, ...] = ("split",)

    def line(self, currency: str) -> int:
        for code, line in self.small:
            if code == currency:
                return line
        return self.default_small


class HighFrequencySmall:
    """Many small payments from one party in a short time (the mission's first pattern)."""

    typology = "high_frequency_small"

    def __init__(self, rule: SmallRule) -> None:
        self.rule = rule
        self._bursts: dict[str, list[datetime]] = {}  # payer → when each burst started

    def spans(self) -> Iterable[timedelta]:
        return (self.rule.window,)

    def inspect(self, tx: Transaction, graph: TransactionGraph) -> list[Hit]:
        rule = self.rule
        if tx.amount > rule.line(tx.currency) or tx.kind in rule.ignored_kinds:
            return []
        node = graph.nodes[tx.source]
        window = node.window(Direction.OUT, rule.window)
        if window.count < rule.min_count:
            return []
        small = [
            e
            for e in window.edges
            if e.amount <= rule.line(e.currency) and e.kind not in rule.ignored_kinds
        ]
        if len(small) < rule.min_count:
            return []
        bursts = self._bursts.setdefault(node.id, [])
        if not bursts or tx.at - bursts[-1] >= timedelta(days=1):
            bursts.append(tx.at)
        earlier = [t for t in bursts[:-1] if t > tx.at - rule.habit_within]
        if len(earlier) >= rule.habit_after:
            return []
        minutes = rule.window.total_seconds() / 60
        return [
            Hit(
                self.typology,
                node.id,
                _score(len(small), rule.min_count, 3 * rule.min_count),
                tuple(e.id for e in small),
                Evidence.of(small, (node.id,)),
                f"{len(small)} small payments from {node.id} within {minutes:g} minutes",
            )
        ]

    def sweep(self, now: datetime) -> None:
        horizon = now - self.rule.habit_within
        for payer in list(self._bursts):
            kept = [t for t in self._bursts[payer] if t > horizon]
            if kept:
                self._bursts[payer] = kept
            else:
                del self._bursts[payer]


# --- location anomaly -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LocationRule:
    """A payer located at least `min_km` from its last trusted location, faster than
    `max_kmh` could have taken it (a plane, boarding included, is well under 900 km/h)."""

    min_km: float = 500.0
    max_kmh: float = 900.0
    forget_after: timedelta = timedelta(days=35)


def km_between(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance on a sphere of the Earth's mean radius."""
    lat1, lon1, lat2, lon2 = (math.radians(v) for v in (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0 * math.asin(min(1.0, math.sqrt(h)))


@dataclass(slots=True)
class _Track:
    trusted: Transaction  # the last located payment that was not a jump
    strays: deque[Transaction]  # jumps since, the newest last


class LocationAnomaly:
    """A payment from somewhere the payer could not have reached since its last trusted
    payment (the mission's second pattern). A jump does not move the trusted location, so
    the payer's next payment from home is not taken for a jump back, and further payments
    from the far place stay flagged while they are still out of reach of home."""

    typology = "location_anomaly"

    def __init__(self, rule: LocationRule) -> None:
        self.rule = rule
        self._tracks: dict[str, _Track] = {}

    def spans(self) -> Iterable[timedelta]:
        return ()

    def _jump(self, before: Transaction, tx: Transaction) -> tuple[float, float] | None:
        """(km, km/h) when going from `before` to `tx` is impossible, else None."""
        assert before.latitude is not None and before.longitude is not None
        assert tx.latitude is not None and tx.longitude is not None
        km = km_between((before.latitude, before.longitude), (tx.latitude, tx.longitude))
        if km < self.rule.min_km:
            return None
        hours = (tx.at - before.at).total_seconds() / 3600
        kmh = km / hours if hours > 0 else math.inf
        return (km, kmh) if kmh > self.rule.max_kmh else None

    def inspect(self, tx: Transaction, graph: TransactionGraph) -> list[Hit]:
        if not tx.located:
            return []
        track = self._tracks.get(tx.source)
        if track is None:
            self._tracks[tx.source] = _Track(tx, deque(maxlen=20))
            return []
        jump = self._jump(track.trusted, tx)
        if jump is None:
            track.trusted = tx
            track.strays.clear()
            return []
        track.strays.append(tx)
        return [self._hit(track, tx, jump)]

    def _hit(self, track: _Track, tx: Transaction, jump: tuple[float, float]) -> Hit:
        trusted = track.trusted
        km, kmh = jump
        speed = "at once" if math.isinf(kmh) else f"at {kmh:,.0f} km/h"
        explanation = (
            f"{tx.source} paid {km:,.0f} km from its last trusted payment, "
            f"{(tx.at - trusted.at).total_seconds() / 60:.0f} minutes earlier ({speed})"
        )
        limit = self.rule.max_kmh
        score = _score(min(kmh, 10 * limit), limit, 5 * limit)
        return Hit(
            self.typology,
            tx.source,
            score,
            (tx.id,),
            Evidence.of([trusted, *track.strays], (tx.source,)),
            explanation,
        )

    def sweep(self, now: datetime) -> None:
        horizon = now - self.rule.forget_after
        self._tracks = {k: t for k, t in self._tracks.items() if t.trusted.at > horizon}
