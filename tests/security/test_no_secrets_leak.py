"""No secret anywhere PayHub writes, except the one answer that shows it once.

Every capability that exists runs over HTTP while every logger records at DEBUG: the card
flow of the card-data scan (payments with CVVs, refunds, a bank account, webhooks), then
platform keys issued, rolled and revoked, a merchant key issued with request signing
turned on and signed requests made, a key's rate limit changed, a webhook secret rolled
with deliveries signed by both secrets to a real receiver, a card detokenised by a
`detokenize` key, risk rules published, a sanctions list loaded, the audit chain verified,
the vault's data key rotated and the cards re-encrypted.

Then every log line and record, every table cell (sealed and vault-encrypted columns are
checked to be binary and not to hold a secret's bytes), every answer, and every webhook
body and header is scanned for every API key secret, signing secret, webhook secret (old
and new), the master key, fingerprint key and pepper, and the card flow's numbers and CVVs.
The scanner proves itself on planted secrets first.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import LargeBinary

from payhub import jobs
from payhub.channels.base import ChannelAdapter
from payhub.channels.sim.bankfiles import answer_pain001
from payhub.core.config import Settings, get_settings
from payhub.db.models import metadata
from payhub.db.session import Database
from payhub.events import signing
from payhub.payments.channels import get_channels, use_channels
from payhub.splits import service as splits
from payhub.splits.service import BatchOrder, LineIn
from payhub.vault import service as vault_service
from tests.auth.test_request_signing import signed
from tests.events.receiver import Receiver, running_receiver
from tests.payments.helpers import static_routing, world
from tests.payments.test_no_card_data_leaks import CIPHERTEXT, run_flow
from tests.security.leaks import Responses, Scanner, database_cells, every_log_line, raw_record
from tests.settlement.payouts.helpers import network, open_party
from tests.settlement.payouts.split_helpers import open_leader

# Columns that hold secrets sealed under the master key, or key material wrapped by it:
# binary, and never scanned as text (their bytes are checked instead).
SEALED = {
    ("api_keys", "signing_secret"),
    ("webhook_endpoints", "sealed_secret"),
    ("webhook_endpoints", "sealed_previous_secret"),
    ("vault_data_keys", "wrapped_key"),
}


@pytest.fixture(autouse=True)
def channels() -> Iterator[dict[str, ChannelAdapter]]:
    mapping = world()
    with use_channels(mapping):
        yield mapping


@pytest.fixture(autouse=True)
def predictable_routing() -> Iterator[None]:
    with static_routing():
        yield


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with running_receiver() as running:
        yield running


def configured_secrets(*settings: Settings) -> dict[str, str]:
    """The master key, fingerprint key and pepper, as configured and as the bytes they
    decode to (hex, and raw for binary cells read as latin-1)."""
    out: dict[str, str] = {}
    for each in settings:
        for name in ("vault_master_key", "vault_fingerprint_key", "key_pepper"):
            value = getattr(each, name).get_secret_value()
            out[value] = name
            try:
                raw = base64.b64decode(value, validate=True)
            except ValueError:
                continue
            out[raw.hex()] = f"{name} (hex)"
            out[raw.decode("latin-1")] = f"{name} (raw)"
    return out


def _shown(body: str) -> str | None:
    """The secret an answer shows, when it is one that shows a secret."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    secret = parsed.get("secret") if isinstance(parsed, dict) else None
    return secret if isinstance(secret, str) else None


async def _ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, f"{response.request.url}: {response.text}"
    body: dict[str, Any] = response.json()
    return body


async def _run_jobs(db: Database) -> None:
    done = await jobs.run_once(db)
    assert all(n >= 0 for n in done.values()), done


