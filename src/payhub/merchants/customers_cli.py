"""`payhub customers …`: operators create and list a merchant's customers."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.clikit import console, in_transaction, when
from payhub.merchants import service

customers_app = typer.Typer(help="Customers of merchants.", no_args_is_help=True)


@customers_app.command("create")
def create(
    merchant_id: str,
    name: Annotated[str, typer.Option(help="The customer's name.")],
    phone: Annotated[str | None, typer.Option(help="E.164, e.g. +8613800138000.")] = None,
    email: Annotated[str | None, typer.Option(help="An e-mail address.")] = None,
    home_region: Annotated[str | None, typer.Option(help="ISO 3166-2, e.g. CN-SH.")] = None,
) -> None:
    """Create a customer of a merchant."""
    view = in_transaction(
        lambda s: service.create_customer(
            s,
            merchant_id=merchant_id,
            name=name,
            phone=phone,
            email=email,
            home_region=home_region,
        )
    )
    console.print(f"Customer {view.id}: {escape(view.name)} (merchant {view.merchant_id})")


@customers_app.command("list")
def list_(merchant_id: str, limit: Annotated[int, typer.Option(min=1, max=100)] = 50) -> None:
    """A merchant's customers, newest first."""

    async def work(session: AsyncSession) -> list[service.CustomerView]:
        # An unknown merchant is an error, not an empty list.
        await service.get_merchant(session, merchant_id)
        views, _ = await service.list_customers(session, merchant_id=merchant_id, limit=limit)
        return views

    table = Table(title=f"Customers of {escape(merchant_id)}")
    for column in ("id", "name", "phone", "email", "home region", "created at"):
        table.add_column(column, overflow="fold")
    for v in in_transaction(work):
        table.add_row(
            v.id,
            escape(v.name),
            v.phone or "",
            escape(v.email or ""),
            v.home_region or "",
            when(v.created_at),
        )
    console.print(table)
