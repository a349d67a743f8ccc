"""`payhub recon …`: run a statement, read the report and the breaks, resolve a break —
the same services as the API; resolutions are audited as done by this machine's user."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from payhub.clikit import console, in_transaction, refuse, when
from payhub.core.errors import PayHubError
from payhub.settlement.reconciliation import camt053_source, service
from payhub.settlement.reconciliation.service import BreakFilter, RunView

recon_app = typer.Typer(help="Reconciliation: statements, breaks, reports.", no_args_is_help=True)


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise refuse(PayHubError("validation_error", param="date", detail="YYYY-MM-DD")) from None


def _money(amounts: dict[str, int] | None) -> str:
    return ", ".join(f"{amount:,} {cur}" for cur, amount in sorted((amounts or {}).items()))


def _print_run(view: RunView, ran: bool) -> None:
    table = Table(title=f"Run {view.id}{'' if ran else ' (already reconciled)'}", show_header=False)
    table.add_column("field")
    table.add_column("value")
    for field, value in (
        ("channel", view.channel_id),
        ("date", view.statement_date.isoformat()),
        ("source", view.source),
        ("lines", f"{view.lines:,}"),
        ("matched", f"{view.matched_count:,} ({_money(view.matched_amounts)})"),
        ("statement net", _money(view.statement_net)),
        ("breaks", ", ".join(f"{t} {n}" for t, n in sorted(view.break_counts.items())) or "none"),
        ("timing closed", str(view.timing_closed)),
        ("custody difference", _money(view.custody_difference)),
        ("took", f"{view.duration_ms:,} ms"),
    ):
        table.add_row(field, escape(value))
    console.print(table)


def _custody(values: list[str]) -> dict[str, int] | None:
    if not values:
        return None
    out: dict[str, int] = {}
    for value in values:
        cur, _, amount = value.partition("=")
        try:
            out[cur.strip()] = int(amount)
        except ValueError:
            raise refuse(
                PayHubError("validation_error", param="custody", detail="CUR=minor units")
            ) from None
    return out


@recon_app.command("run")
def run(
    channel: Annotated[
        str | None,
        typer.Option(help="The channel whose statement it is (camt.053: default its account)."),
    ] = None,
    day: Annotated[
        str | None,
        typer.Option(
            "--date",
            help="The statement's day, YYYY-MM-DD (UTC; camt.053: default its period's day).",
        ),
    ] = None,
    statement: Annotated[
        Path | None,
        typer.Option("--file", help="A CSV statement; default: fetch it from the channel."),
    ] = None,
    camt053: Annotated[
        Path | None,
        typer.Option("--camt053", help="An ISO 20022 camt.053.001.08 statement instead."),
    ] = None,
    custody: Annotated[
        list[str], typer.Option(help="Three-way: custody net per currency, e.g. CNY=123456.")
    ] = [],  # noqa: B006 - typer reads the default
) -> None:
    """Reconcile one channel's day: a CSV or camt.053 statement, or the channel's own."""
    if statement is not None and camt053 is not None:
        raise refuse(PayHubError("validation_error", param="file", detail="--file or --camt053"))
    if camt053 is None and (channel is None or day is None):
        raise refuse(
            PayHubError("validation_error", param="channel", detail="--channel and --date")
        )
    when_ = _day(day) if day is not None else None
    net = _custody(custody)
    data = None
    source = statement or camt053
    if source is not None:
        try:
            data = source.read_bytes()
        except OSError as error:
            raise refuse(
                PayHubError("validation_error", param="file", detail=str(error.strerror))
            ) from None
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        size = f" ({len(data):,} bytes)" if data is not None else ""
        what = f"{channel or 'the statement'} {when_ or ''}".strip()
        progress.add_task(f"reconciling {escape(what)}{size}", total=None)

        async def work(session: Any) -> tuple[RunView, bool]:
            if camt053 is not None:
                assert data is not None
                return await camt053_source.run_camt053(
                    session, data=data, channel_id=channel, day=when_, custody=net
                )
            assert channel is not None and when_ is not None
            if data is not None:
                return await service.run_csv(
                    session, channel_id=channel, day=when_, data=data, custody=net
                )
            return await service.run_fetched(session, channel_id=channel, day=when_, custody=net)

        view, ran = in_transaction(work)
    _print_run(view, ran)


@recon_app.command("statement")
def statement(
    channel: Annotated[str, typer.Option(help="The channel whose statement to fetch.")],
    day: Annotated[str, typer.Option("--date", help="The statement's day, YYYY-MM-DD (UTC).")],
    out: Annotated[Path, typer.Option(help="Write the statement here.")],
    breaks: Annotated[
        int, typer.Option(min=0, help="Breaks to inject, spread over the types (tests, drills).")
    ] = 0,
    seed: Annotated[int, typer.Option(help="Seed of the injection.")] = 7,
    truth: Annotated[
        Path | None, typer.Option(help="Write what was injected here (JSON), to score a run.")
    ] = None,
    format_: Annotated[
        str, typer.Option("--format", help="csv, or camt053 (ISO 20022 camt.053.001.08).")
    ] = "csv",
) -> None:
    """The channel's statement for a day as CSV or camt.053 (optionally with seeded breaks
    injected, the late lines written next to it as `<out>.next-day.csv` or `.xml`, a
    statement of the next day)."""
    if format_ not in ("csv", "camt053"):
        raise refuse(PayHubError("validation_error", param="format", detail="csv or camt053"))
    import asyncio
    import json

    from payhub.settlement.reconciliation.engine import DEFAULT_LATE_WINDOW, day_bounds
    from payhub.settlement.reconciliation.injection import Injection, inject
    from payhub.settlement.reconciliation.statements import to_csv

    when_ = _day(day)
    try:
        lines = asyncio.run(service.fetch_statement(channel, when_))
    except PayHubError as error:
        raise refuse(error) from None
    next_day: list[Any] = []
    if breaks:
        _, end = day_bounds(when_)
        try:
            injected = inject(
                lines, Injection.spread(breaks), seed=seed, day_end=end,
                late_window=DEFAULT_LATE_WINDOW,
            )  # fmt: skip
        except ValueError as error:
            raise refuse(
                PayHubError("validation_error", param="breaks", detail=str(error))
            ) from None
        lines, next_day = injected.statement, injected.next_day
        if truth is not None:
            truth.write_text(json.dumps([[b.type, b.request_id] for b in injected.truth]) + "\n")
    try:
        if format_ == "camt053":
            out.write_bytes(camt053_source.write(channel, when_, list(lines)))
            if breaks:
                later = when_ + timedelta(days=1)
                late = camt053_source.write(channel, later, list(next_day))
                out.with_suffix(".next-day.xml").write_bytes(late)
        else:
            out.write_bytes(to_csv(lines))
            if breaks:
                out.with_suffix(".next-day.csv").write_bytes(to_csv(next_day))
    except PayHubError as error:
        raise refuse(error) from None
    console.print(
        f"{len(lines):,} lines written to {escape(str(out))}"
        + (f", {len(next_day):,} late lines for the next day" if breaks else "")
    )


@recon_app.command("report")
def report(
    channel: Annotated[str, typer.Option()],
    day: Annotated[str, typer.Option("--date", help="YYYY-MM-DD (UTC).")],
) -> None:
    """A channel's daily reconciliation report."""
    when_ = _day(day)
    r = in_transaction(lambda s: service.daily_report(s, channel_id=channel, day=when_))
    table = Table(title=f"Reconciliation of {channel} on {when_}", show_header=False)
    table.add_column("field")
    table.add_column("value")
    table.add_row("run", r.run_id or "not reconciled")
    table.add_row("lines", f"{r.lines:,}")
    table.add_row("matched", f"{r.matched_count:,} ({_money(r.matched_amounts)})")
    for t, n in r.breaks_by_type.items():
        table.add_row(f"breaks: {t}", str(n))
    table.add_row("timing closed", str(r.timing_closed))
    table.add_row("open breaks", str(r.open_breaks))
    for bucket, n in r.open_by_age.items():
        table.add_row(f"open, aged {bucket}", str(n))
    table.add_row("open difference", _money(r.open_difference))
    console.print(table)


