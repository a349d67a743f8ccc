"""Rate limits: a key's bucket per endpoint class, shared by every process (database or
Redis), answering 429 with Retry-After once empty and refilling with time."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from payhub.api.app import create_app
from payhub.auth import limits
from payhub.core.config import Settings
from payhub.db.session import Database
from tests.api.helpers import assert_error
from tests.conftest import requires_postgres
from tests.merchants.helpers import create_merchant, merchant_key

REDIS_URL = "redis://127.0.0.1:6379/14"


def _redis_or_skip() -> None:
    redis = pytest.importorskip("redis")
    try:
        client = redis.Redis.from_url(REDIS_URL)
        client.ping()
        client.flushdb()
    except redis.exceptions.ConnectionError:
        pytest.skip("no Redis here")


async def _app(
    settings: Settings, db: Database, clock: list[float] | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """An API process; with `clock`, its limiter reads the time from `clock[0]`."""
    app = create_app(settings, database=db, run_jobs=False)
    if clock is not None:
        now = lambda: clock[0]  # noqa: E731
        app.state.limiter = (
            limits.RedisLimiter(settings.redis_url, clock=now)
            if settings.redis_url
            else limits.DatabaseLimiter(db, clock=now)
        )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://payhub.test"
    ) as http:
        yield http


_client = contextlib.asynccontextmanager(_app)


@pytest.fixture(params=["database", "redis"])
def limited(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    """5 reads and 3 writes a second, buckets of one second."""
    extra: dict[str, Any] = {}
    if request.param == "redis":
        _redis_or_skip()
        extra["redis_url"] = REDIS_URL
    return settings.model_copy(
        update={
            "rate_limit_read_per_s": 5,
            "rate_limit_write_per_s": 3,
            "rate_limit_burst_seconds": 1.0,
            **extra,
        }
    )


async def _shop_key(client: httpx.AsyncClient) -> tuple[str, str, str]:
    merchant = await create_merchant(client)
    made = (
        await client.post(f"/v1/merchants/{merchant['id']}/api_keys", json={"name": "till"})
    ).json()
    return merchant["id"], made["id"], made["secret"]


async def test_an_empty_bucket_answers_429_with_retry_after(
    client: httpx.AsyncClient, db: Database, limited: Settings
) -> None:
    _, _, secret = await _shop_key(client)
    auth = {"Authorization": f"Bearer {secret}"}
    async for http in _app(limited, db, clock=[1_000_000.0]):  # time stands still
        reads = [await http.get("/v1/customers", headers=auth) for _ in range(7)]
        assert [r.status_code for r in reads] == [200] * 5 + [429] * 2
        refused = reads[-1]
        assert_error(refused, 429, "rate_limited")
        assert refused.json()["error"]["retryable"] is True
        assert refused.headers["Retry-After"] == "1"
        # Writes have a bucket of their own.
        writes = [
            await http.post("/v1/customers", json={"name": f"c{n}"}, headers=auth) for n in range(4)
        ]
        assert [w.status_code for w in writes] == [201, 201, 201, 429]


async def test_the_bucket_refills_with_time(
    client: httpx.AsyncClient, db: Database, limited: Settings
) -> None:
    _, _, secret = await _shop_key(client)
    auth = {"Authorization": f"Bearer {secret}"}
    clock = [1_000_000.0]
    async for http in _app(limited, db, clock):
        for _ in range(5):
            assert (await http.get("/v1/customers", headers=auth)).status_code == 200
        assert (await http.get("/v1/customers", headers=auth)).status_code == 429
        clock[0] += 0.45  # 5 a second: two tokens back
        again = [await http.get("/v1/customers", headers=auth) for _ in range(3)]
        assert [r.status_code for r in again] == [200, 200, 429]
        clock[0] += 60  # a long pause fills the bucket, and no more than that
        later = [await http.get("/v1/customers", headers=auth) for _ in range(6)]
        assert [r.status_code for r in later] == [200] * 5 + [429]


async def test_every_process_draws_on_the_same_bucket(
    client: httpx.AsyncClient, db: Database, limited: Settings
) -> None:
    _, _, secret = await _shop_key(client)
    auth = {"Authorization": f"Bearer {secret}"}
    # One token a second, five in the bucket: timing noise between the requests cannot
    # bring a sixth token back in time.
    slow = limited.model_copy(update={"rate_limit_read_per_s": 1, "rate_limit_burst_seconds": 5})
    async with contextlib.AsyncExitStack() as stack:
        # Six apps (processes), each with its connections open, then one request from each.
        apps = [await stack.enter_async_context(_client(slow, db)) for _ in range(6)]
        for http in apps:
            assert (await http.get("/healthz")).status_code == 200
        statuses = [(await http.get("/v1/customers", headers=auth)).status_code for http in apps]
    assert statuses == [200] * 5 + [429]


async def test_keys_do_not_share_buckets_and_a_key_may_have_its_own_rate(
    client: httpx.AsyncClient, db: Database, limited: Settings
) -> None:
    merchant_id, key_id, secret = await _shop_key(client)
    other = await merchant_key(client, merchant_id, name="second till")
    raised = await client.post(
        f"/v1/merchants/{merchant_id}/api_keys/{key_id}/limits", json={"per_second": 20}
    )
    assert raised.status_code == 200 and raised.json()["rate_limit_per_s"] == 20
    async for http in _app(limited, db, clock=[1_000_000.0]):
        mine = [
            (await http.get("/v1/customers", headers={"Authorization": f"Bearer {secret}"}))
            for _ in range(12)
        ]
        theirs = [
            (await http.get("/v1/customers", headers={"Authorization": f"Bearer {other}"}))
            for _ in range(6)
        ]
    assert all(r.status_code == 200 for r in mine)
    assert [r.status_code for r in theirs] == [200] * 5 + [429]
    back = await client.post(
        f"/v1/merchants/{merchant_id}/api_keys/{key_id}/limits", json={"per_second": None}
    )
    assert back.json()["rate_limit_per_s"] is None
    bad = await client.post(
        f"/v1/merchants/{merchant_id}/api_keys/{key_id}/limits", json={"per_second": 0}
    )
    assert_error(bad, 400, "validation_error")


@requires_postgres
async def test_concurrent_requests_never_take_more_than_the_bucket_holds(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    limited = settings.model_copy(
        update={"rate_limit_read_per_s": 10, "rate_limit_burst_seconds": 1.0}
    )
    _, _, secret = await _shop_key(client)
    auth = {"Authorization": f"Bearer {secret}"}
    async for http in _app(limited, db, clock=[1_000_000.0]):  # no refill meanwhile
        answers = await asyncio.gather(
            *(http.get("/v1/customers", headers=auth) for _ in range(40))
        )
    granted = sum(1 for a in answers if a.status_code == 200)
    assert granted == 10, granted
    assert all(a.status_code in (200, 429) for a in answers)


@hypothesis_settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rate=st.integers(min_value=1, max_value=20),
    burst_seconds=st.sampled_from([0.5, 1.0, 3.0]),
    gaps=st.lists(st.floats(min_value=0, max_value=1.5), min_size=1, max_size=40),
    store=st.sampled_from(["database", "redis"]),
)
async def test_the_limiter_grants_exactly_what_a_token_bucket_allows(
    db: Database, rate: int, burst_seconds: float, gaps: list[float], store: str
) -> None:
    """Whatever the spacing of requests, the shared limiter grants exactly the requests a
    token bucket of that rate and size grants, so never more than burst + rate × elapsed."""
    now = [1_000_000.0]
    if store == "redis":
        _redis_or_skip()
        limiter: limits.Limiter = limits.RedisLimiter(REDIS_URL, clock=lambda: now[0])
    else:
        limiter = limits.DatabaseLimiter(db, clock=lambda: now[0])
    limit = limits.Limit(float(rate), max(1.0, rate * burst_seconds))
    key = f"key_{secrets.token_hex(8)}"
    tokens, granted, expected = limit.burst, [], []
    for gap in gaps:
        now[0] += gap
        tokens = min(limit.burst, tokens + gap * limit.rate)
        expected.append(tokens >= 1 - 1e-9)
        if expected[-1]:
            tokens -= 1
        granted.append(await limiter.take(key, "read", limit) == 0)
    assert granted == expected
    elapsed = sum(gaps) - gaps[0]
    assert sum(granted) <= limit.burst + limit.rate * elapsed + 1e-6
