"""Plain values the ledger takes and gives: what other modules build and read."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from payhub.core.errors import PayHubError


class Side(StrEnum):
    DEBIT = "debit"
    CREDIT = "credit"

    @property
    def opposite(self) -> Side:
        return Side.CREDIT if self is Side.DEBIT else Side.DEBIT


@dataclass(frozen=True, slots=True)
class PostingSpec:
    """One line of a journal to post. `account` is an account id (`acct_…`) or a code
    (`platform:fees`); a code is looked up together with `currency`."""

    account: str
    side: Side
    amount: int
    currency: str


@dataclass(frozen=True, slots=True)
class JournalSpec:
    postings: tuple[PostingSpec, ...]
    id: str | None = None
    description: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    # In a batch: this journal and the next one are posted together or not at all.
    linked: bool = False


@dataclass(frozen=True, slots=True)
class AccountView:
    id: str
    code: str
    currency: str
    name: str
    owner: str | None
    normal_side: Side
    debits_must_not_exceed_credits: bool
    credits_must_not_exceed_debits: bool
    shards: int
    metadata: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class BalanceView:
    account_id: str
    currency: str
    normal_side: Side
    debits_posted: int
    credits_posted: int
    debits_pending: int
    credits_pending: int
    as_of: datetime | None = None

    @property
    def posted(self) -> int:
        """Posted balance on the account's normal side (may be negative)."""
        if self.normal_side is Side.DEBIT:
            return self.debits_posted - self.credits_posted
        return self.credits_posted - self.debits_posted

    @property
    def pending(self) -> int:
        """Net effect of unresolved holds on the normal side."""
        if self.normal_side is Side.DEBIT:
            return self.debits_pending - self.credits_pending
        return self.credits_pending - self.debits_pending

    @property
    def available(self) -> int:
        """Posted balance less what holds have reserved against it."""
        if self.normal_side is Side.DEBIT:
            return self.debits_posted - self.credits_posted - self.credits_pending
        return self.credits_posted - self.debits_posted - self.debits_pending


@dataclass(frozen=True, slots=True)
class EntryView:
    id: str
    journal_id: str
    account_id: str
    account_code: str
    side: Side
    amount: int
    currency: str
    pending: bool
    posted_at: datetime


JournalKind = Literal["standard", "hold", "hold_post", "reversal"]


@dataclass(frozen=True, slots=True)
class JournalView:
    id: str
    kind: JournalKind
    description: str | None
    metadata: dict[str, Any]
    postings: tuple[EntryView, ...]
    posted_at: datetime
    reverses_journal_id: str | None = None
    hold_id: str | None = None


HoldStatus = Literal["pending", "posted", "voided", "expired"]


@dataclass(frozen=True, slots=True)
class HoldView:
    id: str
    status: HoldStatus
    description: str | None
    metadata: dict[str, Any]
    postings: tuple[EntryView, ...]
    created_at: datetime
    expires_at: datetime | None
    resolved_at: datetime | None
    post_journal: JournalView | None


OutcomeStatus = Literal["created", "duplicate", "rejected"]


@dataclass(frozen=True, slots=True)
class JournalOutcome:
    """What happened to one journal of a batch."""

    index: int
    status: OutcomeStatus
    journal: JournalView | None = None
    error: PayHubError | None = None
