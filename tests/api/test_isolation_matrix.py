"""Every route of the app against every kind of caller it must refuse.

Routes are discovered from `app.routes`, so a route added later joins the matrix by
itself; a route the matrix does not know how to fill fails until `MATRIX` learns it.
Two merchants, A and B, each own one of everything. A's key aimed at B's objects must
answer 404 with the object's `*_not_found` code (or, for operator routes, 403), and
leave B's objects, as the operator reads them, and every row of every table as they were.
Without a usable key every route but the public ones answers 401.
"""

from __future__ import annotations

import copy
import shutil
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import chain
from pathlib import Path
from typing import Any, Literal

import fastapi.routing
import httpx
import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.engine import make_url

from payhub.api.app import create_app
from payhub.auth import service as auth
from payhub.channels.base import ChannelAdapter
from payhub.core import clock
from payhub.core.config import Settings
from payhub.db.models import metadata
from payhub.db.session import Database
from payhub.events.tasks import dispatch_events
from payhub.payments.channels import use_channels
from payhub.vault import testcards
from tests.api.helpers import assert_error
from tests.conftest import POSTGRES
from tests.payments.helpers import EXP_YEAR, world
from tests.settlement.payouts.helpers import fund, open_party

Access = Literal["public", "operator", "merchant"]
Row = dict[str, Any]
Dump = dict[str, list[Row]]


# ----------------------------------------------------------------------------- the world


@dataclass
class Party:
    """One merchant and one of everything it can own."""

    merchant: str = ""
    key: str = ""
    key_id: str = ""
    revoked_key: str = ""
    customer: str = ""
    card: str = ""
    pan: str = ""
    bank_account: str = ""
    fresh: str = ""  # payment awaiting confirmation
    held: str = ""  # authorised, nothing captured
    captured: str = ""  # partly captured (the rest still capturable), partly refunded
    refund: str = ""
    endpoint: str = ""
    event: str = ""
    journal: str = ""
    hold: str = ""
    settlement: str = ""
    payee: str = ""  # its bank account bound as a (group leader's) payout destination
    payout: str = ""
    split_batch: str = ""
    supplier_payee: str = ""  # a supplier its split batch pays
    ids: set[str] = field(default_factory=set)  # every id of its objects, for leak scans

    @property
    def account(self) -> str:
        return f"merchant:{self.merchant}:pending"


@dataclass
class World:
    a: Party
    b: Party
    operator: str
    revoked_operator: str
    expired: str  # a key of A's that has expired
    detokenizer: str  # a platform key with the `detokenize` scope only
    bank_desk: str  # a platform key with the `bank_files` scope only


