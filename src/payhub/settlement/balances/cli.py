"""`payhub settlement …`: merchants' settlement settings, runs, balances and the register,
channel settlement into custody, and the business-day calendar."""

from __future__ import annotations

from datetime import date, timedelta
from enum import StrEnum
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.clikit import console, in_transaction, refuse, run_db, when
from payhub.core.errors import PayHubError
from payhub.core.money import Money
from payhub.db.session import Database
from payhub.merchants import service as merchants
from payhub.settlement.balances import channels, daily, entries, settings, views
from payhub.settlement.balances.entries import EntryView
from payhub.settlement.balances.settings import SettingsView
from payhub.settlement.calendar import CalendarError, load_calendar

settlement_app = typer.Typer(help="Merchant settlement, balances and channel settlement.")
settings_app = typer.Typer(help="Merchants' settlement settings.", no_args_is_help=True)
settlement_app.add_typer(settings_app, name="settings")


class Mode(StrEnum):
    REALTIME = "realtime"
    T1 = "t1"


class Kind(StrEnum):
    REALTIME = "realtime"
    DAILY = "daily"
    REFUND = "refund"


def _money(amount: int, currency: str) -> str:
    return Money(amount, currency).format()


def _show_settings(view: SettingsView) -> None:
    table = Table(title=f"Settlement settings of {view.merchant_id}")
    for column in ("mode", "cut-off", "reserve", "held", "calendar", "version"):
        table.add_column(column)
    table.add_row(
        view.mode,
        view.cutoff,
        f"{view.reserve_bps} bps",
        f"{view.reserve_days} days",
        view.calendar,
        str(view.version) if view.version else "defaults",
    )
    console.print(table)


@settings_app.command("show")
def show_settings(merchant: Annotated[str, typer.Argument(help="The merchant's id.")]) -> None:
    """A merchant's settlement mode, cut-off, reserve and calendar."""

    async def work(session: AsyncSession) -> SettingsView:
        await merchants.get_merchant(session, merchant)
        return await settings.get_settings(session, merchant)

    _show_settings(in_transaction(work))


@settings_app.command("set")
def set_settings(
    merchant: Annotated[str, typer.Argument(help="The merchant's id.")],
    mode: Annotated[Mode | None, typer.Option(help="realtime or t1.")] = None,
    cutoff: Annotated[str | None, typer.Option(help="Daily cut-off, HH:MM Beijing time.")] = None,
    reserve_bps: Annotated[
        int | None, typer.Option(help="Rolling reserve, basis points of each settled amount.")
    ] = None,
    reserve_days: Annotated[int | None, typer.Option(help="Days a reserve is held.")] = None,
    calendar: Annotated[
        str | None, typer.Option(help="Country of the business-day calendar.")
    ] = None,
) -> None:
    """Change a merchant's settlement settings (only the options given; audited)."""
    changes = {
        "mode": mode.value if mode else None,
        "cutoff": cutoff,
        "reserve_bps": reserve_bps,
        "reserve_days": reserve_days,
        "calendar": calendar,
    }
    given = {k: v for k, v in changes.items() if v is not None}
    if not given:
        raise refuse(PayHubError("validation_error", param="options", detail="nothing to change"))
    _show_settings(in_transaction(lambda s: settings.update_settings(s, merchant, given)))