async def run_every_capability(
    client: httpx.AsyncClient, as_key: Any, db: Database, receiver: Receiver
) -> tuple[list[str], list[str], Responses, dict[str, str]]:
    """The card flow, then everything else there is; the numbers, CVVs, every answer, and
    the detokenisation answer's request (the one answer allowed to hold a card number)."""
    numbers, cvvs, responses = await run_flow(client, as_key, db, receiver)
    watch = responses.watch
    merchant = (await _ok(await client.get("/v1/merchants")))["data"][0]["id"]

    # Platform keys: issued, used, rolled (the new one used), revoked.
    ops = await _ok(
        await client.post("/v1/api_keys", json={"name": "night ops", "scopes": ["operator"]}), 201
    )
    await _ok(await watch(as_key(ops["secret"])).get("/v1/api_keys"))
    rolled = await _ok(
        await client.post(f"/v1/api_keys/{ops['id']}/roll", json={"overlap_seconds": 60}), 201
    )
    await _ok(await watch(as_key(rolled["secret"])).get("/v1/merchants"))
    await _ok(await client.post(f"/v1/api_keys/{ops['id']}/revoke"))
    gone = await watch(as_key(ops["secret"])).get("/v1/merchants")
    assert gone.status_code == 401, gone.text

    # A merchant key with request signing, signed requests made (one replayed), and a rate
    # limit of its own.
    till = await _ok(
        await client.post(f"/v1/merchants/{merchant}/api_keys", json={"name": "till"}), 201
    )
    keys = f"/v1/merchants/{merchant}/api_keys/{till['id']}"
    made = await _ok(await client.post(f"{keys}/signing", json={"algorithm": "hmac-sha256"}), 201)
    assert made["secret"].startswith("ssk_")
    await _ok(await client.post(f"{keys}/limits", json={"per_second": 1000}))
    shop = watch(as_key(till["secret"]))
    body = json.dumps({"name": "Signed buyer"}).encode()
    headers = signed("hmac-sha256", made["secret"], "POST", "/v1/customers", body)
    headers["Content-Type"] = "application/json"
    await _ok(await shop.post("/v1/customers", content=body, headers=headers), 201)
    replayed = await shop.post("/v1/customers", content=body, headers=headers)
    assert replayed.json()["error"]["code"] == "signature_nonce_reused", replayed.text
    read = signed("hmac-sha256", made["secret"], "GET", "/v1/customers")
    await _ok(await shop.get("/v1/customers", headers=read))
    unsigned = await shop.get("/v1/customers")
    assert unsigned.json()["error"]["code"] == "signature_missing", unsigned.text

    # The merchant's webhook secret rolled with an overlap; an event redelivered to both
    # endpoints carries both of its signatures.
    me = watch(as_key(await _merchant_key(client, merchant)))
    hooks = (await _ok(await me.get("/v1/webhook_endpoints")))["data"]
    hook = hooks[0]
    old_secret = next(s for _, b in responses.bodies if (s := _shown(b)) and hook["id"] in b)
    new = await _ok(
        await me.post(
            f"/v1/webhook_endpoints/{hook['id']}/roll_secret", json={"overlap_seconds": 3600}
        )
    )
    event = (await _ok(await client.get("/v1/events?limit=1")))["data"][0]
    before = len(receiver.received)
    await _ok(await client.post(f"/v1/events/{event['id']}/redeliver"))

    # Detokenisation by a platform key holding `detokenize` only.
    vault = await _ok(
        await client.post("/v1/api_keys", json={"name": "vault", "scopes": ["detokenize"]}), 201
    )
    payment = (await _ok(await me.get("/v1/payments?limit=1")))["data"][0]
    revealed = await watch(as_key(vault["secret"])).post(
        f"/v1/payment_methods/{payment['payment_method']}/detokenize",
        json={"reason": "chargeback evidence"},
    )
    await _ok(revealed)

    # Risk rules published, a sanctions list loaded, the data key rotated.
    await _ok(
        await client.post(
            "/v1/risk/rules",
            json={
                "definition": {"rules": [], "review_at": 101, "decline_at": 101},
                "activate": False,
            },
        ),
        201,
    )
    await _ok(
        await client.post(
            "/v1/sanctions/lists",
            json={"list": "ofac", "format": "csv", "content": "id,name\n1,Ivan Petrov\n"},
        ),
        201,
    )
    await _ok(
        await client.post("/v1/vault/data_keys/rotate", json={"algorithm": "aes-256-gcm"}), 201
    )
    await _run_jobs(db)
    await _run_jobs(db)
    keys_now = (await _ok(await client.get("/v1/vault/data_keys")))["data"]
    assert len(keys_now) == 2

    # The redelivery went out after the roll: both secrets sign it.
    sent = receiver.received[before:]
    assert len(sent) == 2
    now = int(time.time())
    assert any(
        signing.verify(new["secret"], g.headers["payhub-signature"], g.body, now=now)
        and signing.verify(old_secret, g.headers["payhub-signature"], g.body, now=now)
        for g in sent
    )

    # A split batch's bank file exported by a platform key holding `bank_files` only (the
    # one answer allowed to hold the receiver's account number), the simulated bank's
    # status report imported.
    exported, supplier_number = await _bank_files_round(client, as_key, db, watch)
    numbers = [*numbers, supplier_number]

    # Everything there is to read back.
    for path in (
        "/v1/api_keys",
        f"/v1/merchants/{merchant}/api_keys",
        "/v1/webhook_endpoints",
        f"/v1/webhook_endpoints/{hook['id']}",
        f"/v1/webhook_endpoints/{hook['id']}/deliveries",
        "/v1/audit/events?limit=100",
        "/v1/risk/rules",
        "/v1/sanctions/lists",
    ):
        await _ok(await client.get(path))
    verified = await _ok(await client.get("/v1/audit/verify"))
    assert verified["ok"] is True, verified

    where = f"{revealed.request.method} {revealed.request.url}"
    exported_at = f"{exported.request.method} {exported.request.url}"
    return numbers, cvvs, responses, {where: payment["payment_method"], exported_at: "pain.001"}


