"""A split batch's bank files: the pain.001 credit transfer file for the payouts awaiting the
bank, and the bank's pain.002 status report applied back onto those payouts.

The file goes to the partner bank, which pays from the platform's custody account: the
debtor is the platform (`PAYHUB_BANK_FILE_*`), each creditor a receiver's bank account,
revealed from the vault for the file only. Each transfer names the payout (`EndToEndId`),
our request id for it (`InstrId`, the id its rail call carries too, so a bank that got a
transfer both ways acts once) and its rail (`LclInstrm/Prtry`).

A status report settles payouts through `payouts.record_answer`, the same step the rails'
answers and the resolver's queries take: one code path for a payout's outcome. The whole
report is checked before anything is written; a status that contradicts what a payout
already is (paid, reported rejected) refuses the report.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.audit import service as audit
from payhub.channels.base import ChannelResult, ChannelStatus, response_code
from payhub.core import clock
from payhub.core.errors import PayHubError
from payhub.core.logging import scrub
from payhub.iso20022 import pain001, pain002
from payhub.iso20022.pain002 import StatusOutcome
from payhub.settlement.calendar import BusinessCalendar, load_calendar
from payhub.settlement.payouts import service as payouts
from payhub.settlement.payouts.config import get_config as payout_config
from payhub.settlement.payouts.models import Payout
from payhub.splits import service
from payhub.vault import service as vault

EXPORTED = "split_batch.pain001_exported"
IMPORTED = "split_batch.pain002_imported"
# Payouts the bank still has to act on: the file's transfers.
AWAITING = ("pending", "in_transit")
# Execution dates are the partner bank's business day: China time.
BANK_DAY = timezone(timedelta(hours=8))
_PAGE = 500


class BankFileConfig(BaseSettings):
    """The debtor of every pain.001: the platform's custody account at the partner bank."""

    model_config = SettingsConfigDict(env_prefix="PAYHUB_BANK_FILE_", extra="ignore")

    debtor_name: str = "PayHub"
    debtor_account: str = "PAYHUB-CUSTODY"
    # The partner bank's BIC or clearing code; None: `PAYHUB_PAYOUT_PARTNER_BANK`.
    debtor_bank: str | None = None


@dataclass(frozen=True, slots=True)
class Export:
    batch_id: str
    message_id: str
    transfers: int
    file: bytes = field(repr=False)  # holds account numbers: never logged, never stored

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.file).hexdigest()


def message_id(batch_id: str, payout_ids: list[str]) -> str:
    """The file's id: the batch and a digest of the payouts it carries. The same payouts
    give the same id, so a bank refusing a repeated message id refuses a file sent twice."""
    digest = hashlib.sha256("|".join(payout_ids).encode()).hexdigest()[:4]
    return f"{batch_id}-{digest}"


async def _batch_payouts(session: AsyncSession, batch_id: str) -> dict[str, Payout]:
    """Every payout ever made for the batch (retried lines have several), by id."""
    found: dict[str, Payout] = {}
    after: str | None = None
    filters = payouts.PayoutFilter(split_batch_id=batch_id)
    while True:
        rows, more = await payouts.list_payouts(session, filters, limit=_PAGE, starting_after=after)
        found |= {r.id: r for r in rows}
        if not more or not rows:
            return found
        after = rows[-1].id


async def export_pain001(
    session: AsyncSession, batch_id: str, *, config: BankFileConfig | None = None
) -> Export:
    """The pain.001.001.09 file of the batch's payouts awaiting the bank (`pending` or
    `in_transit`), in line order. The export is written to the audit log in this
    transaction (who, which batch, how many transfers, the file's digest; never a number)."""
    config = config or BankFileConfig()
    batch = await service.get_batch(session, batch_id, merchant_id=None)
    rows = await _batch_payouts(session, batch.id)
    awaiting = [
        t
        for t in await service.batch_transfers(session, batch.id)
        if rows.get(t.end_to_end_id) is not None and rows[t.end_to_end_id].status in AWAITING
    ]
    if not awaiting:
        raise PayHubError("split_batch_nothing_to_export", batch=batch.id)
    transfers = []
    for t in awaiting:
        payout = rows[t.end_to_end_id]
        account = await vault.reveal_bank_account(session, t.account_token)
        transfers.append(
            pain001.CreditTransfer(
                end_to_end_id=t.end_to_end_id,
                amount=t.amount,
                currency=t.currency,
                creditor_name=t.receiver_name,
                creditor_account=account.account_number,
                creditor_bank_code=t.bank_code,
                remittance_info=f"Split batch {batch.id}",
                instruction_id=payout.request_id,
                local_instrument=payout.rail,
                creditor_id=payout.merchant_id,
            )
        )
    now = clock.now()
    ident = message_id(batch.id, [t.end_to_end_id for t in transfers])
    data = pain001.write(
        pain001.PaymentBatch(
            message_id=ident,
            created_at=now,
            debtor_name=config.debtor_name,
            debtor_account=config.debtor_account,
            debtor_bank_code=config.debtor_bank or payout_config().partner_bank,
            requested_execution_date=now.astimezone(BANK_DAY).date(),
            transfers=transfers,
        )
    )
    made = Export(batch.id, ident, len(transfers), data)
    await audit.record(
        session,
        EXPORTED,
        target_type="split_batch",
        target_id=batch.id,
        details={"message_id": ident, "transfers": len(transfers), "sha256": made.sha256},
    )
    return made


# ------------------------------------------------------------------------ status reports


