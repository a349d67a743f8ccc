"""Fee plans and channel cost schedules: versions, what is in force, assignment, quotes.

Plans and schedules change by adding a version that takes effect at `effective_from`
(never before now, never before the version it follows); what a payment pays is fixed at
its first capture by the versions in force at that moment (see `booking`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.audit import service as audit
from payhub.channels.base import ChannelInfo, ChannelKind
from payhub.core import clock
from payhub.core.errors import PayHubError
from payhub.core.ids import is_id, new_id
from payhub.core.money import check_amount, check_currency
from payhub.db.sql import Row, Sql, as_sql, table_of
from payhub.merchants import service as merchants
from payhub.merchants.models import Merchant
from payhub.payments import channels
from payhub.payments.models import SCENES
from payhub.settlement.fees import pricing
from payhub.settlement.fees.models import ChannelCostVersion, FeePlan, FeePlanVersion
from payhub.settlement.fees.pricing import CostTerms, PlanTerms, Price

_PLANS = table_of(FeePlan)
_VERSIONS = table_of(FeePlanVersion)
_COSTS = table_of(ChannelCostVersion)
_MERCHANTS = table_of(Merchant)

# The plan a merchant's payments are priced by: its own, else the operators' default.
_MERCHANT_PLAN = func.coalesce(
    select(_MERCHANTS.c.fee_plan_id)
    .where(_MERCHANTS.c.id == bindparam("merchant_id"))
    .scalar_subquery(),
    select(_PLANS.c.id).where(_PLANS.c.is_default.is_(True)).limit(1).scalar_subquery(),
)
# The version of that plan in force at `at` (the latest to have taken effect).
PLAN_IN_FORCE = (
    select(_VERSIONS)
    .where(_VERSIONS.c.plan_id == _MERCHANT_PLAN, _VERSIONS.c.effective_from <= bindparam("at"))
    .order_by(_VERSIONS.c.effective_from.desc(), _VERSIONS.c.version.desc())
    .limit(1)
)
_VERSION_OF_PLAN_IN_FORCE = (
    select(_VERSIONS)
    .where(
        _VERSIONS.c.plan_id == bindparam("plan_id"), _VERSIONS.c.effective_from <= bindparam("at")
    )
    .order_by(_VERSIONS.c.effective_from.desc(), _VERSIONS.c.version.desc())
    .limit(1)
)
COST_IN_FORCE = (
    select(_COSTS)
    .where(
        _COSTS.c.channel_id == bindparam("channel_id"), _COSTS.c.effective_from <= bindparam("at")
    )
    .order_by(_COSTS.c.effective_from.desc(), _COSTS.c.version.desc())
    .limit(1)
)


async def _first(tx: AsyncSession | Sql, statement: Any) -> Row | None:
    """The first row of a statement built for this call (not a module constant)."""
    rows = await (await as_sql(tx)).all_once(statement)
    return rows[0] if rows else None


# --------------------------------------------------------------------------------- views


@dataclass(frozen=True, slots=True)
class PlanVersionView:
    plan_id: str | None  # None: the built-in plan
    version: int
    effective_from: datetime | None
    terms: PlanTerms
    note: str | None
    created_by: str
    created_at: datetime | None


@dataclass(frozen=True, slots=True)
class PlanView:
    id: str
    name: str
    is_default: bool
    created_by: str
    created_at: datetime
    versions: list[PlanVersionView]  # oldest first
    in_force: PlanVersionView | None


@dataclass(frozen=True, slots=True)
class CostVersionView:
    channel_id: str
    version: int | None  # None: the channel's list prices
    effective_from: datetime | None
    terms: CostTerms
    note: str | None
    created_by: str
    created_at: datetime | None


BUILTIN_VERSION = PlanVersionView(
    plan_id=None,
    version=0,
    effective_from=None,
    terms=pricing.BUILTIN_PLAN,
    note="built-in platform plan",
    created_by="payhub",
    created_at=None,
)


def _card_channels() -> dict[str, ChannelInfo]:
    return {
        cid: a.info for cid, a in channels.get_channels().items() if a.info.kind is ChannelKind.CARD
    }


def _plan_terms_of(row: Row) -> PlanTerms:
    """Terms as stored (validated when written; parsed without the channel check, since
    channels may come and go after a version was written)."""
    return PlanTerms(
        currency=row["currency"],
        rules=pricing.parse_rules(row["rules"], scenes=SCENES),
        channel_classes=dict(row["channel_classes"] or {}),
        refund_policy=row["refund_policy"],
    )


def plan_version_view(row: Row) -> PlanVersionView:
    return PlanVersionView(
        plan_id=row["plan_id"],
        version=row["version"],
        effective_from=row["effective_from"],
        terms=_plan_terms_of(row),
        note=row["note"],
        created_by=row["created_by"],
        created_at=row["created_at"],
    )


def cost_version_view(row: Row) -> CostVersionView:
    return CostVersionView(
        channel_id=row["channel_id"],
        version=row["version"],
        effective_from=row["effective_from"],
        terms=CostTerms(
            currency=row["currency"],
            debit=pricing.parse_price(row["debit"], "debit"),
            credit=pricing.parse_price(row["credit"], "credit"),
            refund_returns_fee=bool(row["refund_returns_fee"]),
        ),
        note=row["note"],
        created_by=row["created_by"],
        created_at=row["created_at"],
    )


def list_price_view(info: ChannelInfo, currency: str = "CNY") -> CostVersionView:
    return CostVersionView(
        channel_id=info.channel_id,
        version=None,
        effective_from=None,
        terms=pricing.list_price_terms(info, currency),
        note="the channel's list prices",
        created_by="payhub",
        created_at=None,
    )


# ----------------------------------------------------------------------------- checking


def _check_text(value: str | None, param: str, limit: int) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if not 1 <= len(value) <= limit:
        raise PayHubError("validation_error", param=param, detail=f"1 to {limit} characters")
    return value


def _effective_from(
    requested: datetime | None, latest: datetime | None, latest_version: int
) -> datetime:
    """When a new version takes effect: now by default; never in the past (what was charged
    stays explained by the versions then in force) nor before the version it follows."""
    now = clock.now()
    moment = now if requested is None else clock.ensure_utc(requested)
    floor = max(now, latest) if latest is not None else now
    if moment < floor:
        raise PayHubError(
            "fee_version_out_of_order",
            param="effective_from",
            version=latest_version,
            effective_from=clock.to_rfc3339(latest) if latest is not None else "-",
        )
    return moment


def _plan_terms(currency: str, rules: Any, channel_classes: Any, refund_policy: Any) -> PlanTerms:
    return pricing.plan_terms(
        currency,
        rules,
        channel_classes,
        refund_policy,
        scenes=SCENES,
        channels=sorted(_card_channels()),
    )


# ------------------------------------------------------------------------------- plans


async def _plan_row(tx: AsyncSession | Sql, plan_id: str) -> Row:
    if not is_id(plan_id, "fpl"):
        raise PayHubError("fee_plan_not_found", param="fee_plan", plan=str(plan_id)[:40])
    row = await _first(tx, select(_PLANS).where(_PLANS.c.id == plan_id))
    if row is None:
        raise PayHubError("fee_plan_not_found", param="fee_plan", plan=plan_id)
    return row


async def _plan_view(tx: AsyncSession | Sql, plan: Row) -> PlanView:
    sql = await as_sql(tx)
    rows = await sql.all_once(
        select(_VERSIONS).where(_VERSIONS.c.plan_id == plan["id"]).order_by(_VERSIONS.c.version)
    )
    versions = [plan_version_view(r) for r in rows]
    now = clock.now()
    live = [v for v in versions if v.effective_from is not None and v.effective_from <= now]
    in_force = max(live, key=lambda v: (v.effective_from, v.version)) if live else None
    return PlanView(
        id=plan["id"],
        name=plan["name"],
        is_default=bool(plan["is_default"]),
        created_by=plan["created_by"],
        created_at=plan["created_at"],
        versions=versions,
        in_force=in_force,
    )


async def _insert_version(
    session: AsyncSession,
    plan_id: str,
    version: int,
    terms: PlanTerms,
    effective_from: datetime,
    note: str | None,
    created_by: str,
) -> None:
    session.add(
        FeePlanVersion(
            id=new_id("fpv"),
            plan_id=plan_id,
            version=version,
            currency=terms.currency,
            effective_from=effective_from,
            rules=[r.to_data() for r in terms.rules],
            channel_classes=dict(terms.channel_classes),
            refund_policy=terms.refund_policy,
            note=note,
            created_by=created_by,
            created_at=clock.now(),
        )
    )
    await session.flush()


async def create_plan(
    session: AsyncSession,
    *,
    name: str,
    currency: str,
    rules: Any,
    channel_classes: Any = None,
    refund_policy: Any = "proportional",
    default: bool = False,
    effective_from: datetime | None = None,
    note: str | None = None,
    created_by: str,
) -> PlanView:
    """A plan and its version 1. Refused with nothing written: `validation_error`,
    `currency_invalid`, `fee_version_out_of_order`."""
    plan_name = _check_text(name, "name", 200)
    assert plan_name is not None
    terms = _plan_terms(currency, rules, channel_classes, refund_policy)
    note = _check_text(note, "note", 200)
    moment = _effective_from(effective_from, None, 0)
    plan_id = new_id("fpl")
    if default:
        await _clear_default(session)
    session.add(
        FeePlan(
            id=plan_id,
            name=plan_name,
            is_default=default,
            created_by=created_by,
            created_at=clock.now(),
        )
    )
    await session.flush()
    await _insert_version(session, plan_id, 1, terms, moment, note, created_by)
    await audit.record(
        session,
        "fee_plan.created",
        target_type="fee_plan",
        target_id=plan_id,
        details={"name": plan_name, "default": default, "effective_from": clock.to_rfc3339(moment)},
    )
    return await get_plan(session, plan_id)


async def add_plan_version(
    session: AsyncSession,
    plan_id: str,
    *,
    currency: str,
    rules: Any,
    channel_classes: Any = None,
    refund_policy: Any = "proportional",
    effective_from: datetime | None = None,
    note: str | None = None,
    created_by: str,
) -> PlanView:
    """The plan's next version, in force from `effective_from` (default: now)."""
    plan = await _plan_row(session, plan_id)
    terms = _plan_terms(currency, rules, channel_classes, refund_policy)
    note = _check_text(note, "note", 200)
    sql = await as_sql(session)
    # The plan's row is locked so two new versions cannot take the same number.
    await _first(sql, select(_PLANS.c.id).where(_PLANS.c.id == plan["id"]).with_for_update())
    last = await _first(
        sql,
        select(_VERSIONS.c.version, _VERSIONS.c.effective_from)
        .where(_VERSIONS.c.plan_id == plan["id"])
        .order_by(_VERSIONS.c.version.desc())
        .limit(1),
    )
    assert last is not None
    moment = _effective_from(effective_from, last["effective_from"], last["version"])
    version = int(last["version"]) + 1
    await _insert_version(session, plan["id"], version, terms, moment, note, created_by)
    await audit.record(
        session,
        "fee_plan.version_added",
        target_type="fee_plan",
        target_id=plan["id"],
        details={"version": version, "effective_from": clock.to_rfc3339(moment)},
    )
    return await get_plan(session, plan["id"])


