"""The journal proposed for a payout rail's break. A rail's statement lists the money that
left the custody account (payouts) and came back to it (returns), so `bank:custody` takes
the place a card channel's clearing account has; the difference is the statement's money
in less ours (a payout counts out, a return in).

- The rail paid a payout we recorded failed: the payee has the money and the merchant's
  balance was given it back when the hold was voided. Debit the merchant's balance,
  credit custody (a write-off debits `recon:write_offs` instead: the platform bears it).
  The merchant's balance may not be overdrawn: if it no longer holds the amount, posting
  is refused and the operator writes it off or recovers it from the payee.
- A return we have not booked, or a line naming a payout still in transit: nothing. The
  payouts jobs book those (`payouts.returns`, `payouts.resolve`) when the rail answers;
  a journal here as well would book them twice. The break says so for the operator.
- Anything else (a payout we recorded paid missing from the statement, a line naming
  nothing of ours, an amount that differs, a payout listed twice): custody against
  `recon:suspense` while it is investigated, as for a card channel.
"""

from __future__ import annotations

from typing import Any

from payhub.settlement.reconciliation.proposals import propose

CUSTODY = "bank:custody"


def propose_payout(
    *,
    break_type: str,
    rail_id: str,
    kind: str,
    currency: str,
    difference: int,
    payout_status: str | None = None,
    merchant_id: str | None = None,
) -> tuple[dict[str, Any] | None, str | None]:
    """The proposed journal and, when it needs one, a note for the operator."""
    if break_type == "missing_in_ledger" and kind == "return":
        return None, (
            "a return we have not booked: payouts.returns books it when the rail answers RT "
            "(a journal here would book it twice)"
        )
    if break_type == "missing_in_ledger" and payout_status in ("pending", "in_transit"):
        return None, (
            f"the payout is {payout_status} in our books: payouts.resolve books the rail's "
            "answer (a journal here would book it twice)"
        )
    if break_type == "missing_in_ledger" and payout_status == "failed" and merchant_id:
        journal = propose(
            break_type=break_type,
            channel_id=rail_id,
            currency=currency,
            difference=difference,
            fee=None,
            settles_in=CUSTODY,
            counter=f"merchant:{merchant_id}:available",
        )
        return journal, (
            "the rail paid a payout we recorded failed: the payee has the money; the journal "
            "takes it back from the merchant's balance (write off: the platform bears it)"
        )
    journal = propose(
        break_type=break_type,
        channel_id=rail_id,
        currency=currency,
        difference=difference,
        fee=None,
        settles_in=CUSTODY,
    )
    note = None
    if break_type == "missing_on_statement" and kind == "payout":
        note = (
            "we recorded the payout paid; the rail does not list it: the money may still be "
            "in custody, held in suspense until the rail confirms either way"
        )
    return journal, note
