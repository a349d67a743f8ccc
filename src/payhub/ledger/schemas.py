"""The ledger's API shapes."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, StrictBool, StrictInt

from payhub.api.schemas import StrictModel, Timestamp
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

SideName = Literal["debit", "credit"]


class PostingIn(StrictModel):
    account: str = Field(min_length=1, max_length=160, description="Account id or code.")
    side: SideName
    amount: StrictInt = Field(description="Positive integer, minor units.")
    currency: str = Field(min_length=1, max_length=8)

    def to_spec(self) -> PostingSpec:
        return PostingSpec(self.account, Side(self.side), self.amount, self.currency)


class JournalIn(StrictModel):
    id: str | None = Field(
        default=None,
        max_length=64,
        description="Your id for the journal; posting it again with the same content is a no-op.",
    )
    description: str | None = Field(default=None, max_length=500)
    metadata: dict[str, str] = Field(default_factory=dict)
    postings: list[PostingIn]
    linked: StrictBool = Field(
        default=False, description="In a batch: stand or fall together with the next journal."
    )

    def to_spec(self) -> JournalSpec:
        return JournalSpec(
            postings=tuple(p.to_spec() for p in self.postings),
            id=self.id,
            description=self.description,
            metadata=self.metadata,
            linked=self.linked,
        )


class BatchIn(StrictModel):
    journals: list[JournalIn] = Field(min_length=1)


class AccountFlags(StrictModel):
    debits_must_not_exceed_credits: StrictBool = False
    credits_must_not_exceed_debits: StrictBool = False


class AccountIn(StrictModel):
    code: str = Field(min_length=1, max_length=160, examples=["merchant:mer_123:available"])
    currency: str = Field(min_length=1, max_length=8)
    normal_side: SideName
    name: str | None = Field(default=None, max_length=200)
    owner: str | None = Field(default=None, max_length=64)
    flags: AccountFlags = Field(default_factory=AccountFlags)
    shards: StrictInt = Field(default=1, description="More than 1 makes a hot account.")
    metadata: dict[str, str] = Field(default_factory=dict)


class AccountUpdateIn(StrictModel):
    name: str | None = Field(default=None, max_length=200)
    metadata: dict[str, str] | None = None


class HoldIn(StrictModel):
    id: str | None = Field(default=None, max_length=64)
    description: str | None = Field(default=None, max_length=500)
    metadata: dict[str, str] = Field(default_factory=dict)
    postings: list[PostingIn]
    expires_at: Timestamp | None = Field(default=None, description="When the hold lapses.")

    def to_spec(self) -> JournalSpec:
        return JournalSpec(
            postings=tuple(p.to_spec() for p in self.postings),
            id=self.id,
            description=self.description,
            metadata=self.metadata,
        )


class HoldPostIn(StrictModel):
    journal_id: str | None = Field(default=None, max_length=64)
    description: str | None = Field(default=None, max_length=500)
    postings: list[PostingIn] | None = Field(
        default=None, description="Post only these lines (default: everything held)."
    )


class ReverseIn(StrictModel):
    id: str | None = Field(default=None, max_length=64, description="Id of the reversal journal.")
    description: str | None = Field(default=None, max_length=500)


class AccountOut(BaseModel):
    object: Literal["ledger_account"] = "ledger_account"
    id: str
    code: str
    currency: str
    name: str
    owner: str | None
    normal_side: SideName
    flags: AccountFlags
    shards: int
    metadata: dict[str, Any]
    created_at: Timestamp

    @classmethod
    def of(cls, view: AccountView) -> AccountOut:
        return cls(
            id=view.id,
            code=view.code,
            currency=view.currency,
            name=view.name,
            owner=view.owner,
            normal_side=view.normal_side.value,
            flags=AccountFlags(
                debits_must_not_exceed_credits=view.debits_must_not_exceed_credits,
                credits_must_not_exceed_debits=view.credits_must_not_exceed_debits,
            ),
            shards=view.shards,
            metadata=view.metadata,
            created_at=view.created_at,
        )


class BalanceOut(BaseModel):
    object: Literal["ledger_balance"] = "ledger_balance"
    account: str
    currency: str
    posted: int = Field(description="Posted balance on the account's normal side.")
    pending: int = Field(description="Net of unresolved holds on the normal side.")
    available: int = Field(description="Posted balance less what holds reserve against it.")
    debits_posted: int
    credits_posted: int
    debits_pending: int
    credits_pending: int
    as_of: Timestamp | None

    @classmethod
    def of(cls, view: BalanceView) -> BalanceOut:
        return cls(
            account=view.account_id,
            currency=view.currency,
            posted=view.posted,
            pending=view.pending,
            available=view.available,
            debits_posted=view.debits_posted,
            credits_posted=view.credits_posted,
            debits_pending=view.debits_pending,
            credits_pending=view.credits_pending,
            as_of=view.as_of,
        )


class EntryOut(BaseModel):
    object: Literal["ledger_entry"] = "ledger_entry"
    id: str
    journal: str
    account: str
    account_code: str
    side: SideName
    amount: int
    currency: str
    pending: bool
    posted_at: Timestamp

    @classmethod
    def of(cls, view: EntryView) -> EntryOut:
        return cls(
            id=view.id,
            journal=view.journal_id,
            account=view.account_id,
            account_code=view.account_code,
            side=view.side.value,
            amount=view.amount,
            currency=view.currency,
            pending=view.pending,
            posted_at=view.posted_at,
        )


class JournalOut(BaseModel):
    object: Literal["ledger_journal"] = "ledger_journal"
    id: str
    kind: Literal["standard", "hold", "hold_post", "reversal"]
    description: str | None
    metadata: dict[str, Any]
    postings: list[EntryOut]
    posted_at: Timestamp
    reverses: str | None
    hold: str | None

    @classmethod
    def of(cls, view: JournalView) -> JournalOut:
        return cls(
            id=view.id,
            kind=view.kind,
            description=view.description,
            metadata=view.metadata,
            postings=[EntryOut.of(p) for p in view.postings],
            posted_at=view.posted_at,
            reverses=view.reverses_journal_id,
            hold=view.hold_id,
        )


class ErrorDetail(BaseModel):
    code: str
    type: str
    message: str
    param: str | None
    retryable: bool


class BatchItemOut(BaseModel):
    index: int
    status: Literal["created", "duplicate", "rejected"]
    journal: JournalOut | None
    error: ErrorDetail | None

    @classmethod
    def of(cls, outcome: JournalOutcome, language: str) -> BatchItemOut:
        error = None
        if outcome.error is not None:
            e = outcome.error
            error = ErrorDetail(
                code=e.code,
                type=e.spec.type.value,
                message=e.message(language),
                param=e.param,
                retryable=e.spec.retryable,
            )
        return cls(
            index=outcome.index,
            status=outcome.status,
            journal=JournalOut.of(outcome.journal) if outcome.journal else None,
            error=error,
        )


class BatchOut(BaseModel):
    object: Literal["ledger_batch_result"] = "ledger_batch_result"
    created: int
    duplicates: int
    rejected: int
    results: list[BatchItemOut]


class HoldOut(BaseModel):
    object: Literal["ledger_hold"] = "ledger_hold"
    id: str
    status: Literal["pending", "posted", "voided", "expired"]
    description: str | None
    metadata: dict[str, Any]
    postings: list[EntryOut]
    created_at: Timestamp
    expires_at: Timestamp | None
    resolved_at: Timestamp | None
    post_journal: JournalOut | None

    @classmethod
    def of(cls, view: HoldView) -> HoldOut:
        return cls(
            id=view.id,
            status=view.status,
            description=view.description,
            metadata=view.metadata,
            postings=[EntryOut.of(p) for p in view.postings],
            created_at=view.created_at,
            expires_at=view.expires_at,
            resolved_at=view.resolved_at,
            post_journal=JournalOut.of(view.post_journal) if view.post_journal else None,
        )