class Api:
    """An HTTP client on the real app; the key is chosen per request."""

    def __init__(self, http: httpx.AsyncClient, operator: str = "") -> None:
        self.http = http
        self.operator = operator

    async def send(
        self,
        method: str,
        path: str,
        key: str | None,
        *,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        authorization: str | None = None,
    ) -> httpx.Response:
        headers = {}
        if authorization is not None:
            headers["Authorization"] = authorization
        elif key is not None:
            headers["Authorization"] = f"Bearer {key}"
        return await self.http.request(
            method, path, json=body, params=params or None, headers=headers
        )

    async def ok(
        self, method: str, path: str, key: str | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        response = await self.send(method, path, key or self.operator, **kwargs)
        assert response.status_code in (200, 201), f"{method} {path}: {response.text}"
        body: dict[str, Any] = response.json()
        return body


async def _make_party(api: Api, tag: str, account_number: str, amount: int) -> Party:
    p = Party()
    p.merchant = (await api.ok("POST", "/v1/merchants", body={"name": f"Shop {tag}"}))["id"]
    keys = f"/v1/merchants/{p.merchant}/api_keys"
    issued = await api.ok("POST", keys, body={"name": "checkout"})
    p.key, p.key_id = issued["secret"], issued["id"]
    old = await api.ok("POST", keys, body={"name": "retired"})
    await api.ok("POST", f"{keys}/{old['id']}/revoke")
    p.revoked_key = old["secret"]
    # Real-time settlement with a reserve: every capture and refund makes a settlement.
    realtime = {"mode": "realtime", "reserve_bps": 100, "reserve_days": 7}
    await api.ok("POST", f"/v1/settlement_settings/{p.merchant}", body=realtime)

    me = p.key
    p.customer = (await api.ok("POST", "/v1/customers", me, body={"name": f"Buyer {tag}"}))["id"]
    p.pan = testcards.test_card("PARTNER", "debit")
    card = _card_body(p.customer, p.pan)
    p.card = (await api.ok("POST", "/v1/payment_methods", me, body=card))["id"]
    account = {"bank_code": "ICBC", "account_number": account_number, "holder_name": tag}
    p.bank_account = (
        await api.ok(
            "POST",
            "/v1/payment_methods",
            me,
            body={"type": "bank_account", "bank_account": account},
        )
    )["id"]

    async def payment() -> str:
        body = {
            "amount": amount,
            "currency": "CNY",
            "payment_method": p.card,
            "customer": p.customer,
            "capture_method": "manual",
        }
        made: str = (await api.ok("POST", "/v1/payments", me, body=body))["id"]
        return made

    p.fresh, p.held, p.captured = await payment(), await payment(), await payment()
    for pid in (p.held, p.captured):
        confirmed = await api.ok("POST", f"/v1/payments/{pid}/confirm", me)
        assert confirmed["status"] == "requires_capture", confirmed
    await api.ok("POST", f"/v1/payments/{p.captured}/capture", me, body={"amount": 3000})
    refund = {"payment": p.captured, "amount": 1000}
    p.refund = (await api.ok("POST", "/v1/refunds", me, body=refund))["id"]
    hook = {"url": f"http://127.0.0.1:9/hooks/{tag}", "events": ["*"]}
    p.endpoint = (await api.ok("POST", "/v1/webhook_endpoints", me, body=hook))["id"]
    journals = await api.ok("GET", f"/v1/payments/{p.captured}/journals", me)
    p.journal = journals["data"][0]["id"]
    p.hold = f"hold-{p.merchant}"
    postings = [
        {"account": p.account, "side": "debit", "amount": 100, "currency": "CNY"},
        {
            "account": "channel:partner_bank:clearing",
            "side": "credit",
            "amount": 100,
            "currency": "CNY",
        },
    ]
    await api.ok("POST", "/v1/ledger/holds", body={"id": p.hold, "postings": postings})
    p.settlement = (await api.ok("GET", "/v1/settlements", me))["data"][-1]["id"]
    return p


async def _collect_ids(api: Api, p: Party) -> None:
    """Every id a leak of this party's objects could show."""
    events = await api.ok("GET", "/v1/events", p.key, params={"limit": "100"})
    p.event = next(e["id"] for e in events["data"] if e["type"] == "payment.succeeded")
    deliveries = await api.ok("GET", f"/v1/webhook_endpoints/{p.endpoint}/deliveries", p.key)
    attempts = await api.ok("GET", f"/v1/payments/{p.captured}/attempts", p.key)
    assert deliveries["data"], "every event should have made a delivery"
    p.ids |= {e["id"] for e in events["data"]}
    p.ids |= {d["id"] for d in deliveries["data"]}
    p.ids |= {a["id"] for a in attempts["data"]}
    p.ids |= {
        p.merchant,
        p.key_id,
        p.customer,
        p.card,
        p.bank_account,
        p.fresh,
        p.held,
        p.captured,
        p.refund,
        p.endpoint,
        p.journal,
        p.hold,
        p.settlement,
    }


async def _payouts_of(api: Api, db: Database, p: Party, tag: str) -> None:
    """A verified payee, a payout, and a split batch of its captured payment."""
    me = p.key
    body = {"bank_account": p.bank_account, "role": "group_leader"}
    p.payee = (await api.ok("POST", "/v1/payees", me, body=body))["id"]
    await api.ok("POST", f"/v1/payees/{p.payee}/verify", body={"method": "operator"})
    await fund(db, p.merchant, 50_000)
    payout = {"amount": 1_000, "currency": "CNY", "destination": p.payee, "instant": True}
    sent = await api.send("POST", "/v1/payouts", me, body=payout)
    assert sent.status_code in (201, 202), sent.text
    p.payout = sent.json()["id"]
    supplier = await open_party(db, f"Supplier {tag}")
    p.supplier_payee = supplier.payee_id
    batch = {
        "currency": "CNY",
        "payments": [p.captured],
        "lines": [{"receiver": supplier.payee_id, "amount": 500}],
    }
    p.split_batch = (await api.ok("POST", "/v1/split_batches", me, body=batch))["id"]
    p.ids |= {p.payee, p.payout, p.split_batch, supplier.payee_id, supplier.merchant_id}


async def _build_world(db: Database, settings: Settings) -> tuple[World, dict[str, Any]]:
    operator = await db.run_in_transaction(
        lambda s: auth.issue_key(s, name="ops", role="operator", scopes=auth.OPERATOR_SCOPES)
    )
    gone = await db.run_in_transaction(
        lambda s: auth.issue_key(s, name="old ops", role="operator", scopes=auth.OPERATOR_SCOPES)
    )
    await db.run_in_transaction(lambda s: auth.revoke_key(s, gone.id))
    app = create_app(settings, database=db, run_jobs=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://payhub.test"
    ) as http:
        api = Api(http, operator.secret)
        # Different amounts, so that figures summed over both merchants give themselves away.
        a = await _make_party(api, "A", "6222 0211 0000 1111", 5000)
        b = await _make_party(api, "B", "6222 0222 0000 2222", 6100)
        await _payouts_of(api, db, a, "A")
        await _payouts_of(api, db, b, "B")
        await dispatch_events(db)
        await _collect_ids(api, a)
        await _collect_ids(api, b)
        seen = await snapshot(api, b)
    detokenizer = await db.run_in_transaction(
        lambda s: auth.issue_key(s, name="vault", role="operator", scopes=[auth.DETOKENIZE])
    )
    bank_desk = await db.run_in_transaction(
        lambda s: auth.issue_key(s, name="bank desk", role="operator", scopes=[auth.BANK_FILES])
    )
    expired = await db.run_in_transaction(
        lambda s: auth.issue_key(
            s,
            name="lapsed",
            role="merchant",
            scopes=["read", "write"],
            merchant_id=a.merchant,
            expires_at=clock.now() - timedelta(minutes=1),
        )
    )
    world = World(
        a, b, operator.secret, gone.secret, expired.secret, detokenizer.secret, bank_desk.secret
    )
    return world, seen


# ------------------------------------------------------------- dumping and restoring rows


def _pk(table_name: str, row: Row) -> tuple[str, ...]:
    table = metadata.tables[table_name]
    return tuple(str(row[c.name]) for c in table.primary_key.columns)


# The matrix sends bursts no client would: rate limits have tests of their own.
NO_LIMITS: dict[str, Any] = {"rate_limit_read_per_s": 0, "rate_limit_write_per_s": 0}
# Bookkeeping every request changes, whoever sends it: a key's rate-limit tokens.
UNGUARDED = {"rate_buckets"}


async def dump_rows(db: Database) -> Dump:
    """Every row of every table (but the bookkeeping), in primary-key order."""
    out: Dump = {}
    async with db.engine.connect() as conn:
        for table in metadata.sorted_tables:
            if table.name in UNGUARDED:
                continue
            rows = [dict(r) for r in (await conn.execute(select(table))).mappings()]
            out[table.name] = sorted(rows, key=lambda r, name=table.name: _pk(name, r))
    return out


def _with_dependents(names: set[str]) -> list[str]:
    """These tables and every table whose rows refer to theirs, in creation order."""
    out = set(names)
    for table in metadata.sorted_tables:  # referred tables come first
        if any(fk.column.table.name in out for fk in table.foreign_keys):
            out.add(table.name)
    return [t.name for t in metadata.sorted_tables if t.name in out]


async def restore_rows(db: Database, rows: Dump, now: Dump) -> None:
    """Put back the tables whose rows differ (and those referring to them)."""
    names = _with_dependents({name for name in rows if now[name] != rows[name]})
    async with db.engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {', '.join(names)} CASCADE"))
        for name in names:
            if rows[name]:
                await conn.execute(insert(metadata.tables[name]), rows[name])
    assert await dump_rows(db) == rows


@dataclass
class Built:
    world: World
    b_seen: dict[str, Any]  # B's objects as the operator reads them
    rows: Dump
    channels: dict[str, ChannelAdapter]
    url: str  # where the world is kept: a SQLite file to copy, or the PostgreSQL database
    shared: Database | None  # PostgreSQL: the database every test of the module uses


@pytest.fixture(scope="module")
async def built(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Built]:
    """The two merchants and everything they own, made once through the API. Building it
    for each of a hundred tests would take minutes; instead each test starts from these
    rows (and from a copy of the simulator that authorised the payments)."""
    if POSTGRES:
        url = database_url
    else:
        path = tmp_path_factory.mktemp("matrix") / "world.db"
        shutil.copyfile(Path(make_url(database_url).database or ""), path)
        url = f"sqlite+aiosqlite:///{path}"
    db = Database(url, pool_size=10)
    try:
        if POSTGRES:
            async with db.engine.begin() as conn:
                names = ", ".join(t.name for t in metadata.sorted_tables)
                await conn.execute(text(f"TRUNCATE {names} CASCADE"))
        settings = Settings(database_url=url, demo_data=False, log_level="WARNING", **NO_LIMITS)
        channels = world()
        with use_channels(channels):
            made, seen = await _build_world(db, settings)
        rows = await dump_rows(db)
    except BaseException:
        await db.dispose()
        raise
    if not POSTGRES:
        await db.dispose()  # each test copies the file: nothing may hold it open
    yield Built(made, seen, rows, channels, url, db if POSTGRES else None)
    if POSTGRES:
        await db.dispose()


@pytest.fixture
async def world_db(built: Built, tmp_path: Path) -> AsyncIterator[Database]:
    """The world, as it was built: on SQLite a copy of its file; on PostgreSQL the shared
    test database, its rows put back where the previous test changed them."""
    if built.shared is not None:
        now = await dump_rows(built.shared)
        if now != built.rows:
            await restore_rows(built.shared, built.rows, now)
        yield built.shared
        return
    path = tmp_path / "world.db"
    shutil.copyfile(Path(make_url(built.url).database or ""), path)
    db = Database(f"sqlite+aiosqlite:///{path}", pool_size=5)
    yield db
    await db.dispose()


@pytest.fixture
async def api(world_db: Database, built: Built) -> AsyncIterator[Api]:
    settings = Settings(
        database_url=world_db.url, demo_data=False, log_level="WARNING", **NO_LIMITS
    )
    app = create_app(settings, database=world_db, run_jobs=False)
    with use_channels(copy.deepcopy(built.channels)):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://payhub.test"
        ) as http:
            yield Api(http, built.world.operator)


# ------------------------------------------------------------------------------ the matrix


