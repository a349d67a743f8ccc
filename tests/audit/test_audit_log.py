"""The audit log: operators' writes and key changes are recorded with who, what, when and
from where, in the same transaction as the change; the hash chain holds, and any change
to a sealed event — even one that gets past the database's guard — is found."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from payhub.audit import service as audit
from payhub.audit.tasks import seal_audit_log
from payhub.auth import service as auth
from payhub.db.session import Database
from tests.api.helpers import assert_error
from tests.conftest import POSTGRES, requires_postgres
from tests.merchants.helpers import create_merchant, merchant_key


async def events(db: Database, **filters: Any) -> list[audit.AuditView]:
    rows, _ = await db.transact(
        lambda sql: audit.list_events(
            sql, audit.AuditFilter(**filters), limit=100, starting_after=None
        )
    )
    return rows


async def verify(db: Database) -> audit.Verification:
    return await db.transact(audit.verify)


async def tamper(db: Database, sql: str, **params: Any) -> None:
    """Change audit rows behind the database's guard (as someone with the database's owner
    rights could), then put the guard back."""
    async with db.engine.begin() as conn:
        if POSTGRES:
            await conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
            await conn.execute(text(sql), params)
            await conn.execute(text("ALTER TABLE audit_events ENABLE TRIGGER USER"))
            return
        guards = (
            await conn.execute(
                text(
                    "SELECT name, sql FROM sqlite_master "
                    "WHERE type = 'trigger' AND tbl_name = 'audit_events'"
                )
            )
        ).all()
        for name, _ in guards:
            await conn.execute(text(f"DROP TRIGGER {name}"))
        await conn.execute(text(sql), params)
        for _, definition in guards:
            await conn.execute(text(definition))


async def test_an_operators_write_is_recorded_with_who_and_where(
    client: httpx.AsyncClient, db: Database
) -> None:
    made = await client.post(
        "/v1/ledger/accounts",
        json={"code": "bank:custody", "currency": "CNY", "normal_side": "debit"},
    )
    assert made.status_code == 201, made.text
    # No service records account openings itself: the API records the operator's write.
    [event] = await events(db, action="operator POST /v1/ledger/accounts")
    assert event.actor.startswith("key:key_") and event.actor_role == "operator"
    assert event.source == "127.0.0.1"
    assert event.request_id is not None and event.request_id.startswith("req_")
    assert (event.target_type, event.target_id) == ("object", made.json()["id"])
    assert event.details["status"] == 201
    assert event.chain_index is None  # not sealed yet
    assert await seal_audit_log(db) >= 1
    result = await verify(db)
    assert result.ok and result.verified >= 2 and result.unsealed == 0


async def test_merchant_changes_are_recorded_by_name(
    client: httpx.AsyncClient, db: Database
) -> None:
    merchant = await create_merchant(client, name="Audited Shop")
    await client.post(
        f"/v1/merchants/{merchant['id']}", json={"status": "suspended", "daily_limit": 500_00}
    )
    [created] = await events(db, action="merchant.created")
    [updated] = await events(db, action="merchant.updated")
    assert created.target_id == updated.target_id == merchant["id"]
    assert created.details["name"] == "Audited Shop" and created.actor.startswith("key:")
    assert updated.details == {"status": "suspended", "daily_limit": [None, 500_00]}
    # Recorded by name, so the API adds no generic record of the same requests.
    assert [e for e in await events(db) if e.action.startswith("operator ")] == []


async def test_key_changes_are_recorded_and_never_hold_the_key(
    client: httpx.AsyncClient, db: Database
) -> None:
    merchant = await create_merchant(client)
    made = (
        await client.post(f"/v1/merchants/{merchant['id']}/api_keys", json={"name": "till"})
    ).json()
    rolled = (
        await client.post(
            f"/v1/merchants/{merchant['id']}/api_keys/{made['id']}/roll",
            json={"overlap_seconds": 60},
        )
    ).json()
    await client.post(f"/v1/merchants/{merchant['id']}/api_keys/{rolled['id']}/revoke")
    actions = [e.action for e in reversed(await events(db)) if e.action.startswith("api_key.")]
    # The fixture's operator key, the merchant key, the rolled one, the roll, the revocation.
    assert actions == [
        "api_key.issued",
        "api_key.issued",
        "api_key.issued",
        "api_key.rolled",
        "api_key.revoked",
    ]
    [issued] = await events(db, action="api_key.issued", target_id=made["id"])
    assert issued.details["scopes"] == ["read", "refunds", "write"]
    assert issued.details["merchant"] == merchant["id"]
    # The operator's request recorded the change itself, so no second, generic record.
    assert await events(db, action="operator POST /v1/merchants/{merchant_id}/api_keys") == []
    await seal_audit_log(db)
    async with db.engine.connect() as conn:
        dumped = json.dumps(
            [list(r) for r in await conn.execute(text("SELECT * FROM audit_events"))], default=str
        )
    for secret in (made["secret"], rolled["secret"]):
        assert secret not in dumped


async def test_a_refused_operator_write_is_recorded(
    client: httpx.AsyncClient, db: Database
) -> None:
    missing = "key_01M97DC3WE0MD7H9ACKEA220F5"
    answer = await client.post(f"/v1/api_keys/{missing}/revoke")
    assert_error(answer, 404, "api_key_not_found")
    [event] = await events(db, action="operator POST /v1/api_keys/{key_id}/revoke refused")
    assert event.details == {"status": 404, "code": "api_key_not_found", "key_id": missing}


async def test_merchants_everyday_writes_are_not_in_the_audit_log(
    client: httpx.AsyncClient, as_key: Any, db: Database
) -> None:
    merchant = await create_merchant(client)
    me = as_key(await merchant_key(client, merchant["id"]))
    before = len(await events(db))
    made = await me.post("/v1/customers", json={"name": "Li Lei"})
    assert made.status_code == 201
    assert len(await events(db)) == before


async def test_a_compliance_key_reads_the_log_and_nothing_else(
    client: httpx.AsyncClient, as_key: Any, db: Database
) -> None:
    made = await client.post("/v1/api_keys", json={"name": "AML desk", "scopes": ["compliance"]})
    assert made.status_code == 201, made.text
    officer = as_key(made.json()["secret"])
    await seal_audit_log(db)
    listed = await officer.get("/v1/audit/events")
    assert listed.status_code == 200
    assert {e["action"] for e in listed.json()["data"]} >= {"api_key.issued"}
    verified = (await officer.get("/v1/audit/verify")).json()
    assert verified["ok"] is True and verified["verified"] >= 2
    assert_error(await officer.get("/v1/merchants"), 403, "permission_denied")
    assert_error(
        await officer.post("/v1/api_keys", json={"name": "x", "scopes": ["read"]}),
        403,
        "permission_denied",
    )
    merchant = await create_merchant(client)
    shop = as_key(await merchant_key(client, merchant["id"]))
    assert_error(await shop.get("/v1/audit/events"), 403, "permission_denied")
    assert_error(await shop.get("/v1/audit/verify"), 403, "permission_denied")


async def test_the_database_refuses_to_change_or_delete_an_event(
    client: httpx.AsyncClient, db: Database
) -> None:
    await create_merchant(client)
    await seal_audit_log(db)
    [event, *_] = await events(db)
    for statement in (
        "UPDATE audit_events SET action = 'nothing happened' WHERE id = :id",
        "UPDATE audit_events SET hash = :id WHERE id = :id",
        "DELETE FROM audit_events WHERE id = :id",
    ):
        with pytest.raises(Exception, match=r"append-only|cannot be deleted"):
            async with db.engine.begin() as conn:
                await conn.execute(text(statement), {"id": event.id})
    assert (await verify(db)).ok


async def test_an_unsealed_event_cannot_be_rewritten_either(
    client: httpx.AsyncClient, db: Database
) -> None:
    await create_merchant(client)
    [event, *_] = await events(db)
    assert event.hash is None
    with pytest.raises(Exception, match="append-only"):
        async with db.engine.begin() as conn:
            await conn.execute(
                text("UPDATE audit_events SET details = '{}' WHERE id = :id"), {"id": event.id}
            )


async def _chain_of(db: Database, count: int) -> list[str]:
    ids = []
    for n in range(count):
        ids.append(
            await db.transact(
                lambda sql, n=n: audit.record(
                    sql, "test.step", target_type="step", target_id=str(n), details={"n": n}
                )
            )
        )
    await seal_audit_log(db)
    return ids


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ("UPDATE audit_events SET details = '{\"n\": 99}' WHERE id = :id", "content"),
        ("UPDATE audit_events SET actor = 'someone else' WHERE id = :id", "content"),
        ("UPDATE audit_events SET hash = :fake WHERE id = :id", "content"),
        ("DELETE FROM audit_events WHERE id = :id", "missing"),
    ],
)
async def test_verify_finds_the_first_event_changed_behind_the_guard(
    db: Database, change: str, problem: str
) -> None:
    ids = await _chain_of(db, 6)
    assert (await verify(db)).ok
    await tamper(db, change, id=ids[3], fake="f" * 64)
    result = await verify(db)
    assert not result.ok
    assert result.broken_at == 4 and problem in (result.problem or "")
    assert result.verified == 3


async def test_verify_finds_events_removed_from_the_end(db: Database) -> None:
    ids = await _chain_of(db, 3)
    await tamper(db, "DELETE FROM audit_events WHERE id = :id", id=ids[-1])
    result = await verify(db)
    assert not result.ok and result.problem == "events missing from the end"


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    batches=st.lists(st.integers(min_value=0, max_value=4), min_size=1, max_size=4),
    victim=st.one_of(st.none(), st.integers(min_value=0, max_value=15)),
)
async def test_the_chain_holds_exactly_when_nothing_was_changed(
    db: Database, batches: list[int], victim: int | None
) -> None:
    """Events recorded in any batches, sealed between them: the chain verifies whole, and
    changing any one sealed event breaks it exactly there."""
    await tamper(db, "DELETE FROM audit_events")
    async with db.engine.begin() as conn:
        await conn.execute(text("DELETE FROM audit_chain_head"))
    sealed: list[str] = []
    for size in batches:
        for n in range(size):
            await db.transact(lambda sql, n=n: audit.record(sql, "test.batch", details={"n": n}))
        await seal_audit_log(db)
        sealed = [e.id for e in sorted(await events(db), key=lambda e: e.chain_index or 0)]
    result = await verify(db)
    assert result.ok and result.verified == len(sealed) == sum(batches)
    if victim is None or victim >= len(sealed):
        return
    await tamper(db, "UPDATE audit_events SET action = 'changed' WHERE id = :id", id=sealed[victim])
    broken = await verify(db)
    assert (broken.ok, broken.broken_at, broken.verified) == (False, victim + 1, victim)


@requires_postgres
async def test_concurrent_writers_and_sealers_make_one_whole_chain(db: Database) -> None:
    async def write(n: int) -> None:
        await db.transact(lambda sql: audit.record(sql, "test.concurrent", details={"n": n}))

    async def seal_a_few() -> None:
        for _ in range(5):
            await seal_audit_log(db)
            await asyncio.sleep(0)

    await asyncio.gather(*(write(n) for n in range(60)), *(seal_a_few() for _ in range(4)))
    await seal_audit_log(db)
    result = await verify(db)
    assert result.ok and result.unsealed == 0
    assert result.verified == 60


async def test_issued_keys_from_the_command_line_name_the_user(db: Database) -> None:
    with audit.acting_as(audit.cli_actor()):
        await db.run_in_transaction(
            lambda s: auth.issue_key(s, name="night batch", role="operator", scopes=["read"])
        )
    [event, *_] = await events(db, action="api_key.issued")
    assert event.actor.startswith("cli:") and event.source is not None
    assert event.source.startswith("cli@")
