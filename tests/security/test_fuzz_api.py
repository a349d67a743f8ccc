"""Fuzzing every operation of the API from its own OpenAPI schema (schemathesis).

The app runs under uvicorn in a thread of its own over a database of its own, seeded through
the API with a merchant that owns one of everything. Every operation of `/openapi.json` is
called with generated requests — valid ones, boundary values, and requests the schema
forbids — authenticated: platform routes with a platform key holding every scope, merchant
routes alternately with the merchant's key and that one. Known ids replace generated ones
at random, so requests reach the work behind "not found". A run fails on any 5xx, any answer
the schema does not describe (status, content type, body, headers), and any forbidden
request the API accepts. `PAYHUB_FUZZ_EXAMPLES` sets the examples per operation
(`scripts/fuzz N` runs a longer round).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import socket
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import text
from sqlalchemy.engine import make_url

from payhub.api.app import create_app
from payhub.auth import service as auth
from payhub.core.config import Settings
from payhub.db.models import metadata
from payhub.db.session import Database
from payhub.payments.channels import use_channels
from payhub.vault import testcards
from tests.api.test_isolation_matrix import MATRIX
from tests.conftest import POSTGRES
from tests.payments.helpers import EXP_YEAR, world

# Examples per operation: a bounded run in the suite (some 40 s on SQLite); `scripts/fuzz N`
# runs more.
EXAMPLES = int(os.environ.get("PAYHUB_FUZZ_EXAMPLES", "25"))
# The suite's round is the same every run (a failure in CI reproduces); a longer round asked
# for explicitly explores new ground each time.
REPEATABLE = "PAYHUB_FUZZ_EXAMPLES" not in os.environ
NO_LIMITS = {"rate_limit_read_per_s": 0, "rate_limit_write_per_s": 0}

SCHEMA = schemathesis.openapi.from_dict(
    create_app(
        Settings(database_url="sqlite+aiosqlite://", demo_data=False, **NO_LIMITS), run_jobs=False
    ).openapi()
)


@dataclass
class Target:
    base_url: str
    operator: str
    merchant: str


# Ids of objects that exist (and a few plain values), by the name of the parameter or field
# that takes them: the fuzzer mostly uses them, so that requests get past "not found" into
# the work.
KNOWN: dict[str, list[str]] = {}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _operator_key(url: str) -> str:
    db = Database(url, pool_size=2)
    try:
        if POSTGRES:
            async with db.engine.begin() as conn:
                names = ", ".join(t.name for t in metadata.sorted_tables)
                await conn.execute(text(f"TRUNCATE {names} CASCADE"))
        issued = await db.run_in_transaction(
            lambda s: auth.issue_key(s, name="fuzz", role="operator", scopes=list(auth.ALL_SCOPES))
        )
        return issued.secret
    finally:
        await db.dispose()


def _seed(base_url: str, operator: str) -> str:
    """A merchant with one of everything, made through the API; the merchant's key."""

    def ok(method: str, path: str, key: str = operator, **kwargs: Any) -> dict[str, Any]:
        response = httpx.request(
            method, base_url + path, headers={"Authorization": f"Bearer {key}"}, **kwargs
        )
        assert response.status_code in (200, 201), f"{method} {path}: {response.text}"
        body: dict[str, Any] = response.json()
        return body

    merchant = ok("POST", "/v1/merchants", json={"name": "Fuzz shop"})["id"]
    keys = f"/v1/merchants/{merchant}/api_keys"
    me = ok("POST", keys, json={"name": "fuzzing"})["secret"]

    # Keys the fuzzer may revoke, roll or make sign: never the ones it sends.
    def victims() -> list[str]:
        return [
            ok("POST", keys, json={"name": "victim"})["id"],
            ok("POST", "/v1/api_keys", json={"name": "victim", "scopes": ["compliance"]})["id"],
        ]

    customer = ok("POST", "/v1/customers", me, json={"name": "Buyer"})["id"]
    card = {
        "number": testcards.test_card("PARTNER", "debit"),
        "exp_month": 12,
        "exp_year": EXP_YEAR,
    }
    token = ok(
        "POST", "/v1/payment_methods", me, json={"type": "card", "customer": customer, "card": card}
    )["id"]
    account = {"bank_code": "ICBC", "account_number": "6222021100001111", "holder_name": "A"}
    bank = ok(
        "POST", "/v1/payment_methods", me, json={"type": "bank_account", "bank_account": account}
    )["id"]

    def payment() -> str:
        body = {
            "amount": 5000,
            "currency": "CNY",
            "payment_method": token,
            "customer": customer,
            "capture_method": "manual",
        }
        made: str = ok("POST", "/v1/payments", me, json=body)["id"]
        return made

    fresh, held, captured = payment(), payment(), payment()
    for pid in (held, captured):
        ok("POST", f"/v1/payments/{pid}/confirm", me)
    ok("POST", f"/v1/payments/{captured}/capture", me, json={"amount": 3000})
    refund = ok("POST", "/v1/refunds", me, json={"payment": captured, "amount": 1000})["id"]
    endpoint = ok("POST", "/v1/webhook_endpoints", me, json={"url": "http://127.0.0.1:9/h"})["id"]
    events = [e["id"] for e in ok("GET", "/v1/events", me)["data"]]
    journals = [j["id"] for j in ok("GET", f"/v1/payments/{captured}/journals", me)["data"]]
    pending = f"merchant:{merchant}:pending"
    hold = "fuzz-hold"
    postings = [
        {"account": pending, "side": "debit", "amount": 100, "currency": "CNY"},
        {
            "account": "channel:partner_bank:clearing",
            "side": "credit",
            "amount": 100,
            "currency": "CNY",
        },
    ]
    ok("POST", "/v1/ledger/holds", json={"id": hold, "postings": postings})
    payouts = _seed_payouts(ok, me, merchant, bank, token, customer)
    back_office = _seed_back_office(ok)
    KNOWN.update(
        **payouts,
        **back_office,
        merchant_id=[merchant],
        changed_merchant_id=[ok("POST", "/v1/merchants", json={"name": "Changed"})["id"]],
        merchant=[merchant],
        key_id=victims(),
        revoked_key_id=victims(),
        audit_event_id=[e["id"] for e in ok("GET", "/v1/audit/events")["data"]],
        currency=["CNY"],
        amount=[100, 1999],
        customer_id=[customer],
        customer=[customer],
        token=[token, bank],
        payment_method=[token, bank],
        payment_id=[fresh, held, captured],
        payment=[fresh, held, captured],
        refund_id=[refund],
        endpoint_id=[endpoint],
        event_id=events,
        journal_id=journals,
        hold_id=[hold],
        account=[pending, "channel:partner_bank:clearing"],
        version=["1"],
    )
    return me


