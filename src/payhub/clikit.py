"""What every `payhub` command shares: the console and running async work on the database."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.audit import service as audit
from payhub.core.clock import to_rfc3339
from payhub.core.config import get_settings
from payhub.core.errors import PayHubError
from payhub.db.session import Database

T = TypeVar("T")

# Account codes like "payout:bank:in_transit" must print as written: no emoji codes.
console = Console(emoji=False)
errors = Console(stderr=True, emoji=False)


def run_db(work: Callable[[Database], Awaitable[T]]) -> T:
    """Run async work against the configured database; catalogue errors end the command."""

    async def main() -> T:
        settings = get_settings()
        db = Database(settings.database_url, pool_size=settings.database_pool_size)
        try:
            # What a command changes is recorded in the audit log as done from the command
            # line by this machine's user.
            with audit.acting_as(audit.cli_actor()):
                return await work(db)
        finally:
            await db.dispose()

    try:
        return asyncio.run(main())
    except PayHubError as error:
        # Messages may repeat what the user typed: never read them as markup.
        errors.print(f"[red]{error.code}[/]: {escape(error.message())}")
        raise typer.Exit(2) from None


def in_transaction(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    return run_db(lambda db: db.run_in_transaction(work))


def refuse(error: PayHubError) -> typer.Exit:
    """Print a catalogue error found before any database work, as `run_db` prints one."""
    errors.print(f"[red]{error.code}[/]: {escape(error.message())}")
    return typer.Exit(2)


def read_secret(prompt: str, *, optional: bool = False) -> str:
    """A secret (card number, CVV) typed at a hidden prompt, or for scripts the next line of
    standard input. Never an argument: arguments show in process lists and shell history."""
    if sys.stdin.isatty():
        typed: str = typer.prompt(
            prompt, hide_input=True, default="" if optional else None, show_default=False
        )
        return typed.strip()
    return sys.stdin.readline().strip()


def when(moment: datetime | None) -> str:
    """A timestamp to the second: microseconds only widen the tables."""
    return to_rfc3339(moment.replace(microsecond=0)) if moment is not None else ""