async def _clear_default(session: AsyncSession) -> None:
    await session.execute(
        update(FeePlan).where(FeePlan.is_default.is_(True)).values(is_default=False)
    )


async def make_default(session: AsyncSession, plan_id: str) -> PlanView:
    """The plan of every merchant that points to none."""
    plan = await _plan_row(session, plan_id)
    await _clear_default(session)
    await session.execute(update(FeePlan).where(FeePlan.id == plan["id"]).values(is_default=True))
    await audit.record(
        session, "fee_plan.made_default", target_type="fee_plan", target_id=plan["id"]
    )
    return await get_plan(session, plan["id"])


async def get_plan(tx: AsyncSession | Sql, plan_id: str) -> PlanView:
    return await _plan_view(tx, await _plan_row(tx, plan_id))


async def list_plans(
    tx: AsyncSession | Sql, *, limit: int, starting_after: str | None
) -> tuple[list[PlanView], bool]:
    query = select(_PLANS).order_by(_PLANS.c.id.desc()).limit(limit + 1)
    if starting_after is not None:
        query = query.where(_PLANS.c.id < starting_after)
    rows = await (await as_sql(tx)).all_once(query)
    return [await _plan_view(tx, r) for r in rows[:limit]], len(rows) > limit


async def assign_plan(
    session: AsyncSession, merchant_id: str, plan_id: str | None
) -> merchants.MerchantView:
    """Point a merchant to a plan (None: back to the default), audited; its payments
    captured from now on are priced by it."""
    if not is_id(merchant_id, "mer"):
        raise PayHubError("merchant_not_found", merchant=str(merchant_id)[:40])
    if plan_id is not None:
        await _plan_row(session, plan_id)
    before = await merchants.get_merchant(session, merchant_id)
    view = await merchants.set_fee_plan(session, merchant_id, plan_id)
    await audit.record(
        session,
        "merchant.fee_plan_assigned",
        target_type="merchant",
        target_id=merchant_id,
        details={"fee_plan": [before.fee_plan_id, plan_id]},
    )
    return view