def _seed_payouts(
    ok: Any, me: str, merchant: str, bank: str, card: str, customer: str
) -> dict[str, list[Any]]:
    """The merchant as a group leader: a verified payee with funds, a payout, and a split
    batch of a captured payment to a supplier (a second merchant)."""
    payee = ok("POST", "/v1/payees", me, json={"bank_account": bank, "role": "group_leader"})["id"]
    ok("POST", f"/v1/payees/{payee}/verify", json={"method": "operator"})
    available = f"merchant:{merchant}:available"
    flags = {"debits_must_not_exceed_credits": True}
    ok("POST", "/v1/ledger/accounts", json={"code": available, "currency": "CNY",
                                             "normal_side": "credit", "flags": flags})  # fmt: skip
    ok("POST", "/v1/ledger/accounts",
       json={"code": "bank:custody", "currency": "CNY", "normal_side": "debit"})  # fmt: skip
    funding = [
        {"account": "bank:custody", "side": "debit", "amount": 10**8, "currency": "CNY"},
        {"account": available, "side": "credit", "amount": 10**8, "currency": "CNY"},
    ]
    ok("POST", "/v1/ledger/journals", json={"id": "fuzz-funding", "postings": funding})
    withdrawal = {"amount": 1000, "currency": "CNY", "destination": payee, "instant": True}
    payout = ok("POST", "/v1/payouts", me, json=withdrawal)["id"]
    supplier = ok("POST", "/v1/merchants", json={"name": "Fuzz supplier"})["id"]
    theirs = ok("POST", f"/v1/merchants/{supplier}/api_keys", json={"name": "s"})["secret"]
    account = {"bank_code": "CCB", "account_number": "6217002200003333", "holder_name": "S"}
    their_bank = ok("POST", "/v1/payment_methods", theirs,
                    json={"type": "bank_account", "bank_account": account})["id"]  # fmt: skip
    receiver = ok("POST", "/v1/payees", theirs, json={"bank_account": their_bank})["id"]
    ok("POST", f"/v1/payees/{receiver}/verify", json={"method": "operator"})
    sale = {"amount": 5000, "currency": "CNY", "payment_method": card, "customer": customer}
    paid = ok("POST", "/v1/payments", me, json=sale)["id"]
    ok("POST", f"/v1/payments/{paid}/confirm", me)
    lines = [{"receiver": receiver, "amount": 1000}]
    split = {"currency": "CNY", "payments": [paid], "lines": lines}
    batch = ok("POST", "/v1/split_batches", me, json=split)["id"]
    return {
        "payee_id": [payee],
        "destination": [payee, bank],
        "bank_account": [bank],
        "payout_id": [payout],
        "batch_id": [batch],
        "receiver": [receiver],
    }


