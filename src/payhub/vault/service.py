"""The card vault: tokenising cards and bank accounts, and revealing them to channels.

A merchant binds a card (`bind_card`) and gets a token (`card_…`); from then on it and the
rest of PayHub speak only of the token. The card number is stored encrypted (see
`payhub.vault.crypto`), next to the parts that may be shown — first six and last four
digits, brand, card type, issuer, expiry. Only a channel adapter, about to send the card to
the bank network, calls `reveal_card` (the payment steps record each such use in the audit
log); an operator holding the `detokenize` scope goes through `detokenize`, which records
its own. The security code (CVV) is never an argument here:
it goes from the payer to the channel within one authorisation and is never stored.

Like every service, these functions flush but never commit.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from cryptography.exceptions import InvalidTag
from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.audit import service as audit
from payhub.core import clock
from payhub.core.config import get_settings
from payhub.core.cryptosuite import MAC_OF, Mac
from payhub.core.errors import PayHubError
from payhub.core.ids import new_id
from payhub.core.logging import scrub
from payhub.db.sql import Row, Sql, as_sql, columns_of, table_of
from payhub.vault import bins, crypto, keys, validation
from payhub.vault.crypto import VaultIntegrityError
from payhub.vault.models import DataKey, VaultBankAccount, VaultCard

CARD_PREFIX = "card"
BANK_ACCOUNT_PREFIX = "ba"


@dataclass(frozen=True, slots=True)
class CardView:
    """What may be shown of a stored card: never the number, never more than first 6 + last 4."""

    token: str
    merchant_id: str
    customer_id: str | None
    first6: str
    last4: str
    brand: str
    card_type: str
    issuer_code: str
    issuer_name_en: str
    issuer_name_zh: str
    exp_month: int
    exp_year: int
    fingerprint: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class RevealedCard:
    """The card in clear, for channel adapters only. `repr` and `str` leave the number out."""

    pan: str = field(repr=False)
    exp_month: int
    exp_year: int
    issuer_code: str
    card_type: str
    brand: str
    # The keyed hash of the number (not the number): what the risk features count by.
    fingerprint: str = ""


@dataclass(frozen=True, slots=True)
class BankAccountView:
    token: str
    owner_ref: str
    bank_code: str
    bank_name_en: str
    bank_name_zh: str
    holder_name: str
    last4: str
    fingerprint: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class RevealedBankAccount:
    """The account in clear, for payout channel adapters only; `repr` leaves the number out."""

    account_number: str = field(repr=False)
    bank_code: str
    holder_name: str


# ---------------------------------------------------------------------------------- helpers


def suite_mac() -> Mac:
    """The MAC new fingerprints are made with: the configured suite's."""
    return MAC_OF[get_settings().crypto_suite]


def _fingerprint(value: str, mac: Mac | None) -> str:
    key = get_settings().vault_fingerprint_key.get_secret_value().encode()
    return crypto.fingerprint(mac or suite_mac(), key, value)


def card_fingerprint(card_digits: str, mac: Mac | None = None) -> str:
    """The keyed MAC of the card number (the suite's unless given): equal for the same
    card, whoever binds it."""
    return _fingerprint(card_digits, mac)


def bank_account_fingerprint(bank_code: str, account_number: str, mac: Mac | None = None) -> str:
    # Prefixed so an account number can never share a fingerprint with a card number.
    return _fingerprint(f"bank_account:{bank_code}:{account_number}", mac)


def _all_fingerprints(fingerprint_of: Callable[[Mac], str]) -> list[str]:
    """The value under the suite's MAC first, then under the other one: rows fingerprinted
    before a suite switch (until the re-encryption job re-fingerprints them) are still
    found as the same card."""
    first = suite_mac()
    return [fingerprint_of(first), *(fingerprint_of(m) for m in Mac if m is not first)]


