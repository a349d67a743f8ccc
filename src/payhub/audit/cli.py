"""`payhub audit …`: read the audit log, verify its chain, seal new events now."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from payhub.audit import service
from payhub.clikit import console, errors, run_db, when
from payhub.db.session import Database

audit_app = typer.Typer(help="The audit log: who did what, when, from where.", no_args_is_help=True)


@audit_app.command("list")
def audit_list(
    limit: Annotated[int, typer.Option(min=1, max=100, help="How many, newest first.")] = 20,
    actor: Annotated[str | None, typer.Option(help="key:<id>, cli:<user>, system…")] = None,
    action: Annotated[str | None, typer.Option(help="e.g. api_key.revoked")] = None,
    target: Annotated[str | None, typer.Option(help="The id of what was acted on.")] = None,
) -> None:
    """The latest audit events."""
    filters = service.AuditFilter(actor=actor, action=action, target_id=target)

    async def go(db: Database) -> list[service.AuditView]:
        rows, _ = await db.transact(
            lambda sql: service.list_events(sql, filters, limit=limit, starting_after=None)
        )
        return rows

    table = Table(title="Audit log")
    for column in ("when", "actor", "from", "action", "target", "sealed as"):
        table.add_column(column)
    for e in run_db(go):
        target_text = f"{e.target_type or ''} {e.target_id or ''}".strip()
        sealed = f"#{e.chain_index}" if e.chain_index is not None else "not yet"
        table.add_row(
            when(e.occurred_at),
            escape(e.actor),
            escape(e.source or ""),
            escape(e.action),
            escape(target_text),
            sealed,
        )
    console.print(table)


@audit_app.command("seal")
def audit_seal() -> None:
    """Link every unsealed event into the chain now (the job does it every few seconds)."""

    async def go(db: Database) -> int:
        from payhub.audit.tasks import seal_audit_log

        return await seal_audit_log(db)

    console.print(f"Sealed {run_db(go)} events.")


@audit_app.command("verify")
def audit_verify() -> None:
    """Recompute the whole chain; exits 1 and names the first break when it does not hold."""
    result = run_db(lambda db: db.transact(service.verify))
    if result.ok:
        console.print(
            f"[green]The audit chain holds[/]: {result.verified} sealed events, "
            f"{result.unsealed} awaiting sealing."
        )
        return
    errors.print(
        f"[red]The audit chain is broken[/] at event #{result.broken_at} "
        f"({result.broken_event or 'missing'}): {result.problem}. "
        f"{result.verified} events before it hold."
    )
    raise typer.Exit(1)
