"""Invariants of the network under any sequence of requests (hypothesis).

Whatever is sent, in any order, repeated or not, with responses lost or hanging:
refunded <= captured <= authorised on every authorisation, nothing is captured on a voided
one, a request the channel acted on is never acted on again, and the authorisations' totals
agree with the statement, which is kept separately.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from payhub.channels.base import ChannelStatus, StatementKind
from payhub.channels.sim.network import SimulatedNetwork
from payhub.core.clock import FrozenClock, use_clock
from tests.channels.helpers import START, auth_request, scenario

# A flaky world: approved responses lost, requests hanging, soft and hard declines.
FLAKY = scenario(
    alpha={"lost_rate": 0.3, "success": {"default": 0.8}},
    hard_decline_rate=0.1,
    incidents=[
        {"channel": "alpha", "start_s": 0, "end_s": 10**6, "timeout_rate": 0.3, "lost_rate": 0.1}
    ],
)
WINDOW = (START - timedelta(days=1), START + timedelta(days=365))

numbers = st.integers(min_value=0, max_value=4)
amounts = st.integers(min_value=-100, max_value=12_000)
operations = st.one_of(
    st.tuples(st.just("authorize"), numbers),
    st.tuples(st.just("capture"), numbers, numbers, amounts),
    st.tuples(st.just("refund"), numbers, numbers, amounts),
    st.tuples(st.just("void"), numbers, numbers),
    st.tuples(st.just("query"), numbers),
    st.tuples(st.just("wait"), st.integers(min_value=1, max_value=120)),
)


def request_id_of(op: tuple[Any, ...]) -> str | None:
    """The request id an operation sends (None for queries and waits)."""
    if op[0] in ("authorize", "capture", "refund", "void"):
        return f"{'auth' if op[0] == 'authorize' else op[0]}_{op[1]}"
    return None


class Driver:
    def __init__(self, network: SimulatedNetwork, clock: FrozenClock) -> None:
        self.network = network
        self.clock = clock
        self.sent: list[str] = []
        self.statuses: set[ChannelStatus] = set()

    def apply(self, op: tuple[Any, ...]) -> str | None:
        """Send one request; returns its request id (None for queries and waits)."""
        network, kind = self.network, op[0]
        refs = sorted(a.ref for a in network.authorizations()) or ["AUTUNKNOWN"]
        request_id: str | None = None
        if kind == "authorize":
            n = op[1]
            request_id = f"auth_{n}"
            # Payment and amount follow from the request id: a repeat is a true repeat.
            request = auth_request(request_id, payment_id=f"pay_{n % 2}", amount=5_000 + 1_000 * n)
            self.statuses.add(network.authorize("alpha", request).status)
        elif kind in ("capture", "refund"):
            _, n, which, amount = op
            request_id = f"{kind}_{n}"
            # The same request id may come back naming another authorisation or amount:
            # the channel must refuse that rather than act.
            send = network.capture if kind == "capture" else network.refund
            self.statuses.add(send("alpha", request_id, refs[which % len(refs)], amount).status)
        elif kind == "void":
            _, n, which = op
            request_id = f"void_{n}"
            network.void("alpha", request_id, refs[which % len(refs)])
        elif kind == "query":
            network.query("alpha", f"auth_{op[1]}")
        else:
            self.clock.advance(timedelta(seconds=op[1]))
        if request_id is not None:
            self.sent.append(request_id)
        return request_id

    def check(self) -> None:
        network = self.network
        auths = network.authorizations()
        lines = network.statement("alpha", *WINDOW)
        for a in auths:
            assert 0 <= a.refunded <= a.captured <= a.amount, a
            assert not (a.voided and a.captured), a
            mine = [x for x in lines if x.authorization_ref == a.ref]
            assert a.captured == sum(x.amount for x in mine if x.kind is StatementKind.CAPTURE)
            assert a.refunded == sum(x.amount for x in mine if x.kind is StatementKind.REFUND)
        # Every approved request acted exactly once; nothing else acted.
        acted = [x.request_id for x in lines]
        assert len(acted) == len(set(acted))
        for request_id in set(self.sent):
            truth = network.lookup("alpha", request_id)
            approved = truth is not None and truth.status is ChannelStatus.APPROVED
            if request_id.startswith(("capture_", "refund_")):
                assert approved == (request_id in acted)
        approved_auths = sorted(
            rid
            for rid in set(self.sent)
            if rid.startswith("auth_")
            and (truth := network.lookup("alpha", rid)) is not None
            and truth.status is ChannelStatus.APPROVED
        )
        assert sorted(a.request_id for a in auths) == approved_auths


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(operations, min_size=1, max_size=40))
def test_any_sequence_keeps_the_ledger_sound(ops: list[tuple[Any, ...]]) -> None:
    clock = FrozenClock(START)
    with use_clock(clock):
        driver = Driver(SimulatedNetwork(FLAKY), clock)
        network = driver.network
        for op in ops:
            before = (network.totals(), len(network.statement("alpha", *WINDOW)))
            request_id = request_id_of(op)
            known = {rid for rid in driver.sent if network.lookup("alpha", rid) is not None}
            assert driver.apply(op) == request_id
            if request_id in known:
                # A request id the channel already acted on never acts again.
                assert (network.totals(), len(network.statement("alpha", *WINDOW))) == before
            driver.check()
        # Sending every request once more acts on nothing the channel already acted on.
        settled = network.totals()
        acted = {rid for rid in driver.sent if network.lookup("alpha", rid) is not None}
        for op in ops:
            if request_id_of(op) in acted:
                driver.apply(op)
        assert network.totals() == settled
        driver.check()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(1, 12_000)), min_size=1, max_size=30))
def test_captures_never_exceed_the_authorisation(captures: list[tuple[int, int]]) -> None:
    """On a reliable channel, the sum of approved captures is the largest prefix-fitting sum."""
    clock = FrozenClock(START)
    with use_clock(clock):
        network = SimulatedNetwork(scenario())
        ref = network.authorize("alpha", auth_request(amount=10_000)).channel_ref
        assert ref is not None
        expected = 0
        for n, (repeat_of, amount) in enumerate(captures):
            request_id = f"cap_{n}"
            result = network.capture("alpha", request_id, ref, amount)
            if expected + amount <= 10_000:
                assert result.status is ChannelStatus.APPROVED
                expected += amount
            else:
                assert (result.status, result.raw_code) == (ChannelStatus.DECLINED, "13")
            # Repeat an earlier capture: never captured twice.
            earlier = max(0, n - repeat_of)
            network.capture("alpha", f"cap_{earlier}", ref, captures[earlier][1])
            assert network.totals().captured == expected


def test_the_flaky_world_exercises_every_path() -> None:
    """The property above is only as good as its world: check it really loses responses,
    hangs requests and still approves, captures and refunds."""
    import random

    rng = random.Random(5)
    clock = FrozenClock(START)
    with use_clock(clock):
        network = SimulatedNetwork(FLAKY)
        driver = Driver(network, clock)
        for _ in range(100):
            driver.apply(("authorize", rng.randrange(5)))
            driver.apply(("capture", rng.randrange(5), rng.randrange(5), rng.randrange(1, 3000)))
            driver.apply(("refund", rng.randrange(5), rng.randrange(5), rng.randrange(1, 3000)))
            driver.apply(("wait", 30))
            driver.check()
    expected = {ChannelStatus.APPROVED, ChannelStatus.DECLINED, ChannelStatus.TIMEOUT}
    assert expected | {ChannelStatus.LOST} <= driver.statuses
    totals = network.totals()
    assert totals.captured > 0 and totals.refunded > 0