@dataclass(frozen=True)
class Call:
    """One request aimed at `them`'s objects.

    `code`: the `*_not_found` code a merchant key must get for them; None: the route only
    ever answers with the caller's own objects (a list, a create), so it must answer 2xx
    without any of theirs. `lenient`: a list filter naming their object may either refuse
    with `code` or answer with none of their objects. `mirror`: see below."""

    path: str
    body: Any = None
    params: Mapping[str, str] | None = None
    code: str | None = None
    lenient: bool = False
    # Figures without ids (reports): the caller's answer must equal the operator's for
    # these parameters (the caller's own merchant named).
    mirror: Mapping[str, str] | None = None


Build = Callable[[Party, Party], list[Call]]


@dataclass(frozen=True)
class Case:
    access: Access
    calls: Build
    # Operator routes: the platform key whose request is the control (see `_control`).
    control: Literal["operator", "detokenizer", "bank_desk"] = "operator"


def public(path: str) -> Case:
    return Case("public", lambda me, them: [Call(path)])


def operator(build: Build) -> Case:
    return Case("operator", build)


def merchant(build: Build) -> Case:
    return Case("merchant", build)


def detokenizer(build: Build) -> Case:
    """A platform route that needs the `detokenize` scope: refused to merchant keys like any
    operator route, tried by the platform's detokenisation key as the control."""
    return Case("operator", build, control="detokenizer")


def bank_desk(build: Build) -> Case:
    """A platform route that needs the `bank_files` scope (a bank file carries receivers'
    account numbers): refused to merchant keys, tried by the bank-file desk's key."""
    return Case("operator", build, control="bank_desk")


def _card_body(customer: str | None, pan: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "card",
        "card": {"number": pan, "exp_month": 12, "exp_year": EXP_YEAR},
        **extra,
    }
    if customer is not None:
        body["customer"] = customer
    return body


def _payment_body(me: Party, **changes: Any) -> dict[str, Any]:
    return {
        "amount": 1200,
        "currency": "CNY",
        "payment_method": me.card,
        "customer": me.customer,
        "capture_method": "manual",
        **changes,
    }


def _moves(them: Party, journal_id: str) -> dict[str, Any]:
    return {
        "id": journal_id,
        "postings": [
            {"account": them.account, "side": "debit", "amount": 100, "currency": "CNY"},
            {
                "account": "channel:partner_bank:clearing",
                "side": "credit",
                "amount": 100,
                "currency": "CNY",
            },
        ],
    }


_ACCOUNT = {"bank_code": "CMB", "account_number": "6214 8300 1234 5678", "holder_name": "Mole"}


def _other_pan() -> str:
    return testcards.test_card("ICBC", "credit")


L = "/v1/ledger"
# (method, path) → who may call it, and the requests `me` sends at `them`'s objects: with
# A and B to try isolation, with A and A (or the operator's key) as the control.
# An audit event id that exists nowhere: these routes are the platform's whatever the id.
AUDIT_EVENT = "aud_01M97DC3WE0MD7H9ACKEA220F5"
S = "/v1/sanctions"
# A sanctions hit id that exists nowhere (the world loads no list, so raises none).
HIT = "hit_01M97DC3WE0MD7H9ACKEA220F5"
# Alerts, cases and reports that exist nowhere: these routes are the platform's alone.
RISK_ALERT = "alr_01M97DC3WE0MD7H9ACKEA220F5"
RISK_CASE = "case_01M97DC3WE0MD7H9ACKEA220F5"
RISK_REPORT = "rpt_01M97DC3WE0MD7H9ACKEA220F5"
# A fee plan that exists nowhere: the plan routes are the platform's whatever the id.
FEE_PLAN = "fpl_01M97DC3WE0MD7H9ACKEA220F5"
# Reconciliation runs and breaks that exist nowhere: the platform's routes alone.
RECON = "/v1/reconciliation"
RECON_RUN = "rcr_01M97DC3WE0MD7H9ACKEA220F5"
RECON_BREAK = "rcb_01M97DC3WE0MD7H9ACKEA220F5"

