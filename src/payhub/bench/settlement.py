"""`payhub bench settlement`: the issue's figures in one JSON — split batches posted and
paid out with the instant payout p90 (`settlement_splits`), and a day's reconciliation
(`settlement_recon`) — each half measured as its own command measures it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from payhub.bench import settlement_recon, settlement_splits
from payhub.core.config import get_settings
from payhub.db.migrate import upgrade
from payhub.db.session import Database

console = Console()

# The targets, on PostgreSQL: (figure, limit, what it is).
TARGETS: tuple[tuple[str, float, str], ...] = (
    ("split_seconds_200", 5.0, "a 200-receiver batch posted and paid ≤ 5 s"),
    ("split_seconds", 60.0, "a 10 000-receiver batch posted and paid ≤ 60 s"),
    ("payout_p90_ms_instant", 1000.0, "instant payout p90 ≤ 1 s end to end"),
    ("recon_seconds", 60.0, "1 000 000 statement lines reconciled ≤ 60 s"),
)


async def _recon(url: str, lines: int, breaks: int, seed: int, bar: Progress) -> dict[str, Any]:
    db = Database(url, pool_size=2)
    try:
        await upgrade(db.engine)
        return await settlement_recon.measure(
            db, lines=lines, breaks=breaks, seed=seed, progress=bar
        )
    finally:
        await db.dispose()


# A target speaks of a size: a run of another size is not judged against it.
_SIZE_OF = {
    "split_seconds": ("split_receivers", 10_000),
    "recon_seconds": ("recon_lines", 1_000_000),
}


def _verdicts(result: dict[str, Any]) -> list[dict[str, Any]]:
    verdicts = []
    for key, limit, what in TARGETS:
        value = result.get(key)
        met: bool | None = None if value is None else value <= limit
        size = _SIZE_OF.get(key)
        if size is not None and result[size[0]] < size[1]:
            met = None
        if key == "recon_seconds" and met is not None:
            met = met and result["recon_breaks_found"] == result["recon_breaks_injected"]
            met = met and result["recon_false_breaks"] == 0
        verdicts.append({"figure": key, "value": value, "limit": limit, "target": what, "met": met})
    return verdicts


def settlement_command(
    receivers: Annotated[
        list[int] | None, typer.Option(min=1, help="Split batch sizes (repeat the option).")
    ] = None,
    lines: Annotated[int, typer.Option(min=100, help="Statement lines to reconcile.")] = 1_000_000,
    breaks: Annotated[int, typer.Option(min=5, help="Breaks to inject.")] = 1000,
    seed: Annotated[int, typer.Option(help="Seed of the books and the injection.")] = 7,
    database_url: Annotated[
        str | None, typer.Option(help="Database to run on (default: the configured one).")
    ] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the figures here.")
    ] = None,
) -> None:
    """Split payouts, instant payout latency and reconciliation, with the targets."""
    url = database_url or get_settings().database_url
    sizes = receivers or [200, 10_000]
    with settlement_splits.progress_bar() as bar:
        splits = asyncio.run(settlement_splits.run(url, sizes, progress=bar))
        recon = asyncio.run(_recon(url, lines, breaks, seed, bar))
    by_size = {b["receivers"]: b["seconds"] for b in splits["split_batches"]}
    result: dict[str, Any] = {
        "split_receivers": splits["split_receivers"],
        "split_seconds": splits["split_seconds"],
        "split_seconds_200": by_size.get(200),
        "payout_p90_ms_instant": splits["payout_p90_ms_instant"],
        "recon_lines": recon["recon_lines"],
        "recon_seconds": recon["recon_seconds"],
        "recon_breaks_found": recon["recon_breaks_found"],
        "recon_breaks_injected": recon["recon_breaks_injected"],
        "recon_false_breaks": recon["recon_false_breaks"],
        "splits": splits,
        "reconciliation": recon,
    }
    result["targets"] = _verdicts(result)
    table = Table(title=f"Settlement ({splits['database']})")
    for column in ("figure", "value", "target", "verdict"):
        table.add_column(column)
    for v in result["targets"]:
        verdict = {True: "[green]met[/]", False: "[red]missed[/]", None: "n/a (size)"}[v["met"]]
        table.add_row(v["figure"], str(v["value"]), v["target"], verdict)
    console.print(table)
    if json_path is not None:
        json_path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