def _issuer_names(code: str) -> tuple[str, str]:
    issuer = bins.get_issuer(code)
    # A code no longer in the table (the table was replaced) still shows as its code.
    return (issuer.name_en, issuer.name_zh) if issuer is not None else (code, code)


def _card_view(row: VaultCard | Row) -> CardView:
    c = columns_of(row) if isinstance(row, VaultCard) else row
    name_en, name_zh = _issuer_names(c["issuer_code"])
    return CardView(
        token=c["token"],
        merchant_id=c["merchant_id"],
        customer_id=c["customer_id"],
        first6=c["first6"],
        last4=c["last4"],
        brand=c["brand"],
        card_type=c["card_type"],
        issuer_code=c["issuer_code"],
        issuer_name_en=name_en,
        issuer_name_zh=name_zh,
        exp_month=c["exp_month"],
        exp_year=c["exp_year"],
        fingerprint=c["fingerprint"],
        created_at=c["created_at"],
    )


def _bank_account_view(row: VaultBankAccount) -> BankAccountView:
    name_en, name_zh = _issuer_names(row.bank_code)
    return BankAccountView(
        token=row.token,
        owner_ref=row.owner_ref,
        bank_code=row.bank_code,
        bank_name_en=name_en,
        bank_name_zh=name_zh,
        holder_name=row.holder_name,
        last4=row.last4,
        fingerprint=row.fingerprint,
        created_at=row.created_at,
    )


def seal(key: keys.UnwrappedKey, token: str, secret: dict[str, str]) -> bytes:
    """A row's secret fields encrypted under a data key, bound to the row's token."""
    return crypto.encrypt(key.algorithm, key.key, json.dumps(secret).encode(), token.encode())


async def _open(session: AsyncSession, token: str, version: int, blob: bytes) -> dict[str, str]:
    return open_row(await keys.data_key(session, version), token, blob)


def open_row(key: keys.UnwrappedKey, token: str, blob: bytes) -> dict[str, str]:
    """`seal`'s fields back, or `VaultIntegrityError`."""
    version = key.version
    try:
        plaintext = crypto.decrypt(key.algorithm, key.key, blob, token.encode("ascii"))
    except InvalidTag:
        raise VaultIntegrityError(
            f"the ciphertext of {token} does not authenticate under data key version {version}"
        ) from None
    opened: dict[str, str] = json.loads(plaintext)
    return opened


# ------------------------------------------------------------------------------------ cards


async def _find_card(
    session: AsyncSession, merchant_id: str, customer_id: str | None, fingerprints: list[str]
) -> VaultCard | None:
    query = select(VaultCard).where(
        VaultCard.merchant_id == merchant_id,
        VaultCard.fingerprint.in_(fingerprints),
        VaultCard.customer_id.is_(None)
        if customer_id is None
        else VaultCard.customer_id == customer_id,
    )
    return _preferred((await session.execute(query)).scalars().all(), fingerprints)


_Row = TypeVar("_Row", VaultCard, VaultBankAccount)


def _preferred(rows: Sequence[_Row], fingerprints: list[str]) -> _Row | None:
    """The row under the first fingerprint (the suite's) when both exist."""
    return min(rows, key=lambda r: fingerprints.index(r.fingerprint), default=None)


async def _rebound_card(
    session: AsyncSession, row: VaultCard, exp_month: int, exp_year: int, holder: str | None
) -> CardView:
    """The same card bound again: a reissued card keeps its number but gets a new expiry,
    so the latest binding's expiry (and holder name, when given) is kept."""
    changed = (row.exp_month, row.exp_year) != (exp_month, exp_year) or (
        holder is not None and holder != row.holder_name
    )
    if changed:
        row.exp_month, row.exp_year = exp_month, exp_year
        if holder is not None:
            row.holder_name = holder
        await session.flush()
    return _card_view(row)


