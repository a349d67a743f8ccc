"""The monitor: every transaction into the graph, through every detector, out as alerts.

    monitor = Monitor(MonitorConfig())
    for tx in transactions:           # in (roughly) time order
        for alert in monitor.observe(tx):
            store(alert)              # upsert by alert.id: a repeat comes back revised

One process, one thread, no I/O: the caller feeds it (from the outbox, a file, a test) and
stores what it returns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from payhub.core.ids import new_id
from payhub.risk.monitoring.alerts import Alert, Hit
from payhub.risk.monitoring.detectors import (
    CollectionRule,
    Cycle,
    CycleRule,
    Detector,
    DormantRule,
    DormantThenActive,
    FanIn,
    FanOut,
    FanRule,
    GatherScatter,
    GatherScatterRule,
    HighFrequencySmall,
    LocationAnomaly,
    LocationRule,
    ManyToOne,
    RapidInOut,
    RapidRule,
    ScatterGather,
    ScatterGatherRule,
    SmallRule,
)
from payhub.risk.monitoring.graph import Transaction, TransactionGraph
from payhub.risk.monitoring.payout_detectors import (
    NewReceiverRule,
    PassThroughRule,
    RapidPassThrough,
    SharedAccountRule,
    SharedPayoutAccount,
    SplitToNewReceiver,
    StructuredWithdrawals,
    StructuringRule,
)

TYPOLOGIES = (
    "fan_out",
    "fan_in",
    "cycle",
    "scatter_gather",
    "gather_scatter",
    "rapid_in_out",
    "dormant_then_active",
    "many_to_one",
    "high_frequency_small",
    "location_anomaly",
)
# Money leaving the platform: withdrawals and split batches (docs/aml.md, "Payouts and
# split batches").
PAYOUT_TYPOLOGIES = (
    "rapid_pass_through",
    "shared_payout_account",
    "split_to_new_receiver",
    "structured_withdrawals",
)
ALL_TYPOLOGIES = TYPOLOGIES + PAYOUT_TYPOLOGIES


@dataclass(frozen=True, slots=True)
class MonitorConfig:
    """Every threshold of the monitor; the defaults are the shipped ones (docs/aml.md)."""

    retention: timedelta = timedelta(days=35)  # a monthly rhythm (payroll, rent) and slack
    forget_after: timedelta = timedelta(days=180)  # a node's first/last seen kept this long
    cooldown: timedelta = timedelta(hours=24)  # per subject and typology
    sweep_every: timedelta = timedelta(hours=1)  # of transaction time, for detector state
    enabled: frozenset[str] = frozenset(ALL_TYPOLOGIES)
    fan_out: FanRule = field(default_factory=FanRule)
    fan_in: FanRule = field(default_factory=FanRule)
    cycle: CycleRule = field(default_factory=CycleRule)
    scatter_gather: ScatterGatherRule = field(default_factory=ScatterGatherRule)
    gather_scatter: GatherScatterRule = field(default_factory=GatherScatterRule)
    rapid_in_out: RapidRule = field(default_factory=RapidRule)
    dormant_then_active: DormantRule = field(default_factory=DormantRule)
    many_to_one: CollectionRule = field(default_factory=CollectionRule)
    high_frequency_small: SmallRule = field(default_factory=SmallRule)
    location_anomaly: LocationRule = field(default_factory=LocationRule)
    rapid_pass_through: PassThroughRule = field(default_factory=PassThroughRule)
    shared_payout_account: SharedAccountRule = field(default_factory=SharedAccountRule)
    split_to_new_receiver: NewReceiverRule = field(default_factory=NewReceiverRule)
    structured_withdrawals: StructuringRule = field(default_factory=StructuringRule)

    def __post_init__(self) -> None:
        unknown = self.enabled - set(ALL_TYPOLOGIES)
        if unknown:
            raise ValueError(f"unknown typologies: {', '.join(sorted(unknown))}")

    def detectors(self) -> list[Detector]:
        made: dict[str, Detector] = {
            "fan_out": FanOut(self.fan_out),
            "fan_in": FanIn(self.fan_in),
            "cycle": Cycle(self.cycle),
            "scatter_gather": ScatterGather(self.scatter_gather),
            "gather_scatter": GatherScatter(self.gather_scatter),
            "rapid_in_out": RapidInOut(self.rapid_in_out),
            "dormant_then_active": DormantThenActive(self.dormant_then_active),
            "many_to_one": ManyToOne(self.many_to_one),
            "high_frequency_small": HighFrequencySmall(self.high_frequency_small),
            "location_anomaly": LocationAnomaly(self.location_anomaly),
            "rapid_pass_through": RapidPassThrough(self.rapid_pass_through),
            "shared_payout_account": SharedPayoutAccount(self.shared_payout_account),
            "split_to_new_receiver": SplitToNewReceiver(self.split_to_new_receiver),
            "structured_withdrawals": StructuredWithdrawals(self.structured_withdrawals),
        }
        return [made[name] for name in ALL_TYPOLOGIES if name in self.enabled]


@dataclass(slots=True)
class _Open:
    alert: Alert
    until: datetime


class Monitor:
    """Transactions in, alerts out. `alert_id` names new alerts (default: `aml_…` ids)."""

    def __init__(
        self,
        config: MonitorConfig | None = None,
        *,
        alert_id: Callable[[], str] | None = None,
    ) -> None:
        self.config = config or MonitorConfig()
        self.detectors = self.config.detectors()
        spans = {span for d in self.detectors for span in d.spans()}
        self.graph = TransactionGraph(
            retention=self.config.retention,
            spans=spans,
            forget_after=self.config.forget_after,
        )
        self._alert_id = alert_id or (lambda: new_id("aml"))
        self._open: dict[tuple[str, str], _Open] = {}
        self._swept: datetime | None = None
        self.observed = 0

    def observe(self, tx: Transaction) -> list[Alert]:
        """Add one transaction; the alerts it raised or revised."""
        self.observed += 1
        if self.graph.add(tx) is None:
            return []  # older than the retention: nothing left to relate it to
        alerts: list[Alert] = []
        for detector in self.detectors:
            for hit in detector.inspect(tx, self.graph):
                alert = self._raise(hit, tx.at)
                if alert is not None:
                    alerts.append(alert)
        self._maybe_sweep()
        return alerts

    def observe_many(self, transactions: Iterable[Transaction]) -> list[Alert]:
        """Every alert raised or revised over the transactions, in order (a revised alert
        appears once per revision)."""
        alerts: list[Alert] = []
        for tx in transactions:
            alerts.extend(self.observe(tx))
        return alerts

    def _raise(self, hit: Hit, at: datetime) -> Alert | None:
        key = (hit.subject, hit.typology)
        current = self._open.get(key)
        if current is not None and at < current.until:
            return self._fold(current, hit, at)
        alert = Alert(
            id=self._alert_id(),
            typology=hit.typology,
            subject=hit.subject,
            score=hit.score,
            raised_at=at,
            updated_at=at,
            transaction_ids=hit.transaction_ids,
            evidence=hit.evidence,
            explanation=hit.explanation,
        )
        self._open[key] = _Open(alert, at + self.config.cooldown)
        return alert

    def _fold(self, current: _Open, hit: Hit, at: datetime) -> Alert | None:
        """A repeat within the cool-down: no new alert; new transactions join the open one."""
        alert = current.alert
        known = set(alert.transaction_ids)
        added = tuple(t for t in hit.transaction_ids if t not in known)
        if not added:
            return None
        revised = replace(
            alert,
            score=max(alert.score, hit.score),
            updated_at=at,
            transaction_ids=alert.transaction_ids + added,
            evidence=alert.evidence.merged(hit.evidence),
            explanation=hit.explanation,
            revision=alert.revision + 1,
        )
        current.alert = revised
        return revised

    def _maybe_sweep(self) -> None:
        now = self.graph.now
        if self._swept is not None and now - self._swept < self.config.sweep_every:
            return
        self._swept = now
        for detector in self.detectors:
            detector.sweep(now)
        self._open = {k: v for k, v in self._open.items() if v.until > now}
