"""`payhub bench routing --seeds`: each scenario replayed under several world seeds.

The scenario's `seed` is replaced by seed + k for each offset k asked for; within a seed every
strategy meets the same draws, as in a single run. The first seed's replay is the ordinary
one (its figures, the measurements asked for and the chart, unchanged); the other seeds'
replays run in worker processes, one (scenario, seed, strategy) per job, and contribute
their figures to the JSON's `seeds` block: per strategy the mean of each figure with its 95 %
interval, per baseline the paired difference `payhub` − baseline in success rate (mean,
interval, seeds won / tied / lost, verdict), and the oracle gap capture's mean and interval.
The strategies' own random draws (exploration) keep their fixed seeds: what varies is the
world — payments, issuers, channel answers, latencies.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from payhub.bench.routing import (
    RouterFactory,
    print_figures,
    replay,
    strategy_router,
    write_chart,
    write_json,
)
from payhub.bench.routing_measures import Measures, print_measured, run_measured
from payhub.bench.routing_stats import CONFIDENCE, Interval, Paired, mean_ci, paired
from payhub.channels.sim.scenario import Scenario
from payhub.channels.sim.workload import generate_payments
from payhub.clikit import console

MINE = "payhub"
BASELINES = ("sw_ucb", "thompson", "sr_v3")
# Figures averaged over the seeds (success rate is also paired); the rest of the single-run
# figures (p90, attempts, double charges) are per seed in the first seed's block only, but
# double charges are summed over every seed: one is a bug whichever seed shows it.
AVERAGED = ("success_rate", "first_attempt_success_rate", "within_1s_share", "fee_bps")


def parse_seeds(text: str) -> list[int]:
    """`N` → offsets 0 … N − 1 (the scenario's own seed first); `a,b,c` → those offsets.
    ValueError on anything else."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise ValueError("no seeds")
    values = [int(p) for p in parts]
    if any(v < 0 for v in values):
        raise ValueError("seeds are non-negative")
    if len(values) == 1 and "," not in text:
        if values[0] < 1:
            raise ValueError("at least one seed")
        return list(range(values[0]))
    if len(set(values)) != len(values):
        raise ValueError("a seed is given twice")
    return values


def with_seed(scenario: Scenario, seed: int) -> Scenario:
    """The same scenario on another draw of its world."""
    return scenario.model_copy(update={"seed": seed})


@dataclass(frozen=True, slots=True)
class Job:
    """One strategy's replay of one scenario under one world seed."""

    key: str  # which scenario of the run (its output name)
    scenario: Scenario  # already re-seeded
    strategy: str
    count: int | None


@dataclass(frozen=True, slots=True)
class JobResult:
    key: str
    seed: int
    strategy: str
    payments: int
    approved: int
    metrics: dict[str, float | int | None]
    seconds: float


def run_job(job: Job) -> JobResult:
    """A worker's job (top-level, so a spawned process can import it)."""
    began = time.perf_counter()
    payments = generate_payments(job.scenario, job.count)
    run = replay(job.scenario, strategy_router(job.strategy), name=job.strategy, payments=payments)
    return JobResult(
        job.key,
        job.scenario.seed,
        job.strategy,
        len(run.outcomes),
        sum(1 for o in run.outcomes if o.approved),
        run.metrics(),
        time.perf_counter() - began,
    )


def run_jobs(
    jobs: Sequence[Job], workers: int, done: Callable[[JobResult], None] | None = None
) -> list[JobResult]:
    """Every job, in `workers` spawned processes (in this one when workers ≤ 1)."""
    results: list[JobResult] = []
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            results.append(run_job(job))
            if done is not None:
                done(results[-1])
        return results
    # Spawned, not forked: the parent holds the progress bar's thread.
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
        pending: set[Future[JobResult]] = {pool.submit(run_job, job) for job in jobs}
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                results.append(future.result())
                if done is not None:
                    done(results[-1])
    return results


# ---------------------------------------------------------------------------------------
# Aggregation
# ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class SeedRun:
    """Every strategy's figures under one world seed."""

    seed: int
    payments: int = 0
    approved: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, dict[str, float | int | None]] = field(default_factory=dict)

    def rate(self, strategy: str) -> float:
        # From the counts: the reported rates are rounded to 2 payments in 20 000.
        return self.approved[strategy] / self.payments if self.payments else 0.0

    def gap_capture(self) -> float | None:
        if not all(s in self.approved for s in (MINE, "static", "oracle")):
            return None
        base, best = self.approved["static"], self.approved["oracle"]
        if best == base:
            return None
        return (self.approved[MINE] - base) / (best - base)


def paired_against(runs: Sequence[SeedRun], baseline: str) -> Paired | None:
    if not runs or MINE not in runs[0].approved or baseline not in runs[0].approved:
        return None
    return paired([r.rate(MINE) for r in runs], [r.rate(baseline) for r in runs])