async def bind_card(
    session: AsyncSession,
    *,
    merchant_id: str,
    customer_id: str | None,
    pan: str,
    exp_month: int,
    exp_year: int,
    holder_name: str | None = None,
) -> tuple[CardView, bool]:
    """Store a card for a merchant (and customer) and return its view and whether it is new.

    The same card bound again for the same merchant and customer (or again without a
    customer) returns the existing token with `False`. Nothing is written when any check
    fails: `card_number_invalid`, `card_bin_unknown`, `card_expiry_invalid`, `card_expired`,
    `validation_error` (merchant, customer, holder name)."""
    merchant_id = validation.validate_ref(merchant_id, "merchant_id")
    if customer_id is not None:
        customer_id = validation.validate_ref(customer_id, "customer_id")
    number, info = validation.validate_card_number(pan)
    validation.validate_expiry(exp_month, exp_year)
    holder = validation.validate_holder_name(
        holder_name, required=False, error="validation_error", param="holder_name"
    )
    fingerprints = _all_fingerprints(lambda mac: card_fingerprint(number, mac))

    existing = await _find_card(session, merchant_id, customer_id, fingerprints)
    if existing is not None:
        return await _rebound_card(session, existing, exp_month, exp_year, holder), False

    key = await keys.active_data_key(session)
    token = new_id(CARD_PREFIX)
    row = VaultCard(
        token=token,
        merchant_id=merchant_id,
        customer_id=customer_id,
        fingerprint=fingerprints[0],
        fingerprint_alg=suite_mac().value,
        first6=number[:6],
        last4=number[-4:],
        brand=info.brand,
        card_type=info.card_type,
        issuer_code=info.issuer_code,
        exp_month=exp_month,
        exp_year=exp_year,
        holder_name=holder,
        key_version=key.version,
        ciphertext=seal(key, token, {"pan": number}),
        created_at=clock.now(),
    )
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError:
        # A concurrent bind of the same card won (on PostgreSQL our insert waited for its
        # commit): answer with its token.
        existing = await _find_card(session, merchant_id, customer_id, fingerprints)
        if existing is None:
            raise
        return await _rebound_card(session, existing, exp_month, exp_year, holder), False
    return _card_view(row), True


_CARDS = table_of(VaultCard)
_KEYS = table_of(DataKey)
_CARD = select(_CARDS).where(_CARDS.c.token == bindparam("token"))
# The card with its data key, for decryption in one round trip.
_CARD_AND_KEY = (
    select(_CARDS, _KEYS.c.algorithm, _KEYS.c.wrapped_key)
    .outerjoin(_KEYS, _KEYS.c.version == _CARDS.c.key_version)
    .where(_CARDS.c.token == bindparam("token"))
)


def _is_card_token(token: object) -> bool:
    return isinstance(token, str) and token.startswith(CARD_PREFIX + "_")


async def get_card(tx: AsyncSession | Sql, token: str, *, merchant_id: str | None) -> CardView:
    """A merchant's card by token; another merchant's token is `payment_method_not_found`.
    `merchant_id` None (the operator) reaches any card."""
    row = await (await as_sql(tx)).one(_CARD, token=token) if _is_card_token(token) else None
    if row is None or (merchant_id is not None and row["merchant_id"] != merchant_id):
        raise PayHubError("payment_method_not_found")
    return _card_view(row)


async def reveal_card(tx: AsyncSession | Sql, token: str) -> RevealedCard:
    """The card number in clear. **For channel adapters only**, at the moment they send the
    card to the network; nothing else may call it, and its result is never logged, stored
    or returned by the API. Raises `VaultIntegrityError` if the ciphertext was tampered
    with or moved from another row."""
    row = (
        await (await as_sql(tx)).one(_CARD_AND_KEY, token=token) if _is_card_token(token) else None
    )
    if row is None:
        raise PayHubError("payment_method_not_found")
    version = row["key_version"]
    if row["algorithm"] is None:
        raise VaultIntegrityError(f"vault data key version {version} does not exist")
    key = keys.unwrap(version, row["algorithm"], row["wrapped_key"])
    pan = open_row(key, row["token"], row["ciphertext"])["pan"]
    if (pan[:6], pan[-4:]) != (row["first6"], row["last4"]):
        raise VaultIntegrityError(f"the decrypted number of {token} does not match its row")
    return RevealedCard(
        pan=pan,
        exp_month=row["exp_month"],
        exp_year=row["exp_year"],
        issuer_code=row["issuer_code"],
        card_type=row["card_type"],
        brand=row["brand"],
        fingerprint=row["fingerprint"],
    )