async def plan_in_force(tx: AsyncSession | Sql, merchant_id: str, at: datetime) -> PlanVersionView:
    """The version pricing `merchant_id`'s payments at `at`: its plan's, else the default
    plan's, else the built-in plan."""
    row = await (await as_sql(tx)).one(PLAN_IN_FORCE, merchant_id=merchant_id, at=at)
    return plan_version_view(row) if row is not None else BUILTIN_VERSION


# ---------------------------------------------------------------------- channel costs


def _require_channel(channel_id: str) -> ChannelInfo:
    info = _card_channels().get(channel_id)
    if info is None:
        raise PayHubError("channel_not_found", param="channel", channel=str(channel_id)[:64])
    return info


async def add_cost_version(
    session: AsyncSession,
    channel_id: str,
    *,
    currency: str,
    debit: Any,
    credit: Any,
    refund_returns_fee: Any = False,
    effective_from: datetime | None = None,
    note: str | None = None,
    created_by: str,
) -> CostVersionView:
    """A channel's next cost schedule version. Refused with nothing written:
    `channel_not_found`, `validation_error`, `currency_invalid`, `fee_version_out_of_order`."""
    _require_channel(channel_id)
    terms = pricing.cost_terms(currency, debit, credit, refund_returns_fee)
    note = _check_text(note, "note", 200)
    sql = await as_sql(session)
    last = await _first(
        sql,
        select(_COSTS.c.version, _COSTS.c.effective_from)
        .where(_COSTS.c.channel_id == channel_id)
        .order_by(_COSTS.c.version.desc())
        .limit(1),
    )
    latest = last["effective_from"] if last else None
    moment = _effective_from(effective_from, latest, int(last["version"]) if last else 0)
    version = int(last["version"]) + 1 if last else 1
    row = ChannelCostVersion(
        id=new_id("ccv"),
        channel_id=channel_id,
        version=version,
        currency=terms.currency,
        effective_from=moment,
        debit=terms.debit.to_data(),
        credit=terms.credit.to_data(),
        refund_returns_fee=terms.refund_returns_fee,
        note=note,
        created_by=created_by,
        created_at=clock.now(),
    )
    session.add(row)
    # A concurrent writer of the same version number fails on the unique constraint here
    # and the unit of work retries the whole request.
    await session.flush()
    await audit.record(
        session,
        "channel_cost.version_added",
        target_type="channel",
        target_id=channel_id,
        details={"version": version, "effective_from": clock.to_rfc3339(moment)},
    )
    return cost_version_view(
        {c.name: getattr(row, c.key) for c in ChannelCostVersion.__mapper__.columns}
    )


