"""The routing benchmark's measurements beyond routing quality, each under a key of its own
in the JSON: `timing` (what a decision costs in process), `processes` (learning on 1/N of
the stream) and `fidelity` (the replay against the platform's payment orchestration)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rich.progress import Progress

from payhub.bench.routing import RouterFactory, StrategyRun, run_scenario
from payhub.bench.routing_fidelity import check_fidelity, print_fidelity
from payhub.bench.routing_processes import print_processes, run_processes
from payhub.bench.routing_timing import (
    Timings,
    machine_load,
    print_timing,
    timed_factory,
    timer_floor,
    timing_report,
)
from payhub.channels.sim.scenario import Scenario
from payhub.channels.sim.workload import generate_payments


@dataclass(frozen=True, slots=True)
class Measures:
    """Which measurements to add to a scenario's run."""

    timing: bool = True
    processes: tuple[int, ...] = ()  # split the traffic over each of these numbers of routers
    fidelity: int | None = None  # payments to check against the platform


def run_measured(
    scenario: Scenario,
    factories: Mapping[str, RouterFactory],
    measures: Measures,
    *,
    count: int | None = None,
    progress: Progress | None = None,
) -> tuple[dict[str, Any], dict[str, StrategyRun]]:
    """`run_scenario`, plus the measurements asked for under their own keys."""
    timings = {name: Timings() for name in factories}
    load, floor = machine_load(), timer_floor()
    played = (
        {name: timed_factory(f, timings[name]) for name, f in factories.items()}
        if measures.timing
        else factories
    )
    figures, runs = run_scenario(scenario, played, count=count, progress=progress)
    if measures.timing:
        figures["timing"] = timing_report(timings, load_before=load, floor=floor)
    if measures.processes:
        figures["processes"] = run_processes(
            scenario,
            factories,
            generate_payments(scenario, count),
            measures.processes,
            single=runs,
            progress=progress,
        )
    if measures.fidelity is not None:
        figures["fidelity"] = check_fidelity(
            scenario, factories, generate_payments(scenario, count), measures.fidelity
        )
    return figures, runs


def print_measured(figures: Mapping[str, Any]) -> None:
    if "timing" in figures:
        print_timing(figures["timing"])
    if "processes" in figures:
        print_processes(figures["processes"])
    if "fidelity" in figures:
        print_fidelity(figures["fidelity"])
