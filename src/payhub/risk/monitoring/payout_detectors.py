"""Typologies of money leaving the platform: withdrawals (payouts) and split batches.

The consumer feeds a payout as an edge from the merchant to its bank account (`ba:<the
account's vault fingerprint>`, so one account bound by several merchants is one node), a
return as the edge back, and a split batch as one edge per line from the group leader to
each receiver. Edge kinds: `payout` (a withdrawal the merchant asked for), `split_payout`
(a split line paid on to the receiver's bank, not the receiver's choice), `payout_return`,
`split`. Like the payment detectors, each looks only around the transaction just added.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from payhub.risk.monitoring.alerts import Evidence, Hit
from payhub.risk.monitoring.detectors import _score
from payhub.risk.monitoring.graph import Direction, Transaction, TransactionGraph

# Withdrawals and their daily limits count the payee's day in China time (as payouts do).
CHINA = timezone(timedelta(hours=8))
WITHDRAWAL = "payout"
WITHDRAWALS = ("payout", "split_payout")


def _china_day(moment: datetime) -> date:
    return moment.astimezone(CHINA).date()


# --- rapid pass-through -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PassThroughRule:
    """A merchant that collected at least `min_collected` within `window` from at most
    `max_payers` payers withdraws between `min_share` and `max_share` of it in that time,
    and had withdrawn nothing before the window in the retention. A shop's takings come
    from many customers; a small shop that withdraws its few customers' payments every day
    has that rhythm behind it; money passed through a fresh merchant account comes from a
    few payers and leaves at once."""

    window: timedelta = timedelta(hours=24)
    min_collected: int = 500_000
    max_payers: int = 5
    min_share: float = 0.8
    max_share: float = 1.2


class RapidPassThrough:
    """Funds collected and withdrawn within hours, most of what came in."""

    typology = "rapid_pass_through"

    def __init__(self, rule: PassThroughRule) -> None:
        self.rule = rule

    def spans(self) -> Iterable[timedelta]:
        return (self.rule.window,)

    def inspect(self, tx: Transaction, graph: TransactionGraph) -> list[Hit]:
        rule = self.rule
        if tx.kind != WITHDRAWAL:
            return []
        node = graph.nodes[tx.source]
        came = [
            e
            for e in node.window(Direction.IN, rule.window).edges
            if e.kind == "payment" and e.currency == tx.currency
        ]
        collected = sum(e.amount for e in came)
        payers = {e.source for e in came}
        if collected < rule.min_collected or len(payers) > rule.max_payers:
            return []
        first_in = came[0].at
        start = tx.at - rule.window
        history = node.window(Direction.OUT, graph.retention).edges
        if any(e.kind == WITHDRAWAL and e.at <= start for e in history):
            return []  # withdrawals before the window: the merchant's ordinary rhythm
        went = [
            e
            for e in node.window(Direction.OUT, rule.window).edges
            if e.kind == WITHDRAWAL and e.currency == tx.currency and e.at >= first_in
        ]
        withdrawn = sum(e.amount for e in went)
        if not rule.min_share * collected <= withdrawn <= rule.max_share * collected:
            return []
        edges = [*came, *went]
        hours = (tx.at - first_in).total_seconds() / 3600
        return [
            Hit(
                self.typology,
                node.id,
                _score(withdrawn / collected, rule.min_share, 1.0),
                tuple(e.id for e in edges),
                Evidence.of(edges, (node.id,)),
                f"{node.id} withdrew {withdrawn / collected:.0%} of {collected} collected from "
                f"{len(payers)} payers within {hours:.1f} h",
            )
        ]

    def sweep(self, now: datetime) -> None:
        return None


# --- one bank account, many merchants ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class SharedAccountRule:
    """A bank account receiving withdrawals of at least `min_merchants` distinct merchants
    within the retention: payees of unrelated merchants sharing one account."""

    min_merchants: int = 3


class SharedPayoutAccount:
    """Many merchants' payees paying into one bank account."""

    typology = "shared_payout_account"

    def __init__(self, rule: SharedAccountRule) -> None:
        self.rule = rule

    def spans(self) -> Iterable[timedelta]:
        return ()

    def inspect(self, tx: Transaction, graph: TransactionGraph) -> list[Hit]:
        rule = self.rule
        if tx.kind not in WITHDRAWALS:
            return []
        account = graph.nodes[tx.target]
        window = account.window(Direction.IN, graph.retention)
        if len(window.parties) < rule.min_merchants:
            return []
        paid = [e for e in window.edges if e.kind in WITHDRAWALS]
        merchants = {e.source for e in paid}
        if len(merchants) < rule.min_merchants:
            return []
        days = graph.retention.days
        return [
            Hit(
                self.typology,
                account.id,
                _score(len(merchants), rule.min_merchants, 3 * rule.min_merchants),
                tuple(e.id for e in paid),
                Evidence.of(paid, (account.id,)),
                f"bank account {account.id} received withdrawals of {len(merchants)} "
                f"merchants within {days} days",
            )
        ]

    def sweep(self, now: datetime) -> None:
        return None


