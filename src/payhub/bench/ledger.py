"""`payhub bench ledger`: ledger throughput against pgbench's bank-transfer benchmark.

Measured in one run, at the same client count:
- reference: `pgbench -b tpcb-like` on the same PostgreSQL server (on SQLite, the same
  tpcb-like transaction written directly against the stdlib sqlite3 driver);
- single: one journal (two postings, a funds-checked source account) per transaction;
- batched: 100 such journals per transaction;
- hot: single journals that also credit the sharded `platform:fees` account.
Clients are spread over worker processes (one Python process cannot use two cores).
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import random
import statistics
import time
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer
import uvloop
from rich.progress import Progress
from rich.table import Table

from payhub.bench.reference import PGBENCH_NAME, SQLITE_NAME, pgbench_tps, sqlite_tpcb_tps
from payhub.clikit import console
from payhub.core.config import get_settings
from payhub.core.ids import new_id
from payhub.db.migrate import upgrade
from payhub.db.session import Database
from payhub.ledger import service as ledger
from payhub.ledger.domain import JournalSpec, PostingSpec, Side

CURRENCY = "CNY"
DEFAULT_ACCOUNTS = 100_000
FUNDING = 10**15


@dataclass
class Phase:
    name: str
    transactions: int = 0
    journals: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0

    @property
    def tps(self) -> float:
        return self.journals / self.seconds if self.seconds else 0.0

    @property
    def p99_ms(self) -> float:
        if len(self.latencies_ms) < 2:
            return self.latencies_ms[0] if self.latencies_ms else 0.0
        return statistics.quantiles(self.latencies_ms, n=100)[98]


async def _setup(url: str, run: str, accounts: int) -> None:
    db = Database(url, pool_size=2)
    await upgrade(db.engine)

    async def open_accounts(session: Any) -> None:
        await ledger.create_account(
            session, code=f"bench:{run}:source", currency=CURRENCY, normal_side=Side.DEBIT
        )
        await ledger.ensure_account(
            session,
            ledger.AccountSpec(
                code="platform:fees", currency=CURRENCY, normal_side=Side.CREDIT, shards=16
            ),
        )
        await ledger.create_accounts(
            session,
            [
                ledger.AccountSpec(
                    code=f"bench:{run}:{i}",
                    currency=CURRENCY,
                    normal_side=Side.CREDIT,
                    debits_must_not_exceed_credits=True,
                )
                for i in range(accounts)
            ],
        )

    await db.run_in_transaction(open_accounts)

    async def fund(session: Any, first: int) -> None:
        await ledger.post_journals(
            session,
            [
                JournalSpec(
                    postings=(
                        PostingSpec(f"bench:{run}:source", Side.DEBIT, FUNDING, CURRENCY),
                        PostingSpec(f"bench:{run}:{i}", Side.CREDIT, FUNDING, CURRENCY),
                    )
                )
                for i in range(first, min(first + 1000, accounts))
            ],
        )

    for first in range(0, accounts, 1000):
        await db.run_in_transaction(partial(fund, first=first))
    if not db.is_sqlite:
        # As `pgbench -i` does after loading: planner statistics for the fresh tables.
        async with db.engine.connect() as conn:
            await conn.exec_driver_sql("ANALYZE ledger_accounts, ledger_balances")
            await conn.commit()
    await db.dispose()


def _transfer(run: str, accounts: int, rng: random.Random, hot: bool) -> JournalSpec:
    a, b = rng.sample(range(accounts), 2)
    amount = rng.randint(100, 100_000)
    fee = amount * 6 // 1000 if hot else 0
    postings = [
        PostingSpec(f"bench:{run}:{a}", Side.DEBIT, amount + fee, CURRENCY),
        PostingSpec(f"bench:{run}:{b}", Side.CREDIT, amount, CURRENCY),
    ]
    if hot:
        postings.append(PostingSpec("platform:fees", Side.CREDIT, fee, CURRENCY))
    # Callers name their journals (e.g. after the capture they book), so ids are client-given.
    return JournalSpec(postings=tuple(postings), id=new_id("bjr"))


async def _client(
    db: Database,
    run: str,
    accounts: int,
    mode: str,
    batch: int,
    deadline: float,
    seed: int,
    phase: Phase,
) -> None:
    rng = random.Random(seed)
    hot = mode == "hot"
    while time.perf_counter() < deadline:
        specs = [_transfer(run, accounts, rng, hot) for _ in range(batch)]
        started = time.perf_counter()
        try:
            await ledger.post_journals_standalone(db, specs)
        except Exception:
            phase.errors += 1
            continue
        phase.latencies_ms.append((time.perf_counter() - started) * 1000)
        phase.transactions += 1
        phase.journals += batch


def _worker(
    url: str,
    run: str,
    accounts: int,
    mode: str,
    batch: int,
    clients: int,
    seconds: float,
    start_at: float,
    seed: int,
    out: Any,
) -> None:
    async def main() -> Phase:
        db = Database(url, pool_size=clients)
        # Open the connections before the clock starts.
        conns = [await db.engine.connect() for _ in range(clients)]
        for conn in conns:
            await conn.close()
        phase = Phase(mode)
        await asyncio.sleep(max(0.0, start_at - time.time()))
        began = time.perf_counter()
        deadline = began + seconds
        await asyncio.gather(
            *(
                _client(db, run, accounts, mode, batch, deadline, seed * 1000 + i, phase)
                for i in range(clients)
            )
        )
        phase.seconds = time.perf_counter() - began
        await db.dispose()
        return phase

    # The API runs on uvloop (uvicorn picks it); measure the same event loop here.
    out.put(asdict(uvloop.run(main())))


def _run_phase(
    url: str,
    run: str,
    accounts: int,
    mode: str,
    batch: int,
    clients: int,
    processes: int,
    seconds: float,
) -> Phase:
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    start_at = time.time() + 3.0
    per_process = [
        clients // processes + (1 if i < clients % processes else 0) for i in range(processes)
    ]
    workers = [
        ctx.Process(
            target=_worker,
            args=(url, run, accounts, mode, batch, n, seconds, start_at, i + 1, out),
        )
        for i, n in enumerate(per_process)
        if n > 0
    ]
    for w in workers:
        w.start()
    results = [out.get() for _ in workers]
    for w in workers:
        w.join()
    total = Phase(mode)
    for r in results:
        total.transactions += r["transactions"]
        total.journals += r["journals"]
        total.errors += r["errors"]
        total.latencies_ms.extend(r["latencies_ms"])
        total.seconds = max(total.seconds, r["seconds"])
    return total


def ledger_command(
    clients: Annotated[int, typer.Option(min=1, help="Concurrent clients.")] = 8,
    seconds: Annotated[float, typer.Option(min=1, help="Duration of each phase.")] = 15,
    processes: Annotated[int, typer.Option(min=1, help="Worker processes for the clients.")] = 2,
    accounts: Annotated[
        int, typer.Option(min=2, help="Funds accounts the transfers move between.")
    ] = DEFAULT_ACCOUNTS,
    database_url: Annotated[
        str | None, typer.Option(help="Database to run on (default: the configured one).")
    ] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the figures here.")
    ] = None,
    chart: Annotated[Path | None, typer.Option(help="Write a bar chart (PNG) here.")] = None,
) -> None:
    """Ledger throughput and latency against pgbench tpcb-like, same clients, same run."""
    url = database_url or get_settings().database_url
    postgres = not url.startswith("sqlite")
    run = new_id("run").lower()[-10:]
    if not postgres:
        # SQLite has one writer; several processes only queue on its file lock.
        processes = 1
    phases: dict[str, Phase] = {}
    with Progress(console=console) as progress:
        task = progress.add_task("preparing accounts", total=5)
        asyncio.run(_setup(url, run, accounts))
        progress.update(task, advance=1, description="reference (pgbench tpcb-like)")
        if postgres:
            reference = pgbench_tps(url, clients, seconds)
            reference_name = PGBENCH_NAME
        else:
            reference = sqlite_tpcb_tps(clients, seconds)
            reference_name = SQLITE_NAME
        for mode, batch in (("single", 1), ("batched", 100), ("hot", 1)):
            progress.update(task, advance=1, description=f"ledger: {mode}")
            phases[mode] = _run_phase(url, run, accounts, mode, batch, clients, processes, seconds)
        progress.update(task, advance=1, description="done")

    single, batched, hot = phases["single"], phases["batched"], phases["hot"]
    result: dict[str, Any] = {
        "database": "postgresql" if postgres else "sqlite",
        "clients": clients,
        "processes": processes,
        "seconds_per_phase": seconds,
        "accounts": accounts,
        "reference": reference_name,
        "pgbench_tps": round(reference, 1) if postgres else None,
        "reference_tps": round(reference, 1),
        "single_tps": round(single.tps, 1),
        "batched_tps": round(batched.tps, 1),
        "hot_tps": round(hot.tps, 1),
        "p99_ms_single": round(single.p99_ms, 2),
        "p50_ms_single": round(statistics.median(single.latencies_ms), 2)
        if single.latencies_ms
        else None,
        "p99_ms_batched": round(batched.p99_ms, 2),
        "p99_ms_hot": round(hot.p99_ms, 2),
        "errors": {name: p.errors for name, p in phases.items()},
        "ratios": {
            "single_vs_reference": round(single.tps / reference, 3),
            "batched_vs_reference": round(batched.tps / reference, 3),
            "hot_vs_single": round(hot.tps / single.tps, 3) if single.tps else None,
        },
    }
    # The targets are stated for PostgreSQL; on SQLite they are shown, not judged.
    targets = {
        "single_tps ≥ 0.5 × reference": single.tps >= 0.5 * reference,
        "batched_tps ≥ 2.5 × reference": batched.tps >= 2.5 * reference,
        "hot_tps ≥ 0.8 × single_tps": hot.tps >= 0.8 * single.tps,
        "p99_ms_single ≤ 15": single.p99_ms <= 15,
    }
    result["targets_met"] = targets if postgres else None

    table = Table(title=f"Ledger benchmark on {result['database']}, {clients} clients")
    for column in ("measure", "journals/s", "vs reference", "p99 ms"):
        table.add_column(column, justify="right")
    table.add_row(reference_name, f"{reference:,.0f}", "1.00", "")
    for name, phase in phases.items():
        table.add_row(
            name, f"{phase.tps:,.0f}", f"{phase.tps / reference:.2f}", f"{phase.p99_ms:.1f}"
        )
    console.print(table)
    for name, met in targets.items() if postgres else ():
        console.print(f"{'[green]met[/]' if met else '[red]missed[/]'}  {name}")
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    if chart:
        _chart(chart, reference_name, reference, phases)


def _chart(path: Path, reference_name: str, reference: float, phases: dict[str, Phase]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [reference_name.split(" (")[0], *phases]
    values = [reference, *(p.tps for p in phases.values())]
    fig, ax = plt.subplots(figsize=(7, 4))
    bars = ax.bar(names, values, color=["#888888", "#1f77b4", "#2ca02c", "#d62728"])
    ax.bar_label(bars, labels=[f"{v:,.0f}" for v in values])
    ax.set_ylabel("transfers (journals) per second")
    ax.set_title("PayHub ledger vs reference, same clients, same run")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
