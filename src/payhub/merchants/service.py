"""Merchants, customers and merchant API keys.

Ownership is the rule here: a merchant's key reaches only its own merchant and customers;
anything else answers "not found", so ids of other merchants leak nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.audit import service as audit
from payhub.auth import service as auth
from payhub.auth.service import Principal
from payhub.core import clock
from payhub.core.errors import PayHubError
from payhub.core.ids import is_id, new_id
from payhub.core.metadata import validate_metadata
from payhub.core.money import check_amount, check_currency
from payhub.db.sql import Row, Sql, as_sql, columns_of, table_of
from payhub.merchants.models import Customer, Merchant
from payhub.risk.sanctions import screening

# E.164: '+', country code and number, 8 to 15 digits in all (mainland mobiles: +86 1xx…).
PHONE = re.compile(r"\+[1-9]\d{7,14}")
# ISO 3166-2 subdivision codes such as CN-SH, CN-GD, HK.
REGION = re.compile(r"[A-Z]{2}(-[A-Z0-9]{1,3})?")


@dataclass(frozen=True, slots=True)
class MerchantView:
    id: str
    name: str
    legal_name: str | None
    status: str
    currency: str
    per_payment_limit: int | None
    daily_limit: int | None
    fee_plan_id: str | None
    metadata: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class CustomerView:
    id: str
    merchant_id: str
    name: str
    phone: str | None
    email: str | None
    home_region: str | None
    metadata: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class MerchantSpec:
    name: str
    currency: str = "CNY"
    legal_name: str | None = None
    per_payment_limit: int | None = None
    daily_limit: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


def _merchant_view(row: Merchant | Row) -> MerchantView:
    c = columns_of(row) if isinstance(row, Merchant) else row
    return MerchantView(
        id=c["id"],
        name=c["name"],
        legal_name=c["legal_name"],
        status=c["status"],
        currency=c["currency"],
        per_payment_limit=c["per_payment_limit"],
        daily_limit=c["daily_limit"],
        fee_plan_id=c["fee_plan_id"],
        metadata=dict(c["metadata"]),
        created_at=c["created_at"],
    )


def _customer_view(row: Customer | Row) -> CustomerView:
    c = columns_of(row) if isinstance(row, Customer) else row
    return CustomerView(
        id=c["id"],
        merchant_id=c["merchant_id"],
        name=c["name"],
        phone=c["phone"],
        email=c["email"],
        home_region=c["home_region"],
        metadata=dict(c["metadata"]),
        created_at=c["created_at"],
    )


def _check_limits(per_payment: int | None, daily: int | None) -> None:
    if per_payment is not None:
        check_amount(per_payment, param="per_payment_limit")
    if daily is not None:
        check_amount(daily, param="daily_limit")
    if per_payment is not None and daily is not None and per_payment > daily:
        raise PayHubError(
            "validation_error",
            param="per_payment_limit",
            detail="the per-payment limit cannot exceed the daily limit",
        )


def _check_name(name: str, param: str = "name") -> str:
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise PayHubError("validation_error", param=param, detail="1 to 200 characters")
    return name


async def create_merchant(session: AsyncSession, spec: MerchantSpec) -> MerchantView:
    check_currency(spec.currency)
    _check_limits(spec.per_payment_limit, spec.daily_limit)
    validate_metadata(spec.metadata)
    row = Merchant(
        id=new_id("mer"),
        name=_check_name(spec.name),
        legal_name=_check_name(spec.legal_name, "legal_name") if spec.legal_name else None,
        status="active",
        currency=spec.currency,
        per_payment_limit=spec.per_payment_limit,
        daily_limit=spec.daily_limit,
        fee_plan_id=None,
        metadata_=dict(spec.metadata),
        created_at=clock.now(),
    )
    session.add(row)
    await session.flush()
    await audit.record(
        session,
        "merchant.created",
        target_type="merchant",
        target_id=row.id,
        details={
            "name": row.name,
            "currency": row.currency,
            "per_payment_limit": row.per_payment_limit,
            "daily_limit": row.daily_limit,
        },
    )
    # Screened in the same transaction; a potential match raises a hit for compliance
    # and does not stop the onboarding.
    await screening.screen_subject(
        session,
        subject_type="merchant",
        subject_id=row.id,
        names=[row.name, *([row.legal_name] if row.legal_name else [])],
        reason="onboarding",
    )
    return _merchant_view(row)


def visible_merchant_id(principal: Principal, merchant_id: str) -> str:
    """The merchant a caller may address: its own, or any for the operator. Another
    merchant's id is answered as if it did not exist."""
    if not is_id(merchant_id, "mer"):
        raise PayHubError("invalid_id", param="merchant")
    if principal.role != auth.OPERATOR and principal.merchant_id != merchant_id:
        raise PayHubError("merchant_not_found", merchant=merchant_id)
    return merchant_id


