"""`payhub ledger …`: operators' commands on the ledger, through the same service layer
as the API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.markup import escape
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.clikit import console, errors, in_transaction
from payhub.core.money import Money
from payhub.ledger import service
from payhub.ledger.domain import AccountView, BalanceView, JournalView, Side
from payhub.ledger.schemas import BatchIn, HoldIn, JournalIn

ledger_app = typer.Typer(help="The double-entry ledger.", no_args_is_help=True)
accounts_app = typer.Typer(help="Ledger accounts.", no_args_is_help=True)
holds_app = typer.Typer(help="Two-phase holds.", no_args_is_help=True)
ledger_app.add_typer(accounts_app, name="accounts")
ledger_app.add_typer(holds_app, name="holds")


def _money(amount: int, currency: str) -> str:
    return Money(amount, currency).format()


def _print_account(view: AccountView, balance: BalanceView | None = None) -> None:
    table = Table(show_header=False, title=f"{view.code} ({view.currency})")
    for key, value in [
        ("id", view.id),
        ("name", escape(view.name)),
        ("owner", escape(view.owner or "")),
        ("normal side", view.normal_side.value),
        ("debits ≤ credits", str(view.debits_must_not_exceed_credits)),
        ("credits ≤ debits", str(view.credits_must_not_exceed_debits)),
        ("shards", str(view.shards)),
    ]:
        table.add_row(key, value)
    if balance is not None:
        table.add_row("posted", _money(balance.posted, balance.currency))
        table.add_row("pending", _money(balance.pending, balance.currency))
        table.add_row("available", _money(balance.available, balance.currency))
    console.print(table)


def _print_journal(view: JournalView) -> None:
    table = Table(title=f"journal {view.id} ({view.kind}) — {escape(view.description or '')}")
    for column in ("account", "debit", "credit"):
        table.add_column(column, justify="right" if column != "account" else "left")
    for p in view.postings:
        amount = _money(p.amount, p.currency)
        table.add_row(
            p.account_code,
            amount if p.side is Side.DEBIT else "",
            amount if p.side is Side.CREDIT else "",
        )
    console.print(table)


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        errors.print(f"[red]cannot read {path}[/]: {exc}")
        raise typer.Exit(2) from None


def _invalid(exc: ValidationError) -> typer.Exit:
    first = exc.errors()[0]
    errors.print(f"[red]validation_error[/]: {'.'.join(map(str, first['loc']))}: {first['msg']}")
    return typer.Exit(2)


@accounts_app.command("create")
def accounts_create(
    code: str,
    currency: Annotated[str, typer.Option(help="ISO 4217 code.")] = "CNY",
    side: Annotated[Side, typer.Option(help="Normal side.")] = Side.CREDIT,
    name: Annotated[str | None, typer.Option()] = None,
    owner: Annotated[str | None, typer.Option()] = None,
    no_overdraft: Annotated[
        bool, typer.Option(help="Debits may not exceed credits (a funds account).")
    ] = False,
    shards: Annotated[int, typer.Option(help="Balance rows of a hot account.")] = 1,
) -> None:
    """Open a ledger account."""
    view = in_transaction(
        lambda s: service.create_account(
            s,
            code=code,
            currency=currency,
            normal_side=side,
            name=name,
            owner=owner,
            debits_must_not_exceed_credits=no_overdraft,
            shards=shards,
        )
    )
    _print_account(view)


@accounts_app.command("list")
def accounts_list(
    limit: Annotated[int, typer.Option(min=1, max=100)] = 50,
    owner: Annotated[str | None, typer.Option()] = None,
    code_prefix: Annotated[str | None, typer.Option()] = None,
) -> None:
    """List accounts with their balances, newest first."""

    async def work(session: AsyncSession) -> list[tuple[AccountView, BalanceView]]:
        views, _ = await service.list_accounts(
            session, limit=limit, owner=owner, code_prefix=code_prefix
        )
        return [(v, await service.get_balance(session, v.id)) for v in views]

    table = Table(title="Ledger accounts")
    for column in ("code", "currency", "side", "posted", "pending", "available", "id"):
        table.add_column(column)
    for view, balance in in_transaction(work):
        table.add_row(
            view.code,
            view.currency,
            view.normal_side.value,
            _money(balance.posted, view.currency),
            _money(balance.pending, view.currency),
            _money(balance.available, view.currency),
            view.id,
        )
    console.print(table)


@accounts_app.command("show")
def accounts_show(account: str, currency: Annotated[str | None, typer.Option()] = None) -> None:
    """An account and its balance (by id, or by code and currency)."""

    async def work(session: AsyncSession) -> tuple[AccountView, BalanceView]:
        view = await service.get_account(session, account, currency)
        return view, await service.get_balance(session, view.id)

    _print_account(*in_transaction(work))


@ledger_app.command("post")
def post(
    file: Annotated[Path, typer.Argument(help='A JSON journal, or {"journals": [...]}')],
) -> None:
    """Post a journal (or a batch) from a JSON file, in the API's format."""
    data = _read_json(file)
    try:
        if isinstance(data, dict) and "journals" in data:
            batch = BatchIn.model_validate(data)
            results = in_transaction(
                lambda s: service.post_journals(s, [j.to_spec() for j in batch.journals])
            )
            for r in results:
                if r.journal is not None:
                    console.print(f"#{r.index} {r.status}: {r.journal.id}")
                elif r.error is not None:
                    console.print(f"#{r.index} [red]{r.status}[/]: {r.error.code}")
            return
        journal = JournalIn.model_validate(data)
    except ValidationError as exc:
        raise _invalid(exc) from None
    view, created = in_transaction(lambda s: service.post_journal(s, journal.to_spec()))
    _print_journal(view)
    console.print("posted" if created else "[yellow]already posted (same content)[/]")


