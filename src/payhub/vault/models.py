"""Vault tables. Only `payhub.vault` reads or writes them.

Card and account numbers are stored only as AES-256-GCM ciphertext; the clear columns hold
what PCI DSS allows to be shown (the first six and last four digits) and what routing needs
(brand, card type, issuer). The security code (CVV) is never stored.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from payhub.db.base import Base


class DataKey(Base):
    """A data-encryption key, stored wrapped (encrypted) under the master key.

    The active key is the newest one not retired. A retired key still decrypts the rows
    written under it but never encrypts new ones."""

    __tablename__ = "vault_data_keys"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    # nonce (12 bytes) + AES-256-GCM ciphertext and tag of the 32-byte key
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]
    retired_at: Mapped[datetime | None]


class VaultCard(Base):
    __tablename__ = "vault_cards"
    __table_args__ = (
        # Binding the same card again for the same customer finds the existing token.
        UniqueConstraint(
            "merchant_id",
            "customer_id",
            "fingerprint",
            name="uq_vault_cards_merchant_customer_fingerprint",
        ),
        # NULLs are distinct in a unique constraint, so cards bound without a customer get
        # their own partial index (both databases support it).
        Index(
            "uq_vault_cards_merchant_guest_fingerprint",
            "merchant_id",
            "fingerprint",
            unique=True,
            sqlite_where=text("customer_id IS NULL"),
            postgresql_where=text("customer_id IS NULL"),
        ),
        CheckConstraint("brand IN ('unionpay', 'visa', 'mastercard', 'jcb', 'amex')", name="brand"),
        CheckConstraint("card_type IN ('debit', 'credit')", name="card_type"),
        CheckConstraint("exp_month >= 1 AND exp_month <= 12", name="exp_month"),
    )

    token: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(String(40))
    customer_id: Mapped[str | None] = mapped_column(String(40))
    # HMAC-SHA256 of the card number under the fingerprint key: same card, same value.
    fingerprint: Mapped[str] = mapped_column(String(64), index=True)
    first6: Mapped[str] = mapped_column(String(6))
    last4: Mapped[str] = mapped_column(String(4))
    brand: Mapped[str] = mapped_column(String(16))
    card_type: Mapped[str] = mapped_column(String(8))
    issuer_code: Mapped[str] = mapped_column(String(16))
    exp_month: Mapped[int] = mapped_column(SmallInteger)
    exp_year: Mapped[int] = mapped_column(SmallInteger)
    holder_name: Mapped[str | None] = mapped_column(String(200))
    key_version: Mapped[int] = mapped_column(Integer, ForeignKey("vault_data_keys.version"))
    # nonce (12 bytes) + AES-256-GCM ciphertext and tag; the token is the associated data
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]


class VaultBankAccount(Base):
    __tablename__ = "vault_bank_accounts"
    __table_args__ = (
        UniqueConstraint(
            "merchant_id",
            "owner_ref",
            "fingerprint",
            name="uq_vault_bank_accounts_merchant_owner_fingerprint",
        ),
    )

    token: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(String(40))
    # Whose account it is: a customer id, the merchant's own id (for payouts), …
    owner_ref: Mapped[str] = mapped_column(String(64))
    bank_code: Mapped[str] = mapped_column(String(16))
    holder_name: Mapped[str] = mapped_column(String(200))
    last4: Mapped[str] = mapped_column(String(4))
    fingerprint: Mapped[str] = mapped_column(String(64), index=True)
    key_version: Mapped[int] = mapped_column(Integer, ForeignKey("vault_data_keys.version"))
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]