MATRIX: dict[tuple[str, str], Case] = {
    # The interactive reference and the health check answer anyone.
    ("GET", "/openapi.json"): public("/openapi.json"),
    ("GET", "/docs"): public("/docs"),
    ("GET", "/docs/oauth2-redirect"): public("/docs/oauth2-redirect"),
    ("GET", "/redoc"): public("/redoc"),
    ("GET", "/healthz"): public("/healthz"),
    # Merchants and their keys: the operator's, except reading one's own merchant.
    ("POST", "/v1/merchants"): operator(
        lambda me, them: [Call("/v1/merchants", body={"name": "Intruder"})]
    ),
    ("GET", "/v1/merchants"): operator(lambda me, them: [Call("/v1/merchants")]),
    ("GET", "/v1/merchants/{merchant_id}"): merchant(
        lambda me, them: [Call(f"/v1/merchants/{them.merchant}", code="merchant_not_found")]
    ),
    ("POST", "/v1/merchants/{merchant_id}"): operator(
        lambda me, them: [
            Call(f"/v1/merchants/{them.merchant}", body={"name": "Renamed", "status": "suspended"})
        ]
    ),
    ("POST", "/v1/merchants/{merchant_id}/api_keys"): operator(
        lambda me, them: [Call(f"/v1/merchants/{them.merchant}/api_keys", body={"name": "spare"})]
    ),
    ("GET", "/v1/merchants/{merchant_id}/api_keys"): operator(
        lambda me, them: [Call(f"/v1/merchants/{them.merchant}/api_keys")]
    ),
    ("POST", "/v1/merchants/{merchant_id}/api_keys/{key_id}/revoke"): operator(
        lambda me, them: [
            Call(f"/v1/merchants/{them.merchant}/api_keys/{them.key_id}/revoke"),
            Call(f"/v1/merchants/{me.merchant}/api_keys/{them.key_id}/revoke"),
        ]
    ),
    ("POST", "/v1/merchants/{merchant_id}/api_keys/{key_id}/roll"): operator(
        lambda me, them: [
            Call(f"/v1/merchants/{them.merchant}/api_keys/{them.key_id}/roll"),
            Call(f"/v1/merchants/{me.merchant}/api_keys/{them.key_id}/roll"),
        ]
    ),
    ("POST", "/v1/merchants/{merchant_id}/api_keys/{key_id}/signing"): operator(
        lambda me, them: [
            Call(f"/v1/merchants/{them.merchant}/api_keys/{them.key_id}/signing"),
            Call(f"/v1/merchants/{me.merchant}/api_keys/{them.key_id}/signing"),
        ]
    ),
    ("POST", "/v1/merchants/{merchant_id}/api_keys/{key_id}/signing/disable"): operator(
        lambda me, them: [
            Call(f"/v1/merchants/{them.merchant}/api_keys/{them.key_id}/signing/disable"),
        ]
    ),
    ("POST", "/v1/merchants/{merchant_id}/api_keys/{key_id}/limits"): operator(
        lambda me, them: [
            Call(
                f"/v1/merchants/{them.merchant}/api_keys/{them.key_id}/limits",
                body={"per_second": 5},
            ),
        ]
    ),
    ("POST", "/v1/api_keys/{key_id}/limits"): operator(
        lambda me, them: [Call(f"/v1/api_keys/{them.key_id}/limits", body={"per_second": 5})]
    ),
    ("POST", "/v1/api_keys/{key_id}/signing"): operator(
        lambda me, them: [Call(f"/v1/api_keys/{them.key_id}/signing")]
    ),
    ("POST", "/v1/api_keys/{key_id}/signing/disable"): operator(
        lambda me, them: [Call(f"/v1/api_keys/{them.key_id}/signing/disable")]
    ),
    # The platform's own keys and the audit log.
    ("POST", "/v1/api_keys"): operator(
        lambda me, them: [Call("/v1/api_keys", body={"name": "spare", "scopes": ["compliance"]})]
    ),
    ("GET", "/v1/api_keys"): operator(lambda me, them: [Call("/v1/api_keys")]),
    ("POST", "/v1/api_keys/{key_id}/revoke"): operator(
        lambda me, them: [Call(f"/v1/api_keys/{them.key_id}/revoke")]
    ),
    ("POST", "/v1/api_keys/{key_id}/roll"): operator(
        lambda me, them: [Call(f"/v1/api_keys/{them.key_id}/roll")]
    ),
    ("GET", "/v1/audit/events"): operator(lambda me, them: [Call("/v1/audit/events")]),
    ("GET", "/v1/audit/events/{event_id}"): operator(
        lambda me, them: [Call(f"/v1/audit/events/{AUDIT_EVENT}")]
    ),
    ("GET", "/v1/audit/verify"): operator(lambda me, them: [Call("/v1/audit/verify")]),
    # The vault's data keys.
    ("GET", "/v1/vault/data_keys"): operator(lambda me, them: [Call("/v1/vault/data_keys")]),
    ("POST", "/v1/vault/data_keys/rotate"): operator(
        lambda me, them: [Call("/v1/vault/data_keys/rotate", body={"algorithm": "sm4-gcm"})]
    ),
    # Sanctions screening: compliance's, whoever's parties it concerns.
    ("POST", f"{S}/lists"): operator(
        lambda me, them: [
            Call(
                f"{S}/lists",
                body={
                    "list": "matrix",
                    "format": "csv",
                    "content": f"id,name\n1,Buyer {them.merchant[-4:]}\n",
                },
            )
        ]
    ),
    ("GET", f"{S}/lists"): operator(lambda me, them: [Call(f"{S}/lists")]),
    ("POST", f"{S}/screen"): operator(
        lambda me, them: [Call(f"{S}/screen", body={"name": "Buyer B"})]
    ),
    ("GET", f"{S}/screenings"): operator(
        lambda me, them: [Call(f"{S}/screenings", params={"subject": them.customer})]
    ),
    ("GET", f"{S}/hits"): operator(
        lambda me, them: [Call(f"{S}/hits", params={"subject": them.merchant})]
    ),
    ("GET", f"{S}/hits/{{hit_id}}"): operator(lambda me, them: [Call(f"{S}/hits/{HIT}")]),
    ("POST", f"{S}/hits/{{hit_id}}/clear"): operator(
        lambda me, them: [Call(f"{S}/hits/{HIT}/clear", body={"reason": "matrix"})]
    ),
    ("POST", f"{S}/hits/{{hit_id}}/confirm"): operator(
        lambda me, them: [Call(f"{S}/hits/{HIT}/confirm", body={"reason": "matrix"})]
    ),
    # Customers.
    ("POST", "/v1/customers"): merchant(
        lambda me, them: [
            Call(
                "/v1/customers",
                body={"name": "Mole", "merchant": them.merchant},
                code="merchant_not_found",
            ),
            Call("/v1/customers", body={"name": "Own buyer"}),
        ]
    ),
    ("GET", "/v1/customers"): merchant(
        lambda me, them: [Call("/v1/customers", params={"limit": "100"})]
    ),
    ("GET", "/v1/customers/{customer_id}"): merchant(
        lambda me, them: [Call(f"/v1/customers/{them.customer}", code="customer_not_found")]
    ),
    # Payment methods: their customer, their merchant; their card number gives a token of
    # one's own, never theirs.
    ("POST", "/v1/payment_methods"): merchant(
        lambda me, them: [
            Call(
                "/v1/payment_methods",
                body=_card_body(them.customer, _other_pan()),
                code="customer_not_found",
            ),
            Call(
                "/v1/payment_methods",
                body=_card_body(None, _other_pan(), merchant=them.merchant),
                code="merchant_not_found",
            ),
            Call(
                "/v1/payment_methods",
                body={"type": "bank_account", "customer": them.customer, "bank_account": _ACCOUNT},
                code="customer_not_found",
            ),
            Call(
                "/v1/payment_methods",
                body={
                    "type": "bank_account",
                    "merchant": them.merchant,
                    "bank_account": _ACCOUNT,
                },
                code="merchant_not_found",
            ),
            Call("/v1/payment_methods", body=_card_body(me.customer, them.pan)),
        ]
    ),
    # Revealing a number: the platform's detokenisation key only, whoever owns the card.
    ("POST", "/v1/payment_methods/{token}/detokenize"): detokenizer(
        lambda me, them: [
            Call(f"/v1/payment_methods/{them.card}/detokenize", body={"reason": "matrix"}),
            Call(f"/v1/payment_methods/{them.bank_account}/detokenize", body={"reason": "matrix"}),
        ]
    ),
    ("GET", "/v1/payment_methods/{token}"): merchant(
        lambda me, them: [
            Call(f"/v1/payment_methods/{them.card}", code="payment_method_not_found"),
            Call(f"/v1/payment_methods/{them.bank_account}", code="payment_method_not_found"),
        ]
    ),
    # Payments and refunds.
    ("POST", "/v1/payments"): merchant(
        lambda me, them: [
            Call(
                "/v1/payments",
                body=_payment_body(me, payment_method=them.card, customer=None),
                code="payment_method_not_found",
            ),
            Call(
                "/v1/payments",
                body=_payment_body(me, customer=them.customer),
                code="customer_not_found",
            ),
            Call(
                "/v1/payments",
                body=_payment_body(me, merchant=them.merchant),
                code="merchant_not_found",
            ),
        ]
    ),
    ("GET", "/v1/payments"): merchant(
        lambda me, them: [
            Call("/v1/payments", params={"limit": "100"}),
            Call("/v1/payments", params={"merchant": them.merchant}, code="merchant_not_found"),
            Call(
                "/v1/payments",
                params={"customer": them.customer},
                code="customer_not_found",
                lenient=True,
            ),
        ]
    ),
    ("GET", "/v1/payments/{payment_id}"): merchant(
        lambda me, them: [
            Call(f"/v1/payments/{pid}", code="payment_not_found")
            for pid in (them.fresh, them.held, them.captured)
        ]
    ),
    ("POST", "/v1/payments/{payment_id}/confirm"): merchant(
        lambda me, them: [
            Call(
                f"/v1/payments/{them.fresh}/confirm", body={"cvv": "123"}, code="payment_not_found"
            )
        ]
    ),
    ("POST", "/v1/payments/{payment_id}/capture"): merchant(
        lambda me, them: [
            Call(f"/v1/payments/{pid}/capture", body={"amount": 500}, code="payment_not_found")
            for pid in (them.held, them.captured)
        ]
    ),
    ("POST", "/v1/payments/{payment_id}/cancel"): merchant(
        lambda me, them: [
            Call(f"/v1/payments/{pid}/cancel", code="payment_not_found")
            for pid in (them.held, them.fresh)
        ]
    ),
    ("GET", "/v1/payments/{payment_id}/attempts"): merchant(
        lambda me, them: [Call(f"/v1/payments/{them.captured}/attempts", code="payment_not_found")]
    ),
    ("GET", "/v1/payments/{payment_id}/journals"): merchant(
        lambda me, them: [Call(f"/v1/payments/{them.captured}/journals", code="payment_not_found")]
    ),
    ("POST", "/v1/refunds"): merchant(
        lambda me, them: [
            Call(
                "/v1/refunds",
                body={"payment": them.captured, "amount": 500},
                code="payment_not_found",
            )
        ]
    ),
    ("GET", "/v1/refunds"): merchant(
        lambda me, them: [
            Call("/v1/refunds", params={"limit": "100"}),
            Call(
                "/v1/refunds",
                params={"payment": them.captured},
                code="payment_not_found",
                lenient=True,
            ),
        ]
    ),
    ("GET", "/v1/refunds/{refund_id}"): merchant(
        lambda me, them: [Call(f"/v1/refunds/{them.refund}", code="refund_not_found")]
    ),
    # Routing rules and channel health: the operator's.
    ("GET", "/v1/routing/rules"): operator(lambda me, them: [Call("/v1/routing/rules")]),
    ("GET", "/v1/routing/rules/versions"): operator(
        lambda me, them: [Call("/v1/routing/rules/versions")]
    ),
    ("POST", "/v1/routing/rules"): operator(
        lambda me, them: [
            Call(
                "/v1/routing/rules",
                body={
                    "rules": [{"id": "intrude", "action": "exclude", "channels": ["partner_bank"]}],
                    "activate": False,
                },
            )
        ]
    ),
    ("POST", "/v1/routing/rules/{version}/activate"): operator(
        lambda me, them: [Call("/v1/routing/rules/0/activate")]
    ),
    ("GET", "/v1/channels"): operator(lambda me, them: [Call("/v1/channels")]),
    # Fee plans, channel costs and their reports: the operator's; a payment's fees, its
    # merchant's too.
    ("POST", "/v1/fee_plans"): operator(
        lambda me, them: [Call("/v1/fee_plans", body={"name": "intrude", "rules": [{"bps": 1}]})]
    ),
    ("GET", "/v1/fee_plans"): operator(lambda me, them: [Call("/v1/fee_plans")]),
    ("GET", "/v1/fee_plans/{plan_id}"): operator(
        lambda me, them: [Call(f"/v1/fee_plans/{FEE_PLAN}")]
    ),
    ("POST", "/v1/fee_plans/{plan_id}/versions"): operator(
        lambda me, them: [Call(f"/v1/fee_plans/{FEE_PLAN}/versions", body={"rules": [{"bps": 1}]})]
    ),
    ("POST", "/v1/fee_plans/{plan_id}/make_default"): operator(
        lambda me, them: [Call(f"/v1/fee_plans/{FEE_PLAN}/make_default")]
    ),
    ("POST", "/v1/merchants/{merchant_id}/fee_plan"): operator(
        lambda me, them: [Call(f"/v1/merchants/{them.merchant}/fee_plan", body={"fee_plan": None})]
    ),
    ("POST", "/v1/channel_cost_schedules"): operator(
        lambda me, them: [
            Call(
                "/v1/channel_cost_schedules",
                body={"channel": "partner_bank", "debit": {"bps": 1}, "credit": {"bps": 1}},
            )
        ]
    ),
    ("GET", "/v1/channel_cost_schedules"): operator(
        lambda me, them: [Call("/v1/channel_cost_schedules")]
    ),
    ("GET", "/v1/channel_cost_schedules/{channel_id}"): operator(
        lambda me, them: [Call("/v1/channel_cost_schedules/partner_bank")]
    ),
    ("GET", "/v1/fees/quote"): operator(
        lambda me, them: [
            Call(
                "/v1/fees/quote",
                params={"merchant": them.merchant, "amount": "1000", "channel": "partner_bank"},
            )
        ]
    ),
    ("GET", "/v1/payments/{payment_id}/fees"): merchant(
        lambda me, them: [Call(f"/v1/payments/{them.captured}/fees", code="payment_not_found")]
    ),
    ("GET", "/v1/reports/fees"): operator(lambda me, them: [Call("/v1/reports/fees")]),
    ("GET", "/v1/reports/channel_costs"): operator(
        lambda me, them: [Call("/v1/reports/channel_costs")]
    ),
    # Risk rules and decisions: the platform's (operator or compliance).
    ("GET", "/v1/risk/features"): operator(lambda me, them: [Call("/v1/risk/features")]),
    ("GET", "/v1/risk/rules"): operator(lambda me, them: [Call("/v1/risk/rules")]),
    ("GET", "/v1/risk/rules/versions"): operator(
        lambda me, them: [Call("/v1/risk/rules/versions")]
    ),
    ("GET", "/v1/risk/rules/{version}"): operator(lambda me, them: [Call("/v1/risk/rules/0")]),
    ("POST", "/v1/risk/rules"): operator(
        lambda me, them: [
            Call(
                "/v1/risk/rules",
                body={
                    "definition": {"rules": [], "review_at": 101, "decline_at": 101},
                    "activate": False,
                },
            )
        ]
    ),
    ("POST", "/v1/risk/rules/{version}/activate"): operator(
        lambda me, them: [Call("/v1/risk/rules/0/activate")]
    ),
    ("POST", "/v1/risk/rules/dry_run"): operator(
        lambda me, them: [Call("/v1/risk/rules/dry_run", body={"version": 0})]
    ),
    ("GET", "/v1/risk/decisions"): operator(lambda me, them: [Call("/v1/risk/decisions")]),
    ("GET", "/v1/risk/decisions/{payment_id}"): operator(
        lambda me, them: [Call(f"/v1/risk/decisions/{them.captured}")]
    ),
    ("GET", "/v1/risk/coverage"): operator(lambda me, them: [Call("/v1/risk/coverage")]),
    # Alerts, cases and regulatory reports: the compliance team's, never a merchant's.
    ("GET", "/v1/risk/alerts"): operator(lambda me, them: [Call("/v1/risk/alerts")]),
    ("GET", "/v1/risk/alerts/{alert_id}"): operator(
        lambda me, them: [Call(f"/v1/risk/alerts/{RISK_ALERT}")]
    ),
    ("POST", "/v1/risk/cases"): operator(
        lambda me, them: [Call("/v1/risk/cases", body={"alerts": [RISK_ALERT]})]
    ),
    ("GET", "/v1/risk/cases"): operator(lambda me, them: [Call("/v1/risk/cases")]),
    ("GET", "/v1/risk/cases/{case_id}"): operator(
        lambda me, them: [Call(f"/v1/risk/cases/{RISK_CASE}")]
    ),
    ("POST", "/v1/risk/cases/{case_id}/assign"): operator(
        lambda me, them: [Call(f"/v1/risk/cases/{RISK_CASE}/assign", body={"assignee": "Li"})]
    ),
    ("POST", "/v1/risk/cases/{case_id}/comment"): operator(
        lambda me, them: [Call(f"/v1/risk/cases/{RISK_CASE}/comment", body={"text": "seen"})]
    ),
    ("POST", "/v1/risk/cases/{case_id}/attach"): operator(
        lambda me, them: [
            Call(f"/v1/risk/cases/{RISK_CASE}/attach", body={"transactions": [them.captured]})
        ]
    ),
    ("POST", "/v1/risk/cases/{case_id}/escalate"): operator(
        lambda me, them: [Call(f"/v1/risk/cases/{RISK_CASE}/escalate", body={"reason": "big"})]
    ),
    ("POST", "/v1/risk/cases/{case_id}/close"): operator(
        lambda me, them: [
            Call(
                f"/v1/risk/cases/{RISK_CASE}/close",
                body={"disposition": "false_positive", "reason": "refund of a known order"},
            )
        ]
    ),
    ("POST", "/v1/risk/cases/{case_id}/reopen"): operator(
        lambda me, them: [Call(f"/v1/risk/cases/{RISK_CASE}/reopen", body={"reason": "new facts"})]
    ),
    ("GET", "/v1/risk/reports"): operator(lambda me, them: [Call("/v1/risk/reports")]),
    ("GET", "/v1/risk/monitoring"): operator(lambda me, them: [Call("/v1/risk/monitoring")]),
    ("POST", "/v1/risk/reports/large_value"): operator(
        lambda me, them: [Call("/v1/risk/reports/large_value", body={"day": "2026-01-01"})]
    ),
    ("GET", "/v1/risk/reports/{report_id}"): operator(
        lambda me, them: [Call(f"/v1/risk/reports/{RISK_REPORT}")]
    ),
    ("GET", "/v1/risk/reports/{report_id}/file"): operator(
        lambda me, them: [Call(f"/v1/risk/reports/{RISK_REPORT}/file", params={"format": "xml"})]
    ),
    ("POST", "/v1/risk/reports/{report_id}/file_submitted"): operator(
        lambda me, them: [Call(f"/v1/risk/reports/{RISK_REPORT}/file_submitted", body={})]
    ),
    ("POST", f"{RECON}/runs"): operator(
        lambda me, them: [
            Call(f"{RECON}/runs", body={"channel": "partner_bank", "date": "2026-01-01"})
        ]
    ),
    ("GET", f"{RECON}/runs"): operator(lambda me, them: [Call(f"{RECON}/runs")]),
    ("GET", f"{RECON}/runs/{{run_id}}"): operator(
        lambda me, them: [Call(f"{RECON}/runs/{RECON_RUN}")]
    ),
    ("GET", f"{RECON}/breaks"): operator(lambda me, them: [Call(f"{RECON}/breaks")]),
    ("GET", f"{RECON}/breaks/{{break_id}}"): operator(
        lambda me, them: [Call(f"{RECON}/breaks/{RECON_BREAK}")]
    ),
    ("POST", f"{RECON}/breaks/{{break_id}}/resolve"): operator(
        lambda me, them: [
            Call(
                f"{RECON}/breaks/{RECON_BREAK}/resolve",
                body={"action": "mark_explained", "reason": "seen"},
            )
        ]
    ),
    ("GET", f"{RECON}/reports/daily"): operator(
        lambda me, them: [
            Call(f"{RECON}/reports/daily", params={"channel": "partner_bank", "date": "2026-01-01"})
        ]
    ),
    ("GET", "/v1/reports/payments"): merchant(
        lambda me, them: [
            *(
                Call(
                    "/v1/reports/payments",
                    params={"group_by": by},
                    mirror={"group_by": by, "merchant": me.merchant},
                )
                for by in ("scene", "channel", "status")
            ),
            Call(
                "/v1/reports/payments",
                params={"merchant": them.merchant},
                code="merchant_not_found",
            ),
        ]
    ),
    # Events and webhook endpoints.
    ("GET", "/v1/events"): merchant(
        lambda me, them: [
            Call("/v1/events", params={"limit": "100"}),
            Call("/v1/events", params={"limit": "100", "type": "payment.succeeded"}),
        ]
    ),
    ("GET", "/v1/events/{event_id}"): merchant(
        lambda me, them: [Call(f"/v1/events/{them.event}", code="event_not_found")]
    ),
    ("POST", "/v1/events/{event_id}/redeliver"): merchant(
        lambda me, them: [Call(f"/v1/events/{them.event}/redeliver", code="event_not_found")]
    ),
    ("POST", "/v1/webhook_endpoints"): merchant(
        lambda me, them: [
            Call(
                "/v1/webhook_endpoints",
                body={"url": "http://127.0.0.1:9/hooks/new", "events": ["*"]},
            )
        ]
    ),
    ("GET", "/v1/webhook_endpoints"): merchant(lambda me, them: [Call("/v1/webhook_endpoints")]),
    ("GET", "/v1/webhook_endpoints/{endpoint_id}"): merchant(
        lambda me, them: [
            Call(f"/v1/webhook_endpoints/{them.endpoint}", code="webhook_endpoint_not_found")
        ]
    ),
    ("POST", "/v1/webhook_endpoints/{endpoint_id}"): merchant(
        lambda me, them: [
            Call(
                f"/v1/webhook_endpoints/{them.endpoint}",
                body={"url": "http://127.0.0.1:9/hooks/stolen", "enabled": False},
                code="webhook_endpoint_not_found",
            )
        ]
    ),
    ("POST", "/v1/webhook_endpoints/{endpoint_id}/roll_secret"): merchant(
        lambda me, them: [
            Call(
                f"/v1/webhook_endpoints/{them.endpoint}/roll_secret",
                body={"overlap_seconds": 60},
                code="webhook_endpoint_not_found",
            )
        ]
    ),
    ("GET", "/v1/webhook_endpoints/{endpoint_id}/deliveries"): merchant(
        lambda me, them: [
            Call(
                f"/v1/webhook_endpoints/{them.endpoint}/deliveries",
                code="webhook_endpoint_not_found",
            )
        ]
    ),
    # Payees, payouts and split batches: a merchant's own.
    ("POST", "/v1/payees"): merchant(
        lambda me, them: [
            Call(
                "/v1/payees",
                body={"bank_account": them.bank_account},
                code="payment_method_not_found",
            ),
            Call(
                "/v1/payees",
                body={"bank_account": me.bank_account, "merchant": them.merchant},
                code="merchant_not_found",
            ),
        ]
    ),
    ("GET", "/v1/payees"): merchant(lambda me, them: [Call("/v1/payees")]),
    ("GET", "/v1/payees/{payee_id}"): merchant(
        lambda me, them: [Call(f"/v1/payees/{them.payee}", code="payee_not_found")]
    ),
    ("POST", "/v1/payees/{payee_id}/verify"): merchant(
        lambda me, them: [
            Call(
                f"/v1/payees/{them.payee}/verify",
                body={"method": "penny_drop"},
                code="payee_not_found",
            )
        ]
    ),
    ("POST", "/v1/payouts"): merchant(
        lambda me, them: [
            Call(
                "/v1/payouts",
                body={"amount": 100, "currency": "CNY", "destination": them.payee},
                code="payee_not_found",
            ),
            Call(
                "/v1/payouts",
                body={"amount": 100, "currency": "CNY", "destination": them.bank_account},
                code="payment_method_not_found",
            ),
            Call(
                "/v1/payouts",
                body={
                    "amount": 100,
                    "currency": "CNY",
                    "destination": me.payee,
                    "merchant": them.merchant,
                },
                code="merchant_not_found",
            ),
        ]
    ),
    ("GET", "/v1/payouts"): merchant(
        lambda me, them: [
            Call("/v1/payouts"),
            Call("/v1/payouts", params={"merchant": them.merchant}, code="merchant_not_found"),
            Call("/v1/payouts", params={"payee": them.payee}),
        ]
    ),
    ("GET", "/v1/payouts/{payout_id}"): merchant(
        lambda me, them: [Call(f"/v1/payouts/{them.payout}", code="payout_not_found")]
    ),
    ("POST", "/v1/split_batches"): merchant(
        lambda me, them: [
            Call(
                "/v1/split_batches",
                body={
                    "currency": "CNY",
                    "payments": [them.captured],
                    "lines": [{"receiver": me.supplier_payee, "amount": 100}],
                },
                code="payment_not_found",
            ),
            Call(
                "/v1/split_batches",
                body={
                    "merchant": them.merchant,
                    "currency": "CNY",
                    "payments": [me.captured],
                    "lines": [{"receiver": me.supplier_payee, "amount": 100}],
                },
                code="merchant_not_found",
            ),
        ]
    ),
    ("GET", "/v1/split_batches"): merchant(lambda me, them: [Call("/v1/split_batches")]),
    ("GET", "/v1/split_batches/{batch_id}"): merchant(
        lambda me, them: [
            Call(f"/v1/split_batches/{them.split_batch}", code="split_batch_not_found")
        ]
    ),
    ("GET", "/v1/split_batches/{batch_id}/pain001"): bank_desk(
        lambda me, them: [Call(f"/v1/split_batches/{them.split_batch}/pain001")]
    ),
    ("POST", "/v1/split_batches/{batch_id}/pain002"): bank_desk(
        lambda me, them: [Call(f"/v1/split_batches/{them.split_batch}/pain002", body={})]
    ),
    ("POST", "/v1/split_batches/{batch_id}/retry"): merchant(
        lambda me, them: [
            Call(f"/v1/split_batches/{them.split_batch}/retry", code="split_batch_not_found")
        ]
    ),
    # The ledger is the operator's alone.
    ("POST", f"{L}/accounts"): operator(
        lambda me, them: [
            Call(
                f"{L}/accounts",
                body={
                    "code": f"merchant:{them.merchant}:side",
                    "currency": "CNY",
                    "normal_side": "credit",
                },
            )
        ]
    ),
    ("GET", f"{L}/accounts"): operator(lambda me, them: [Call(f"{L}/accounts")]),
    ("GET", f"{L}/accounts/{{account}}"): operator(
        lambda me, them: [Call(f"{L}/accounts/{them.account}")]
    ),
    ("POST", f"{L}/accounts/{{account}}"): operator(
        lambda me, them: [Call(f"{L}/accounts/{them.account}", body={"name": "Renamed"})]
    ),
    ("GET", f"{L}/accounts/{{account}}/balance"): operator(
        lambda me, them: [Call(f"{L}/accounts/{them.account}/balance")]
    ),
    ("GET", f"{L}/accounts/{{account}}/entries"): operator(
        lambda me, them: [Call(f"{L}/accounts/{them.account}/entries")]
    ),
    ("POST", f"{L}/journals"): operator(
        lambda me, them: [Call(f"{L}/journals", body=_moves(them, "matrix-move"))]
    ),
    ("POST", f"{L}/journals/batch"): operator(
        lambda me, them: [
            Call(f"{L}/journals/batch", body={"journals": [_moves(them, "matrix-batch")]})
        ]
    ),
    ("GET", f"{L}/journals"): operator(lambda me, them: [Call(f"{L}/journals")]),
    ("GET", f"{L}/journals/{{journal_id}}"): operator(
        lambda me, them: [Call(f"{L}/journals/{them.journal}")]
    ),
    ("POST", f"{L}/journals/{{journal_id}}/reverse"): operator(
        lambda me, them: [Call(f"{L}/journals/{them.journal}/reverse")]
    ),
    ("POST", f"{L}/holds"): operator(
        lambda me, them: [Call(f"{L}/holds", body=_moves(them, "matrix-hold"))]
    ),
    ("GET", f"{L}/holds"): operator(lambda me, them: [Call(f"{L}/holds")]),
    ("GET", f"{L}/holds/{{hold_id}}"): operator(lambda me, them: [Call(f"{L}/holds/{them.hold}")]),
    ("POST", f"{L}/holds/{{hold_id}}/post"): operator(
        lambda me, them: [Call(f"{L}/holds/{them.hold}/post")]
    ),
    ("POST", f"{L}/holds/{{hold_id}}/void"): operator(
        lambda me, them: [Call(f"{L}/holds/{them.hold}/void")]
    ),
    # Settlement: merchants read their own balances, settings and settlements; the
    # operator changes settings and starts runs.
    ("GET", "/v1/balances"): merchant(
        lambda me, them: [
            Call("/v1/balances", params={"merchant": them.merchant}, code="merchant_not_found")
        ]
    ),
    ("GET", "/v1/settlement_settings/{merchant_id}"): merchant(
        lambda me, them: [
            Call(f"/v1/settlement_settings/{them.merchant}", code="merchant_not_found")
        ]
    ),
    ("POST", "/v1/settlement_settings/{merchant_id}"): operator(
        lambda me, them: [Call(f"/v1/settlement_settings/{them.merchant}", body={"mode": "t1"})]
    ),
    ("GET", "/v1/settlements"): merchant(
        lambda me, them: [
            Call("/v1/settlements", params={"merchant": them.merchant}, code="merchant_not_found"),
            Call(
                "/v1/settlements",
                params={"starting_after": them.settlement},
                code="settlement_not_found",
            ),
        ]
    ),
    ("GET", "/v1/settlements/{settlement_id}"): merchant(
        lambda me, them: [Call(f"/v1/settlements/{them.settlement}", code="settlement_not_found")]
    ),
    ("POST", "/v1/settlements/run"): operator(
        lambda me, them: [Call("/v1/settlements/run", body={"merchant": them.merchant})]
    ),
    ("GET", "/v1/channel_settlements"): operator(
        lambda me, them: [Call("/v1/channel_settlements")]
    ),
    ("POST", "/v1/channel_settlements/run"): operator(
        lambda me, them: [Call("/v1/channel_settlements/run")]
    ),
}