@ledger_app.command("journal")
def journal_show(journal_id: str) -> None:
    """Show a journal."""
    _print_journal(in_transaction(lambda s: service.get_journal(s, journal_id)))


@ledger_app.command("reverse")
def reverse(
    journal_id: str, reversal_id: Annotated[str | None, typer.Option("--id")] = None
) -> None:
    """Post the reversal of a journal."""
    view, _ = in_transaction(
        lambda s: service.reverse_journal(s, journal_id, reversal_id=reversal_id)
    )
    _print_journal(view)


@ledger_app.command("entries")
def entries(
    account: str,
    currency: Annotated[str | None, typer.Option()] = None,
    limit: Annotated[int, typer.Option(min=1, max=100)] = 20,
) -> None:
    """The newest entries of an account."""

    async def work(session: AsyncSession) -> list[service.EntryView]:
        view = await service.get_account(session, account, currency)
        found, _ = await service.list_entries(session, view.id, limit=limit)
        return found

    table = Table(title=f"Entries of {escape(account)}")
    for column in ("posted at", "journal", "side", "amount"):
        table.add_column(column)
    for e in in_transaction(work):
        table.add_row(
            e.posted_at.isoformat(), e.journal_id, e.side.value, _money(e.amount, e.currency)
        )
    console.print(table)


@holds_app.command("create")
def holds_create(file: Path) -> None:
    """Create a hold from a JSON file, in the API's format."""
    try:
        hold = HoldIn.model_validate(_read_json(file))
    except ValidationError as exc:
        raise _invalid(exc) from None
    view, _ = in_transaction(
        lambda s: service.create_hold(s, hold.to_spec(), expires_at=hold.expires_at)
    )
    console.print(f"hold {view.id}: {view.status}")


@holds_app.command("post")
def holds_post(hold_id: str) -> None:
    """Post everything a hold reserved."""
    view = in_transaction(lambda s: service.post_hold(s, hold_id))
    console.print(f"hold {view.id}: {view.status}")


@holds_app.command("void")
def holds_void(hold_id: str) -> None:
    """Release a hold."""
    view = in_transaction(lambda s: service.void_hold(s, hold_id))
    console.print(f"hold {view.id}: {view.status}")
