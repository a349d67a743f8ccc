"""`payhub cards …`: operators tokenise a card for a merchant and read it back masked.

The card number and expiry are read at a hidden prompt (or from standard input), never from
the command line, and nothing printed here holds more of a number than its first six and
last four digits. `test-number` is the one exception: it prints a test number from the BIN
table, which belongs to no real card.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.clikit import console, in_transaction, read_secret, refuse, when
from payhub.core.errors import PayHubError
from payhub.merchants import service as merchants
from payhub.vault import service, testcards
from payhub.vault.service import CardView

cards_app = typer.Typer(help="Cards in the vault (shown masked).", no_args_is_help=True)

# MM/YY or MM/YYYY, as printed on the card.
EXPIRY = re.compile(r"(\d{1,2})\s*/\s*(\d{2}|\d{4})")


class CardKind(StrEnum):
    DEBIT = "debit"
    CREDIT = "credit"


def parse_expiry(text: str) -> tuple[int, int]:
    """(month, four-digit year) from MM/YY or MM/YYYY; the vault checks the range."""
    match = EXPIRY.fullmatch(text.strip())
    if match is None:
        raise PayHubError("card_expiry_invalid", param="exp_month")
    month, year = int(match.group(1)), match.group(2)
    return month, int(year) + (2000 if len(year) == 2 else 0)


def print_card(view: CardView, title: str | None = None) -> None:
    table = Table(show_header=False, title=title or f"card {view.token}")
    for key, value in [
        ("token", view.token),
        ("merchant", view.merchant_id),
        ("customer", view.customer_id or ""),
        ("brand", view.brand),
        ("type", view.card_type),
        ("first6", view.first6),
        ("last4", view.last4),
        ("issuer", f"{view.issuer_code} — {view.issuer_name_en} ({view.issuer_name_zh})"),
        ("expiry", f"{view.exp_month:02d}/{view.exp_year}"),
        ("created at", when(view.created_at)),
    ]:
        table.add_row(key, escape(value))
    console.print(table)


@cards_app.command("bind")
def bind(
    merchant_id: str,
    customer: Annotated[
        str | None, typer.Option(help="The merchant's customer who owns the card.")
    ] = None,
) -> None:
    """Tokenise a card for a merchant. The number and expiry (MM/YY) are asked for at a
    hidden prompt, or read from standard input one per line."""
    number = read_secret("Card number")
    expiry = read_secret("Expiry (MM/YY)")

    async def work(session: AsyncSession) -> tuple[CardView, bool]:
        exp_month, exp_year = parse_expiry(expiry)
        await merchants.require_active_merchant(session, merchant_id)
        if customer is not None:
            await merchants.get_customer(session, customer, merchant_id=merchant_id)
        return await service.bind_card(
            session,
            merchant_id=merchant_id,
            customer_id=customer,
            pan=number,
            exp_month=exp_month,
            exp_year=exp_year,
        )

    view, created = in_transaction(work)
    print_card(view)
    console.print("bound" if created else "[yellow]already bound: the existing token[/]")


@cards_app.command("show")
def show(token: str) -> None:
    """A stored card, masked."""
    print_card(in_transaction(lambda s: service.get_card(s, token, merchant_id=None)))


@cards_app.command("test-number")
def test_number(issuer: str, card_type: CardKind) -> None:
    """Print a test card number of an issuer from the BIN table (a test number only: it
    belongs to no real card)."""
    try:
        number = testcards.test_card(issuer.upper(), card_type.value)
    except ValueError as exc:
        raise refuse(PayHubError("validation_error", param="issuer", detail=str(exc))) from None
    # Bare, so scripts can pipe it into `payhub cards bind`.
    console.print(number, highlight=False, soft_wrap=True)