async def _bank_files_round(
    client: httpx.AsyncClient, as_key: Any, db: Database, watch: Any
) -> tuple[httpx.Response, str]:
    """A group leader's batch to one supplier, its payout committed in transit, the batch
    file exported, answered by the simulated bank and the answer imported."""
    leader = await open_leader(db, client, as_key, [20_000])
    supplier = await open_party(db, "Leak Farm")
    order = BatchOrder(
        merchant_id=leader.merchant_id,
        currency="CNY",
        lines=[LineIn(supplier.payee_id, amount=5_000)],
        payments=tuple(leader.payments),
    )
    batch = await db.run_in_transaction(lambda s: splits.create_batch(s, order))
    await db.run_in_transaction(lambda s: splits.open_and_start(s, batch.id, limit=10))
    number = await db.run_in_transaction(
        lambda s: vault_service.reveal_bank_account(s, supplier.bank_account)
    )
    desk = await _ok(
        await client.post("/v1/api_keys", json={"name": "bank", "scopes": ["bank_files"]}), 201
    )
    banker = watch(as_key(desk["secret"]))
    exported = await banker.get(f"/v1/split_batches/{batch.id}/pain001")
    assert exported.status_code == 200, exported.text
    answer = answer_pain001(network(get_channels()), exported.content, default_rail="ibps")
    imported = await banker.post(
        f"/v1/split_batches/{batch.id}/pain002",
        content=answer,
        headers={"Content-Type": "application/xml", "Idempotency-Key": "leak-report"},
    )
    await _ok(imported)
    return exported, number.account_number


async def _merchant_key(client: httpx.AsyncClient, merchant: str) -> str:
    made = await _ok(
        await client.post(f"/v1/merchants/{merchant}/api_keys", json={"name": "back office"}), 201
    )
    secret: str = made["secret"]
    return secret


