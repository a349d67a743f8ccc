"""The bank-network simulator: scenario files, deterministic draws, the simulated network
(its own ledger of truth) and the in-process adapter. See docs/simulator.md."""

from payhub.channels.sim.adapter import SimulatedChannel, channel_infos, load_channels
from payhub.channels.sim.draws import Draws, Outcome, World
from payhub.channels.sim.network import SimulatedNetwork, Totals
from payhub.channels.sim.scenario import (
    Scenario,
    ScenarioError,
    builtin_scenario,
    load_scenario,
    parse_scenario,
)
from payhub.channels.sim.workload import SimPayment, generate_payments

__all__ = [
    "Draws",
    "Outcome",
    "Scenario",
    "ScenarioError",
    "SimPayment",
    "SimulatedChannel",
    "SimulatedNetwork",
    "Totals",
    "World",
    "builtin_scenario",
    "channel_infos",
    "generate_payments",
    "load_channels",
    "load_scenario",
    "parse_scenario",
]
