"""`payhub aml …`: alerts, cases and regulatory reports from the command line, as the
compliance team works them through the API (the same services; changes are audited as
done by this machine's user)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from payhub.clikit import console, in_transaction, when
from payhub.risk.cases import alerts, service
from payhub.risk.cases.models import DISPOSITIONS
from payhub.risk.monitoring.cli import monitor
from payhub.risk.reports.cli import reports_app

aml_app = typer.Typer(help="AML: alerts, cases and regulatory reports.", no_args_is_help=True)
cases_app = typer.Typer(help="Cases: open, assign, comment, close.", no_args_is_help=True)
aml_app.add_typer(cases_app, name="cases")
aml_app.add_typer(reports_app, name="reports")
aml_app.command("monitor")(monitor)


@aml_app.command("alerts")
def list_alerts(
    status: Annotated[str | None, typer.Option(help="open, in_case or closed.")] = None,
    typology: Annotated[str | None, typer.Option()] = None,
    source: Annotated[str | None, typer.Option(help="inline, monitoring or sanctions.")] = None,
    subject: Annotated[str | None, typer.Option(help="A customer, merchant, card …")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100)] = 20,
) -> None:
    """The latest alerts."""
    filters = alerts.AlertFilter(
        status=status, typology=typology, source=source, subject_id=subject
    )
    found, _ = in_transaction(
        lambda s: alerts.list_alerts(s, filters, limit=limit, starting_after=None)
    )
    table = Table(title="Alerts")
    for column in ("id", "when", "source", "typology", "subject", "score", "status", "case"):
        table.add_column(column)
    for a in found:
        table.add_row(
            a.id,
            when(a.created_at),
            a.source,
            escape(a.typology),
            escape(f"{a.subject_type} {a.subject_id}"),
            str(a.score),
            a.status,
            a.case_id or "",
        )
    console.print(table)


def _print_case(case: service.CaseView) -> None:
    table = Table(title=f"Case {case.id}", show_header=False)
    table.add_column("field")
    table.add_column("value")
    for field, value in (
        ("title", case.title),
        ("status", case.status),
        ("subject", f"{case.subject_type} {case.subject_id}"),
        ("assignee", case.assignee or ""),
        ("escalation", str(case.escalation)),
        ("disposition", case.disposition or ""),
        ("reason", case.close_reason or ""),
        ("alerts", ", ".join(a.id for a in case.alerts)),
        ("transactions", ", ".join(case.transaction_ids)),
        ("reports", ", ".join(case.reports)),
    ):
        table.add_row(field, escape(value))
    console.print(table)
    history = Table(title="History")
    for column in ("#", "when", "what", "by", "details", "note"):
        history.add_column(column)
    for e in case.history:
        details = ", ".join(f"{k}={v}" for k, v in e.details.items())
        history.add_row(
            str(e.seq),
            when(e.occurred_at),
            e.kind,
            escape(e.actor),
            escape(details),
            escape(e.note or ""),
        )
    console.print(history)


@cases_app.command("list")
def list_cases(
    status: Annotated[str | None, typer.Option(help="open or closed.")] = None,
    assignee: Annotated[str | None, typer.Option()] = None,
    limit: Annotated[int, typer.Option(min=1, max=100)] = 20,
) -> None:
    """The latest cases."""
    filters = service.CaseFilter(status=status, assignee=assignee)
    found, _ = in_transaction(
        lambda s: service.list_cases(s, filters, limit=limit, starting_after=None)
    )
    table = Table(title="Cases")
    for column in ("id", "opened", "title", "status", "assignee", "level", "disposition"):
        table.add_column(column)
    for c in found:
        table.add_row(
            c.id,
            when(c.created_at),
            escape(c.title),
            c.status,
            escape(c.assignee or ""),
            str(c.escalation),
            c.disposition or "",
        )
    console.print(table)


@cases_app.command("show")
def show_case(case_id: str) -> None:
    """A case, its alerts and its whole history."""
    _print_case(in_transaction(lambda s: service.get_case(s, case_id)))


@cases_app.command("open")
def open_case(
    alert_ids: Annotated[list[str], typer.Argument(help="Open alerts' ids.")],
    title: Annotated[str | None, typer.Option()] = None,
    assignee: Annotated[str | None, typer.Option(help="A key id or a name.")] = None,
    note: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Open a case from alerts."""
    case = in_transaction(
        lambda s: service.open_case(
            s, alert_ids=alert_ids, title=title, assignee=assignee, note=note
        )
    )
    console.print(f"Opened case {case.id} with {len(case.alerts)} alert(s).")


@cases_app.command("assign")
def assign(
    case_id: str,
    to: Annotated[str | None, typer.Option(help="The officer (default: you).")] = None,
    note: Annotated[str | None, typer.Option()] = None,
) -> None:
    case = in_transaction(lambda s: service.assign(s, case_id, to, note=note))
    console.print(f"Case {case.id} is assigned to {escape(case.assignee or '')}.")


@cases_app.command("comment")
def comment(case_id: str, text: str) -> None:
    in_transaction(lambda s: service.comment(s, case_id, text))
    console.print(f"Comment added to case {case_id}.")


@cases_app.command("attach")
def attach(
    case_id: str,
    alert: Annotated[list[str] | None, typer.Option(help="An open alert (repeat).")] = None,
    transaction: Annotated[
        list[str] | None, typer.Option(help="A payment or refund id (repeat).")
    ] = None,
) -> None:
    case = in_transaction(
        lambda s: service.attach(
            s, case_id, alert_ids=alert or [], transaction_ids=transaction or []
        )
    )
    console.print(
        f"Case {case.id}: {len(case.alerts)} alert(s), {len(case.transaction_ids)} transaction(s)."
    )


@cases_app.command("escalate")
def escalate(
    case_id: str,
    reason: Annotated[str, typer.Option()],
    level: Annotated[int | None, typer.Option(min=1, max=3)] = None,
) -> None:
    case = in_transaction(lambda s: service.escalate(s, case_id, reason=reason, level=level))
    console.print(f"Case {case.id} is at escalation level {case.escalation}.")


@cases_app.command("close")
def close(
    case_id: str,
    disposition: Annotated[str, typer.Option(help=", ".join(DISPOSITIONS))],
    reason: Annotated[str, typer.Option()],
) -> None:
    """Close with a disposition and a reason (suspicious_reported drafts the STR)."""

    async def go(session: Any) -> service.CaseView:
        return await service.close(session, case_id, disposition=disposition, reason=reason)

    case = in_transaction(go)
    drafted = (
        f"; report draft {case.reports[-1]}"
        if case.reports and disposition == "suspicious_reported"
        else ""
    )
    console.print(f"Closed case {case.id} as {case.disposition}{drafted}.")


@cases_app.command("reopen")
def reopen(case_id: str, reason: Annotated[str, typer.Option()]) -> None:
    case = in_transaction(lambda s: service.reopen(s, case_id, reason=reason))
    console.print(f"Reopened case {case.id}.")
