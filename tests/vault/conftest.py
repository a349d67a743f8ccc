"""Vault tests run at a fixed moment, so expiry dates mean the same thing every day."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from payhub.core import clock
from payhub.core.config import reset_settings_cache

NOW = datetime(2026, 11, 25, 8, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen_clock() -> Iterator[clock.FrozenClock]:
    with clock.use_clock(clock.FrozenClock(NOW)) as frozen:
        assert isinstance(frozen, clock.FrozenClock)
        yield frozen


@pytest.fixture(autouse=True)
def fresh_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test reads the vault keys from its own environment (the defaults unless it sets
    PAYHUB_VAULT_*), and leaves no cached settings behind."""
    monkeypatch.delenv("PAYHUB_VAULT_MASTER_KEY", raising=False)
    monkeypatch.delenv("PAYHUB_VAULT_FINGERPRINT_KEY", raising=False)
    reset_settings_cache()
    yield
    reset_settings_cache()