def _routes() -> list[tuple[str, str]]:
    """(method, path) of every route the app serves. HEAD is left out where the route
    also serves GET: Starlette answers it with the GET handler."""
    app = create_app(
        Settings(
            database_url="sqlite+aiosqlite://", demo_data=False, log_level="WARNING", **NO_LIMITS
        ),
        run_jobs=False,
    )
    # Newer FastAPI keeps included routers as nodes of `app.routes`; flatten them.
    walk = getattr(fastapi.routing, "iter_route_contexts", None)
    routes = list(walk(app.routes)) if walk is not None else list(app.routes)
    found: set[tuple[str, str]] = set()
    for route in routes:
        path = getattr(route, "path", None)
        methods = getattr(route, "methods", None)
        if path is None or not methods:
            # A mount or a websocket: nothing here knows how to call it.
            found.add(("?", repr(route)))
            continue
        for method in methods:
            if method == "HEAD" and "GET" in methods:
                continue
            found.add((method, path))
    return sorted(found, key=lambda r: (r[1], r[0]))


ROUTES = _routes()
ROUTE_IDS = [f"{method} {path}" for method, path in ROUTES]


def case_for(method: str, path: str) -> Case:
    case = MATRIX.get((method, path))
    if case is None:
        pytest.fail(
            f"{method} {path} is not in the isolation matrix: add it to MATRIX with the "
            "access it needs and the requests that aim it at another merchant's objects"
        )
    return case