# ---------------------------------------------------------------------------- bank accounts


async def _find_bank_account(
    session: AsyncSession, merchant_id: str, owner_ref: str, fingerprints: list[str]
) -> VaultBankAccount | None:
    query = select(VaultBankAccount).where(
        VaultBankAccount.merchant_id == merchant_id,
        VaultBankAccount.owner_ref == owner_ref,
        VaultBankAccount.fingerprint.in_(fingerprints),
    )
    return _preferred((await session.execute(query)).scalars().all(), fingerprints)


async def _rebound_bank_account(
    session: AsyncSession, row: VaultBankAccount, holder: str
) -> BankAccountView:
    if row.holder_name != holder:
        row.holder_name = holder
        await session.flush()
    return _bank_account_view(row)


async def bind_bank_account(
    session: AsyncSession,
    *,
    merchant_id: str,
    owner_ref: str,
    bank_code: str,
    account_number: str,
    holder_name: str,
) -> tuple[BankAccountView, bool]:
    """Store a bank account (for payouts and direct debits); returns its view and whether it
    is new. The same account bound again for the same merchant and owner returns the
    existing token (with the latest holder name). `bank_account_invalid` (param
    `bank_code`, `account_number` or `holder_name`) when a check fails; nothing is written."""
    merchant_id = validation.validate_ref(merchant_id, "merchant_id")
    owner_ref = validation.validate_ref(owner_ref, "owner_ref", max_length=64)
    code = validation.validate_bank_code(bank_code)
    number = validation.validate_account_number(account_number)
    holder = validation.validate_holder_name(
        holder_name, required=True, error="bank_account_invalid", param="holder_name"
    )
    assert holder is not None
    fingerprints = _all_fingerprints(lambda mac: bank_account_fingerprint(code, number, mac))

    existing = await _find_bank_account(session, merchant_id, owner_ref, fingerprints)
    if existing is not None:
        return await _rebound_bank_account(session, existing, holder), False

    key = await keys.active_data_key(session)
    token = new_id(BANK_ACCOUNT_PREFIX)
    row = VaultBankAccount(
        token=token,
        merchant_id=merchant_id,
        owner_ref=owner_ref,
        bank_code=code,
        holder_name=holder,
        last4=number[-4:],
        fingerprint=fingerprints[0],
        fingerprint_alg=suite_mac().value,
        key_version=key.version,
        ciphertext=seal(key, token, {"account_number": number}),
        created_at=clock.now(),
    )
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError:
        existing = await _find_bank_account(session, merchant_id, owner_ref, fingerprints)
        if existing is None:
            raise
        return await _rebound_bank_account(session, existing, holder), False
    return _bank_account_view(row), True


async def _bank_account_row(session: AsyncSession, token: str) -> VaultBankAccount | None:
    if not isinstance(token, str) or not token.startswith(BANK_ACCOUNT_PREFIX + "_"):
        return None
    return await session.get(VaultBankAccount, token)


async def get_bank_account(
    session: AsyncSession, token: str, *, merchant_id: str | None
) -> BankAccountView:
    """A merchant's bank account by token; another merchant's is `payment_method_not_found`.
    `merchant_id` None (the operator) reaches any account."""
    row = await _bank_account_row(session, token)
    if row is None or (merchant_id is not None and row.merchant_id != merchant_id):
        raise PayHubError("payment_method_not_found")
    return _bank_account_view(row)


