"""The simulated partner bank's file desk: it reads a pain.001 credit transfer file, executes
each transfer on the payout rail the file names (the same world and draws as a rail call,
keyed by the transfer's instruction id, so a transfer that also arrived by its rail is
executed once), and answers with the pain.002 status report a bank would send."""

from __future__ import annotations

import hashlib

from payhub.channels.base import BankAccount, PayoutRequest
from payhub.channels.sim.network import SimulatedNetwork
from payhub.core import clock
from payhub.iso20022 import pain001, pain002
from payhub.iso20022.pain002 import PaymentStatus, TransactionStatus

# Rail response codes as ISO 20022 external status reasons.
_REASONS = {
    "14": "AC01",  # the account number is not valid
    "51": "AM04",  # insufficient funds
    "58": "AG01",  # not permitted on this rail
    "61": "AG01",
}


def _reason(raw_code: str | None) -> str:
    return _REASONS.get(raw_code or "", "MS03")


def answer_pain001(
    network: SimulatedNetwork,
    data: bytes,
    *,
    default_rail: str,
    partner_bank: str | None = None,
    partner_rail: str = "partner_internal",
) -> bytes:
    """Execute the file's transfers and report on each: `ACSC` paid, `RJCT` with a reason
    code refused, `PDNG` when the rail has not acted on it (the request never arrived).
    A transfer naming no rail of the network (a payout sent only by file) is routed as the
    bank would: in-house (`partner_rail`) to an account at `partner_bank`, else
    `default_rail`."""
    batch = pain001.read(data)
    rails = set(network.scenario.rail_ids)
    statuses = []
    for transfer in batch.transfers:
        if transfer.local_instrument in rails:
            rail = transfer.local_instrument
        elif partner_bank is not None and transfer.creditor_bank_code == partner_bank:
            rail = partner_rail
        else:
            rail = default_rail
        request_id = transfer.instruction_id or transfer.end_to_end_id
        network.payout(
            rail,
            PayoutRequest(
                request_id=request_id,
                payout_id=transfer.end_to_end_id,
                merchant_id=transfer.creditor_id or "",
                amount=transfer.amount,
                currency=transfer.currency,
                account=BankAccount(
                    bank_code=transfer.creditor_bank_code or "",
                    account_number=transfer.creditor_account,
                    account_name=transfer.creditor_name,
                ),
            ),
        )
        # What the rail decided, whether or not its answer would have reached a caller.
        truth = network.lookup(rail, request_id)
        if truth is None:
            statuses.append(TransactionStatus(transfer.end_to_end_id, PaymentStatus.PDNG))
        elif truth.raw_code == "00":
            statuses.append(TransactionStatus(transfer.end_to_end_id, PaymentStatus.ACSC))
        else:
            statuses.append(
                TransactionStatus(
                    transfer.end_to_end_id, PaymentStatus.RJCT, _reason(truth.raw_code)
                )
            )
    digest = hashlib.sha256(batch.message_id.encode()).hexdigest()[:28].upper()
    return pain002.write(
        pain002.StatusReport.of(
            message_id=f"RPT-{digest}",
            created_at=clock.now(),
            original_message_id=batch.message_id,
            statuses=statuses,
        )
    )
