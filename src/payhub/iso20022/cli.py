"""`payhub iso20022 …`: check and summarise ISO 20022 bank files. Summaries mask account
numbers: a file may hold a creditor's full account, a terminal must not show it."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from payhub.clikit import console, refuse
from payhub.core.errors import PayHubError
from payhub.core.money import Money
from payhub.iso20022 import camt053, pain001, pain002
from payhub.iso20022.schemas import MessageType, detect
from payhub.iso20022.values import mask

iso20022_app = typer.Typer(
    help="ISO 20022 bank files (pain.001, pain.002, camt.053).", no_args_is_help=True
)

FileArgument = Annotated[
    Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="The XML file.")
]
_HEAD_BYTES = 64 * 1024  # enough to reach the root element of any file


def _message(path: Path) -> MessageType:
    with path.open("rb") as source:
        return detect(source.read(_HEAD_BYTES))


@iso20022_app.command("validate")
def validate(path: FileArgument) -> None:
    """Check a file against its message's official XSD and PayHub's rules; the message is
    found from the root element's namespace."""
    try:
        message = _message(path)
        if message is MessageType.CAMT_053:
            summary = _statement_summary(path)
            what = f"{summary.count:,} entries"
        elif message is MessageType.PAIN_001:
            what = f"{len(pain001.read(path.read_bytes()).transfers):,} transfers"
        else:
            what = f"{len(pain002.read(path.read_bytes()).transactions):,} transaction statuses"
    except PayHubError as error:
        raise refuse(error) from None
    console.print(f"[green]valid[/] {message.value}: {what}")


@iso20022_app.command("show")
def show(
    path: FileArgument,
    limit: Annotated[int, typer.Option(min=0, help="How many transactions to list.")] = 10,
) -> None:
    """A summary of the file, account numbers masked."""
    try:
        message = _message(path)
        if message is MessageType.PAIN_001:
            _show_batch(pain001.read(path.read_bytes()), limit)
        elif message is MessageType.PAIN_002:
            _show_report(pain002.read(path.read_bytes()), limit)
        else:
            _show_statement(_statement_summary(path, limit))
    except PayHubError as error:
        raise refuse(error) from None


def _show_batch(batch: pain001.PaymentBatch, limit: int) -> None:
    head = Table(show_header=False, title=f"pain.001.001.09 {escape(batch.message_id)}")
    head.add_row("created", batch.created_at.isoformat())
    head.add_row("debtor", f"{escape(batch.debtor_name)} {mask(batch.debtor_account)}")
    head.add_row("debtor bank", escape(batch.debtor_bank_code))
    head.add_row("execution date", batch.requested_execution_date.isoformat())
    head.add_row("transfers", f"{len(batch.transfers):,}")
    totals: Counter[str] = Counter()
    for t in batch.transfers:
        totals[t.currency] += t.amount
    for currency, amount in sorted(totals.items()):
        head.add_row(f"total {currency}", Money(amount, currency).format())
    head.add_row("control sum", batch.control_sum())
    console.print(head)
    table = Table(title=f"first {min(limit, len(batch.transfers))} transfers")
    for column in ("end-to-end id", "amount", "creditor", "account", "bank"):
        table.add_column(column, justify="right" if column == "amount" else "left")
    for t in batch.transfers[:limit]:
        table.add_row(
            escape(t.end_to_end_id),
            Money(t.amount, t.currency).format(),
            escape(t.creditor_name),
            mask(t.creditor_account),
            escape(t.creditor_bank_code or ""),
        )
    console.print(table)


def _show_report(report: pain002.StatusReport, limit: int) -> None:
    head = Table(show_header=False, title=f"pain.002.001.12 {escape(report.message_id)}")
    head.add_row("created", report.created_at.isoformat())
    head.add_row(
        "answers", f"{escape(report.original_message_name)} {escape(report.original_message_id)}"
    )
    head.add_row("group status", report.group_status.value if report.group_status else "")
    by_status = Counter(s.status for s in report.transactions.values())
    for status, count in sorted(by_status.items()):
        head.add_row(f"{status.value} ({status.outcome.value})", f"{count:,}")
    console.print(head)
    table = Table(title="transactions")
    for column in ("end-to-end id", "status", "reason", "information"):
        table.add_column(column)
    for s in list(report.transactions.values())[:limit]:
        table.add_row(
            escape(s.end_to_end_id),
            s.status.value,
            escape(s.reason_code or ""),
            escape(s.additional_info or ""),
        )
    console.print(table)


class _Summary:
    def __init__(self, head: camt053.StatementHead | None = None) -> None:
        self.head = head
        self.count = 0
        self.credits = 0
        self.debits = 0
        self.fees = 0
        self.sample: list[camt053.StatementEntry] = []


def _statement_summary(path: Path, limit: int = 0) -> _Summary:
    """One streaming pass, with a progress bar for large files."""
    summary = _Summary()
    size = path.stat().st_size
    columns = (
        TextColumn("reading"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
    )
    with path.open("rb") as source, Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("read", total=size)
        stream = camt053.StatementStream(source)
        for entry in stream.entries():
            summary.count += 1
            if entry.credit_debit is camt053.CreditDebit.CREDIT:
                summary.credits += entry.amount
            else:
                summary.debits += entry.amount
            summary.fees += entry.fee
            if len(summary.sample) < limit:
                summary.sample.append(entry)
            if summary.count % 10_000 == 0:
                progress.update(task, completed=source.tell())
        summary.head = stream.head()
    return summary


def _show_statement(summary: _Summary) -> None:
    head = summary.head
    assert head is not None

    def money(amount: int) -> str:
        return Money(amount, head.currency).format()

    table = Table(show_header=False, title=f"camt.053.001.08 {escape(head.statement_id)}")
    table.add_row("account", mask(head.account))
    table.add_row("period", f"{head.period_start.isoformat()} – {head.period_end.isoformat()}")
    table.add_row("opening balance", money(head.opening_balance))
    table.add_row("entries", f"{summary.count:,}")
    table.add_row("credits", money(summary.credits))
    table.add_row("debits", money(summary.debits))
    table.add_row("fees", money(summary.fees))
    table.add_row("closing balance", money(head.closing_balance))
    console.print(table)
    entries = Table(title=f"first {len(summary.sample)} entries")
    for column in ("booked at", "kind", "amount", "fee", "end-to-end id", "channel ref"):
        entries.add_column(column, justify="right" if column in ("amount", "fee") else "left")
    for e in summary.sample:
        entries.add_row(
            e.booked_at.isoformat(),
            escape(e.kind or ""),
            money(e.signed_amount),
            money(e.fee),
            escape(e.end_to_end_id or ""),
            escape(e.channel_ref or ""),
        )
    console.print(entries)