async def cost_versions(tx: AsyncSession | Sql, channel_id: str) -> list[CostVersionView]:
    """Every configured version of a channel's schedule, oldest first."""
    _require_channel(channel_id)
    rows = await (await as_sql(tx)).all_once(
        select(_COSTS).where(_COSTS.c.channel_id == channel_id).order_by(_COSTS.c.version)
    )
    return [cost_version_view(r) for r in rows]


async def cost_in_force(
    tx: AsyncSession | Sql, channel_id: str, at: datetime, currency: str = "CNY"
) -> CostVersionView | None:
    """The schedule pricing `channel_id` at `at`: its latest version in force, else its list
    prices; None for a channel this process does not know."""
    row = await (await as_sql(tx)).one(COST_IN_FORCE, channel_id=channel_id, at=at)
    if row is not None:
        return cost_version_view(row)
    info = _card_channels().get(channel_id)
    return list_price_view(info, currency) if info is not None else None


async def schedules_in_force(tx: AsyncSession | Sql) -> list[CostVersionView]:
    """Every card channel's schedule in force now."""
    now = clock.now()
    found = []
    for channel_id in sorted(_card_channels()):
        view = await cost_in_force(tx, channel_id, now)
        assert view is not None
        found.append(view)
    return found


# -------------------------------------------------------------------------------- quote


