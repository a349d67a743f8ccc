"""`payhub splits …`: submit a group leader's batch from a JSON file, pay it out with a
progress bar, follow and retry it; its bank file out (pain.001) and the bank's status
report back (pain.002)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from payhub.clikit import console, in_transaction, refuse, run_db
from payhub.core.errors import PayHubError
from payhub.core.money import Money
from payhub.db.session import Database
from payhub.splits import bankfiles, runner, service

splits_app = typer.Typer(help="Group-leader split payouts (分账).", no_args_is_help=True)


def _order(data: dict[str, Any]) -> service.BatchOrder:
    try:
        return service.BatchOrder(
            merchant_id=data["merchant"],
            currency=data["currency"],
            lines=[
                service.LineIn(x["receiver"], x.get("amount"), x.get("share_bps"))
                for x in data["lines"]
            ],
            payments=tuple(data.get("payments", ())),
            round=data.get("round"),
            platform_commission=service.Cut(**data.get("platform_commission", {})),
            leader_commission=service.Cut(**data.get("leader_commission", {})),
            clawback=data.get("clawback", "proportional"),
            delivery=data.get("delivery", "rails"),
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise refuse(PayHubError("validation_error", param="file", detail=str(exc)[:200])) from None


def _show(batch_id: str) -> None:
    async def read(session: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        batch = await service.get_batch(session, batch_id, merchant_id=None)
        lines = await service.sync_lines(session, batch.id)
        body = service.batch_object(batch, service.summarize(lines))
        return body, [service.line_object(x) for x in lines]

    body, lines = in_transaction(read)
    summary = Table(show_header=False, title=f"split batch {batch_id}")
    for key, value in body.items():
        summary.add_row(key, str(value))
    console.print(summary)
    table = Table("receiver", "amount", "status", "payout", "failure")
    for line in lines[:50]:
        money = Money(line["amount"], body["currency"]).format()
        table.add_row(
            line["receiver"],
            money,
            line["status"],
            line["payout"] or "",
            line["failure_code"] or "",
        )
    console.print(table)
    if len(lines) > 50:
        console.print(f"… and {len(lines) - 50} more lines")


def _run(batch_id: str, concurrency: int | None) -> None:
    with Progress(
        TextColumn("[bold]paying out"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("paid {task.fields[paid]} · failed {task.fields[failed]}"),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("lines", total=None, paid=0, failed=0)

        def report(p: runner.Progress) -> None:
            bar.update(
                task, total=p.total, completed=p.paid + p.failed, paid=p.paid, failed=p.failed
            )

        async def work(db: Database) -> runner.Progress:
            return await runner.run_batch(db, batch_id, concurrency=concurrency, report=report)

        run_db(work)


@splits_app.command("create")
def create(
    file: Annotated[
        Path, typer.Argument(help="The batch as JSON (the API's body, with merchant).")
    ],
    run: Annotated[bool, typer.Option(help="Pay it out at once.")] = False,
    delivery: Annotated[
        str | None,
        typer.Option(
            help="rails (each payout on its rail) or bank_file (the batch's pain.001); "
            "overrides the file's."
        ),
    ] = None,
) -> None:
    """Check and book a batch; with --run, pay it out with a progress bar (a bank_file
    batch: its payouts opened for the file, no rail called)."""
    try:
        data = json.loads(file.read_text())
    except (OSError, ValueError) as exc:
        raise refuse(PayHubError("validation_error", param="file", detail=str(exc)[:200])) from None
    if delivery is not None and isinstance(data, dict):
        data["delivery"] = delivery
    order = _order(data)
    batch = in_transaction(lambda s: service.create_batch(s, order))
    console.print(f"split batch {batch.id}: {len(order.lines)} receivers booked")
    if run:
        _run(batch.id, None)
    _show(batch.id)


@splits_app.command("run")
def run_(
    batch: str,
    concurrency: Annotated[
        int | None,
        typer.Option(
            min=1, max=1000, help="Payouts in flight on every rail (default: each rail's limit)."
        ),
    ] = None,
) -> None:
    """Send the payouts of a batch's pending lines, with a progress bar."""
    _run(batch, concurrency)
    _show(batch)