def _seed_back_office(ok: Any) -> dict[str, list[Any]]:
    """A fee plan, a channel's cost schedule, today's settlements, and a reconciliation run
    of today's partner-bank statement against a custody figure one fen off (a break)."""
    rules = [{"card_type": "credit", "bps": 60, "minimum": 1, "cap": 5000}, {"bps": 55}]
    plan = ok("POST", "/v1/fee_plans", json={"name": "Fuzz plan", "rules": rules})["id"]
    price = {"bps": 30, "minimum": 1}
    schedule = {"channel": "partner_bank", "debit": price, "credit": price}
    ok("POST", "/v1/channel_cost_schedules", json=schedule)
    today = datetime.now(UTC).date().isoformat()
    run = {"channel": "partner_bank", "date": today, "custody": {"CNY": 1}}
    run_id = ok("POST", "/v1/reconciliation/runs", json=run)["id"]
    breaks = [b["id"] for b in ok("GET", f"/v1/reconciliation/breaks?run={run_id}")["data"]]
    settlements = [s["id"] for s in ok("GET", "/v1/settlements")["data"]]
    return {
        "plan_id": [plan],
        "fee_plan": [plan],
        "channel_id": ["partner_bank"],
        "channel": ["partner_bank"],
        "date": [today],
        "run_id": [run_id],
        "run": [run_id],
        "break_id": breaks,
        "settlement_id": settlements,
    }


