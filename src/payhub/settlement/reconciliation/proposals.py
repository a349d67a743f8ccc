"""The correcting journal proposed for a break: what would make the ledger's
`channel:<id>:clearing` agree with the channel, against the account that takes the
difference. Proposed only; an operator's resolution posts it.

- The difference is what the channel owes us by its statement less what it owes us by our
  books (captures count in, refunds out).
- A shortfall that equals the line's fee is the channel netting its fee: it goes to
  `channel:<id>:fees` (an expense). Anything else waits in `recon:suspense` while it is
  investigated, or, written off, lands in `recon:write_offs`.
"""

from __future__ import annotations

from typing import Any

from payhub.ledger.service import AccountSpec, JournalSpec, PostingSpec, Side

SUSPENSE = "recon:suspense"
WRITE_OFFS = "recon:write_offs"


def clearing(channel_id: str) -> str:
    return f"channel:{channel_id}:clearing"


def fees(channel_id: str) -> str:
    return f"channel:{channel_id}:fees"


def signed(kind: str, amount: int) -> int:
    return -amount if kind == "refund" else amount


def propose(
    *,
    break_type: str,
    channel_id: str,
    currency: str,
    difference: int,
    fee: int | None,
) -> dict[str, Any] | None:
    """The journal (as stored on the break) or None when there is nothing to post: a
    timing break clears itself, a zero difference needs no journal."""
    if break_type in ("timing", "custody_mismatch") or difference == 0:
        return None
    counter = SUSPENSE
    if break_type == "amount_mismatch" and fee and difference == -fee:
        counter = fees(channel_id)
    amount = abs(difference)
    debit, credit = (
        (clearing(channel_id), counter) if difference > 0 else (counter, clearing(channel_id))
    )
    return {
        "postings": [
            {"account": debit, "side": "debit", "amount": amount, "currency": currency},
            {"account": credit, "side": "credit", "amount": amount, "currency": currency},
        ],
        "description": f"Reconciliation: {break_type.replace('_', ' ')} at {channel_id}",
    }


def journal_for(
    break_id: str, proposed: dict[str, Any], *, write_off: bool
) -> tuple[JournalSpec, list[AccountSpec]]:
    """The journal to post for a break (written off: the suspense leg goes to write-offs),
    with the accounts it needs. Its id is the break's, so posting twice posts once."""
    postings = []
    accounts = []
    for p in proposed["postings"]:
        account = WRITE_OFFS if write_off and p["account"] == SUSPENSE else p["account"]
        postings.append(PostingSpec(account, Side(p["side"]), int(p["amount"]), p["currency"]))
        # Every account here is debit-normal: clearing and fees are assets/expenses, and the
        # suspense and write-off accounts hold differences of either sign.
        accounts.append(AccountSpec(code=account, currency=p["currency"], normal_side=Side.DEBIT))
    kind = "write-off" if write_off else "correction"
    spec = JournalSpec(
        postings=tuple(postings),
        id=f"recon:{break_id}",
        description=f"{proposed['description']} ({kind})"[:500],
        metadata={"reconciliation_break": break_id},
    )
    return spec, accounts