@dataclass(frozen=True, slots=True)
class Imported:
    """What a status report did to the batch's payouts."""

    batch_id: str
    message_id: str
    paid: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)  # still awaiting the bank
    unchanged: list[str] = field(default_factory=list)  # already what the report says

    def summary(self) -> dict[str, object]:
        return {
            "message_id": self.message_id,
            "paid": len(self.paid),
            "failed": len(self.failed),
            "pending": len(self.pending),
            "unchanged": len(self.unchanged),
        }


# What each payout state already agrees with: a report saying so changes nothing.
_AGREES = {
    StatusOutcome.PAID: ("paid", "returned"),  # a returned payout was paid first
    StatusOutcome.FAILED: ("failed",),
}


def answer_of(status: pain002.TransactionStatus) -> ChannelResult:
    """A bank's transaction status as a rail's answer, for `payouts.record_answer`."""
    if status.status.outcome is StatusOutcome.PAID:
        return ChannelResult(ChannelStatus.APPROVED, raw_code=status.status.value)
    reason = status.reason_code
    message = status.status.value + (f" {reason}" if reason else "")
    if status.additional_info:
        # The bank's free text may quote an account number: masked before it is kept.
        message += f": {scrub(status.additional_info)}"
    # The reason code is kept as the payout's raw code when the catalogue knows it.
    known = reason is not None and response_code(reason).error_code == "payout_rejected"
    raw = reason if known else status.status.value
    return ChannelResult(ChannelStatus.DECLINED, raw_code=raw, raw_message=message)


def _plan(
    report: pain002.StatusReport, batch_id: str, rows: dict[str, Payout]
) -> list[tuple[Payout, pain002.TransactionStatus]]:
    """Every status checked against its payout before anything is written."""
    if report.original_message_name != pain001.MESSAGE.value:
        raise PayHubError(
            "bank_file_mismatch",
            param="OrgnlMsgNmId",
            batch=batch_id,
            detail=f"it answers a {report.original_message_name[:35]} message",
        )
    if not report.original_message_id.startswith(f"{batch_id}-"):
        raise PayHubError(
            "bank_file_mismatch",
            param="OrgnlMsgId",
            batch=batch_id,
            detail="it answers another batch's file",
        )
    if not report.transactions:
        raise PayHubError(
            "bank_file_mismatch", param="TxInfAndSts", batch=batch_id, detail="no transfer status"
        )
    plan = []
    for end_to_end_id, status in report.transactions.items():
        row = rows.get(end_to_end_id)
        if row is None:
            raise PayHubError(
                "bank_status_unknown_payout",
                param="OrgnlEndToEndId",
                payout=end_to_end_id[:40],
                batch=batch_id,
            )
        outcome = status.status.outcome
        agrees = _AGREES.get(outcome)
        if agrees is not None and row.status not in (*AWAITING, *agrees):
            raise PayHubError(
                "bank_status_conflict",
                param="TxSts",
                status=status.status.value,
                payout=row.id,
                current=row.status,
            )
        plan.append((row, status))
    return plan


async def import_pain002(session: AsyncSession, batch_id: str, data: bytes) -> Imported:
    """Apply the bank's pain.002 status report to the batch's payouts: ACSC/ACCC → paid,
    RJCT/CANC → failed with the reason code, any other status → still awaiting the bank.
    A report for another batch, naming a payout not of this batch, or contradicting a
    settled payout is refused whole; the same report again changes nothing."""
    report = pain002.read(data)
    batch = await service.get_batch(session, batch_id, merchant_id=None, lock=True)
    plan = _plan(report, batch.id, await _batch_payouts(session, batch.id))
    done = Imported(batch.id, report.message_id)
    for row, status in plan:
        outcome = status.status.outcome
        if outcome is StatusOutcome.PENDING:
            done.pending.append(row.id)
            continue
        if row.status in _AGREES[outcome]:
            done.unchanged.append(row.id)
            continue
        if row.status == "pending":
            # The bank acted on the file before the payout was sent any other way: it is
            # sent now (screened again, committed in transit) and its answer recorded.
            await payouts.start_send(session, row.id)
        settled = await payouts.record_answer(session, row.id, answer_of(status))
        if settled.status in ("paid", "returned"):
            done.paid.append(row.id)
        elif settled.status == "failed":
            done.failed.append(row.id)
        else:
            done.pending.append(row.id)
    await service.sync_lines(session, batch.id)
    await audit.record(
        session,
        IMPORTED,
        target_type="split_batch",
        target_id=batch.id,
        details={
            "original_message_id": report.original_message_id,
            "sha256": hashlib.sha256(data).hexdigest(),
            **done.summary(),
        },
    )
    return done


# ------------------------------------------------------------------------------ overdue


def overdue_cutoff(now: datetime, days: int, calendar: BusinessCalendar) -> datetime:
    """File payouts opened before this moment have waited `days` full business days of
    the partner bank for their status report: the latest business day whose cut-off has
    passed, stepped back `days` business days, at its cut-off."""
    day = calendar.last_cutoff_day(now)
    for _ in range(days):
        day = calendar.previous_business_day(day)
    return calendar.cutoff_moment(day)


async def overdue_payouts(
    session: AsyncSession,
    *,
    days: int | None = None,
    calendar: BusinessCalendar | None = None,
    limit: int = 500,
) -> list[Payout]:
    """Bank-file payouts still unanswered after `days` business days
    (`PAYHUB_PAYOUT_BANK_FILE_OVERDUE_DAYS`): to chase with the bank. They stay in transit:
    only the bank's status report says whether they were paid."""
    cutoff = overdue_cutoff(
        clock.now(), days or payout_config().bank_file_overdue_days, calendar or load_calendar()
    )
    return await payouts.overdue_file_payouts(session, sent_before=cutoff, limit=limit)
