"""`payhub payees …` and `payhub payouts …`: operators bind and verify payees, withdraw a
merchant's available funds, and run the payout jobs by hand, through the same services
and flows as the API."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from payhub.clikit import console, in_transaction, run_db
from payhub.core.money import Money
from payhub.db.session import Database
from payhub.settlement.payouts import flow, service
from payhub.settlement.payouts.models import Payee, Payout

payees_app = typer.Typer(
    help="Payout destinations: merchants' bank accounts.", no_args_is_help=True
)
payouts_app = typer.Typer(help="Payouts (withdrawals) to bank accounts.", no_args_is_help=True)


class Role(StrEnum):
    MERCHANT = "merchant"
    SUPPLIER = "supplier"
    GROUP_LEADER = "group_leader"


class Method(StrEnum):
    OPERATOR = "operator"
    PENNY_DROP = "penny_drop"


class Status(StrEnum):
    PENDING = "pending"
    IN_TRANSIT = "in_transit"
    PAID = "paid"
    FAILED = "failed"
    RETURNED = "returned"


def _print(title: str, fields: dict[str, Any]) -> None:
    table = Table(show_header=False, title=title)
    for key, value in fields.items():
        table.add_row(key, escape("" if value is None else str(value)))
    console.print(table)


def _payee(row: Payee) -> None:
    _print(f"payee {row.id}", service.payee_object(row))


def _payout(row: Payout) -> None:
    shown = service.payout_object(row)
    shown["amount"] = Money(row.amount, row.currency).format()
    shown["fee"] = Money(row.fee, row.currency).format()
    _print(f"payout {row.id}", shown)


@payees_app.command("add")
def add_payee(
    merchant: Annotated[str, typer.Option(help="The merchant id.")],
    bank_account: Annotated[str, typer.Option(help="The vault token of its bank account.")],
    role: Annotated[Role, typer.Option(help="The merchant's role.")] = Role.MERCHANT,
    daily_limit: Annotated[int | None, typer.Option(min=1, help="Minor units a day.")] = None,
    split_cap: Annotated[int | None, typer.Option(min=1, help="Most per split batch.")] = None,
) -> None:
    """Bind a merchant's bank account as a payout destination (screened, unverified)."""
    _payee(
        in_transaction(
            lambda s: service.register_payee(
                s,
                merchant_id=merchant,
                bank_account=bank_account,
                role=role.value,
                daily_limit=daily_limit,
                split_cap=split_cap,
            )
        )
    )


@payees_app.command("verify")
def verify_payee(
    payee: str,
    method: Annotated[Method, typer.Option(help="How the account was checked.")] = Method.OPERATOR,
) -> None:
    """Mark a payee verified: checked by an operator, or by a penny drop on its rail."""
    if method is Method.OPERATOR:
        row = in_transaction(lambda s: service.mark_verified(s, payee, by="operator"))
    else:
        row = run_db(lambda db: flow.penny_drop(db, payee, merchant_id=None))
    _payee(row)


@payees_app.command("list")
def list_payees(
    merchant: Annotated[str | None, typer.Option(help="One merchant's payees.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100)] = 20,
) -> None:
    rows, _ = in_transaction(lambda s: service.list_payees(s, merchant_id=merchant, limit=limit))
    table = Table("id", "merchant", "role", "bank", "last4", "status", "screening")
    for r in rows:
        table.add_row(r.id, r.merchant_id, r.role, r.bank_code, r.last4, r.status, r.screening)
    console.print(table)


@payouts_app.command("create")
def create_payout(
    merchant: Annotated[str, typer.Option(help="Whose available funds.")],
    destination: Annotated[str, typer.Option(help="A payee id or its bank-account token.")],
    amount: Annotated[int, typer.Option(min=1, help="Minor units.")],
    currency: Annotated[str, typer.Option()] = "CNY",
    rail: Annotated[str | None, typer.Option(help="A rail id; else chosen.")] = None,
    instant: Annotated[bool, typer.Option(help="Send at once, for a fee.")] = False,
) -> None:
    """Withdraw available funds; an instant payout is sent now, a standard one is queued."""
    order = service.PayoutOrder(merchant, amount, currency, destination, rail, instant)
    for row in run_db(lambda db: flow.create_and_send(db, order)):
        _payout(row)


@payouts_app.command("show")
def show_payout(payout: str) -> None:
    _payout(in_transaction(lambda s: service.get_payout(s, payout, merchant_id=None)))


@payouts_app.command("list")
def list_payouts(
    merchant: Annotated[str | None, typer.Option(help="One merchant's payouts.")] = None,
    status: Annotated[Status | None, typer.Option()] = None,
    limit: Annotated[int, typer.Option(min=1, max=100)] = 20,
) -> None:
    filters = service.PayoutFilter(merchant_id=merchant, status=status.value if status else None)
    rows, _ = in_transaction(lambda s: service.list_payouts(s, filters, limit=limit))
    table = Table("id", "merchant", "amount", "rail", "status", "created")
    for r in rows:
        money = Money(r.amount, r.currency).format()
        table.add_row(r.id, r.merchant_id, money, r.rail, r.status, str(r.created_at)[:19])
    console.print(table)


@payouts_app.command("dispatch")
def dispatch() -> None:
    """Send the queued payouts whose time has come."""
    console.print(f"sent {run_db(flow.dispatch)} payouts")


@payouts_app.command("resolve")
def resolve() -> None:
    """Ask the rails about payouts whose answer never came."""
    console.print(f"resolved {run_db(flow.resolve)} payouts")


@payouts_app.command("returns")
def returns() -> None:
    """Ask the rails whether paid payouts were sent back."""

    async def work(db: Database) -> int:
        return await flow.check_returns(db)

    console.print(f"{run_db(work)} payouts returned")
