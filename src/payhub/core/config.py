"""Configuration from the environment (`PAYHUB_*`), with defaults that need no setup."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_PEPPER = "payhub-dev-pepper"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAYHUB_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite+aiosqlite:///./var/payhub.db",
        description="SQLAlchemy URL. sqlite+aiosqlite:///path or postgresql+asyncpg://user@host/db.",
    )
    database_pool_size: int = Field(default=10, ge=1, description="Connections per process.")
    operator_key: SecretStr | None = Field(
        default=None,
        description="Operator API key to install on start (else one is generated).",
    )
    key_pepper: SecretStr = Field(
        default=SecretStr(DEV_PEPPER),
        description="Server-side secret mixed into API-key hashes. Set it in production.",
    )
    host: str = Field(default="127.0.0.1", description="Address `payhub serve` listens on.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port `payhub serve` listens on.")
    log_level: str = Field(default="INFO", description="Python log level for the JSON logs.")
    demo_data: bool = Field(default=True, description="Seed demo data on the first start.")
    idempotency_ttl_hours: int = Field(default=24, ge=24, description="How long keys are kept.")
    max_body_bytes: int = Field(default=1_000_000, ge=1024, description="Largest request body.")
    job_interval_seconds: float = Field(
        default=5.0, gt=0, description="How often the in-process job runner looks for work."
    )
    var_dir: Path = Field(default=Path("./var"), description="Where the embedded database lives.")

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def warnings(self) -> list[str]:
        """Settings that are fine for trying PayHub out but not for real money."""
        found = []
        if not self.is_sqlite and self.key_pepper.get_secret_value() == DEV_PEPPER:
            found.append(
                "PAYHUB_KEY_PEPPER is the development default: set a secret of your own "
                "before issuing real keys (changing it later invalidates existing keys)."
            )
        return found


@cache
def get_settings() -> Settings:
    return Settings()


def reset_settings_cache() -> None:
    get_settings.cache_clear()