def acting_merchant(principal: Principal, requested: str | None) -> str:
    """The merchant a write acts for: a merchant key's own (naming another is "not found"),
    or the one an operator key must name."""
    if principal.role == auth.OPERATOR:
        if requested is None:
            raise PayHubError("validation_error", param="merchant", detail="required")
        return visible_merchant_id(principal, requested)
    if requested is not None:
        visible_merchant_id(principal, requested)
    assert principal.merchant_id is not None
    return principal.merchant_id


def read_scope(principal: Principal) -> str | None:
    """The merchant a caller's reads are limited to; None for the operator, who sees all."""
    return None if principal.role == auth.OPERATOR else principal.merchant_id


_MERCHANT = select(table_of(Merchant)).where(table_of(Merchant).c.id == bindparam("id"))
_CUSTOMER = select(table_of(Customer)).where(table_of(Customer).c.id == bindparam("id"))


def home_region_subquery(customer_param: str) -> Any:
    """The home region of the customer bound to `customer_param`, as a scalar subquery (for
    statements of other modules that need it without a round trip of their own)."""
    customers = table_of(Customer)
    return (
        select(customers.c.home_region)
        .where(customers.c.id == bindparam(customer_param))
        .scalar_subquery()
    )


async def get_merchant(tx: AsyncSession | Sql, merchant_id: str) -> MerchantView:
    row = await (await as_sql(tx)).one(_MERCHANT, id=merchant_id)
    if row is None:
        raise PayHubError("merchant_not_found", merchant=merchant_id)
    return _merchant_view(row)


async def require_active_merchant(tx: AsyncSession | Sql, merchant_id: str) -> MerchantView:
    merchant = await get_merchant(tx, merchant_id)
    if merchant.status != "active":
        raise PayHubError("merchant_suspended", merchant=merchant_id)
    return merchant


async def list_merchants(
    session: AsyncSession, *, limit: int, starting_after: str | None = None
) -> tuple[list[MerchantView], bool]:
    query = select(Merchant).order_by(Merchant.id.desc()).limit(limit + 1)
    if starting_after:
        query = query.where(Merchant.id < starting_after)
    rows = (await session.execute(query)).scalars().all()
    return [_merchant_view(r) for r in rows[:limit]], len(rows) > limit


_UNSET: Any = object()


async def update_merchant(
    session: AsyncSession,
    merchant_id: str,
    *,
    name: str | None = None,
    status: str | None = None,
    per_payment_limit: int | None = _UNSET,
    daily_limit: int | None = _UNSET,
    metadata: dict[str, Any] | None = None,
) -> MerchantView:
    """Change what may change; a limit set to None is removed."""
    row = await session.get(Merchant, merchant_id)
    if row is None:
        raise PayHubError("merchant_not_found", merchant=merchant_id)
    per_payment = row.per_payment_limit if per_payment_limit is _UNSET else per_payment_limit
    daily = row.daily_limit if daily_limit is _UNSET else daily_limit
    _check_limits(per_payment, daily)
    if status is not None and status not in ("active", "suspended"):
        raise PayHubError("validation_error", param="status", detail="active or suspended")
    if metadata is not None:
        validate_metadata(metadata)
        row.metadata_ = dict(metadata)
    if name is not None:
        row.name = _check_name(name)
    if status is not None:
        row.status = status
    changes = _merchant_changes(row, name, status, per_payment, daily, metadata)
    row.per_payment_limit, row.daily_limit = per_payment, daily
    await session.flush()
    if changes:
        await audit.record(
            session, "merchant.updated", target_type="merchant", target_id=row.id, details=changes
        )
    return _merchant_view(row)