def test_the_matrix_names_only_routes_that_exist() -> None:
    assert sorted(set(MATRIX) - set(ROUTES)) == []


# --------------------------------------------------------------------------------- checks


def _views(them: Party) -> dict[str, list[str]]:
    """Their objects (by id, or card number) → the operator's reads that show them."""
    payment = [f"/v1/payments/{them.captured}/{part}" for part in ("attempts", "journals")]
    card = [f"/v1/payment_methods/{them.card}"]
    ledger = [f"/v1/ledger/accounts/{them.account}/balance"]
    return {
        them.merchant: [f"/v1/merchants/{them.merchant}"],
        them.key_id: [f"/v1/merchants/{them.merchant}/api_keys"],
        them.customer: [f"/v1/customers/{them.customer}"],
        them.card: card,
        them.pan: card,
        them.bank_account: [f"/v1/payment_methods/{them.bank_account}"],
        them.fresh: [f"/v1/payments/{them.fresh}"],
        them.held: [f"/v1/payments/{them.held}"],
        them.captured: [f"/v1/payments/{them.captured}", *payment],
        them.refund: [f"/v1/refunds/{them.refund}"],
        them.endpoint: [f"/v1/webhook_endpoints/{them.endpoint}"],
        them.event: [f"/v1/webhook_endpoints/{them.endpoint}/deliveries"],
        them.account: ledger,
        them.journal: [*ledger, f"/v1/ledger/journals/{them.journal}"],
        them.hold: [*ledger, f"/v1/ledger/holds/{them.hold}"],
        them.settlement: [f"/v1/settlements/{them.settlement}"],
        them.payee: [f"/v1/payees/{them.payee}"],
        them.payout: [f"/v1/payouts/{them.payout}"],
        them.split_batch: [f"/v1/split_batches/{them.split_batch}"],
    }


