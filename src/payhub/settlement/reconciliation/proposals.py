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
    """Money in (captures, a payout's return) positive; out (refunds, payouts) negative."""
    return -amount if kind in ("refund", "payout") else amount


def propose(
    *,
    break_type: str,
    channel_id: str,
    currency: str,
    difference: int,
    fee: int | None,
    settles_in: str | None = None,
    counter: str = SUSPENSE,
) -> dict[str, Any] | None:
    """The journal (as stored on the break) or None when there is nothing to post: a
    timing break clears itself, a zero difference needs no journal. `settles_in`: the
    account the statement's money moves through (default the channel's clearing account);
    `counter`: the account that takes the difference (default suspense; a write-off
    replaces it with write-offs)."""
    if break_type in ("timing", "custody_mismatch") or difference == 0:
        return None
    if break_type == "amount_mismatch" and fee and difference == -fee:
        counter = fees(channel_id)
    amount = abs(difference)
    settles = settles_in or clearing(channel_id)
    debit, credit = (settles, counter) if difference > 0 else (counter, settles)
    journal: dict[str, Any] = {
        "postings": [
            {"account": debit, "side": "debit", "amount": amount, "currency": currency},
            {"account": credit, "side": "credit", "amount": amount, "currency": currency},
        ],
        "description": f"Reconciliation: {break_type.replace('_', ' ')} at {channel_id}",
    }
    if counter not in (SUSPENSE, fees(channel_id)):
        journal["written_off"] = counter  # the leg a write-off moves to write-offs
    return journal


def journal_for(
    break_id: str, proposed: dict[str, Any], *, write_off: bool
) -> tuple[JournalSpec, list[AccountSpec]]:
    """The journal to post for a break (written off: the suspense leg goes to write-offs),
    with the accounts it needs. Its id is the break's, so posting twice posts once."""
    postings = []
    accounts = []
    written_off = proposed.get("written_off", SUSPENSE)
    for p in proposed["postings"]:
        account = WRITE_OFFS if write_off and p["account"] == written_off else p["account"]
        postings.append(PostingSpec(account, Side(p["side"]), int(p["amount"]), p["currency"]))
        # Every account opened here is debit-normal: clearing, custody and fees are
        # assets/expenses, and the suspense and write-off accounts hold differences of
        # either sign. (A merchant's balance, in a payout break's journal, exists already:
        # the payout was held from it; an existing account is kept as it is.)
        accounts.append(AccountSpec(code=account, currency=p["currency"], normal_side=Side.DEBIT))
    kind = "write-off" if write_off else "correction"
    spec = JournalSpec(
        postings=tuple(postings),
        id=f"recon:{break_id}",
        description=f"{proposed['description']} ({kind})"[:500],
        metadata={"reconciliation_break": break_id},
    )
    return spec, accounts