@splits_app.command("show")
def show(batch: str) -> None:
    _show(batch)


@splits_app.command("retry")
def retry(batch: str) -> None:
    """Failed lines back to pending, then pay them out again."""
    count = in_transaction(lambda s: service.retry_failed(s, batch, merchant_id=None))
    console.print(f"{count} failed lines to retry")
    _run(batch, None)
    _show(batch)


@splits_app.command("list")
def list_(limit: Annotated[int, typer.Option(min=1, max=100)] = 20) -> None:
    async def read(session: Any) -> list[dict[str, Any]]:
        rows, _ = await service.list_batches(
            session, merchant_id=None, limit=limit, starting_after=None
        )
        counts = await service.line_counts(session, [r.id for r in rows])
        return [service.batch_object(r, counts[r.id]) for r in rows]

    table = Table("id", "leader", "net", "distributed", "status", "lines")
    for b in in_transaction(read):
        table.add_row(
            b["id"], b["merchant"], str(b["net_collected"]), str(b["distributed"]), b["status"],
            f"{b['lines_paid']}/{b['lines_total']}",
        )  # fmt: skip
    console.print(table)


@splits_app.command("overdue")
def overdue(
    days: Annotated[
        int | None,
        typer.Option(
            min=1, max=30, help="Business days without a status report (default: the setting)."
        ),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=5000)] = 500,
) -> None:
    """Bank-file payouts whose status report is overdue: chase them with the bank (they
    stay in transit until a report settles them)."""
    rows = in_transaction(lambda s: bankfiles.overdue_payouts(s, days=days, limit=limit))
    table = Table("payout", "batch", "receiver", "amount", "in the file since")
    for row in rows:
        table.add_row(
            row.id,
            row.split_batch_id or "",
            row.merchant_id,
            Money(row.amount, row.currency).format(),
            row.sent_at.isoformat() if row.sent_at else "",
        )
    console.print(table)
    console.print(f"{len(rows)} bank-file payouts overdue")


@splits_app.command("export-pain001")
def export_pain001(
    batch: Annotated[str, typer.Argument(help="The split batch, spb_….")],
    out: Annotated[
        Path | None,
        typer.Option(help="Where to write the file (default: <message id>.xml here)."),
    ] = None,
) -> None:
    """Write the batch's payouts awaiting the bank as a pain.001.001.09 credit transfer file.
    The file holds the receivers' account numbers in clear: it is written readable by its
    owner only, and the export is recorded in the audit log."""
    made = in_transaction(lambda s: bankfiles.export_pain001(s, batch))
    target = out or Path(f"{made.message_id}.xml")
    try:
        with os.fdopen(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
            f.write(made.file)
    except OSError as error:
        raise refuse(
            PayHubError("validation_error", param="out", detail=str(error.strerror))
        ) from None
    console.print(
        f"{made.transfers} transfers of {batch} written to {escape(str(target))} "
        f"(message {made.message_id}, SHA-256 {made.sha256[:16]}…)"
    )


@splits_app.command("import-pain002")
def import_pain002(
    batch: Annotated[str, typer.Argument(help="The split batch, spb_….")],
    file: Annotated[Path, typer.Argument(help="The bank's pain.002 status report.")],
) -> None:
    """Apply the bank's pain.002 status report to the batch's payouts (ACSC/ACCC paid,
    RJCT/CANC failed with the reason code, other statuses still with the bank). The same
    report twice changes nothing; a report contradicting a settled payout is refused whole."""
    try:
        data = file.read_bytes()
    except OSError as error:
        raise refuse(
            PayHubError("validation_error", param="file", detail=str(error.strerror))
        ) from None
    done = in_transaction(lambda s: bankfiles.import_pain002(s, batch, data))
    console.print(
        f"status report {escape(done.message_id)}: {len(done.paid)} paid, "
        f"{len(done.failed)} failed, {len(done.pending)} still with the bank, "
        f"{len(done.unchanged)} unchanged"
    )
    _show(batch)
