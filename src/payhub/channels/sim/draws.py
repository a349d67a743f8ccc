"""Deterministic randomness, and the world's rules built on it.

Every random choice the simulator makes is a pure function of the scenario seed and a key:
`Draws.uniform(stream, *parts)` hashes them with BLAKE2b and maps 53 bits of the digest to a
float in (0, 1). Nothing depends on call order, wall time or a shared generator, so:

- the same scenario plays the same way every time, whatever the routing strategy does;
- two strategies replayed on one scenario face the same world;
- the best possible result (the *oracle*) can be computed without calling anything.

Draws are keyed as follows (`payment` is the payment key: the request's `reference`, else
its `payment_id`):

| what | stream | key |
|---|---|---|
| hard decline and its reason | `hard`, `hard_reason` | payment — the same on every channel |
| channel approves | `success` | payment × channel |
| soft-decline reason | `soft_reason` | payment × channel |
| latency, timeout, lost | `latency`, `timeout`, `timeout_fate`, `lost` | payment × channel × try |

`try` (`attempt` in the code) counts the requests of one payment on one channel (0 for the
first), so a retry on the same channel meets the same decision (the world decided) but fresh
delivery noise.
`World` turns the draws and the scenario into outcomes; the network and the oracle both use
it, so they cannot disagree.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from statistics import NormalDist
from typing import TypeVar

from payhub.channels.base import CardType, ChannelInfo
from payhub.channels.sim.scenario import (
    Z99,
    ChannelSpec,
    IncidentSpec,
    PayoutRailSpec,
    Scenario,
)

T = TypeVar("T")

_NORMAL = NormalDist()
_SCALE = 2.0**-53

# When a payment is hard-declined, which code the issuer gives (weights add up to 1).
HARD_REASONS: tuple[tuple[str, float], ...] = (
    ("51", 0.60),  # insufficient funds
    ("54", 0.15),  # expired card
    ("14", 0.10),  # invalid card number
    ("41", 0.075),  # lost card
    ("43", 0.075),  # stolen card
)
# Soft declines in normal times, and while an incident degrades the channel.
SOFT_REASONS: tuple[tuple[str, float], ...] = (("05", 0.60), ("91", 0.25), ("96", 0.15))
SOFT_REASONS_IN_INCIDENT: tuple[tuple[str, float], ...] = (
    ("91", 0.50),
    ("96", 0.40),
    ("05", 0.10),
)
# Payout rails fail softly with these.
PAYOUT_SOFT_REASONS: tuple[tuple[str, float], ...] = (("91", 0.6), ("96", 0.4))

# A request that hangs in an incident (incident `timeout_rate`) was acted on by the channel
# with this probability; otherwise it never got processed and `query` finds nothing.
HUNG_REQUEST_PROCESSED = 0.5


class Stream(StrEnum):
    SUCCESS = "success"
    HARD = "hard"
    HARD_REASON = "hard_reason"
    SOFT_REASON = "soft_reason"
    LATENCY = "latency"
    TIMEOUT = "timeout"
    TIMEOUT_FATE = "timeout_fate"
    LOST = "lost"
    RETURN = "return"  # whether the beneficiary bank sends an approved payout back
    # The workload generator's streams.
    ARRIVAL = "arrival"
    ISSUER = "issuer"
    CARD_TYPE = "card_type"
    AMOUNT = "amount"
    CARD = "card"
    # Channel references.
    REF = "ref"


class Draws:
    """Uniform numbers as a pure function of (seed, stream, key parts)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._key = hashlib.blake2b(f"payhub-sim:{seed}".encode(), digest_size=32).digest()

    def _digest(self, stream: str, parts: Sequence[str | int], size: int) -> bytes:
        h = hashlib.blake2b(key=self._key, digest_size=size)
        for part in (stream, *parts):
            data = str(part).encode()
            # Length-prefixed, so ("ab", "c") and ("a", "bc") never collide.
            h.update(len(data).to_bytes(4, "big"))
            h.update(data)
        return h.digest()

    def uniform(self, stream: str, *parts: str | int) -> float:
        """A float in the open interval (0, 1), uniform, fixed for (seed, stream, parts)."""
        bits = int.from_bytes(self._digest(stream, parts, 8), "big") >> 11
        return (bits + 0.5) * _SCALE

    def token(self, *parts: str | int, length: int = 20) -> str:
        """A deterministic uppercase hex string (channel references)."""
        return self._digest(Stream.REF, parts, (length + 1) // 2).hex().upper()[:length]


def normal_quantile(u: float) -> float:
    return _NORMAL.inv_cdf(u)


def lognormal_ms(u: float, median: float, p99: float) -> float:
    """The `u`-quantile of the log-normal with this median and 99th percentile:
    mu = ln(median), sigma = (ln(p99) - ln(median)) / 2.3263."""
    sigma = (math.log(p99) - math.log(median)) / Z99
    return median * math.exp(sigma * _NORMAL.inv_cdf(u))


def pick(u: float, weighted: Sequence[tuple[T, float]]) -> T:
    """The item whose cumulative weight band contains `u` (weights add up to 1)."""
    total = 0.0
    for item, weight in weighted:
        total += weight
        if u < total:
            return item
    return weighted[-1][0]


class Delivery(StrEnum):
    DELIVERED = "delivered"  # the response came back in time
    TIMEOUT = "timeout"  # we gave up waiting at the channel's timeout
    LOST = "lost"  # the response never came back


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the world does with one request on one channel."""

    channel_id: str
    approved: bool
    raw_code: str
    processed: bool  # the channel acted on it: its decision is on record, `query` tells it
    delivery: Delivery
    latency_ms: int  # what the caller waits: the response time, or the timeout

    @property
    def succeeded(self) -> bool:
        """Approved, and the caller learnt so in time."""
        return self.approved and self.processed and self.delivery is Delivery.DELIVERED


class World:
    """The scenario's rules over the draws: what each channel decides, when, how fast."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.draws = Draws(scenario.seed)
        self._channels: dict[str, ChannelSpec] = {c.id: c for c in scenario.channels}
        self._rails: dict[str, PayoutRailSpec] = {r.id: r for r in scenario.payout_rails}
        ids = [*self._channels, *self._rails]
        self._incidents: dict[str, tuple[IncidentSpec, ...]] = {
            cid: scenario.incidents_for(cid) for cid in ids
        }
        self._infos: dict[str, ChannelInfo] = {cid: scenario.info(cid) for cid in ids}

    # -- the scenario's parameters at a moment ---------------------------------------------

    def info(self, channel_id: str) -> ChannelInfo:
        return self._infos[channel_id]

    def _spec(self, channel_id: str) -> ChannelSpec | PayoutRailSpec:
        spec = self._channels.get(channel_id) or self._rails.get(channel_id)
        if spec is None:
            raise KeyError(f"no channel or payout rail {channel_id!r}")
        return spec

    def incidents_at(self, channel_id: str, issuer: str, at_s: float) -> list[IncidentSpec]:
        return [i for i in self._incidents[channel_id] if i.applies(channel_id, issuer, at_s)]

    def success_probability(self, channel_id: str, issuer: str, at_s: float) -> float:
        """P(the channel approves a payment the issuer would approve), incidents included."""
        spec = self._spec(channel_id)
        p = spec.success.for_issuer(issuer) if isinstance(spec, ChannelSpec) else spec.success
        for incident in self.incidents_at(channel_id, issuer, at_s):
            if incident.success_multiplier is not None:
                p *= incident.success_multiplier
        return min(1.0, max(0.0, p))

    def timeout_rate(self, channel_id: str, issuer: str, at_s: float) -> float:
        """P(a request hangs) from incidents (independent incidents combine)."""
        keep = 1.0
        for incident in self.incidents_at(channel_id, issuer, at_s):
            if incident.timeout_rate is not None:
                keep *= 1.0 - incident.timeout_rate
        return 1.0 - keep

    def lost_rate(self, channel_id: str, issuer: str, at_s: float, *, approved: bool) -> float:
        """P(a response is lost): the channel's own rate for approved responses, and incident
        rates for every response."""
        spec = self._spec(channel_id)
        keep = 1.0 - spec.lost_rate if approved else 1.0
        for incident in self.incidents_at(channel_id, issuer, at_s):
            if incident.lost_rate is not None:
                keep *= 1.0 - incident.lost_rate
        return 1.0 - keep

    def degraded(self, channel_id: str, issuer: str, at_s: float) -> bool:
        return any(
            (i.success_multiplier is not None and i.success_multiplier < 1.0)
            or (i.timeout_rate or 0.0) > 0.0
            for i in self.incidents_at(channel_id, issuer, at_s)
        )

    # -- draws -----------------------------------------------------------------------------

    def hard_decline(self, payment_key: str) -> str | None:
        """The issuer's hard-decline code for this payment, or None. Drawn once per payment:
        every channel that reaches the issuer gets the same answer."""
        if self.draws.uniform(Stream.HARD, payment_key) < self.scenario.hard_decline_rate:
            return pick(self.draws.uniform(Stream.HARD_REASON, payment_key), HARD_REASONS)
        return None

    def latency_ms(self, channel_id: str, *key: str | int) -> float:
        spec = self._spec(channel_id)
        u = self.draws.uniform(Stream.LATENCY, channel_id, *key)
        return lognormal_ms(u, spec.latency_ms.median, spec.latency_ms.p99)

    def deliver(
        self, channel_id: str, issuer: str, at_s: float, *, approved: bool, key: Sequence[str | int]
    ) -> tuple[Delivery, bool, int]:
        """How a response travels back: (delivery, processed, latency the caller sees).

        - An incident may make the request hang (`timeout_rate`): the caller waits the full
          timeout; the channel processed it with probability HUNG_REQUEST_PROCESSED.
        - A response slower than the channel's timeout was processed, but arrives too late:
          the caller sees a timeout.
        - Otherwise the response may be lost (`lost_rate`): the channel processed it, the
          caller sees `lost` after the response time.
        """
        spec = self._spec(channel_id)
        draws = self.draws
        latency = self.latency_ms(channel_id, *key)
        hang = self.timeout_rate(channel_id, issuer, at_s)
        if hang > 0.0 and draws.uniform(Stream.TIMEOUT, channel_id, *key) < hang:
            processed = (
                draws.uniform(Stream.TIMEOUT_FATE, channel_id, *key) < HUNG_REQUEST_PROCESSED
            )
            return Delivery.TIMEOUT, processed, spec.timeout_ms
        if latency > spec.timeout_ms:
            return Delivery.TIMEOUT, True, spec.timeout_ms
        reported = max(1, round(latency))
        lost = self.lost_rate(channel_id, issuer, at_s, approved=approved)
        if lost > 0.0 and draws.uniform(Stream.LOST, channel_id, *key) < lost:
            return Delivery.LOST, True, reported
        return Delivery.DELIVERED, True, reported

    # -- whole outcomes --------------------------------------------------------------------

    def authorize(
        self,
        payment_key: str,
        channel_id: str,
        *,
        issuer: str,
        card_type: CardType,
        amount: int,
        at_s: float,
        currency: str | None = None,
        attempt: int = 0,
        card_problem: str | None = None,
    ) -> Outcome:
        """The outcome of authorising this payment on this channel at `at_s`.

        Order: the channel's own refusal (`58` issuer/card type/currency not served, `13`/`61`
        amount limits) → a problem with the card itself (`card_problem`, e.g. `54` expired,
        found by the network) → the payment's hard decline → the channel's success draw
        (else a soft decline)."""
        info = self._infos[channel_id]
        currency = currency or self.scenario.currency
        code = info.refusal(issuer=issuer, amount=amount, currency=currency, card_type=card_type)
        if code is None:
            code = card_problem or self.hard_decline(payment_key)
        if code is None:
            p = self.success_probability(channel_id, issuer, at_s)
            if self.draws.uniform(Stream.SUCCESS, payment_key, channel_id) < p:
                code = "00"
            else:
                reasons = (
                    SOFT_REASONS_IN_INCIDENT
                    if self.degraded(channel_id, issuer, at_s)
                    else SOFT_REASONS
                )
                code = pick(
                    self.draws.uniform(Stream.SOFT_REASON, payment_key, channel_id), reasons
                )
        approved = code == "00"
        delivery, processed, latency = self.deliver(
            channel_id,
            issuer,
            at_s,
            approved=approved,
            key=(payment_key, "authorize", attempt),
        )
        return Outcome(channel_id, approved, code, processed, delivery, latency)

    def payout(
        self,
        payout_key: str,
        rail_id: str,
        *,
        bank: str,
        amount: int,
        currency: str,
        at: datetime,
        at_s: float,
        attempt: int = 0,
        account_problem: str | None = None,
    ) -> Outcome:
        """The outcome of a payout on a rail: refusal (`58` bank or currency, `13`/`61` limits,
        `90` outside business hours) → a bad account (`account_problem`) → success draw."""
        info = self._infos[rail_id]
        code = info.refusal(issuer=bank, amount=amount, currency=currency, at=at)
        if code is None:
            code = account_problem
        if code is None:
            p = self.success_probability(rail_id, bank, at_s)
            if self.draws.uniform(Stream.SUCCESS, payout_key, rail_id) < p:
                code = "00"
            else:
                code = pick(
                    self.draws.uniform(Stream.SOFT_REASON, payout_key, rail_id),
                    PAYOUT_SOFT_REASONS,
                )
        approved = code == "00"
        delivery, processed, latency = self.deliver(
            rail_id, bank, at_s, approved=approved, key=(payout_key, "payout", attempt)
        )
        return Outcome(rail_id, approved, code, processed, delivery, latency)

    # -- the oracle ------------------------------------------------------------------------

    def oracle_outcomes(
        self,
        payment_key: str,
        issuer: str,
        card_type: CardType,
        amount: int,
        at_s: float,
        currency: str | None = None,
    ) -> dict[str, Outcome]:
        """First-attempt outcomes of this payment on every card channel that accepts it."""
        currency = currency or self.scenario.currency
        outcomes = {}
        for channel_id in self._channels:
            if self._infos[channel_id].accepts(
                issuer=issuer, amount=amount, currency=currency, card_type=card_type
            ):
                outcomes[channel_id] = self.authorize(
                    payment_key,
                    channel_id,
                    issuer=issuer,
                    card_type=card_type,
                    amount=amount,
                    at_s=at_s,
                    currency=currency,
                )
        return outcomes

    def oracle(
        self,
        payment_key: str,
        issuer: str,
        card_type: CardType,
        amount: int,
        at_s: float,
        currency: str | None = None,
    ) -> str | None:
        """The best channel for this payment: among the eligible channels whose first attempt
        would be approved and answered in time, the cheapest, then the fastest (then by id).
        None when no channel can succeed (a hard decline, or bad luck everywhere).
        Assumes a valid, unexpired card, as the workload generator makes."""
        outcomes = self.oracle_outcomes(payment_key, issuer, card_type, amount, at_s, currency)
        best: tuple[int, int, str] | None = None
        for channel_id, outcome in outcomes.items():
            if outcome.succeeded:
                rank = (
                    self._infos[channel_id].fee(amount, card_type),
                    outcome.latency_ms,
                    channel_id,
                )
                if best is None or rank < best:
                    best = rank
        return best[2] if best is not None else None


def oracle(
    world: World,
    payment_key: str,
    issuer: str,
    card_type: CardType,
    amount: int,
    at_s: float,
) -> str | None:
    """`World.oracle` as a function."""
    return world.oracle(payment_key, issuer, card_type, amount, at_s)
