"""The vault's two secrets in the configuration."""

from __future__ import annotations

import base64

import pytest
from pydantic import ValidationError

from payhub.core.config import DEV_VAULT_FINGERPRINT_KEY, DEV_VAULT_MASTER_KEY, Settings

PG = "postgresql+asyncpg://postgres@127.0.0.1/payhub"
OWN_MASTER = base64.b64encode(bytes(range(32))).decode()


def test_defaults_are_the_development_keys() -> None:
    settings = Settings(_env_file=None)
    assert settings.vault_master_key.get_secret_value() == DEV_VAULT_MASTER_KEY
    assert len(settings.vault_master_key_bytes()) == 32
    assert settings.vault_fingerprint_key.get_secret_value() == DEV_VAULT_FINGERPRINT_KEY
    assert settings.warnings() == []  # fine on the embedded SQLite file


def test_development_vault_keys_on_postgres_are_flagged() -> None:
    found = Settings(_env_file=None, database_url=PG, key_pepper="our-own-pepper").warnings()
    assert len(found) == 2
    assert "PAYHUB_VAULT_MASTER_KEY" in found[0]
    assert "PAYHUB_VAULT_FINGERPRINT_KEY" in found[1]
    own = Settings(
        _env_file=None,
        database_url=PG,
        key_pepper="our-own-pepper",
        vault_master_key=OWN_MASTER,
        vault_fingerprint_key="our-own-fingerprint-key",
    )
    assert own.warnings() == []
    assert own.vault_master_key_bytes() == bytes(range(32))


@pytest.mark.parametrize(
    "bad",
    [
        "not base64!",
        base64.b64encode(b"short").decode(),
        base64.b64encode(bytes(33)).decode(),
        "",
    ],
)
def test_a_master_key_must_be_base64_of_32_bytes(bad: str) -> None:
    with pytest.raises(ValidationError) as info:
        Settings(_env_file=None, vault_master_key=bad)
    assert "vault_master_key" in str(info.value)
    if bad:
        assert bad not in str(info.value)  # a secret, even a malformed one, is not echoed


def test_a_fingerprint_key_must_not_be_short() -> None:
    with pytest.raises(ValidationError):
        Settings(_env_file=None, vault_fingerprint_key="short")


def test_the_environment_sets_the_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYHUB_VAULT_MASTER_KEY", OWN_MASTER)
    monkeypatch.setenv("PAYHUB_VAULT_FINGERPRINT_KEY", "fingerprints-from-the-environment")
    settings = Settings(_env_file=None)
    assert settings.vault_master_key_bytes() == bytes(range(32))
    assert settings.vault_fingerprint_key.get_secret_value() == "fingerprints-from-the-environment"
