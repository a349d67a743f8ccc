"""`payhub merchants …`: operators onboard merchants and hand out their keys."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from payhub.clikit import console, in_transaction
from payhub.core.money import Money
from payhub.merchants import service

merchants_app = typer.Typer(help="Merchants and their API keys.", no_args_is_help=True)


def _limit(amount: int | None, currency: str) -> str:
    return Money(amount, currency).format() if amount is not None else "none"


@merchants_app.command("create")
def create(
    name: str,
    currency: Annotated[str, typer.Option(help="Settlement currency.")] = "CNY",
    per_payment_limit: Annotated[
        int | None, typer.Option(help="Largest single payment, minor units.")
    ] = None,
    daily_limit: Annotated[int | None, typer.Option(help="Daily total, minor units.")] = None,
) -> None:
    """Onboard a merchant."""
    view = in_transaction(
        lambda s: service.create_merchant(
            s,
            service.MerchantSpec(
                name=name,
                currency=currency,
                per_payment_limit=per_payment_limit,
                daily_limit=daily_limit,
            ),
        )
    )
    console.print(f"Merchant {view.id}: {escape(view.name)} ({view.currency})")


@merchants_app.command("list")
def list_(limit: Annotated[int, typer.Option(min=1, max=100)] = 50) -> None:
    """Merchants, newest first."""
    views, _ = in_transaction(lambda s: service.list_merchants(s, limit=limit))
    table = Table(title="Merchants")
    for column in ("id", "name", "status", "per payment", "daily"):
        table.add_column(column)
    for v in views:
        table.add_row(
            v.id,
            escape(v.name),
            v.status,
            _limit(v.per_payment_limit, v.currency),
            _limit(v.daily_limit, v.currency),
        )
    console.print(table)


@merchants_app.command("key")
def key(
    merchant_id: str,
    name: Annotated[str, typer.Option(help="What the key is for.")] = "api",
    scope: Annotated[list[str] | None, typer.Option(help="Scopes (repeat the option).")] = None,
) -> None:
    """Make an API key for a merchant and print it once."""
    issued = in_transaction(
        lambda s: service.issue_merchant_key(
            s, merchant_id, name=name, scopes=scope or ["read", "write"]
        )
    )
    console.print(f"Key {issued.id}: [bold yellow]{issued.secret}[/] (shown once)")