# --- a split batch to a receiver bound minutes ago ---------------------------------------


@dataclass(frozen=True, slots=True)
class NewReceiverRule:
    """A split line giving at least `min_share` of its batch's net collected (and at least
    `min_amount`) to a receiver whose bank account was bound within `bound_within`."""

    bound_within: timedelta = timedelta(hours=1)
    min_share: float = 0.5
    min_amount: int = 50_000


class SplitToNewReceiver:
    """A group leader sending most of a round to an account bound minutes before."""

    typology = "split_to_new_receiver"

    def __init__(self, rule: NewReceiverRule) -> None:
        self.rule = rule

    def spans(self) -> Iterable[timedelta]:
        return ()

    def inspect(self, tx: Transaction, graph: TransactionGraph) -> list[Hit]:
        rule = self.rule
        if tx.kind != "split" or tx.bound_at is None or not tx.batch_total:
            return []
        age = tx.at - tx.bound_at
        share = tx.amount / tx.batch_total
        if age > rule.bound_within or share < rule.min_share or tx.amount < rule.min_amount:
            return []
        return [
            Hit(
                self.typology,
                tx.source,
                _score(share, rule.min_share, 1.0),
                (tx.id,),
                Evidence.of([tx], (tx.source, tx.target)),
                f"{tx.source} gave {share:.0%} of a split batch's {tx.batch_total} to "
                f"{tx.target}, whose account was bound {age.total_seconds() / 60:.0f} "
                "minutes earlier",
            )
        ]

    def sweep(self, now: datetime) -> None:
        return None


# --- structuring of withdrawals -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StructuringRule:
    """Within `window`, at least `min_near_instant` withdrawals each within `near` of the
    real-time rail's per-payout limit, or at least `min_near_days` days on which the
    withdrawals to one payee came within `near` of its daily limit."""

    window: timedelta = timedelta(days=7)
    near: float = 0.9
    min_near_instant: int = 3
    min_near_days: int = 3


class StructuredWithdrawals:
    """Withdrawals kept just under the instant or the daily limit, again and again."""

    typology = "structured_withdrawals"

    def __init__(self, rule: StructuringRule) -> None:
        self.rule = rule

    def spans(self) -> Iterable[timedelta]:
        return (self.rule.window,)

    def _near(self, amount: int, limit: int) -> bool:
        return self.rule.near * limit <= amount <= limit

    def inspect(self, tx: Transaction, graph: TransactionGraph) -> list[Hit]:
        rule = self.rule
        if tx.kind != WITHDRAWAL or (tx.instant_limit is None and tx.daily_limit is None):
            return []
        node = graph.nodes[tx.source]
        outs = [e for e in node.window(Direction.OUT, rule.window).edges if e.kind == WITHDRAWAL]
        under_instant = [
            e for e in outs if e.instant_limit is not None and self._near(e.amount, e.instant_limit)
        ]
        days: dict[tuple[str, date], list[Transaction]] = defaultdict(list)
        for e in outs:
            if e.daily_limit is not None:
                days[(e.target, _china_day(e.at))].append(e)
        under_daily = [
            day
            for day in days.values()
            if self._near(sum(e.amount for e in day), day[-1].daily_limit or 0)
        ]
        found: list[Transaction] = []
        reasons: list[str] = []
        if len(under_instant) >= rule.min_near_instant:
            found += under_instant
            reasons.append(f"{len(under_instant)} withdrawals just under the instant limit")
        if len(under_daily) >= rule.min_near_days:
            found += [e for day in under_daily for e in day]
            reasons.append(f"{len(under_daily)} days just under a payee's daily limit")
        if not found:
            return []
        counts = max(len(under_instant), len(under_daily))
        threshold = min(rule.min_near_instant, rule.min_near_days)
        return [
            Hit(
                self.typology,
                node.id,
                _score(counts, threshold, 3 * threshold),
                tuple(dict.fromkeys(e.id for e in found)),
                Evidence.of(found, (node.id,)),
                f"{node.id}: {' and '.join(reasons)} within {rule.window.days} days",
            )
        ]

    def sweep(self, now: datetime) -> None:
        return None
