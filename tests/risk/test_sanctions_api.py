"""Sanctions screening through the API: compliance's alone; onboarding screens every new
merchant and customer without refusing them; hits are cleared or confirmed once, with a
reason, in the audit log; a list change rescreens everyone."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from payhub.audit import service as audit
from payhub.db.session import Database
from payhub.risk.sanctions.rescreen import rescreen_pending
from tests.api.helpers import RFC3339_Z, assert_error
from tests.merchants.helpers import create_merchant, merchant_key
from tests.risk.helpers import SAMPLE_CSV, SAMPLE_FTM, csv_list, load, loaded

ROUTES = [
    ("POST", "/v1/sanctions/lists", {"list": "x", "format": "csv", "content": SAMPLE_CSV}),
    ("GET", "/v1/sanctions/lists", None),
    ("POST", "/v1/sanctions/screen", {"name": "Zhang Wei"}),
    ("GET", "/v1/sanctions/screenings", None),
    ("GET", "/v1/sanctions/hits", None),
    ("GET", "/v1/sanctions/hits/hit_01M97GGTMK3RV6055RXQ3SCGXS", None),
    ("POST", "/v1/sanctions/hits/hit_01M97GGTMK3RV6055RXQ3SCGXS/clear", {"reason": "x"}),
    ("POST", "/v1/sanctions/hits/hit_01M97GGTMK3RV6055RXQ3SCGXS/confirm", {"reason": "x"}),
]


async def _customer(client: httpx.AsyncClient, merchant: str, name: str, **fields: Any) -> str:
    body = {"merchant": merchant, "name": name, **fields}
    response = await client.post("/v1/customers", json=body)
    assert response.status_code == 201, response.text  # never refused for a potential match
    made: str = response.json()["id"]
    return made


async def _screenings(client: httpx.AsyncClient, subject: str) -> list[dict[str, Any]]:
    response = await client.get("/v1/sanctions/screenings", params={"subject": subject})
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["data"]
    return found


async def _hits(client: httpx.AsyncClient, **params: str) -> list[dict[str, Any]]:
    response = await client.get("/v1/sanctions/hits", params={"limit": "100", **params})
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["data"]
    return found


async def test_only_compliance_reaches_the_routes(client: httpx.AsyncClient, as_key: Any) -> None:
    merchant = await create_merchant(client)
    shop = as_key(await merchant_key(client, merchant["id"]))
    made = await client.post("/v1/api_keys", json={"name": "AML desk", "scopes": ["compliance"]})
    officer = as_key(made.json()["secret"])
    for method, path, body in ROUTES:
        refused = await shop.request(method, path, json=body)
        assert_error(refused, 403, "permission_denied")
        allowed = await officer.request(method, path, json=body)
        assert allowed.status_code not in (401, 403), f"{method} {path}: {allowed.text}"
        assert allowed.status_code < 500, f"{method} {path}: {allowed.text}"


async def test_loading_a_list(client: httpx.AsyncClient, db: Database) -> None:
    made = await load(client, SAMPLE_CSV, name="payhub_sample")
    assert made.status_code == 201, made.text
    version = made.json()
    assert version["object"] == "sanctions_list_version"
    assert version["entries"] == 13 and version["current"] and version["created"]
    assert RFC3339_Z.match(version["loaded_at"]) and version["rescreened_at"] is None
    again = await load(client, SAMPLE_CSV, name="payhub_sample")
    assert again.status_code == 200 and again.json()["id"] == version["id"]
    assert not again.json()["created"]
    ftm = await loaded(client, SAMPLE_FTM, name="ftm_sample", fmt="ftm")
    listed = (await client.get("/v1/sanctions/lists")).json()["data"]
    assert [v["id"] for v in listed] == [ftm["id"], version["id"]]
    events, _ = await db.transact(
        lambda sql: audit.list_events(
            sql, audit.AuditFilter(action="sanctions_list.loaded"), limit=10, starting_after=None
        )
    )
    assert {e.target_id for e in events} == {version["id"], ftm["id"]}


async def test_a_bad_file_is_refused_and_nothing_is_loaded(client: httpx.AsyncClient) -> None:
    bad = csv_list("1,Ann,,person,,,", "1,Bob,,person,,,", name="payhub_sample")
    assert_error(await load(client, bad), 400, "sanctions_list_invalid")
    assert_error(await load(client, "{not json", fmt="ftm"), 400, "sanctions_list_invalid")
    assert_error(await load(client, SAMPLE_CSV, name="Not A Name"), 400, "validation_error")
    assert (await client.get("/v1/sanctions/lists")).json()["data"] == []


async def test_loading_is_idempotent(client: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": "load-sample-1"}
    body = {"list": "payhub_sample", "format": "csv", "content": SAMPLE_CSV}
    first = await client.post("/v1/sanctions/lists", json=body, headers=headers)
    second = await client.post("/v1/sanctions/lists", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.headers["Idempotent-Replayed"] == "true"
    assert first.content == second.content


async def test_ad_hoc_screen(client: httpx.AsyncClient) -> None:
    await loaded(client, SAMPLE_CSV)
    response = await client.post("/v1/sanctions/screen", json={"name": "ZHANG, Wei"})
    assert response.status_code == 200, response.text
    screening = response.json()
    assert screening["outcome"] == "potential_match"
    assert screening["subject_type"] == "name" and screening["subject"] is None
    top = screening["hits"][0]
    assert (top["list"], top["entry_id"], top["score"], top["hit"]) == (
        "payhub_sample",
        "PS-001",
        100.0,
        None,
    )
    assert top["entry"]["program"].startswith("Fictional")
    clear = await client.post(
        "/v1/sanctions/screen", json={"name": "Zhang Wei", "birth_date": "1990"}
    )
    assert clear.json()["outcome"] == "clear"  # another year of birth: -15
    organisations = await client.post(
        "/v1/sanctions/screen", json={"name": "Zhang Wei", "type": "organisation"}
    )
    assert organisations.json()["hits"] == []
    assert await _hits(client) == []  # an ad-hoc screen raises nothing to decide


async def test_onboarding_screens_without_refusing(client: httpx.AsyncClient) -> None:
    before = await create_merchant(client, name="Early Shop")
    assert (await _screenings(client, before["id"]))[0]["list_versions"] == []
    version = await loaded(client, SAMPLE_CSV)
    merchant = await create_merchant(
        client, name="Golden Cresent Shipping", legal_name="GCS Trading"
    )
    screened = (await _screenings(client, merchant["id"]))[0]
    assert screened["reason"] == "onboarding" and screened["outcome"] == "potential_match"
    assert screened["names"] == ["Golden Cresent Shipping", "GCS Trading"]
    assert screened["list_versions"] == [version["id"]]
    assert screened["hits"][0]["entry_id"] == "PS-010"
    customer = await _customer(client, merchant["id"], "Wei Zhang", home_region="CN-SH")
    clean = await _customer(client, merchant["id"], "Amelia Hart")
    assert (await _screenings(client, clean))[0]["outcome"] == "clear"
    hits = await _hits(client, status="open")
    assert {(h["subject"], h["entry_id"]) for h in hits} == {
        (merchant["id"], "PS-010"),
        (customer, "PS-001"),
    }
    hit = next(h for h in hits if h["subject"] == customer)
    assert hit["subject_type"] == "customer" and hit["subject_name"] == "Wei Zhang"
    assert hit["score"] == 100.0  # the country of the home region agrees (+3, capped)
    assert hit["entry"]["name"] == "张伟"


async def test_a_hit_is_decided_once_with_a_reason(client: httpx.AsyncClient, db: Database) -> None:
    await loaded(client, SAMPLE_CSV)
    merchant = await create_merchant(client)
    first = await _customer(client, merchant["id"], "Zhang Wei")
    second = await _customer(client, merchant["id"], "Viktor Morozov")
    hits = {h["subject"]: h["id"] for h in await _hits(client)}

    path = f"/v1/sanctions/hits/{hits[first]}"
    assert_error(await client.post(f"{path}/clear", json={}), 400, "validation_error")
    cleared = await client.post(f"{path}/clear", json={"reason": "Born 1990, other person"})
    assert cleared.status_code == 200, cleared.text
    body = cleared.json()
    assert body["status"] == "cleared" and body["reason"] == "Born 1990, other person"
    assert body["decided_by"].startswith("key:") and RFC3339_Z.match(body["decided_at"])
    again = await client.post(f"{path}/confirm", json={"reason": "changed my mind"})
    assert_error(again, 409, "sanctions_hit_decided")
    assert (await client.get(path)).json()["status"] == "cleared"

    confirmed = await client.post(
        f"/v1/sanctions/hits/{hits[second]}/confirm", json={"reason": "passport matches"}
    )
    assert confirmed.json()["status"] == "confirmed"
    assert [h["id"] for h in await _hits(client, status="open")] == []
    assert [h["id"] for h in await _hits(client, status="confirmed")] == [hits[second]]

    actions = {}
    for action in ("sanctions_hit.cleared", "sanctions_hit.confirmed"):
        events, _ = await db.transact(
            lambda sql, a=action: audit.list_events(
                sql, audit.AuditFilter(action=a), limit=10, starting_after=None
            )
        )
        actions[action] = [(e.target_id, e.details["reason"]) for e in events]
    assert actions == {
        "sanctions_hit.cleared": [(hits[first], "Born 1990, other person")],
        "sanctions_hit.confirmed": [(hits[second], "passport matches")],
    }

    missing = "/v1/sanctions/hits/hit_01M97GGTMK3RV6055RXQ3SCGXS/clear"
    assert_error(await client.post(missing, json={"reason": "x"}), 404, "sanctions_hit_not_found")
    assert_error(await client.get("/v1/sanctions/hits/nope"), 400, "invalid_id")


async def test_a_list_change_rescreens_everyone(client: httpx.AsyncClient, db: Database) -> None:
    merchant = await create_merchant(client, name="Northwind Precious Metals")
    customer = await _customer(client, merchant["id"], "赵磊")
    other = await _customer(client, merchant["id"], "Li Xiuying")
    assert await _hits(client) == []  # no list yet
    assert await rescreen_pending(db) == 0  # nothing waiting

    csv_version = await loaded(client, SAMPLE_CSV)
    assert await rescreen_pending(db) == 3
    assert await rescreen_pending(db) == 0  # done: the version is marked
    listed = (await client.get("/v1/sanctions/lists")).json()["data"]
    assert listed[0]["id"] == csv_version["id"] and RFC3339_Z.match(listed[0]["rescreened_at"])
    found = {(h["subject"], h["entry_id"]) for h in await _hits(client)}
    assert found == {(merchant["id"], "PS-011"), (other, "PS-003")}
    latest = (await _screenings(client, customer))[0]
    assert latest["reason"] == "rescreen" and latest["outcome"] == "clear"

    # A second list: 赵磊 is on it. The hit on Li Xiuying was cleared; rescreening finds
    # her again but does not reopen it (same name, same entry).
    cleared = next(h for h in await _hits(client) if h["subject"] == other)
    await client.post(f"/v1/sanctions/hits/{cleared['id']}/clear", json={"reason": "other"})
    ftm_version = await loaded(client, SAMPLE_FTM, name="ftm_sample", fmt="ftm")
    assert await rescreen_pending(db) == 3
    latest = (await _screenings(client, customer))[0]
    assert latest["outcome"] == "potential_match"
    assert sorted(latest["list_versions"]) == sorted([csv_version["id"], ftm_version["id"]])
    hits = await _hits(client)
    assert len(hits) == 3
    assert next(h for h in hits if h["subject"] == other)["status"] == "cleared"
    again = (await _screenings(client, other))[0]
    assert again["hits"][0]["hit"] == cleared["id"]
    assert again["hits"][0]["status"] == "cleared"


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"subject": "not an id"}, "invalid_id"),
        ({"starting_after": "cus_01M97GGTMK3RV6055RXQ3SCGXS"}, "invalid_id"),
        ({"status": "maybe"}, "validation_error"),
    ],
)
async def test_bad_filters(client: httpx.AsyncClient, params: dict[str, str], code: str) -> None:
    assert_error(await client.get("/v1/sanctions/hits", params=params), 400, code)