@pytest.fixture(scope="module")
def target(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """The app served by uvicorn in a thread of its own (its own event loop, as in
    production), over a database of its own, with a seeded merchant."""
    if POSTGRES:
        url = database_url
    else:
        path = tmp_path_factory.mktemp("fuzz") / "fuzz.db"
        shutil.copyfile(Path(make_url(database_url).database or ""), path)
        url = f"sqlite+aiosqlite:///{path}"
    operator = asyncio.run(_operator_key(url))
    app = create_app(
        Settings(database_url=url, demo_data=False, log_level="WARNING", **NO_LIMITS),
        run_jobs=False,
    )
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    base_url = f"http://127.0.0.1:{port}"
    try:
        with use_channels(world()):
            merchant = _seed(base_url, operator)
            yield Target(base_url, operator, merchant)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _known(value: Any, known: dict[str, list[Any]]) -> st.SearchStrategy[Any]:
    """`value`, with each field that takes an id (at any depth) left as generated or given a
    known one, at random."""
    if isinstance(value, dict):
        return st.fixed_dictionaries(
            {
                # Three times out of four a known one: a request needs all its ids right.
                k: st.sampled_from([v, *known[k] * 3])
                if k in known and not isinstance(v, dict | list)
                else _known(v, known)
                for k, v in value.items()
            }
        )
    if isinstance(value, list):
        return st.tuples(*(_known(v, known) for v in value)).map(list)
    return st.just(value)


def _known_for(method: str, path: str) -> dict[str, list[Any]]:
    """What the operation's fields may take: one set of keys is for revoking, the others
    for rolling and changing (a revoked key cannot be rolled); a merchant of its own to
    change (suspending the seeded one would refuse most of what follows); audit event ids
    for the audit log."""
    known = dict(KNOWN)
    if (method.upper(), path) == ("POST", "/v1/merchants/{merchant_id}"):
        known["merchant_id"] = KNOWN["changed_merchant_id"]
    if path.endswith("/revoke"):
        known["key_id"] = KNOWN["revoked_key_id"]
    if path.startswith("/v1/audit"):
        known["event_id"] = KNOWN["audit_event_id"]
    return known


_PARTS = ("path_parameters", "query", "body")


@SCHEMA.hook
def flatmap_case(context: Any, case: schemathesis.Case) -> st.SearchStrategy[schemathesis.Case]:
    """Known ids in place of generated ones, at random; never in a case generated to break
    the schema (it must stay broken, whichever part breaks it, to test its refusal)."""
    if case.meta is not None and case.meta.generation.mode.is_negative:
        return st.just(case)
    known = _known_for(case.operation.method, case.operation.path)
    parts = {attr: _known(getattr(case, attr), known) for attr in _PARTS}

    def put(values: dict[str, Any]) -> schemathesis.Case:
        for attr, value in values.items():
            # Only what changed: schemathesis re-judges a part that was set (and takes a
            # body set to None for a broken one).
            if value != getattr(case, attr):
                setattr(case, attr, value)
        return case

    return st.fixed_dictionaries(parts).map(put)


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,
]


# Responses by operation and status, to show the fuzzing got past refusals into the work.
SEEN: dict[str, Counter[int]] = defaultdict(Counter)
_turn = itertools.count()


@SCHEMA.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=REPEATABLE,
)
def test_api(case: schemathesis.Case, target: Target) -> None:
    """Every operation, authenticated: no 5xx, nothing the schema does not describe, and
    every request the schema forbids refused."""
    operation = f"{case.operation.method.upper()} {case.operation.path}"
    access = MATRIX.get((case.operation.method.upper(), case.operation.path))
    # Merchant routes alternately with the merchant's key and the operator's (which reaches
    # every merchant and takes other paths); platform routes with the platform key, which
    # holds every scope.
    merchant_route = access is not None and access.access == "merchant"
    key = target.merchant if merchant_route and next(_turn) % 2 == 0 else target.operator
    response = case.call_and_validate(
        base_url=target.base_url,
        headers={"Authorization": f"Bearer {key}"},
        checks=CHECKS,
    )
    if case.method.upper() == case.operation.method.upper():
        SEEN[operation][response.status_code] += 1


def test_the_fuzzing_reached_the_work() -> None:
    """Most operations answered a success at least once: the requests were not all refused
    at the door (unknown ids, bad bodies), so the work behind them was fuzzed too."""
    if not SEEN:
        pytest.skip("the fuzzing did not run in this session")
    succeeded = sorted(op for op, statuses in SEEN.items() if any(s < 300 for s in statuses))
    never = sorted(set(SEEN) - set(succeeded))
    print(f"{len(succeeded)} of {len(SEEN)} operations succeeded at least once; never: {never}")
    assert len(succeeded) >= 0.75 * len(SEEN), never