# Lists that would show an object made for them, filtered to theirs.
OWNED_LISTS = ("customers", "webhook_endpoints", "events", "payees", "payouts", "split_batches")


async def snapshot(api: Api, them: Party, aimed: list[Call] | None = None) -> dict[str, Any]:
    """Their objects as the operator reads them: all of them, or (`aimed`) those the
    requests name, their merchant, and the lists a new object of theirs would join. (Every
    row of every table is compared as well; this is what the API shows of it.)"""
    views = _views(them)
    if aimed is not None:
        named = " ".join(f"{c.path} {c.body!r} {c.params!r}" for c in aimed)
        views = {ref: paths for ref, paths in views.items() if ref in named}
    paths = dict.fromkeys([f"/v1/merchants/{them.merchant}", *chain(*views.values())])
    seen: dict[str, Any] = {}
    for path in paths:
        response = await api.send("GET", path, api.operator)
        assert response.status_code == 200, f"{path}: {response.text}"
        seen[path] = response.json()
    for kind in OWNED_LISTS:
        response = await api.send("GET", f"/v1/{kind}", api.operator, params={"limit": "100"})
        assert response.status_code == 200, response.text
        seen[kind] = [o for o in response.json()["data"] if o["merchant"] == them.merchant]
    return seen


def leaked(response: httpx.Response, them: Party) -> list[str]:
    return sorted(i for i in them.ids if i in response.text)