async def set_fee_plan(
    session: AsyncSession, merchant_id: str, fee_plan_id: str | None
) -> MerchantView:
    """Point a merchant to a fee plan (None: the platform's default); the fees module checks
    the plan and records the change."""
    row = await session.get(Merchant, merchant_id)
    if row is None:
        raise PayHubError("merchant_not_found", merchant=merchant_id)
    row.fee_plan_id = fee_plan_id
    await session.flush()
    return _merchant_view(row)


def _merchant_changes(
    row: Merchant,
    name: str | None,
    status: str | None,
    per_payment: int | None,
    daily: int | None,
    metadata: dict[str, Any] | None,
) -> dict[str, Any]:
    """What an update changes, as `{field: [before, after]}` (read before it is applied,
    except name, status and metadata, which the caller has set by now)."""
    changes: dict[str, Any] = {}
    if per_payment != row.per_payment_limit:
        changes["per_payment_limit"] = [row.per_payment_limit, per_payment]
    if daily != row.daily_limit:
        changes["daily_limit"] = [row.daily_limit, daily]
    if status is not None:
        changes["status"] = status
    if name is not None:
        changes["name"] = name
    if metadata is not None:
        changes["metadata"] = sorted(metadata)
    return changes


async def create_customer(
    session: AsyncSession,
    *,
    merchant_id: str,
    name: str,
    phone: str | None = None,
    email: str | None = None,
    home_region: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> CustomerView:
    await require_active_merchant(session, merchant_id)
    if phone is not None and not PHONE.fullmatch(phone):
        raise PayHubError("validation_error", param="phone", detail="E.164, e.g. +8613800138000")
    if email is not None and (len(email) > 254 or "@" not in email.strip("@")):
        raise PayHubError("validation_error", param="email", detail="an e-mail address")
    if home_region is not None and not REGION.fullmatch(home_region):
        raise PayHubError("validation_error", param="home_region", detail="ISO 3166-2, e.g. CN-SH")
    validate_metadata(metadata or {})
    row = Customer(
        id=new_id("cus"),
        merchant_id=merchant_id,
        name=_check_name(name),
        phone=phone,
        email=email,
        home_region=home_region,
        metadata_=dict(metadata or {}),
        created_at=clock.now(),
    )
    session.add(row)
    await session.flush()
    # As for merchants: screened now, never refused for a potential match.
    await screening.screen_subject(
        session,
        subject_type="customer",
        subject_id=row.id,
        names=[row.name],
        reason="onboarding",
        country=home_region[:2] if home_region else None,
    )
    return _customer_view(row)


async def get_customer(
    tx: AsyncSession | Sql, customer_id: str, *, merchant_id: str | None
) -> CustomerView:
    """A customer; with `merchant_id`, only one of that merchant's (others are not found)."""
    row = await (await as_sql(tx)).one(_CUSTOMER, id=customer_id)
    if row is None or (merchant_id is not None and row["merchant_id"] != merchant_id):
        raise PayHubError("customer_not_found", customer=customer_id)
    return _customer_view(row)


async def count_merchants(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Merchant)) or 0)


async def count_customers(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Customer)) or 0)


async def list_customers(
    session: AsyncSession,
    *,
    merchant_id: str | None,
    limit: int,
    starting_after: str | None = None,
) -> tuple[list[CustomerView], bool]:
    query = select(Customer).order_by(Customer.id.desc()).limit(limit + 1)
    if merchant_id is not None:
        query = query.where(Customer.merchant_id == merchant_id)
    if starting_after:
        query = query.where(Customer.id < starting_after)
    rows = (await session.execute(query)).scalars().all()
    return [_customer_view(r) for r in rows[:limit]], len(rows) > limit


async def issue_merchant_key(
    session: AsyncSession, merchant_id: str, *, name: str, scopes: list[str]
) -> auth.IssuedKey:
    await require_active_merchant(session, merchant_id)
    return await auth.issue_key(
        session, name=name, role=auth.MERCHANT, scopes=scopes, merchant_id=merchant_id
    )
