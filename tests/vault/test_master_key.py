"""Where the master key comes from: the environment, a file, or a provider of one's own."""

from __future__ import annotations

import base64
import logging
import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from payhub.core.config import DEV_VAULT_MASTER_KEY, Settings, reset_settings_cache
from payhub.core.errors import PayHubError
from payhub.db.session import Database
from payhub.vault import masterkey
from tests.vault import kms_stub
from tests.vault.helpers import bind, card, count, error_texts, reveal_for_channel

DEV_KEY = base64.b64decode(DEV_VAULT_MASTER_KEY)


def _use(monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
    for name, value in env.items():
        monkeypatch.setenv(f"PAYHUB_VAULT_MASTER_KEY_{name.upper()}", value)
    reset_settings_cache()


def _key_file(tmp_path: Path, content: str, mode: int = 0o600) -> Path:
    path = tmp_path / "master.key"
    path.write_text(content)
    path.chmod(mode)
    return path


async def test_a_file_holds_the_same_key_as_the_environment(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pan = card("ABC", "debit")
    view, _ = await bind(db, pan)  # under the environment's (default) key
    path = _key_file(tmp_path, DEV_VAULT_MASTER_KEY + "\n")
    _use(monkeypatch, provider="file", file=str(path))
    assert masterkey.master_key() == DEV_KEY
    assert await reveal_for_channel(db, view.token) == pan


async def test_a_provider_of_ones_own_is_asked_once(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    kms_stub.calls.clear()
    _use(monkeypatch, provider="tests.vault.kms_stub:provider")
    pan = card("BOCOM", "credit")
    view, _ = await bind(db, pan)
    assert await reveal_for_channel(db, view.token) == pan
    assert kms_stub.calls == ["master_key"]  # fetched once, then kept in memory
    # Under another master key the vault does not open.
    _use(monkeypatch, provider="env")
    with pytest.raises(Exception, match="master key"):
        await reveal_for_channel(db, view.token)


@pytest.mark.parametrize(
    ("env", "content", "reason"),
    [
        ({"provider": "file"}, None, "needs PAYHUB_VAULT_MASTER_KEY_FILE"),
        ({"provider": "file", "file": "/nonexistent/master.key"}, None, "cannot be read"),
        ({"provider": "file"}, "not base64 at all!", "does not hold base64"),
        ({"provider": "file"}, base64.b64encode(b"short").decode(), "exactly 32 bytes"),
        ({"provider": "tests.vault.kms_stub:missing"}, None, "cannot be imported"),
        ({"provider": "tests.vault.nowhere:provider"}, None, "cannot be imported"),
        ({"provider": "tests.vault.kms_stub:not_a_provider"}, None, "MasterKeyProvider"),
        ({"provider": "tests.vault.kms_stub:short_key"}, None, "did not give 32 bytes"),
        ({"provider": "tests.vault.kms_stub:failing"}, None, "failed (ConnectionError)"),
    ],
)
async def test_a_misconfigured_master_key_is_a_catalogue_error_and_writes_nothing(
    db: Database,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    env: dict[str, str],
    content: str | None,
    reason: str,
) -> None:
    if content is not None:
        env = {**env, "file": str(_key_file(tmp_path, content))}
    _use(monkeypatch, **env)
    caplog.set_level(logging.DEBUG)
    pan = card("CITIC", "debit")
    with pytest.raises(PayHubError) as info:
        await bind(db, pan)
    error = info.value
    assert error.code == "vault_master_key_unavailable"
    assert (error.status, error.spec.retryable) == (503, True)
    assert reason in error.message()
    for shown in [*error_texts(error), *(r.getMessage() for r in caplog.records)]:
        assert pan not in shown
        assert str(tmp_path) not in shown  # no path: the message can reach API callers
        assert kms_stub.KEY.hex() not in shown  # nor what a provider's exception said
        if content:
            assert content not in shown
    async with db.session() as s:
        assert await count(s, "vault_cards") == 0
        assert await count(s, "vault_data_keys") == 0


def test_the_provider_setting_is_checked_when_read() -> None:
    for good in ("env", "file", "acme.kms:provider", "a_b.c:d"):
        assert Settings(_env_file=None, vault_master_key_provider=good)
    for bad in ("vault", "acme.kms", "acme kms:provider", ":provider", "acme:"):
        with pytest.raises(ValidationError):
            Settings(_env_file=None, vault_master_key_provider=bad)


def test_a_key_file_others_can_read_is_flagged(tmp_path: Path) -> None:
    path = _key_file(tmp_path, base64.b64encode(os.urandom(32)).decode(), mode=0o644)
    settings = Settings(
        _env_file=None, vault_master_key_provider="file", vault_master_key_file=path
    )
    assert any("chmod 600" in w for w in settings.warnings())
    path.chmod(0o600)
    assert not any("chmod 600" in w for w in settings.warnings())