async def bank_account_merchant(session: AsyncSession, token: str) -> str:
    row = await _bank_account_row(session, token)
    if row is None:
        raise PayHubError("payment_method_not_found")
    return row.merchant_id


async def reveal_bank_account(session: AsyncSession, token: str) -> RevealedBankAccount:
    """The account number in clear. **For payout channel adapters only**, like
    `reveal_card`."""
    row = await _bank_account_row(session, token)
    if row is None:
        raise PayHubError("payment_method_not_found")
    secret = await _open(session, row.token, row.key_version, row.ciphertext)
    number = secret["account_number"]
    if number[-4:] != row.last4:
        raise VaultIntegrityError(f"the decrypted number of {token} does not match its row")
    return RevealedBankAccount(
        account_number=number, bank_code=row.bank_code, holder_name=row.holder_name
    )


async def reveal_bank_accounts(
    session: AsyncSession, tokens: Sequence[str]
) -> dict[str, RevealedBankAccount]:
    """`reveal_bank_account` for many tokens, read in a few statements (a payout batch).
    **For payout channel adapters only.** A token missing raises like one alone."""
    wanted = sorted(set(tokens))
    rows: dict[str, VaultBankAccount] = {}
    for start in range(0, len(wanted), 500):
        query = select(VaultBankAccount).where(
            VaultBankAccount.token.in_(wanted[start : start + 500])
        )
        rows |= {r.token: r for r in (await session.execute(query)).scalars()}
    revealed = {}
    # Each data key read and unwrapped once for all the rows under it.
    data_keys = {v: await keys.data_key(session, v) for v in {r.key_version for r in rows.values()}}
    for token in wanted:
        row = rows.get(token)
        if row is None:
            raise PayHubError("payment_method_not_found")
        number = open_row(data_keys[row.key_version], row.token, row.ciphertext)["account_number"]
        if number[-4:] != row.last4:
            raise VaultIntegrityError(f"the decrypted number of {token} does not match its row")
        revealed[token] = RevealedBankAccount(
            account_number=number, bank_code=row.bank_code, holder_name=row.holder_name
        )
    return revealed


# --------------------------------------------------------------------- operator detokenisation

DETOKENIZED = "payment_method.detokenized"
MAX_REASON = 500


@dataclass(frozen=True, slots=True)
class Detokenized:
    """What an operator with the `detokenize` scope asked to see, and the audit event that
    records it. `repr` leaves the numbers out (the revealed objects hide them)."""

    token: str
    merchant_id: str
    card: RevealedCard | None
    bank_account: RevealedBankAccount | None
    audit_event_id: str


async def detokenize(session: AsyncSession, token: str, *, reason: str) -> Detokenized:
    """A card or bank account in clear, for an operator holding the `detokenize` scope (the
    caller checks the scope). Every use is written to the audit log in this transaction —
    who (the acting key), which token, whose, why — so the number is never shown without
    its record committing too. Never the number itself in the record."""
    why = scrub(reason.strip())[:MAX_REASON]
    if not why:
        raise PayHubError("validation_error", param="reason", detail="why the number is needed")
    card: RevealedCard | None = None
    account: RevealedBankAccount | None = None
    if _is_card_token(token):
        merchant_id = (await get_card(session, token, merchant_id=None)).merchant_id
        card = await reveal_card(session, token)
        kind = "card"
    else:
        row = await _bank_account_row(session, token)
        if row is None:
            raise PayHubError("payment_method_not_found")
        merchant_id = row.merchant_id
        account = await reveal_bank_account(session, token)
        kind = "bank_account"
    event_id = await audit.record(
        session,
        DETOKENIZED,
        target_type="payment_method",
        target_id=token,
        details={"purpose": "operator", "type": kind, "merchant": merchant_id, "reason": why},
    )
    return Detokenized(token, merchant_id, card, account, event_id)
