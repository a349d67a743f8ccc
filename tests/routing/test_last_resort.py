"""A channel out for hanging: tried only after every other, never first, never by a rule."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from payhub.channels.base import ChannelInfo
from payhub.routing.base import Context, Ranking, Result, Score
from payhub.routing.engine import Router, Rule, RuleSet
from payhub.routing.health import HealthState
from payhub.routing.learner import PayhubRanker
from tests.routing.helpers import NO_RULES, channel, context

A = channel("a", fee_bps=20)
B = channel("b", fee_bps=30)
C = channel("c", fee_bps=40)
INFOS = {info.channel_id: info for info in (A, B, C)}


class _Fixed:
    """Ranks `a`, `b`, `c` in that order, with `a` a last resort."""

    name = "fixed"

    def rank(self, ctx: Context, candidates: Sequence[ChannelInfo]) -> Ranking:
        ids = [info.channel_id for info in candidates]
        order = [cid for cid in ids if cid != "a"] + (["a"] if "a" in ids else [])
        scores = {cid: Score(cid, 0.9) for cid in ids}
        return Ranking(order, scores, "fixed", last_resort=frozenset({"a"}))

    def observe(self, ctx: Context, channel_id: str, result: Result, latency_ms: int) -> None:
        return None

    def available(self, channel_id: str, at: datetime) -> bool:
        return True


def test_no_rule_puts_a_last_resort_channel_first() -> None:
    rules = RuleSet(
        version=1,
        rules=(
            Rule(id="prefer_a", action="prefer", channels=("a", "c")),
            Rule(id="split_a", action="split", weights={"a": 100}),
        ),
    )
    decision = Router(_Fixed(), rules).decide(context(0.0), [A, B, C])
    assert decision.order == ["c", "b", "a"]  # `c` preferred, `a` still last
    split_only = RuleSet(version=2, rules=(Rule(id="split_a", action="split", weights={"a": 1}),))
    assert Router(_Fixed(), split_only).decide(context(0.0), [A, B, C]).order == ["b", "c", "a"]


def hang_out(ranker: PayhubRanker, cid: str, start_s: float) -> float:
    for n in range(1, 40):
        at_s = start_s + n * 0.1
        ranker.observe(context(at_s), cid, Result.UNKNOWN, 3000)
        if ranker.stats(context(at_s).at)[cid].state is HealthState.ELIMINATED:
            return at_s
    raise AssertionError(f"{cid} was never eliminated")


def taught() -> PayhubRanker:
    ranker = PayhubRanker(explore_cap=0.0)
    for cid in ("a", "b"):
        for n in range(500):
            ranker.observe(
                context(0.0), cid, Result.SOFT_DECLINE if n % 20 == 0 else Result.APPROVED, 200
            )
    return ranker


def test_a_payment_declined_elsewhere_cascades_to_the_hung_channel_last() -> None:
    # During the cool-off too: the payment has nowhere else to go, and if the hung channel
    # processed it the approval is settled by query later.
    ranker = taught()
    out_at = hang_out(ranker, "a", 100.0)
    router = Router(ranker, NO_RULES, budget_ms=1000)
    decision = router.decide(context(out_at + 1.0), [A, B])
    assert decision.order == ["b", "a"]
    assert "a" not in decision.excluded
    assert router.next_channel(decision, ["b"], Result.SOFT_DECLINE, 200.0, INFOS) == "a"
    # The hung channel is the last attempt: after its unknown outcome nothing follows.
    assert router.next_channel(decision, ["b", "a"], Result.UNKNOWN, 3200.0, INFOS) is None


def test_a_channel_out_for_hanging_is_no_alternative_for_elimination() -> None:
    # `a` is out for hanging; `b`, the only other channel, collapses. Eliminating `b` would
    # leave the issuer's payments only a channel that hangs: `b` is held (degraded) instead.
    ranker = taught()
    out_at = hang_out(ranker, "a", 100.0)
    for n in range(30):
        ranker.observe(context(out_at + 1.0 + n * 0.1), "b", Result.SOFT_DECLINE, 200)
    at = context(out_at + 5.0).at
    assert ranker.stats(at)["b"].state is HealthState.DEGRADED
    assert ranker.health.usable("b", out_at + 5.0)
    assert ranker.rank(context(out_at + 5.0), [A, B]).order == ["b", "a"]
