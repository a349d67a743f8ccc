"""The transaction graph the monitor reasons over, kept incrementally in memory.

Nodes are parties (customers, merchants, accounts); every transaction is a directed edge
from payer to payee. A node keeps its edges in sliding windows, one per length the
detectors asked for plus the retention window, each with its running count, amount and
counterparties, so a detector reads "distinct payers in the last 48 hours" without
scanning. Edges older than the retention are pruned as time moves on (the graph's clock is
the latest transaction time seen), from the nodes a transaction touches and, for nodes
nothing touches any more, from one global queue in time order: memory follows the
traffic of the retention window, not the whole history. A node also remembers when it
was first and last seen, beyond the retention, until it has been idle for `forget_after`.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum


@dataclass(frozen=True, slots=True)
class Transaction:
    """One money movement, as the monitor sees it.

    `amount` is in minor units of `currency`; `at` is an aware UTC time. `kind` is what the
    platform called it (payment, refund, payout, split, transfer); `channel` the payment
    format or rail, if known; `latitude`/`longitude` where the payer was, if known.
    `labels` are free tags from the feeding side; no detector reads them.

    What the feeding side knows of a withdrawal or a split line (None when it is not one,
    or not known): `bound_at`, when the receiving bank account was bound as a payee;
    `batch_total`, the net collected of the split batch the amount is a share of;
    `daily_limit` and `instant_limit`, the payee's daily withdrawal limit and the
    real-time rail's per-payout limit in force when it was paid (the payout detectors).
    """

    id: str
    at: datetime
    source: str
    target: str
    amount: int
    currency: str
    kind: str = "payment"
    channel: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    labels: frozenset[str] = frozenset()
    bound_at: datetime | None = None
    batch_total: int | None = None
    daily_limit: int | None = None
    instant_limit: int | None = None

    def __post_init__(self) -> None:
        if self.at.tzinfo is None or self.at.utcoffset() != timedelta(0):
            raise ValueError(f"transaction {self.id}: time must be UTC-aware")
        if self.amount < 0:
            raise ValueError(f"transaction {self.id}: negative amount")

    @property
    def located(self) -> bool:
        return self.latitude is not None and self.longitude is not None


class Direction(Enum):
    IN = "in"
    OUT = "out"


def _time(tx: Transaction) -> datetime:
    return tx.at


class Window:
    """A node's edges of one direction whose time is within `span` of the graph's clock,
    in time order, with their count, total amount and counterparties."""

    __slots__ = ("amount", "direction", "edges", "parties", "span")

    def __init__(self, span: timedelta, direction: Direction) -> None:
        self.span = span
        self.direction = direction
        self.edges: deque[Transaction] = deque()
        self.amount = 0
        # counterparty → edges with it in the window
        self.parties: dict[str, int] = {}

    def _party(self, tx: Transaction) -> str:
        return tx.source if self.direction is Direction.IN else tx.target

    def push(self, tx: Transaction) -> None:
        if self.edges and tx.at < self.edges[-1].at:
            # A late arrival: keep time order so pruning from the left stays exact.
            index = bisect.bisect_right(self.edges, tx.at, key=_time)
            self.edges.insert(index, tx)
        else:
            self.edges.append(tx)
        self.amount += tx.amount
        party = self._party(tx)
        self.parties[party] = self.parties.get(party, 0) + 1

    def advance(self, now: datetime) -> None:
        """Drop the edges at or before `now - span`."""
        cutoff = now - self.span
        edges = self.edges
        while edges and edges[0].at <= cutoff:
            tx = edges.popleft()
            self.amount -= tx.amount
            party = self._party(tx)
            left = self.parties[party] - 1
            if left:
                self.parties[party] = left
            else:
                del self.parties[party]

    @property
    def count(self) -> int:
        return len(self.edges)

    def since(self, start: datetime) -> Iterator[Transaction]:
        """The edges after `start`, newest first."""
        for tx in reversed(self.edges):
            if tx.at <= start:
                return
            yield tx


@dataclass(slots=True)
class Node:
    id: str
    first_seen: datetime
    last_seen: datetime
    # How long the node had been idle when its latest transaction arrived.
    idle_before_last: timedelta = timedelta(0)
    windows_in: dict[timedelta, Window] = field(default_factory=dict)
    windows_out: dict[timedelta, Window] = field(default_factory=dict)

    def window(self, direction: Direction, span: timedelta) -> Window:
        """The window of that length (one the graph was built with)."""
        return (self.windows_in if direction is Direction.IN else self.windows_out)[span]

    def windows(self) -> Iterator[Window]:
        yield from self.windows_in.values()
        yield from self.windows_out.values()

    def advance(self, now: datetime) -> None:
        for window in self.windows():
            window.advance(now)

    @property
    def edge_count(self) -> int:
        return sum(w.count for w in self.windows_in.values()) + sum(
            w.count for w in self.windows_out.values()
        )


class TransactionGraph:
    """Nodes and their windows; `add` one transaction at a time, in (roughly) time order.

    `spans` are the window lengths kept per node and direction besides the retention;
    each must be at most the retention.
    """

    def __init__(
        self,
        *,
        retention: timedelta = timedelta(days=35),
        spans: Iterable[timedelta] = (),
        forget_after: timedelta = timedelta(days=180),
    ) -> None:
        if retention <= timedelta(0):
            raise ValueError("retention must be positive")
        self.retention = retention
        self.spans = tuple(sorted({*spans, retention}))
        if self.spans[-1] != retention:
            raise ValueError("a window is longer than the retention")
        self.forget_after = max(forget_after, retention)
        self.nodes: OrderedDict[str, Node] = OrderedDict()  # least recently active first
        self.now = datetime.min.replace(tzinfo=UTC)
        self._queue: deque[Transaction] = deque()  # every retained edge, in time order
        self.late = 0  # transactions older than the retention when they arrived

    def node(self, node_id: str) -> Node | None:
        return self.nodes.get(node_id)

    def add(self, tx: Transaction) -> tuple[Node, Node] | None:
        """Add an edge; its two nodes, or None for a transaction already past retention
        (counted in `late`, not kept)."""
        if tx.at > self.now:
            self.now = tx.at
        if tx.at <= self.now - self.retention:
            self.late += 1
            return None
        source = self._touch(tx.source, tx.at)
        target = self._touch(tx.target, tx.at) if tx.target != tx.source else source
        for window in source.windows_out.values():
            window.push(tx)
        for window in target.windows_in.values():
            window.push(tx)
        if self._queue and tx.at < self._queue[-1].at:
            self._queue.insert(bisect.bisect_right(self._queue, tx.at, key=_time), tx)
        else:
            self._queue.append(tx)
        self.prune()
        source.advance(self.now)
        if target is not source:
            target.advance(self.now)
        return source, target

    def _touch(self, node_id: str, at: datetime) -> Node:
        node = self.nodes.get(node_id)
        if node is None:
            node = Node(node_id, at, at)
            for span in self.spans:
                node.windows_in[span] = Window(span, Direction.IN)
                node.windows_out[span] = Window(span, Direction.OUT)
            self.nodes[node_id] = node
            return node
        node.idle_before_last = max(timedelta(0), at - node.last_seen)
        if at > node.last_seen:
            node.last_seen = at
        node.first_seen = min(node.first_seen, at)
        self.nodes.move_to_end(node_id)
        return node

    def prune(self) -> None:
        """Drop every edge past the retention and forget nodes idle past `forget_after`."""
        if not self.nodes:
            return  # nothing seen yet (and no clock to subtract from)
        cutoff = self.now - self.retention
        queue = self._queue
        while queue and queue[0].at <= cutoff:
            tx = queue.popleft()
            for node_id in (tx.source, tx.target):
                node = self.nodes.get(node_id)
                if node is not None:
                    node.advance(self.now)
        forget = self.now - self.forget_after
        nodes = self.nodes
        while nodes:
            node = next(iter(nodes.values()))
            if node.last_seen > forget:
                break
            node.advance(self.now)
            nodes.popitem(last=False)

    @property
    def edge_count(self) -> int:
        """Edges retained (each counted once)."""
        return len(self._queue)

    def edges(self) -> Iterator[Transaction]:
        return iter(self._queue)