@recon_app.command("breaks")
def breaks(
    status: Annotated[str | None, typer.Option(help="open or resolved.")] = None,
    type_: Annotated[str | None, typer.Option("--type", help="A break type.")] = None,
    channel: Annotated[str | None, typer.Option()] = None,
    run_id: Annotated[str | None, typer.Option("--run")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100)] = 20,
) -> None:
    """The latest breaks."""
    filters = BreakFilter(status=status, type=type_, channel_id=channel, run_id=run_id)
    found, _ = in_transaction(lambda s: service.list_breaks(s, filters, limit=limit))
    table = Table(title="Breaks")
    for column in ("id", "date", "channel", "type", "status", "request", "difference", "journal"):
        table.add_column(column)
    for b in found:
        journal = b.proposed_journal
        proposal = (
            " / ".join(f"{p['side']} {p['account']}" for p in journal["postings"])
            if journal
            else ""
        )
        table.add_row(
            b.id,
            b.statement_date.isoformat(),
            b.channel_id,
            b.type,
            b.resolution or b.status,
            escape(b.request_id or ""),
            f"{b.difference:,} {b.currency}",
            escape(b.journal_id or proposal),
        )
    console.print(table)


@recon_app.command("resolve")
def resolve(
    break_id: str,
    action: Annotated[str, typer.Option(help="post_proposed, write_off or mark_explained.")],
    reason: Annotated[str, typer.Option(help="Why; kept with the break and audited.")],
) -> None:
    """Resolve a break (posting its journal when asked)."""
    view = in_transaction(
        lambda s: service.resolve_break(s, break_id, action=action, reason=reason)
    )
    console.print(
        f"{view.id}: {view.resolution}"
        + (f", journal {view.journal_id}" if view.journal_id else "")
        + f" at {when(view.resolved_at)}"
    )
