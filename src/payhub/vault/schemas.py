"""API shapes of payment methods (tokenised cards and bank accounts).

Inputs carry the number; outputs never do: first six and last four digits of a card, last
four of an account. There is no CVV field: a CVV is taken only when a payment is confirmed.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, StrictInt

from payhub.api.schemas import StrictModel, Timestamp
from payhub.vault.service import BankAccountView, CardView, Detokenized


class CardIn(StrictModel):
    number: str = Field(min_length=1, max_length=40, description="The card number (PAN).")
    exp_month: StrictInt
    exp_year: StrictInt
    holder_name: str | None = Field(default=None, max_length=100)


class BankAccountIn(StrictModel):
    bank_code: str = Field(min_length=1, max_length=20, examples=["ICBC"])
    account_number: str = Field(min_length=1, max_length=40)
    holder_name: str = Field(min_length=1, max_length=100)


class PaymentMethodIn(StrictModel):
    type: Literal["card", "bank_account"]
    merchant: str | None = Field(default=None, description="Operator keys only.")
    customer: str | None = Field(default=None, description="The customer the card belongs to.")
    owner: str | None = Field(
        default=None,
        max_length=64,
        description="Bank accounts: whose account (a merchant, supplier or group leader id).",
    )
    card: CardIn | None = None
    bank_account: BankAccountIn | None = None


class IssuerOut(BaseModel):
    code: str
    name_en: str
    name_zh: str


class CardOut(BaseModel):
    first6: str
    last4: str
    brand: str
    card_type: Literal["debit", "credit"] | str
    issuer: IssuerOut
    exp_month: int
    exp_year: int
    fingerprint: str


class BankAccountOut(BaseModel):
    bank: IssuerOut
    holder_name: str
    last4: str
    owner: str
    fingerprint: str


class PaymentMethodOut(BaseModel):
    object: Literal["payment_method"] = "payment_method"
    id: str
    type: Literal["card", "bank_account"]
    merchant: str
    customer: str | None
    card: CardOut | None
    bank_account: BankAccountOut | None
    created_at: Timestamp

    @classmethod
    def of_card(cls, view: CardView) -> PaymentMethodOut:
        return cls(
            id=view.token,
            type="card",
            merchant=view.merchant_id,
            customer=view.customer_id,
            card=CardOut(
                first6=view.first6,
                last4=view.last4,
                brand=view.brand,
                card_type=view.card_type,
                issuer=IssuerOut(
                    code=view.issuer_code, name_en=view.issuer_name_en, name_zh=view.issuer_name_zh
                ),
                exp_month=view.exp_month,
                exp_year=view.exp_year,
                fingerprint=view.fingerprint,
            ),
            bank_account=None,
            created_at=view.created_at,
        )

    @classmethod
    def of_bank_account(cls, view: BankAccountView, merchant_id: str) -> PaymentMethodOut:
        return cls(
            id=view.token,
            type="bank_account",
            merchant=merchant_id,
            customer=None,
            card=None,
            bank_account=BankAccountOut(
                bank=IssuerOut(
                    code=view.bank_code, name_en=view.bank_name_en, name_zh=view.bank_name_zh
                ),
                holder_name=view.holder_name,
                last4=view.last4,
                owner=view.owner_ref,
                fingerprint=view.fingerprint,
            ),
            created_at=view.created_at,
        )


class DetokenizeIn(StrictModel):
    reason: str = Field(
        min_length=1,
        max_length=500,
        description="Why the number is needed (a ticket, a dispute…): kept in the audit log.",
    )


class RevealedCardOut(BaseModel):
    number: str = Field(description="The card number in clear.")
    exp_month: int
    exp_year: int
    brand: str
    card_type: str
    issuer: str


class RevealedBankAccountOut(BaseModel):
    account_number: str = Field(description="The account number in clear.")
    bank_code: str
    holder_name: str


class DetokenizedOut(BaseModel):
    object: Literal["detokenized_payment_method"] = "detokenized_payment_method"
    id: str
    type: Literal["card", "bank_account"]
    merchant: str
    card: RevealedCardOut | None = Field(
        default=None, description="Only in the answer to the request that revealed it."
    )
    bank_account: RevealedBankAccountOut | None = Field(
        default=None, description="Only in the answer to the request that revealed it."
    )
    audit_event: str = Field(description="The audit log's record of this detokenisation.")

    @classmethod
    def of(cls, made: Detokenized) -> DetokenizedOut:
        card = account = None
        if made.card is not None:
            c = made.card
            card = RevealedCardOut(
                number=c.pan,
                exp_month=c.exp_month,
                exp_year=c.exp_year,
                brand=c.brand,
                card_type=c.card_type,
                issuer=c.issuer_code,
            )
        if made.bank_account is not None:
            a = made.bank_account
            account = RevealedBankAccountOut(
                account_number=a.account_number, bank_code=a.bank_code, holder_name=a.holder_name
            )
        return cls(
            id=made.token,
            type="card" if card is not None else "bank_account",
            merchant=made.merchant_id,
            card=card,
            bank_account=account,
            audit_event=made.audit_event_id,
        )
