"""Configuration from the environment (`PAYHUB_*`), with defaults that need no setup."""

from __future__ import annotations

import base64
import binascii
import re
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from payhub.core.cryptosuite import Suite

DEV_PEPPER = "payhub-dev-pepper"
# `package.module:factory` of a key-management integration that supplies the master key.
MASTER_KEY_FACTORY = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")
# Development-only vault secrets: anyone can read them here, so real card data must never be
# encrypted under them (`Settings.warnings()` says so on PostgreSQL).
# The master key is base64 of b"payhub-dev-vault-master-key-0001".
DEV_VAULT_MASTER_KEY = "cGF5aHViLWRldi12YXVsdC1tYXN0ZXIta2V5LTAwMDE="
DEV_VAULT_FINGERPRINT_KEY = "payhub-dev-vault-fingerprint-key"
# Development-only shared secret between PayHub and `payhub sim serve`.
DEV_CHANNELS_SECRET = "payhub-dev-channels-secret"  # noqa: S105 - documented as such


class Settings(BaseSettings):
    # Errors never repeat the value given: several settings are secrets.
    model_config = SettingsConfigDict(
        env_prefix="PAYHUB_", env_file=".env", extra="ignore", hide_input_in_errors=True
    )

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
    vault_master_key: SecretStr = Field(
        default=SecretStr(DEV_VAULT_MASTER_KEY),
        description="Base64 of 32 random bytes: the key that wraps the vault's data keys. "
        "Set it in production; losing it loses every stored card.",
    )
    vault_master_key_provider: str = Field(
        default="env",
        description="Where the vault's master key comes from: `env` (PAYHUB_VAULT_MASTER_KEY), "
        "`file` (PAYHUB_VAULT_MASTER_KEY_FILE) or `package.module:factory`, a key-management "
        "integration (see docs/vault.md).",
    )
    vault_master_key_file: Path | None = Field(
        default=None,
        description="With the `file` provider: a file holding base64 of 32 random bytes.",
    )
    vault_fingerprint_key: SecretStr = Field(
        default=SecretStr(DEV_VAULT_FINGERPRINT_KEY),
        description="HMAC key for card and bank-account fingerprints. Set it in production "
        "(changing it changes every new fingerprint, so duplicates are no longer recognised).",
    )
    crypto_suite: Suite = Field(
        default=Suite.INTERNATIONAL,
        description="`international` (AES-256-GCM, HMAC-SHA256) or `gm` (国密: SM4-GCM, "
        "HMAC-SM3) for new vault keys, fingerprints and signatures. What was made under the "
        "other suite stays readable.",
    )
    redis_url: str | None = Field(
        default=None,
        description="Redis URL (redis://host:6379/0) to hold request-signing nonces and "
        "rate-limit buckets; unset: the database holds them.",
    )
    rate_limit_read_per_s: int = Field(
        default=100, ge=0, description="GET requests a second per API key (0: no limit)."
    )
    rate_limit_write_per_s: int = Field(
        default=100, ge=0, description="Other requests a second per API key (0: no limit)."
    )
    rate_limit_burst_seconds: float = Field(
        default=2.0, gt=0, description="A bucket holds this many seconds of its rate."
    )
    risk_small_amount_cny: int = Field(
        default=10_000,
        ge=0,
        description="Risk features: a CNY payment of at most this many fen is a small amount.",
    )
    risk_reporting_thresholds_cny: list[int] = Field(
        default=[5_000_000, 50_000_000],
        description="Risk features: CNY reporting thresholds in fen (PBoC large-value lines: "
        "50,000 and 500,000 yuan); amounts just under them are watched for structuring.",
    )
    risk_near_threshold_share: float = Field(
        default=0.1,
        gt=0,
        lt=1,
        description="Risk features: within this share below a reporting threshold is just "
        "under it.",
    )
    aml_institution_code: str = Field(
        default="PAYHUB",
        max_length=40,
        description="Regulatory reports: the reporting institution's code at the PBoC.",
    )
    aml_institution_name: str = Field(
        default="PayHub",
        max_length=200,
        description="Regulatory reports: the reporting institution's name.",
    )
    host: str = Field(default="127.0.0.1", description="Address `payhub serve` listens on.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port `payhub serve` listens on.")
    log_level: str = Field(default="INFO", description="Python log level for the JSON logs.")
    demo_data: bool = Field(default=True, description="Seed demo data on the first start.")
    webhook_secret_overlap_hours: int = Field(
        default=24,
        ge=0,
        le=720,
        description="After a webhook endpoint's secret is rolled, how long deliveries are "
        "also signed with the old one, unless the roll says otherwise (0: not at all).",
    )
    idempotency_ttl_hours: int = Field(default=24, ge=24, description="How long keys are kept.")
    max_body_bytes: int = Field(default=1_000_000, ge=1024, description="Largest request body.")
    job_interval_seconds: float = Field(
        default=5.0, gt=0, description="How often the in-process job runner looks for work."
    )
    var_dir: Path = Field(default=Path("./var"), description="Where the embedded database lives.")
    sim_scenario: str = Field(
        default="default",
        description="The bank-network simulator's scenario: a shipped name or a file path.",
    )
    sim_latency: Literal["report", "sleep"] = Field(
        default="report",
        description="In-process simulator: answer at once and only report each call's latency "
        "(`report`), or really wait it (`sleep`).",
    )
    routing_strategy: Literal["payhub", "static"] = Field(
        default="payhub",
        description="`payhub`: the learning router; `static`: the shipped rule only, no "
        "learning, no cascade.",
    )
    routing_budget_ms: int = Field(
        default=1000,
        ge=0,
        description="Time budget of a payment's authorisation: another channel is tried after "
        "a soft decline only while its usual latency fits in what is left.",
    )
    sanctions_match_threshold: float = Field(
        default=88.0,
        ge=50,
        le=100,
        description="Sanctions screening: the score (0-100) from which a name is a potential "
        "match. Lower catches more spelling variants and raises more false positives.",
    )
    channels_url: str | None = Field(
        default=None,
        description="URL of a `payhub sim serve`; unset: the in-process simulator.",
    )
    channels_secret: SecretStr = Field(
        default=SecretStr(DEV_CHANNELS_SECRET),
        description="Shared secret that signs every request to `channels_url`. Set it when "
        "the simulator is reachable by anyone else.",
    )

    @field_validator("vault_master_key")
    @classmethod
    def _master_key_is_32_bytes(cls, value: SecretStr) -> SecretStr:
        # The message never repeats the value: it is a secret even when it is malformed.
        try:
            raw = base64.b64decode(value.get_secret_value(), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("must be base64 (e.g. `openssl rand -base64 32`)") from None
        if len(raw) != 32:
            raise ValueError("must be base64 of exactly 32 bytes (AES-256)")
        return value

    @field_validator("vault_master_key_provider")
    @classmethod
    def _provider_is_known(cls, value: str) -> str:
        if value in ("env", "file") or MASTER_KEY_FACTORY.fullmatch(value):
            return value
        raise ValueError("must be `env`, `file` or `package.module:factory`")

    @field_validator("vault_fingerprint_key")
    @classmethod
    def _fingerprint_key_is_long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters")
        return value

    def vault_master_key_bytes(self) -> bytes:
        return base64.b64decode(self.vault_master_key.get_secret_value(), validate=True)

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
        if (
            not self.is_sqlite
            and self.vault_master_key_provider == "env"
            and self.vault_master_key.get_secret_value() == DEV_VAULT_MASTER_KEY
        ):
            found.append(
                "PAYHUB_VAULT_MASTER_KEY is the development default: set base64 of 32 random "
                "bytes of your own before storing real cards (keep it: cards stored under a "
                "key cannot be read without it)."
            )
        key_file = self.vault_master_key_file
        readable_by_others = (
            key_file is not None and key_file.exists() and bool(key_file.stat().st_mode & 0o077)
        )
        if self.vault_master_key_provider == "file" and readable_by_others:
            found.append(
                "PAYHUB_VAULT_MASTER_KEY_FILE can be read by other users of this machine: "
                "make it readable by PayHub's user only (chmod 600)."
            )
        if (
            not self.is_sqlite
            and self.vault_fingerprint_key.get_secret_value() == DEV_VAULT_FINGERPRINT_KEY
        ):
            found.append(
                "PAYHUB_VAULT_FINGERPRINT_KEY is the development default: set a secret of your "
                "own before storing real cards (changing it later stops duplicates of cards "
                "already stored from being recognised)."
            )
        if self.channels_url and self.channels_secret.get_secret_value() == DEV_CHANNELS_SECRET:
            found.append(
                "PAYHUB_CHANNELS_SECRET is the development default: set a secret of your own "
                "(the same for PayHub and `payhub sim serve`) so nobody else can sign requests "
                "to the channel server."
            )
        return found


@cache
def get_settings() -> Settings:
    return Settings()


def reset_settings_cache() -> None:
    get_settings.cache_clear()
