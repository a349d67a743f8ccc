"""Learning per process, measured: the scenario's traffic split over N independent routers.

Each API process learns in memory from its own payments only (docs/routing.md, "Learning
per process"). `SplitRouter` plays N such processes in one replay: every payment goes to
one of N routers of the same strategy — drawn by a hash of the payment's key, as a load
balancer spreads connections, and the same draw for every strategy — which decides it and
is told every outcome of its attempts; the other routers never hear of it. The cascade is
the engine's and the same in every process.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from payhub.bench.routing import (
    RouterFactory,
    Setup,
    StrategyRun,
    replay,
    report,
)
from payhub.bench.routing_timing import ForwardingRouter
from payhub.channels.base import ChannelInfo
from payhub.channels.sim.scenario import Scenario
from payhub.channels.sim.workload import SimPayment
from payhub.clikit import console
from payhub.routing.base import Context, Result
from payhub.routing.engine import Decision, Router

SPLIT = "each payment to one of N routers drawn by a hash of its key; each learns only its own"


def process_of(payment_key: str, processes: int) -> int:
    """Which of `processes` routers a payment goes to: uniform, fixed by the key."""
    digest = hashlib.blake2b(payment_key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % processes


class SplitRouter(ForwardingRouter):
    """N routers, as N API processes each learning on its share of the traffic."""

    def __init__(self, routers: Sequence[Router]) -> None:
        if not routers:
            raise ValueError("a split needs at least one router")
        super().__init__(routers[0])
        self.routers = list(routers)

    def of(self, ctx: Context) -> Router:
        return self.routers[process_of(ctx.payment_key, len(self.routers))]

    def decide(self, ctx: Context, channels: Sequence[ChannelInfo]) -> Decision:
        return self.of(ctx).decide(ctx, channels)

    def observe(self, ctx: Context, channel_id: str, result: Result, latency_ms: int) -> None:
        # The process that sent the attempt records its answer, as the orchestrator does.
        self.of(ctx).observe(ctx, channel_id, result, latency_ms)


def split_factory(factory: RouterFactory, processes: int) -> RouterFactory:
    """The strategy as `processes` independent routers, each built as the factory builds it."""

    def build(setup: Setup) -> Router:
        return SplitRouter([factory(setup) for _ in range(processes)])

    return build


def parse_counts(text: str) -> list[int]:
    """'1,2,4,8' → [1, 2, 4, 8]; ValueError for anything but positive integers."""
    counts = [int(part) for part in text.split(",") if part.strip()]
    if not counts or any(n < 1 for n in counts):
        raise ValueError("--processes takes positive integers, e.g. 1,2,4,8")
    return sorted(set(counts))


def run_processes(
    scenario: Scenario,
    factories: Mapping[str, RouterFactory],
    payments: Sequence[SimPayment],
    counts: Sequence[int],
    *,
    single: Mapping[str, StrategyRun] | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The `processes` key of the routing benchmark's JSON: per N, every strategy's figures
    and the oracle gap capture, the traffic split over N routers. `single`: runs already
    made on the whole stream, reused for N = 1 (a split over one router is that run)."""
    by_count: dict[str, Any] = {}
    for n in counts:
        runs: dict[str, StrategyRun] = {}
        for name, factory in factories.items():
            if n == 1 and single is not None and name in single:
                runs[name] = single[name]
                continue
            tick = _ticker(progress, f"{scenario.name}: {name} × {n}", len(payments))
            runs[name] = replay(
                scenario, split_factory(factory, n), name=name, payments=payments, tick=tick
            )
        figures = report(scenario, runs)
        by_count[str(n)] = {
            "strategies": figures["strategies"],
            "oracle_gap_capture": figures["oracle_gap_capture"],
        }
    return {"split": SPLIT, "by_count": by_count}


def _ticker(progress: Progress | None, label: str, total: int) -> Callable[[int], None] | None:
    if progress is None:
        return None
    task = progress.add_task(label, total=total)

    def tick(n: int) -> None:
        progress.update(task, advance=n)

    return tick


def _percent(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.2f}%"


def print_processes(processes: Mapping[str, Any]) -> None:
    by_count: Mapping[str, Any] = processes["by_count"]
    counts = list(by_count)
    table = Table(title="Learning per process: success / first attempt, traffic split over N")
    table.add_column("strategy")
    for n in counts:
        table.add_column(f"N = {n}", justify="right")
    names = list(next(iter(by_count.values()))["strategies"]) if by_count else []
    for name in names:
        cells = []
        for n in counts:
            m = by_count[n]["strategies"][name]
            cells.append(
                f"{_percent(m['success_rate'])} / {_percent(m['first_attempt_success_rate'])}"
            )
        table.add_row(escape(name), *cells)
    captures = [by_count[n]["oracle_gap_capture"] for n in counts]
    table.add_row("gap capture", *("n/a" if c is None else f"{c:.3f}" for c in captures))
    console.print(table)