@settlement_app.command("run")
def run(
    merchant: Annotated[
        str | None, typer.Option(help="Only this merchant (default: every merchant).")
    ] = None,
) -> None:
    """Settle what is due now (every merchant's missed business days), then release the
    reserves whose holding period is over."""

    async def go(db: Database) -> tuple[daily.RunSummary, int]:
        if merchant is not None:
            await db.run_in_transaction(lambda s: merchants.get_merchant(s, merchant))
        targets = [merchant] if merchant else await daily.merchants_with_money(db)
        columns = (
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("Settling merchants", total=len(targets))
            summary = await daily.settle_due(
                db,
                merchant_ids=targets,
                progress=lambda done, total: progress.update(task, completed=done),
            )
        return summary, await daily.release_due_reserves(db)

    summary, released = run_db(go)
    console.print(
        f"{summary.merchants} merchants: {summary.runs} daily runs, "
        f"{summary.settled} settled, {summary.recovered} recovered (minor units), "
        f"{summary.skipped} skipped (another worker held them); "
        f"{released} reserves released."
    )


@settlement_app.command("balances")
def balances(merchant: Annotated[str, typer.Argument(help="The merchant's id.")]) -> None:
    """Pending, available, reserved and in transit, per currency."""

    async def work(session: AsyncSession) -> list[views.MerchantBalance]:
        await merchants.get_merchant(session, merchant)
        return await views.merchant_balances(session, merchant)

    lines = in_transaction(work)
    table = Table(title=f"Balances of {merchant}")
    for column in ("currency", "pending", "available", "reserved", "in transit"):
        table.add_column(column, justify="left" if column == "currency" else "right")
    for line in lines:
        table.add_row(
            line.currency,
            *(
                _money(amount, line.currency)
                for amount in (line.pending, line.available, line.reserved, line.in_transit)
            ),
        )
    console.print(table)


@settlement_app.command("list")
def list_settlements(
    merchant: Annotated[str | None, typer.Option(help="Only this merchant.")] = None,
    kind: Annotated[Kind | None, typer.Option(help="realtime, daily or refund.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100)] = 20,
) -> None:
    """The settlement register, newest first."""

    async def work(session: AsyncSession) -> list[EntryView]:
        found, _ = await entries.list_entries(
            session, merchant_id=merchant, limit=limit, kind=kind.value if kind else None
        )
        return found

    table = Table(title="Settlements")
    for column in ("business day", "merchant", "kind", "amount", "reserve", "journal", "posted"):
        table.add_column(column, overflow="fold")
    for entry in in_transaction(work):
        table.add_row(
            entry.business_day.isoformat(),
            entry.merchant_id,
            entry.kind,
            _money(entry.amount, entry.currency),
            _money(entry.reserve, entry.currency),
            entry.journal_id or "",
            when(entry.posted_at),
        )
    console.print(table)


@settlement_app.command("channels")
def channel_settlement(
    run_now: Annotated[
        bool, typer.Option("--run/--list", help="Settle the due periods first, or only list.")
    ] = False,
    limit: Annotated[int, typer.Option(min=1, max=100)] = 20,
) -> None:
    """Card channels' settlement into custody: settle what is due, and list the periods."""

    async def go(db: Database) -> list[channels.ChannelSettlementView]:
        if run_now:
            done = await channels.settle_channels(db)
            console.print(f"{len(done)} channel periods settled into custody.")
        found, _ = await db.run_in_transaction(
            lambda s: channels.list_channel_settlements(s, limit=limit)
        )
        return found

    table = Table(title="Channel settlements")
    for column in ("channel", "day", "settles on", "lines", "fees", "net", "statement"):
        table.add_column(column, overflow="fold")
    for view in run_db(go):
        table.add_row(
            view.channel_id,
            when(view.period_end),
            view.settles_on.isoformat(),
            str(view.lines),
            _money(view.fees, view.currency),
            _money(view.net, view.currency),
            view.statement_ref,
        )
    console.print(table)


@settlement_app.command("calendar")
def calendar(
    year: Annotated[int, typer.Option(help="The year to show.")] = 2026,
    country: Annotated[str, typer.Option(help="The calendar's country.")] = "CN",
) -> None:
    """Holidays and adjusted working days of a year (every other weekday works)."""
    try:
        cal = load_calendar(country)
    except CalendarError:
        raise refuse(PayHubError("calendar_unknown", country=country[:8])) from None
    if not 1900 <= year <= 2200:
        raise refuse(PayHubError("validation_error", param="year", detail="1900 to 2200"))
    if not cal.covers(date(year, 1, 1)):
        raise refuse(PayHubError("calendar_year_unknown", country=cal.country, year=year))
    title = f"{cal.country} {year}: days that differ from the weekend rule"
    if cal.is_provisional(date(year, 1, 1)):
        title += " (provisional: statutory days only, until the year's notice)"
    table = Table(title=title)
    for column in ("date", "weekday", "business day", "why"):
        table.add_column(column)
    day = date(year, 1, 1)
    while day.year == year:
        weekend = day.weekday() in cal.weekend
        if cal.is_business_day(day) == weekend:
            why = cal.holiday_name(day) or ("adjusted working day" if weekend else "")
            table.add_row(day.isoformat(), day.strftime("%a"), "yes" if weekend else "no", why)
        day += timedelta(days=1)
    console.print(table)
