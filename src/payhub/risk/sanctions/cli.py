"""`payhub sanctions …`: load watch lists, screen names, rescreen everyone, decide hits."""

from __future__ import annotations

import time
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.clikit import console, in_transaction, refuse, run_db, when
from payhub.core.errors import PayHubError
from payhub.db.session import Database
from payhub.risk.sanctions import bench, hits, lists, registry, rescreen, screening

sanctions_app = typer.Typer(help="Sanctions and watch-list screening.", no_args_is_help=True)
SAMPLE_LIST = "sanctions_sample.csv"


def _format_of(path: Path, given: str | None) -> Literal["csv", "ftm"]:
    chosen = given or ("csv" if path.suffix.lower() == ".csv" else "ftm")
    if chosen not in ("csv", "ftm"):
        raise refuse(PayHubError("validation_error", param="format", detail="csv or ftm"))
    return "csv" if chosen == "csv" else "ftm"


def _rescreen_with_progress() -> rescreen.RescreenResult:
    async def go(db: Database) -> rescreen.RescreenResult:
        total = await rescreen.count_subjects(db)
        columns = (
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("Screening merchants and customers", total=total)
            return await rescreen.rescreen_all(db, progress=lambda n: progress.advance(task, n))

    result = run_db(go)
    console.print(
        f"Screened {result.subjects} merchants and customers: "
        f"{result.potential_matches} potential matches."
    )
    return result


@sanctions_app.command("load")
def load(
    file: Annotated[Path | None, typer.Argument(help="A CSV or FtM JSON lines file.")] = None,
    list_name: Annotated[
        str | None, typer.Option("--list", help="The list's name (CSV: else its list column).")
    ] = None,
    fmt: Annotated[
        str | None, typer.Option("--format", help="csv or ftm (default: by the file's suffix).")
    ] = None,
    sample: Annotated[bool, typer.Option(help="Load the fictional sample list shipped.")] = False,
    again: Annotated[
        bool, typer.Option("--rescreen/--no-rescreen", help="Screen everyone again after.")
    ] = True,
) -> None:
    """Load (replace) a watch list, then screen every merchant and customer against it."""
    if sample:
        text = resources.files("payhub.data").joinpath(SAMPLE_LIST).read_text("utf-8")
        chosen: Literal["csv", "ftm"] = "csv"
    elif file is not None:
        text, chosen = file.read_text("utf-8"), _format_of(file, fmt)
    else:
        raise refuse(PayHubError("validation_error", param="file", detail="a file or --sample"))
    try:
        name, entries = lists.parse(text, chosen, list_name)
    except PayHubError as error:
        raise refuse(error) from None
    view, created = in_transaction(lambda s: registry.load_list(s, name, chosen, entries))
    if not created:
        console.print(f"List {escape(name)} is already version {view.id}: nothing changed.")
        return
    console.print(
        f"List {escape(name)}: version {view.id}, {view.entries} entries, "
        f"checksum {view.checksum[:16]}…"
    )
    if again:
        _rescreen_with_progress()


@sanctions_app.command("lists")
def lists_(limit: Annotated[int, typer.Option(min=1, max=100)] = 20) -> None:
    """Versions of the watch lists, newest first."""
    views, _ = in_transaction(lambda s: registry.list_versions(s, limit=limit))
    table = Table(title="Watch lists")
    for column in ("version", "list", "entries", "loaded", "by", "rescreened", "current"):
        table.add_column(column)
    for v in views:
        table.add_row(
            v.id,
            escape(v.list_name),
            str(v.entries),
            when(v.loaded_at),
            escape(v.loaded_by),
            when(v.rescreened_at),
            "yes" if v.current else "",
        )
    console.print(table)


@sanctions_app.command("screen")
def screen(
    name: str,
    birth_date: Annotated[str | None, typer.Option(help="YYYY[-MM[-DD]].")] = None,
    country: Annotated[str | None, typer.Option(help="ISO 3166-1 alpha-2.")] = None,
    threshold: Annotated[float | None, typer.Option(min=50, max=100)] = None,
) -> None:
    """Screen a name against the lists in force (recorded), with the time it took."""

    async def go(db: Database) -> tuple[screening.ScreeningView, float, float, int]:
        async def index(session: AsyncSession) -> int:
            return len((await screening.watch_index(session))[1].entries)

        started = time.perf_counter()
        size = await db.run_in_transaction(index)
        built = time.perf_counter() - started

        async def work(session: AsyncSession) -> tuple[screening.ScreeningView, float]:
            _, found = await screening.watch_index(session)
            started = time.perf_counter()
            found.screen(name, threshold=screening.threshold_or_default(threshold))
            took = time.perf_counter() - started
            view = await screening.screen_ad_hoc(
                session, name, birth_date=birth_date, country=country, threshold=threshold
            )
            return view, took

        view, took = await db.run_in_transaction(work)
        return view, built, took, size

    view, built, took, size = run_db(go)
    table = Table(title=f"{escape(name)}: {view.outcome}")
    for column in ("score", "list", "entry", "listed name", "matched", "program"):
        table.add_column(column, overflow="fold")
    for h in view.hits:
        table.add_row(
            f"{h.score:.1f}",
            escape(h.list_name),
            escape(h.entry_id),
            escape(h.entry_name),
            escape(h.matched_name),
            escape(str(h.entry.get("program") or "")),
        )
    console.print(table)
    console.print(
        f"{size} entries; index loaded in {built * 1000:.1f} ms; "
        f"screened in {took * 1000:.2f} ms (threshold {view.threshold:g})."
    )


@sanctions_app.command("rescreen")
def rescreen_() -> None:
    """Screen every merchant and customer against the lists in force now."""
    _rescreen_with_progress()


@sanctions_app.command("hits")
def hits_(
    status: Annotated[str | None, typer.Option(help="open, cleared or confirmed.")] = "open",
    limit: Annotated[int, typer.Option(min=1, max=100)] = 50,
) -> None:
    """Potential matches, newest first."""
    views, _ = in_transaction(
        lambda s: hits.list_hits(s, status=status, subject_id=None, limit=limit)
    )
    table = Table(title="Sanctions hits")
    for column in ("hit", "subject", "name", "score", "list entry", "status", "raised"):
        table.add_column(column, overflow="fold")
    for v in views:
        table.add_row(
            v.id,
            f"{v.subject_type} {v.subject_id}",
            escape(v.subject_name),
            f"{v.score:.1f}",
            escape(f"{v.list_name}:{v.entry_id} {v.entry.get('name', '')}"),
            v.status,
            when(v.created_at),
        )
    console.print(table)


def _decide(hit_id: str, decision: hits.Decision, reason: str) -> None:
    view = in_transaction(
        lambda s: hits.decide(s, hits.check_hit_id(hit_id), decision, reason=reason)
    )
    console.print(f"Hit {view.id}: {view.status}.")


@sanctions_app.command("clear")
def clear(hit_id: str, reason: Annotated[str, typer.Option(help="Why it is not them.")]) -> None:
    """Clear a hit: not the listed party (recorded in the audit log)."""
    _decide(hit_id, "cleared", reason)


@sanctions_app.command("confirm")
def confirm(hit_id: str, reason: Annotated[str, typer.Option(help="Why it is them.")]) -> None:
    """Confirm a hit: the listed party (recorded in the audit log)."""
    _decide(hit_id, "confirmed", reason)


@sanctions_app.command("bench")
def bench_(
    entries: Annotated[
        list[int] | None, typer.Option(help="List sizes (repeat the option).")
    ] = None,
) -> None:
    """Screening time against synthetic lists of growing size (no database)."""
    table = Table(title="Sanctions screening: time per name")
    for column in ("entries", "spellings", "index built", "median", "p95", "max", "hits/name"):
        table.add_column(column, justify="right")
    for size in entries or [1_000, 10_000, 100_000]:
        r = bench.run(size)
        table.add_row(
            f"{r.entries:,}",
            f"{r.spellings:,}",
            f"{r.build_s:.1f} s",
            f"{r.median_ms:.2f} ms",
            f"{r.p95_ms:.2f} ms",
            f"{r.max_ms:.2f} ms",
            f"{r.hits_per_screen:.1f}",
        )
    console.print(table)