async def test_no_secret_anywhere(
    client: httpx.AsyncClient,
    as_key: Any,
    db: Database,
    settings: Settings,
    operator_key: str,
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    with every_log_line() as lines:
        numbers, cvvs, responses, revealing = await run_every_capability(
            client, as_key, db, receiver
        )

    # Every secret an answer showed, and the one answer that showed it.
    shown: dict[str, int] = {}
    for i, (_, body) in enumerate(responses.bodies):
        secret = _shown(body)
        if secret is not None:
            assert secret not in shown, "a secret shown twice"
            shown[secret] = i
    kinds = [s.split("_")[0] for s in shown]
    assert kinds.count("sk") >= 6 and kinds.count("ssk") == 1 and kinds.count("whsec") == 3
    secrets = {s: f"a {s.split('_')[0]} secret" for s in shown}
    secrets[operator_key] = "the operator's key"
    secrets |= configured_secrets(settings, get_settings())
    scan = Scanner(numbers, cvvs, secrets)
    secrets_only = Scanner([], [], secrets)
    found: list[str] = []

    formatted = lines.getvalue().splitlines()
    assert len(formatted) > 100, "DEBUG logging should have written plenty"
    for i, line in enumerate(formatted):
        found += scan.text(f"log line {i}", line)
    assert caplog.records
    for record in caplog.records:
        found += scan.text(f"log record {record.name}", raw_record(record))
    found += scan.text("caplog", caplog.text)

    assert len(responses.bodies) > 80
    for i, (where, body) in enumerate(responses.bodies):
        # The answer that shows a secret holds it exactly once; it is scanned for the rest.
        own = [s for s, at in shown.items() if at == i]
        for secret in own:
            assert body.count(secret) == 1, where
            body = body.replace(secret, "[shown once]")
        # The detokenisation answer holds its card's number, by design: secrets only.
        if where in revealing:
            assert scan.text("the revealed number", body), "the number should be there"
            found += secrets_only.text(f"answer to {where}", body)
        else:
            found += scan.text(f"answer to {where}", body)

    assert receiver.received
    for i, got in enumerate(receiver.received):
        found += scan.text(f"webhook {i}", got.body.decode())
        found += scan.text(f"webhook {i} headers", json.dumps(got.headers))

    cells = 0
    blobs = [s.encode() for s in secrets] + [n.replace(" ", "").encode() for n in numbers]
    async for table, column, value in database_cells(db):
        cells += 1
        if (table, column) in SEALED | CIPHERTEXT:
            if value is not None:
                blob = bytes(value)
                assert not [b for b in blobs if b in blob], (table, column)
            continue
        found += scan.value(f"{table}.{column}", value)
    assert cells > 800

    assert found == []

    # The scan finds a secret that is there: one written into a customer's metadata is
    # found in that cell and in the answer that stored it, and nowhere else.
    webhook_secret = next(s for s in shown if s.startswith("whsec_"))
    careless = await client.post(
        "/v1/customers",
        json={
            "merchant": merchant_of(responses),
            "name": "Careless",
            "metadata": {"note": webhook_secret},
        },
    )
    assert careless.status_code == 201 and secrets_only.text("careless answer", careless.text)
    cells_found = [
        f"{table}.{column}"
        async for table, column, value in database_cells(db)
        if (table, column) not in SEALED | CIPHERTEXT and secrets_only.value(table, value)
    ]
    assert cells_found == ["customers.metadata"]


def merchant_of(responses: Responses) -> str:
    """The merchant the card flow made (its first answer)."""
    made: str = json.loads(responses.bodies[0][1])["id"]
    return made


def test_sealed_columns_are_binary() -> None:
    for table, column in SEALED | CIPHERTEXT:
        assert isinstance(metadata.tables[table].columns[column].type, LargeBinary)
    # And nothing else holds a secret of the platform's in a binary column it would skip.
    binary = {
        (t.name, c.name)
        for t in metadata.tables.values()
        for c in t.columns
        if isinstance(c.type, LargeBinary)
    }
    assert binary == SEALED | CIPHERTEXT


def test_the_scanner_finds_planted_secrets(settings: Settings) -> None:
    planted = {"whsec_" + "A1b2" * 10: "a webhook secret", "sk_mer_" + "z9" * 16: "a key"}
    planted |= configured_secrets(settings)
    scan = Scanner([], [], planted)
    for secret in planted:
        assert scan.text("planted", f"value={secret};"), secret
        assert scan.value("planted cell", secret.encode("latin-1")), secret
        assert scan.text("planted json", json.dumps({"x": {"y": secret}})), secret
    assert scan.text("a log line", json.dumps({"msg": f"auth {next(iter(planted))}"}))
    master = settings.vault_master_key.get_secret_value()
    assert scan.text("raw bytes", base64.b64decode(master).decode("latin-1"))
    assert scan.text("hex", base64.b64decode(master).hex())
    assert not scan.text("fine", "whsec_" + "A1b2" * 9 + " sk_mer_z9 t=1795250000,v1=ab12")

    # And a careless log line with a secret is found in its record.
    logger = logging.getLogger("payhub.careless")
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger.addHandler(handler)
    try:
        logger.warning("rolled to %s", next(iter(planted)))
    finally:
        logger.removeHandler(handler)
    assert scan.text("careless", raw_record(records[0]))
