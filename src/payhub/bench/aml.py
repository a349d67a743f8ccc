"""`payhub bench aml`: how well and how fast the transaction monitor finds laundering.

The traffic: a seeded, labelled synthetic set (`aml_generator`: ordinary traffic with hard
negatives, typologies injected into the scored period after a warm-up), or, with
`--input`, a labelled file in the IBM AMLworld CSV layout (`aml_amlworld`).

Quality: every transaction goes through `Monitor.observe` in time order; a scored
transaction counts as flagged when an alert lists it (`aml_scoring`).

Speed, in the same run and one process: transactions per second through `observe`
(warm-up included, alerts collected), against a reference consumer that reads the same
stream and only updates a dict of per-account counters (count and amount, in and out) —
the least any consumer of the stream does.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from payhub.bench.aml_amlworld import AmlworldError, read_amlworld
from payhub.bench.aml_generator import GeneratedSet, Labelled, generate
from payhub.bench.aml_scoring import Score, score
from payhub.clikit import console
from payhub.risk.monitoring import Alert, Monitor

TARGET_F1 = 0.7
TARGET_PATTERN_RECALL = 0.95
TARGET_PATTERN_PRECISION = 0.8
TARGET_TX_PER_S = 3_000.0
MISSION_PATTERNS = ("high_frequency_small", "location_anomaly")
REFERENCE = "a dict of per-account counters (count and amount, in and out) updated per transaction"


@dataclass(frozen=True, slots=True)
class Run:
    alerts: list[Alert]  # the last revision of each
    monitor_seconds: float
    reference_seconds: float
    observed: int


def _reference(stream: Sequence[Labelled]) -> float:
    started = time.perf_counter()
    counters: dict[str, list[int]] = {}
    for item in stream:
        tx = item.tx
        out = counters.get(tx.source)
        if out is None:
            out = counters[tx.source] = [0, 0, 0, 0]
        out[0] += 1
        out[1] += tx.amount
        into = counters.get(tx.target)
        if into is None:
            into = counters[tx.target] = [0, 0, 0, 0]
        into[2] += 1
        into[3] += tx.amount
    return time.perf_counter() - started


def _monitor(stream: Sequence[Labelled]) -> tuple[list[Alert], float]:
    monitor = Monitor()
    latest: dict[str, Alert] = {}
    started = time.perf_counter()
    for item in stream:
        for alert in monitor.observe(item.tx):
            latest[alert.id] = alert
    return list(latest.values()), time.perf_counter() - started


def run(stream: Sequence[Labelled]) -> Run:
    reference = _reference(stream)  # also warms the objects' pages
    alerts, seconds = _monitor(stream)
    reference = min(reference, _reference(stream))
    return Run(alerts, seconds, reference, len(stream))


def _decision_p99(path: Path | None) -> float | None:
    if path is None:
        return None
    figures = json.loads(path.read_text(encoding="utf-8"))
    value = figures.get("decision_p99_ms")
    if not isinstance(value, int | float):
        raise typer.BadParameter(f"{path} has no decision_p99_ms", param_hint="--decision-json")
    return float(value)


def figures(
    result: Score, timing: Run, *, source: dict[str, Any], decision_p99_ms: float | None
) -> dict[str, Any]:
    tx_per_s = timing.observed / timing.monitor_seconds if timing.monitor_seconds else 0.0
    ref_per_s = timing.observed / timing.reference_seconds if timing.reference_seconds else 0.0
    patterns = {
        name: result.per_typology[name]
        for name in MISSION_PATTERNS
        if result.per_typology[name].labelled
    }
    targets: dict[str, bool | None] = {
        "f1": result.f1 >= TARGET_F1 if result.laundering else None,
        "mission_patterns": (
            all(
                (p.recall or 0) >= TARGET_PATTERN_RECALL
                and (p.precision or 0) >= TARGET_PATTERN_PRECISION
                for p in patterns.values()
            )
            if len(patterns) == len(MISSION_PATTERNS)
            else None
        ),
        "throughput": tx_per_s >= TARGET_TX_PER_S,
    }
    return {
        "transactions": result.transactions,
        "laundering_share": round(result.laundering_share, 5),
        "precision": round(result.precision, 4),
        "recall": round(result.recall, 4),
        "f1": round(result.f1, 4),
        "per_typology": result.typologies_json(),
        "monitor_tx_per_s": round(tx_per_s, 1),
        "decision_p99_ms": decision_p99_ms,
        "decision_p99_note": (
            None
            if decision_p99_ms is not None
            else "not measured here: pass --decision-json with the output of payhub bench risk"
        ),
        "source": source,
        "laundering_transactions": result.laundering,
        "flagged_transactions": result.flagged,
        "alerts": len(timing.alerts),
        "observed_transactions": timing.observed,
        "reference": REFERENCE,
        "reference_tx_per_s": round(ref_per_s, 1),
        "monitor_vs_reference": round(tx_per_s / ref_per_s, 4) if ref_per_s else None,
        "targets": {
            "f1": f"≥ {TARGET_F1} (generated set)",
            "mission_patterns": (
                f"recall ≥ {TARGET_PATTERN_RECALL} and precision ≥ "
                f"{TARGET_PATTERN_PRECISION} on {', '.join(MISSION_PATTERNS)}"
            ),
            "throughput": f"≥ {TARGET_TX_PER_S:,.0f} tx/s through observe",
        },
        "targets_met": targets,
    }


def _print(result: dict[str, Any]) -> None:
    table = Table(title="Monitoring, per typology")
    for column in ("typology", "labelled", "recall", "alerts", "listed", "precision"):
        table.add_column(column, justify="right")
    for name, row in result["per_typology"].items():
        table.add_row(
            name,
            f"{row['labelled']:,}",
            "" if row["recall"] is None else f"{row['recall']:.3f}",
            f"{row['alerts']:,}",
            f"{row['listed']:,}",
            "" if row["precision"] is None else f"{row['precision']:.3f}",
        )
    console.print(table)
    summary = Table(title="Monitoring, overall")
    for column in ("measure", "value"):
        summary.add_column(column, justify="right")
    summary.add_row("transactions scored", f"{result['transactions']:,}")
    summary.add_row("laundering share", f"{result['laundering_share']:.2%}")
    summary.add_row(
        "precision / recall / F1",
        f"{result['precision']:.3f} / {result['recall']:.3f} / {result['f1']:.3f}",
    )
    summary.add_row("monitor tx/s", f"{result['monitor_tx_per_s']:,.0f}")
    summary.add_row("reference tx/s (per-account counters)", f"{result['reference_tx_per_s']:,.0f}")
    summary.add_row("monitor vs reference", f"{result['monitor_vs_reference']}")
    p99 = result["decision_p99_ms"]
    summary.add_row(
        "decision p99 ms", "not measured (no --decision-json)" if p99 is None else f"{p99:.3f}"
    )
    console.print(summary)
    for name, met in result["targets_met"].items():
        if met is None:
            continue
        mark = "[green]met[/]" if met else "[red]missed[/]"
        console.print(f"{mark}  {name}: {result['targets'][name]}")


def aml_command(
    seed: Annotated[int, typer.Option(help="Seed of the generated traffic.")] = 42,
    size: Annotated[
        int, typer.Option(min=100, help="Transactions in the scored period (generated).")
    ] = 200_000,
    laundering_share: Annotated[
        float, typer.Option(min=0.001, max=0.2, help="Share of injected typologies.")
    ] = 0.015,
    input_path: Annotated[
        Path | None,
        typer.Option(
            "--input", exists=True, dir_okay=False, help="Score an IBM AMLworld CSV instead."
        ),
    ] = None,
    limit: Annotated[
        int | None, typer.Option(min=1, help="With --input: only the first N rows.")
    ] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the figures here.")
    ] = None,
    chart: Annotated[Path | None, typer.Option(help="Write a chart (PNG) here.")] = None,
    decision_json: Annotated[
        Path | None,
        typer.Option(
            "--decision-json",
            exists=True,
            dir_okay=False,
            help="The --json output of `payhub bench risk`, for decision_p99_ms.",
        ),
    ] = None,
) -> None:
    """Detection quality (precision, recall, F1 per typology) and monitoring throughput
    against a per-account counter in the same run."""
    p99 = _decision_p99(decision_json)
    source: dict[str, Any]
    if input_path is not None:
        try:
            stream = read_amlworld(input_path, limit)
        except AmlworldError as error:
            console.print(f"[red]{error}[/]")
            raise typer.Exit(2) from None
        scored: Sequence[Labelled] = stream
        source = {"kind": "amlworld", "file": input_path.name, "rows": len(stream)}
    else:
        with console.status("generating traffic"):
            generated: GeneratedSet = generate(seed, size, laundering_share=laundering_share)
        stream = generated.transactions
        scored = generated.scored
        source = {
            "kind": "generated",
            "seed": seed,
            "size": size,
            "warmup_transactions": len(stream) - len(scored),
            "scored_from": generated.scored_from.isoformat(),
            "instances": generated.instances,
        }
    with console.status(f"monitoring {len(stream):,} transactions"):
        timing = run(stream)
    result = figures(score(scored, timing.alerts), timing, source=source, decision_p99_ms=p99)
    _print(result)
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    if chart:
        from payhub.bench.aml_chart import draw

        draw(chart, result)
