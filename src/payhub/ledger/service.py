"""The ledger's public service layer: other modules call these, never the tables."""

from payhub.ledger.accounts import (
    create_account,
    ensure_account,
    find_account,
    get_account,
    get_balance,
    list_accounts,
    list_entries,
    update_account,
)
from payhub.ledger.domain import (
    AccountView,
    BalanceView,
    EntryView,
    HoldView,
    JournalOutcome,
    JournalSpec,
    JournalView,
    PostingSpec,
    Side,
)
from payhub.ledger.holds import create_hold, expire_holds, get_hold, post_hold, void_hold
from payhub.ledger.journals import (
    get_journal,
    list_journals,
    post_journal,
    post_journals,
    reversal_of,
    reverse_journal,
)
from payhub.ledger.posting import MAX_BATCH, MAX_POSTINGS

__all__ = [
    "MAX_BATCH",
    "MAX_POSTINGS",
    "AccountView",
    "BalanceView",
    "EntryView",
    "HoldView",
    "JournalOutcome",
    "JournalSpec",
    "JournalView",
    "PostingSpec",
    "Side",
    "create_account",
    "create_hold",
    "ensure_account",
    "expire_holds",
    "find_account",
    "get_account",
    "get_balance",
    "get_hold",
    "get_journal",
    "list_accounts",
    "list_entries",
    "list_journals",
    "post_hold",
    "post_journal",
    "post_journals",
    "reversal_of",
    "reverse_journal",
    "update_account",
    "void_hold",
]
