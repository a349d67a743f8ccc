"""Properties every strategy keeps on arbitrary outcome streams."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from payhub.channels.base import CardType
from payhub.routing.base import Ranker, Result
from payhub.routing.baselines import DiscountedThompson, SlidingWindowUCB, SuccessRateV3
from payhub.routing.learner import PayhubRanker
from tests.routing.helpers import channel, context

CHANNELS = [channel(f"c{i}", fee_bps=10 * i, latency_ms=100.0 + 50 * i) for i in range(5)]
HARD_ONLY = channel("hard_only", fee_bps=5)
MAKERS: list[Callable[[], Ranker]] = [
    PayhubRanker,
    SlidingWindowUCB,
    DiscountedThompson,
    SuccessRateV3,
]

events = st.lists(
    st.tuples(
        st.integers(0, len(CHANNELS) - 1),  # channel
        st.sampled_from(list(Result)),
        st.sampled_from(["ICBC", "CCB", "RURAL12"]),
        st.sampled_from(list(CardType)),
        st.floats(0.0, 120.0),  # seconds since the previous event
        st.integers(0, 6000),  # latency
    ),
    max_size=300,
)


@settings(max_examples=60, deadline=None)
@given(
    stream=events,
    subset=st.sets(st.integers(0, len(CHANNELS) - 1), min_size=1),
    maker=st.sampled_from(MAKERS),
)
def test_rank_is_a_permutation_with_sane_scores(
    stream: list[tuple[int, Result, str, CardType, float, int]],
    subset: set[int],
    maker: Callable[[], Ranker],
) -> None:
    ranker = maker()
    candidates = [CHANNELS[i] for i in sorted(subset)]
    ids = sorted(c.channel_id for c in candidates)
    at_s = 0.0
    for index, result, issuer, card_type, gap, latency in stream:
        at_s += gap
        ctx = context(at_s, issuer=issuer, card_type=card_type)
        ranking = ranker.rank(ctx, candidates)
        assert sorted(ranking.order) == ids
        assert sorted(ranking.scores) == ids
        for score in ranking.scores.values():
            assert 0.0 <= score.expected_success <= 1.0
            assert score.samples >= 0.0
        ranker.observe(ctx, CHANNELS[index].channel_id, result, latency)


@settings(max_examples=60, deadline=None)
@given(stream=events, maker=st.sampled_from(MAKERS), hard=st.lists(st.booleans(), max_size=300))
def test_hard_declines_alone_never_eliminate(
    stream: list[tuple[int, Result, str, CardType, float, int]],
    maker: Callable[[], Ranker],
    hard: list[bool],
) -> None:
    ranker = maker()
    at_s = 0.0
    for n, (index, result, issuer, card_type, gap, latency) in enumerate(stream):
        at_s += gap
        ctx = context(at_s, issuer=issuer, card_type=card_type)
        ranker.rank(ctx, [*CHANNELS, HARD_ONLY])
        ranker.observe(ctx, CHANNELS[index].channel_id, result, latency)
        if n < len(hard) and hard[n]:
            ranker.observe(ctx, HARD_ONLY.channel_id, Result.HARD_DECLINE, latency)
        assert ranker.available(HARD_ONLY.channel_id, ctx.at)


@settings(max_examples=40, deadline=None)
@given(stream=events)
def test_learner_snapshot_is_consistent(
    stream: list[tuple[int, Result, str, CardType, float, int]],
) -> None:
    ranker = PayhubRanker()
    at_s = 0.0
    counted: dict[str, int] = {}
    for index, result, issuer, card_type, gap, latency in stream:
        at_s += gap
        cid = CHANNELS[index].channel_id
        ranker.observe(context(at_s, issuer=issuer, card_type=card_type), cid, result, latency)
        if result is not Result.HARD_DECLINE:
            counted[cid] = counted.get(cid, 0) + 1
    for cid, snap in ranker.stats().items():
        assert snap.volume_raw == counted.get(cid, 0)
        assert snap.success_rate is None or 0.0 <= snap.success_rate <= 1.0
        assert snap.volume <= snap.volume_raw + 1e-9
        assert snap.available or snap.eliminated_until is not None