def seeds_block(runs: Sequence[SeedRun]) -> dict[str, Any]:
    """The JSON `seeds` block of one scenario from its per-seed runs (first seed first)."""
    if not runs:
        raise ValueError("no seeds")
    names = list(runs[0].approved)
    strategies: dict[str, Any] = {}
    for name in names:
        entry: dict[str, Any] = {"approved": [r.approved[name] for r in runs]}
        for figure in AVERAGED:
            values: list[float] = []
            for r in runs:
                value = r.rate(name) if figure == "success_rate" else r.metrics[name].get(figure)
                if value is not None:
                    values.append(float(value))
            entry[figure] = mean_ci(values).to_json() if values else None
        entry["double_charges"] = sum(int(r.metrics[name].get("double_charges") or 0) for r in runs)
        strategies[name] = entry
    pairs = {
        f"{MINE}-{other}": p.to_json()
        for other in BASELINES
        if (p := paired_against(runs, other)) is not None
    }
    captures = [c for r in runs if (c := r.gap_capture()) is not None]
    return {
        "seeds": [r.seed for r in runs],
        "payments": [r.payments for r in runs],
        "confidence": CONFIDENCE,
        "interval": "Student's t over the seeds",
        "strategies": strategies,
        "paired_success_rate": pairs,
        "oracle_gap_capture": {
            **mean_ci(captures).to_json(),
            "values": [round(c, 6) for c in captures],
        }
        if captures
        else None,
    }


# ---------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------


def _pp(value: float | None) -> str:
    return "" if value is None else f"{value * 100:+.3f}"


def _ci_pp(entry: Mapping[str, Any]) -> str:
    if entry["ci_low"] is None:
        return "n/a"
    return f"[{entry['ci_low'] * 100:+.3f}, {entry['ci_high'] * 100:+.3f}]"


def print_seeds(name: str, block: Mapping[str, Any]) -> None:
    n = len(block["seeds"])
    table = Table(title=f"{escape(name)}: success over {n} world seeds (mean, 95 % CI)")
    for column in ("strategy", "mean", "95 % CI", "≤1 s", "fee bps", "double"):
        table.add_column(column, justify="left" if column == "strategy" else "right")
    for strategy, entry in block["strategies"].items():
        sr = entry["success_rate"]
        ci = "n/a" if sr["ci_low"] is None else f"{sr['ci_low']:.2%} – {sr['ci_high']:.2%}"
        fast, fee = entry["within_1s_share"], entry["fee_bps"]
        table.add_row(
            strategy,
            f"{sr['mean']:.2%}",
            ci,
            "" if fast is None else f"{fast['mean']:.2%}",
            "" if fee is None else f"{fee['mean']:.2f}",
            str(entry["double_charges"]),
        )
    console.print(table)
    pairs = Table(title=f"{escape(name)}: paired success difference payhub − baseline (points)")
    for column in ("baseline", "mean", "95 % CI", "won", "tied", "lost", "verdict"):
        pairs.add_column(column, justify="left" if column in ("baseline", "verdict") else "right")
    colour = {"ahead": "green", "level": "yellow", "behind": "red", "n/a": "white"}
    for key, entry in block["paired_success_rate"].items():
        pairs.add_row(
            key.split("-", 1)[1],
            _pp(entry["mean"]),
            _ci_pp(entry),
            str(entry["won"]),
            str(entry["tied"]),
            str(entry["lost"]),
            f"[{colour[entry['verdict']]}]{entry['verdict']}[/]",
        )
    console.print(pairs)
    capture = block["oracle_gap_capture"]
    if capture is not None:
        ci = (
            ""
            if capture["ci_low"] is None
            else f" (95 % CI {capture['ci_low']:.3f} – {capture['ci_high']:.3f})"
        )
        console.print(f"oracle gap capture: mean {capture['mean']:.3f}{ci}")


