"""`payhub aml reports …`: generate a day's large-value report, list the register, export
a report's file, mark one filed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from payhub.clikit import console, in_transaction, refuse, when
from payhub.core.errors import PayHubError
from payhub.risk.reports import daily, register

reports_app = typer.Typer(help="Regulatory reports and their register.", no_args_is_help=True)


@reports_app.command("generate")
def generate(
    day: Annotated[
        str, typer.Option(help="YYYY-MM-DD, China Standard Time (default: yesterday).")
    ] = "",
) -> None:
    """The large-value transaction report of a day that is over (made once)."""
    try:
        chosen = daily.parse_day(day) if day else daily.last_complete_day()
    except PayHubError as error:
        raise refuse(error) from None
    view, created = in_transaction(lambda s: daily.generate_large_value(s, chosen))
    verb = "Generated" if created else "Already generated:"
    console.print(
        f"{verb} {view.id} for {view.report_date}: {view.row_count} transaction(s) of "
        f"{view.customer_count} customer(s), {view.status}."
    )


@reports_app.command("list")
def list_reports(
    kind: Annotated[str | None, typer.Option(help="large_value or suspicious.")] = None,
    status: Annotated[str | None, typer.Option(help="draft or filed.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100)] = 20,
) -> None:
    """The register, newest first."""
    filters = register.ReportFilter(kind=kind, status=status)
    found, _ = in_transaction(
        lambda s: register.list_reports(s, filters, limit=limit, starting_after=None)
    )
    table = Table(title="Reports")
    for column in (
        "id",
        "kind",
        "day",
        "case",
        "rows",
        "status",
        "generated",
        "filed",
        "csv sha-256",
    ):
        table.add_column(column)
    for r in found:
        table.add_row(
            r.id,
            r.kind,
            r.report_date,
            r.case_id or "",
            str(r.row_count),
            r.status,
            when(r.generated_at),
            when(r.filed_at),
            r.csv_sha256[:16],
        )
    console.print(table)


@reports_app.command("export")
def export(
    report_id: str,
    format: Annotated[str, typer.Option(help="csv or xml.")] = "csv",
    out: Annotated[Path | None, typer.Option(help="Write here (default: standard output).")] = None,
) -> None:
    """A report's file, as generated."""
    if format not in ("csv", "xml"):
        raise refuse(PayHubError("validation_error", param="format", detail="csv or xml"))
    view = in_transaction(lambda s: register.get_report(s, report_id))
    data = view.file("csv" if format == "csv" else "xml")
    if out is None:
        typer.echo(data.decode("utf-8"), nl=False)
        return
    out.write_bytes(data)
    console.print(f"Wrote {out} ({len(data)} bytes, sha-256 {register.sha256(data)}).")


@reports_app.command("filed")
def filed(
    report_id: str,
    reference: Annotated[str | None, typer.Option(help="The regulator's receipt.")] = None,
) -> None:
    """Record that a report was submitted to the regulator."""
    view = in_transaction(lambda s: register.mark_filed(s, report_id, reference=reference))
    console.print(f"Report {view.id} is filed.")
