"""Vault tests run at a fixed moment, so expiry dates mean the same thing every day, and
each runs under both cryptographic suites."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from payhub.core import clock
from payhub.core.config import reset_settings_cache
from payhub.core.cryptosuite import Suite

NOW = datetime(2026, 11, 25, 8, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen_clock() -> Iterator[clock.FrozenClock]:
    with clock.use_clock(clock.FrozenClock(NOW)) as frozen:
        assert isinstance(frozen, clock.FrozenClock)
        yield frozen


@pytest.fixture(autouse=True, params=list(Suite))
def suite(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Suite:
    """The suite of the test: every vault test passes under both."""
    chosen = Suite(request.param)
    monkeypatch.setenv("PAYHUB_CRYPTO_SUITE", chosen.value)
    return chosen


@pytest.fixture(autouse=True)
def fresh_settings(monkeypatch: pytest.MonkeyPatch, suite: Suite) -> Iterator[None]:
    """Each test reads the vault keys from its own environment (the defaults unless it sets
    PAYHUB_VAULT_*), and leaves no cached settings behind."""
    for name in (
        "PAYHUB_VAULT_MASTER_KEY",
        "PAYHUB_VAULT_MASTER_KEY_PROVIDER",
        "PAYHUB_VAULT_MASTER_KEY_FILE",
        "PAYHUB_VAULT_FINGERPRINT_KEY",
    ):
        monkeypatch.delenv(name, raising=False)
    reset_settings_cache()
    yield
    reset_settings_cache()
