from payhub.core.config import DEV_PEPPER, Settings


def test_defaults_need_no_configuration() -> None:
    settings = Settings(_env_file=None)
    assert settings.database_url == "sqlite+aiosqlite:///./var/payhub.db"
    assert settings.is_sqlite
    assert settings.idempotency_ttl_hours >= 24
    assert settings.warnings() == []


def test_development_pepper_on_postgres_is_flagged() -> None:
    settings = Settings(
        _env_file=None, database_url="postgresql+asyncpg://postgres@127.0.0.1/payhub"
    )
    assert settings.key_pepper.get_secret_value() == DEV_PEPPER
    # (The vault's development keys are flagged too: see tests/vault/test_config.py.)
    assert len([w for w in settings.warnings() if "PAYHUB_KEY_PEPPER" in w]) == 1
    own = Settings(
        _env_file=None,
        database_url="postgresql+asyncpg://postgres@127.0.0.1/payhub",
        key_pepper="a-secret-of-our-own",
    )
    assert not [w for w in own.warnings() if "PAYHUB_KEY_PEPPER" in w]


def test_environment_overrides(monkeypatch) -> None:
    monkeypatch.setenv("PAYHUB_PORT", "9100")
    monkeypatch.setenv("PAYHUB_DEMO_DATA", "false")
    settings = Settings(_env_file=None)
    assert settings.port == 9100
    assert settings.demo_data is False
