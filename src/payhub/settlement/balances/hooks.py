"""Real-time settlement, called by the payment state machine right after a capture's or a
refund's journal, in the same transaction.

- Capture of a real-time merchant: what the capture journal put into pending (net of any
  fee postings in that journal) moves on at once: available, less the rolling reserve.
- Refund of a real-time merchant: the refund journal took the money out of pending; it is
  taken back into pending from available, and from reserve when available is short. What
  neither holds (a refund larger than the merchant's balances) stays owed in pending, and
  the next daily run recovers it from later money.
- T+1 merchants: nothing here; the daily run settles them.
- A moment the business-day calendar does not cover (its year is not in the file): the
  money stays in pending and the payment goes on; the daily run settles it once the year
  is added (it refuses those days until then).

Costs the payment path one read (the merchant's settings) for every merchant, and for
real-time merchants one more journal (plus one balance read for refunds).
"""

from __future__ import annotations

import logging

from payhub.core import clock
from payhub.core.errors import PayHubError
from payhub.db.sql import Sql
from payhub.ledger.service import JournalSpec, Side
from payhub.settlement.balances import entries, journals, settings
from payhub.settlement.balances.journals import Movement

log = logging.getLogger("payhub.settlement")


def pending_effect(journal: JournalSpec, merchant_id: str) -> int:
    """What a journal adds to the merchant's pending balance (negative: takes away)."""
    code = journals.pending_code(merchant_id)
    return sum(
        p.amount if p.side is Side.CREDIT else -p.amount
        for p in journal.postings
        if p.account == code
    )


async def after_money_moved(sql: Sql, *, merchant_id: str, journal: JournalSpec) -> None:
    """Settle a real-time merchant's capture or refund journal (just recorded) now."""
    effect = pending_effect(journal, merchant_id)
    if effect == 0 or journal.id is None:
        return
    merchant = await settings.get_settings(sql, merchant_id)
    if not merchant.realtime:
        return
    currency = journal.postings[0].currency
    now = clock.now()
    try:
        business_day = merchant.business_calendar().business_day_of(now)
    except PayHubError as error:
        if error.code != "calendar_year_unknown":
            raise
        # No guessing the business day: a capture must not fail for the calendar either.
        log.warning(
            "real-time settlement deferred: %s",
            error.message(),
            extra={"merchant": merchant_id, "journal": journal.id},
        )
        return
    metadata = {"merchant": merchant_id, "reference": journal.id}
    if effect > 0:
        move = Movement(effect, reserve=journals.reserve_of(effect, merchant.reserve_bps))
        entry_id = f"stl_rt_{journal.id}"
        spec = journals.settlement_spec(
            entry_id,
            merchant_id,
            currency,
            move,
            description=f"Real-time settlement of {journal.id}",
            metadata=metadata,
        )
        if not await journals.record(sql, spec, merchant_id):
            return  # settled before: the payment step ran again
        kind = "realtime"
    else:
        entry_id = f"stl_rf_{journal.id}"
        move = await journals.record_recovery(
            sql,
            merchant_id,
            currency,
            -effect,
            journal_id=entry_id,
            description=f"Refund {journal.id} covered from available funds",
            metadata=metadata,
        )
        if move.amount == 0:
            return  # nothing to take it from now: the daily run recovers it later
        kind = "refund"
    await entries.add_entry(
        sql,
        entry_id=entry_id,
        merchant_id=merchant_id,
        currency=currency,
        kind=kind,
        mode="realtime",
        business_day=business_day,
        move=move,
        now=now,
        reserve_days=merchant.reserve_days,
        reference=journal.id,
    )