def _changes(before: Dump, after: Dump) -> tuple[list[Row], list[str]]:
    """Rows added, and descriptions of rows removed or changed."""
    added: list[Row] = []
    altered: list[str] = []
    for name in before:
        old = {_pk(name, r): r for r in before[name]}
        new = {_pk(name, r): r for r in after[name]}
        altered += [f"{name} {k} removed" for k in old.keys() - new.keys()]
        altered += [f"{name} {k} changed" for k in old.keys() & new.keys() if old[k] != new[k]]
        added += [new[k] for k in new.keys() - old.keys()]
    return added, altered


async def _control(api: Api, key: str, method: str, call: Call) -> None:
    """The same request on objects the caller may reach is not refused as unreachable:
    proof that the refusal above came from isolation, not from a request that cannot
    work at all."""
    response = await api.send(method, call.path, key, body=call.body, params=call.params)
    assert response.status_code < 500, f"control {method} {call.path}: {response.text}"
    assert response.status_code not in (401, 403), f"control {method} {call.path}: {response.text}"
    if response.status_code == 404:
        assert response.json()["error"]["code"] != call.code, (
            f"control {method} {call.path}: {response.text}"
        )


# ---------------------------------------------------------------------------------- tests


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=ROUTE_IDS)
async def test_another_merchants_objects_are_out_of_reach(
    api: Api, built: Built, world_db: Database, method: str, path: str
) -> None:
    case = case_for(method, path)
    w = built.world
    a, b = w.a, w.b
    calls = case.calls(a, b)
    writes_own = case.access in ("merchant", "public") and any(c.code is None for c in calls)

    for call in calls:
        what = f"{method} {call.path} {call.params or ''} with A's key"
        response = await api.send(method, call.path, a.key, body=call.body, params=call.params)
        if case.access == "operator":
            assert_error(response, 403, "permission_denied")
        elif call.code is not None and not (call.lenient and response.status_code == 200):
            assert response.status_code == 404, f"{what}: {response.text}"
            assert_error(response, 404, call.code)
        else:
            assert response.is_success, f"{what}: {response.text}"
            assert leaked(response, b) == [], f"{what} shows B's objects: {response.text}"
            if call.mirror is not None:
                own = await api.send(method, call.path, w.operator, params=call.mirror)
                assert response.json() == own.json(), f"{what} counts more than A's own"

    # Every test starts from the same rows, so what B looked like is known in advance.
    after = await snapshot(api, b, calls)
    assert after == {k: built.b_seen[k] for k in after}, f"{method} {path} changed B's objects"
    added, altered = _changes(built.rows, await dump_rows(world_db))
    assert altered == [], f"{method} {path} changed rows: {altered}"
    if writes_own:
        stray = [r for r in added if any(i in repr(r) for i in b.ids)]
        assert stray == [], f"{method} {path} wrote rows about B: {stray}"
    else:
        assert added == [], f"{method} {path} wrote rows: {added}"

    if case.access == "operator":
        control = {"detokenizer": w.detokenizer, "bank_desk": w.bank_desk}.get(
            case.control, w.operator
        )
        for call in calls:
            await _control(api, control, method, call)
    elif case.access == "merchant":
        for call in case.calls(a, a):
            await _control(api, a.key, method, call)


def _bad_keys(w: World) -> dict[str, tuple[str | None, str]]:
    """Authorization header → the catalogue code it must get (None: no header)."""
    return {
        "no key": (None, "api_key_missing"),
        "not a bearer key": (f"Token {w.a.key}", "api_key_missing"),
        "malformed key": ("Bearer sk_mer_%%not*a*key%%", "api_key_invalid"),
        "unknown key": (f"Bearer {w.a.key}x", "api_key_invalid"),
        "revoked merchant key": (f"Bearer {w.a.revoked_key}", "api_key_invalid"),
        "revoked operator key": (f"Bearer {w.revoked_operator}", "api_key_invalid"),
        "expired key": (f"Bearer {w.expired}", "api_key_invalid"),
    }


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=ROUTE_IDS)
async def test_no_usable_key_is_refused(
    api: Api, built: Built, world_db: Database, method: str, path: str
) -> None:
    case = case_for(method, path)
    w = built.world
    # The key is checked before anything else, so one request per route tells.
    call = case.calls(w.a, w.b)[0]
    for variant, (authorization, code) in _bad_keys(w).items():
        response = await api.send(
            method,
            call.path,
            None,
            body=call.body,
            params=call.params,
            authorization=authorization,
        )
        what = f"{method} {call.path} with {variant}"
        if case.access == "public":
            assert response.status_code == 200, f"{what}: {response.text}"
        else:
            assert response.status_code == 401, f"{what}: {response.text}"
            assert_error(response, 401, code)
    assert _changes(built.rows, await dump_rows(world_db)) == ([], [])


def test_the_matrix_keeps_the_ledger_and_merchant_admin_to_the_operator() -> None:
    """The matrix itself: the ledger and the merchant administration stay operator-only."""
    for (method, path), case in MATRIX.items():
        if path.startswith("/v1/ledger") or (
            path.startswith("/v1/merchants")
            and (method, path) != ("GET", "/v1/merchants/{merchant_id}")
        ):
            assert case.access == "operator", f"{method} {path}"
