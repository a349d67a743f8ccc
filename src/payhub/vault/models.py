"""Vault tables. Only `payhub.vault` reads or writes them.

Card and account numbers are stored only as ciphertext (AES-256-GCM or SM4-GCM); the clear
columns hold what PCI DSS allows to be shown (the first six and last four digits) and what
routing needs (brand, card type, issuer). The security code (CVV) is never stored.
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

    Its life: `active` (encrypts new rows; at most one key is) → `retiring` (a newer key
    took over; it still decrypts its rows while the re-encryption job moves them) →
    `retired` (no row uses it any more; the wrapped key is kept) → `destroyed` (the wrapped
    key is erased: nothing can ever be decrypted with it again)."""

    __tablename__ = "vault_data_keys"
    __table_args__ = (
        CheckConstraint("algorithm IN ('aes-256-gcm', 'sm4-gcm')", name="algorithm"),
        CheckConstraint("state IN ('active', 'retiring', 'retired', 'destroyed')", name="state"),
        # A destroyed key has no key material left, and only a destroyed key lacks it.
        CheckConstraint(
            "(state = 'destroyed' AND wrapped_key IS NULL AND destroyed_at IS NOT NULL) OR "
            "(state <> 'destroyed' AND wrapped_key IS NOT NULL)",
            name="destroyed_has_no_key",
        ),
        # One active key: racing rotations (or first binds) cannot both make one.
        Index(
            "uq_vault_data_keys_one_active",
            "state",
            unique=True,
            sqlite_where=text("state = 'active'"),
            postgresql_where=text("state = 'active'"),
        ),
    )

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    algorithm: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(12))
    # nonce (12 bytes) + ciphertext and tag of the key under the master key; None once
    # destroyed
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]
    # When it stopped encrypting new rows (left `active`).
    deactivated_at: Mapped[datetime | None]
    destroyed_at: Mapped[datetime | None]


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
    # HMAC of the card number under the fingerprint key: same card, same value.
    fingerprint: Mapped[str] = mapped_column(String(64), index=True)
    # hmac-sha256 or hmac-sm3: the suite's MAC when the fingerprint was computed
    fingerprint_alg: Mapped[str] = mapped_column(String(20), index=True)
    first6: Mapped[str] = mapped_column(String(6))
    last4: Mapped[str] = mapped_column(String(4))
    brand: Mapped[str] = mapped_column(String(16))
    card_type: Mapped[str] = mapped_column(String(8))
    issuer_code: Mapped[str] = mapped_column(String(16))
    exp_month: Mapped[int] = mapped_column(SmallInteger)
    exp_year: Mapped[int] = mapped_column(SmallInteger)
    holder_name: Mapped[str | None] = mapped_column(String(200))
    key_version: Mapped[int] = mapped_column(
        Integer, ForeignKey("vault_data_keys.version"), index=True
    )
    # nonce (12 bytes) + ciphertext and tag under the data key; the token is the associated
    # data
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
    fingerprint_alg: Mapped[str] = mapped_column(String(20), index=True)
    key_version: Mapped[int] = mapped_column(
        Integer, ForeignKey("vault_data_keys.version"), index=True
    )
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]
