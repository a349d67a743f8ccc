"""`payhub risk …`: the risk rule sets, dry runs, decisions and coverage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from payhub.audit import service as audit
from payhub.clikit import console, in_transaction, refuse, run_db, when
from payhub.core.errors import PayHubError
from payhub.db.session import Database
from payhub.risk.decisions import dryrun, service
from payhub.risk.decisions.rules import parse_rule_set

risk_app = typer.Typer(help="Risk: rules, decisions and their coverage.", no_args_is_help=True)
rules_app = typer.Typer(help="Risk rule sets: versions, staging, dry runs.", no_args_is_help=True)
risk_app.add_typer(rules_app, name="rules")


def _definition(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise refuse(
            PayHubError("validation_error", param="file", detail=f"not a readable JSON file: {exc}")
        ) from None


@rules_app.command("show")
def rules_show(
    version: Annotated[int | None, typer.Argument(help="A version (default: the active).")] = None,
) -> None:
    """A rule set as JSON (the form `publish` takes)."""

    async def go(session: Any) -> service.RuleSetView:
        if version is None:
            return await service.active_view(session)
        return await service.get_version(session, version)

    view = in_transaction(go)
    console.print_json(json.dumps(view.definition, ensure_ascii=False))
    console.print(f"version {view.version}{' (active)' if view.active else ''}")


@rules_app.command("versions")
def rules_versions() -> None:
    """Every version, newest first (0 is the built-in set)."""
    table = Table(title="Risk rule sets")
    for column in ("version", "active", "rules", "review at", "decline at", "by", "when", "note"):
        table.add_column(column)
    for v in in_transaction(service.list_versions):
        table.add_row(
            str(v.version),
            "yes" if v.active else "",
            str(len(v.definition["rules"])),
            str(v.definition["review_at"]),
            str(v.definition["decline_at"]),
            escape(v.created_by),
            when(v.created_at),
            escape(v.note or ""),
        )
    console.print(table)


@rules_app.command("publish")
def rules_publish(
    file: Annotated[Path, typer.Argument(help="JSON: rules, review_at, decline_at.")],
    note: Annotated[str | None, typer.Option(help="Why (kept with the version).")] = None,
    stage: Annotated[bool, typer.Option(help="Write it without making it live.")] = False,
) -> None:
    """Publish a rule set as the next version."""
    definition = _definition(file)
    view = in_transaction(
        lambda s: service.publish(
            s, definition, created_by=audit.cli_actor().name, note=note, activate=not stage
        )
    )
    state = "staged" if stage else "active"
    console.print(f"Published risk rules version {view.version} ({state}).")


@rules_app.command("activate")
def rules_activate(version: Annotated[int, typer.Argument(help="0: the built-in set.")]) -> None:
    """Make a version live (a staged one, or a rollback)."""
    view = in_transaction(lambda s: service.activate(s, version))
    console.print(f"Risk rules version {view.version} is active.")


@rules_app.command("dry-run")
def rules_dry_run(
    file: Annotated[Path | None, typer.Argument(help="A draft (JSON).")] = None,
    version: Annotated[int | None, typer.Option(help="Or a published version.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=dryrun.MAX_REPLAYED)] = 10_000,
) -> None:
    """What a draft would have decided on the latest payments; changes nothing."""
    if (file is None) == (version is None):
        raise refuse(PayHubError("validation_error", param="file", detail="a file or --version"))
    definition = _definition(file) if file is not None else None

    async def go(session: Any) -> dryrun.DryRun:
        if definition is not None:
            draft = parse_rule_set(definition)
        else:
            assert version is not None
            view = await service.get_version(session, version)
            draft = parse_rule_set(view.definition, version=view.version)
        return await dryrun.dry_run(session, draft, limit=limit, since=None)

    run = in_transaction(go)
    table = Table(title=f"Dry run over {run.replayed} decisions: {run.changed} would change")
    table.add_column("recorded → draft")
    table.add_column("payments", justify="right")
    for pair, count in sorted(run.transitions.items()):
        table.add_row(pair, str(count))
    console.print(table)
    fired = Table(title="Draft rules fired")
    fired.add_column("rule")
    fired.add_column("times", justify="right")
    for rule, count in run.fired.items():
        fired.add_row(rule, str(count))
    console.print(fired)


@risk_app.command("decisions")
def decisions(
    limit: Annotated[int, typer.Option(min=1, max=100)] = 20,
    outcome: Annotated[str | None, typer.Option(help="approve, review or decline.")] = None,
    rule: Annotated[str | None, typer.Option(help="Only where this rule fired.")] = None,
) -> None:
    """The latest risk decisions."""
    filters = service.DecisionFilter(outcome=outcome, rule=rule)

    async def go(db: Database) -> list[service.DecisionView]:
        views, _ = await db.transact(
            lambda sql: service.list_decisions(sql, filters, limit=limit, starting_after=None)
        )
        return views

    table = Table(title="Risk decisions")
    for column in ("when", "payment", "outcome", "score", "rules fired", "µs"):
        table.add_column(column)
    for d in run_db(go):
        table.add_row(
            when(d.decided_at),
            d.payment_id,
            d.outcome,
            str(d.score),
            ", ".join(f["rule"] for f in d.fired),
            str(d.took_us),
        )
    console.print(table)


@risk_app.command("coverage")
def coverage_command() -> None:
    """Decisions ÷ confirmed payments: the share the risk checks saw (must be 100 %)."""
    found = in_transaction(lambda s: service.coverage(s, created_from=None, created_to=None))
    outcomes = ", ".join(f"{k} {v}" for k, v in sorted(found.outcomes.items()))
    console.print(
        f"{found.decided} of {found.payments} confirmed payments decided: "
        f"{found.share:.2%} coverage ({outcomes or 'none yet'})."
    )