def write_paired_chart(path: Path, blocks: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
    """Per scenario and baseline, the mean paired difference payhub − baseline in success
    rate with its 95 % interval; a bar crossing zero is a level result."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {"sw_ucb": "#ff7f0e", "thompson": "#2ca02c", "sr_v3": "#9467bd"}
    fig, ax = plt.subplots(figsize=(max(7.0, 1.3 * len(blocks) + 2), 5))
    width = 0.8 / len(BASELINES)
    seeds = set()
    for i, baseline in enumerate(BASELINES):
        xs: list[float] = []
        ys: list[float] = []
        low: list[float] = []
        high: list[float] = []
        for n, (_, block) in enumerate(blocks):
            entry = block["paired_success_rate"].get(f"{MINE}-{baseline}")
            if entry is None:
                continue
            seeds.add(len(block["seeds"]))
            mean = entry["mean"] * 100
            xs.append(n - 0.4 + width * (i + 0.5))
            ys.append(mean)
            low.append(mean - (entry["ci_low"] * 100 if entry["ci_low"] is not None else mean))
            high.append((entry["ci_high"] * 100 if entry["ci_high"] is not None else mean) - mean)
        if xs:
            ax.errorbar(
                xs,
                ys,
                yerr=[low, high],
                fmt="o",
                capsize=4,
                color=colours[baseline],
                label=f"payhub − {baseline}",
            )
    ax.axhline(0.0, color="#444444", linewidth=0.8)
    ax.set_xlim(-0.6, len(blocks) - 0.4)
    ax.set_xticks(range(len(blocks)))
    ax.set_xticklabels([label for label, _ in blocks], rotation=25, ha="right", fontsize=8)
    ax.set_ylabel("success rate difference (percentage points)")
    count = "/".join(str(s) for s in sorted(seeds)) or "?"
    ax.set_title(f"payhub against each baseline, paired over {count} world seeds (mean, 95 % CI)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    """One scenario of a multi-seed run and where its output goes."""

    key: str  # output name, e.g. `outage` or `holdout-flapping`
    label: str  # for the paired chart
    scenario: Scenario
    json_path: Path | None
    chart: Path | None


def bench_seeds(
    targets_: Sequence[Target],
    factories: Mapping[str, RouterFactory],
    missing: Mapping[str, str],
    count: int | None,
    measures: Measures,
    offsets: Sequence[int],
    workers: int,
    paired_chart: Path | None,
) -> dict[str, dict[str, Any]]:
    """Every target under every seed; the figures of each target, `seeds` block included."""
    names = list(factories)
    per_target: dict[str, list[SeedRun]] = {t.key: [] for t in targets_}
    figures_of: dict[str, dict[str, Any]] = {}
    total = len(targets_) * len(offsets) * len(names)
    with Progress(console=console, transient=True) as progress:
        overall = progress.add_task("scenario × seed × strategy", total=total)
        # The first seed: the ordinary run, measurements and chart included, in this process
        # and before the workers start (so timing is not measured beside them).
        for target in targets_:
            first = with_seed(target.scenario, target.scenario.seed + offsets[0])
            figures, runs = run_measured(first, factories, measures, count=count, progress=progress)
            progress.advance(overall, len(names))
            print_figures(figures, runs, missing)
            print_measured(figures)
            if target.chart is not None:
                write_chart(target.chart, first, runs)
            figures_of[target.key] = figures
            per_target[target.key].append(
                SeedRun(
                    first.seed,
                    figures["payments"],
                    {n: sum(1 for o in r.outcomes if o.approved) for n, r in runs.items()},
                    {n: dict(m) for n, m in figures["strategies"].items()},
                )
            )
        jobs = [
            Job(t.key, with_seed(t.scenario, t.scenario.seed + k), name, count)
            for t in targets_
            for k in offsets[1:]
            for name in names
        ]

        def done(result: JobResult) -> None:
            progress.update(
                overall,
                advance=1,
                description=f"scenario × seed × strategy (last: {result.key} "
                f"seed {result.seed} {result.strategy}, {result.seconds:.0f} s)",
            )

        results = run_jobs(jobs, workers, done)
    by_seed: dict[tuple[str, int], SeedRun] = {}
    for result in results:
        run = by_seed.setdefault((result.key, result.seed), SeedRun(result.seed, result.payments))
        run.approved[result.strategy] = result.approved
        run.metrics[result.strategy] = result.metrics
    for target in targets_:
        for k in offsets[1:]:
            seed = target.scenario.seed + k
            run = by_seed[(target.key, seed)]
            # Strategies in the order asked for, as in the first seed.
            run.approved = {n: run.approved[n] for n in names}
            run.metrics = {n: run.metrics[n] for n in names}
            per_target[target.key].append(run)
        block = seeds_block(per_target[target.key])
        figures_of[target.key]["seeds"] = block
        print_seeds(target.scenario.name, block)
        if target.json_path is not None:
            write_json(target.json_path, figures_of[target.key])
    if len(targets_) > 1:
        print_summary([(t.label, figures_of[t.key]["seeds"]) for t in targets_])
    if paired_chart is not None:
        write_paired_chart(paired_chart, [(t.label, figures_of[t.key]["seeds"]) for t in targets_])
    return figures_of


def print_summary(blocks: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
    """One line per scenario: payhub − each baseline, and the gap capture."""
    table = Table(title="payhub − baseline, success rate in points: mean [95 % CI] W/T/L")
    table.add_column("scenario")
    for baseline in BASELINES:
        table.add_column(baseline, justify="right")
    table.add_column("gap capture", justify="right")
    colour = {"ahead": "green", "level": "yellow", "behind": "red", "n/a": "white"}
    for label, block in blocks:
        cells: list[str] = []
        for baseline in BASELINES:
            entry = block["paired_success_rate"].get(f"{MINE}-{baseline}")
            if entry is None:
                cells.append("")
                continue
            cells.append(
                f"[{colour[entry['verdict']]}]{_pp(entry['mean'])} {_ci_pp(entry)} "
                f"{entry['won']}/{entry['tied']}/{entry['lost']}[/]"
            )
        capture: Interval | None = None
        gap = block["oracle_gap_capture"]
        if gap is not None:
            capture = Interval(gap["mean"], gap["ci_low"], gap["ci_high"], gap["n"])
        cells.append(
            ""
            if capture is None
            else f"{capture.mean:.3f}"
            + ("" if capture.low is None else f" [{capture.low:.3f}, {capture.high:.3f}]")
        )
        table.add_row(escape(label), *cells)
    console.print(table)