@dataclass(frozen=True, slots=True)
class Quote:
    merchant_id: str
    amount: int
    currency: str
    card_type: str
    channel_id: str
    channel_class: str
    scene: str
    plan: PlanVersionView
    merchant_price: Price
    merchant_fee: int
    cost: CostVersionView
    channel_cost: int

    @property
    def margin(self) -> int:
        return self.merchant_fee - self.channel_cost


async def quote(
    tx: AsyncSession | Sql,
    *,
    merchant_id: str,
    amount: int,
    currency: str,
    card_type: str,
    channel_id: str,
    scene: str,
) -> Quote:
    """What a payment captured now would be charged and would cost; writes nothing."""
    check_amount(amount)
    check_currency(currency)
    if card_type not in pricing.CARD_TYPES:
        raise PayHubError("validation_error", param="card_type", detail="debit or credit")
    if scene not in SCENES:
        raise PayHubError("validation_error", param="scene", detail=", ".join(SCENES))
    _require_channel(channel_id)
    await merchants.get_merchant(tx, merchant_id)
    now = clock.now()
    plan = await plan_in_force(tx, merchant_id, now)
    rule = plan.terms.rule_for(card_type, channel_id, scene)
    cost = await cost_in_force(tx, channel_id, now, currency)
    assert cost is not None
    cost_price = cost.terms.price(card_type)
    return Quote(
        merchant_id=merchant_id,
        amount=amount,
        currency=currency,
        card_type=card_type,
        channel_id=channel_id,
        channel_class=plan.terms.channel_class(channel_id),
        scene=scene,
        plan=plan,
        merchant_price=rule.price,
        merchant_fee=rule.price.fee(amount, same_currency=currency == plan.terms.currency),
        cost=cost,
        channel_cost=cost_price.fee(amount, same_currency=currency == cost.terms.currency),
    )


def known_channels() -> Sequence[str]:
    return sorted(_card_channels())
