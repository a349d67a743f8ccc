"""Where the master key comes from: the environment, a file, or a key-management integration.

`PAYHUB_VAULT_MASTER_KEY_PROVIDER` chooses:

- `env` (the default): `PAYHUB_VAULT_MASTER_KEY`, base64 of 32 bytes;
- `file`: `PAYHUB_VAULT_MASTER_KEY_FILE`, a file holding base64 of 32 bytes (a mounted
  secret, readable by PayHub's user only);
- `package.module:factory`: a callable taking no arguments that returns a
  `MasterKeyProvider` — the seam for a KMS, an HSM or a secrets manager.

The key is read once per process (per configuration) and kept in memory. A provider that
cannot give a 32-byte key ends whatever needed it with `vault_master_key_unavailable`,
whose reason names the setting at fault and never holds key material or a file's content.
"""

from __future__ import annotations

import base64
import binascii
import importlib
import logging
from typing import Protocol, runtime_checkable

from payhub.core.config import Settings, get_settings
from payhub.core.errors import PayHubError

MASTER_KEY_BYTES = 32

log = logging.getLogger("payhub.vault")


@runtime_checkable
class MasterKeyProvider(Protocol):
    """Gives the 32-byte master key. Called once per process; may block (a network call)."""

    def master_key(self) -> bytes: ...


def _unavailable(reason: str) -> PayHubError:
    return PayHubError("vault_master_key_unavailable", reason=reason)


def _decode(text: str, source: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise _unavailable(f"{source} does not hold base64") from None
    if len(raw) != MASTER_KEY_BYTES:
        raise _unavailable(f"{source} does not hold base64 of exactly 32 bytes")
    return raw


class EnvProvider:
    """`PAYHUB_VAULT_MASTER_KEY` (checked by the settings when they are read)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def master_key(self) -> bytes:
        return self._settings.vault_master_key_bytes()


class FileProvider:
    """The key in a file: base64 of 32 bytes, surrounding whitespace allowed."""

    def __init__(self, settings: Settings) -> None:
        self._path = settings.vault_master_key_file

    def master_key(self) -> bytes:
        if self._path is None:
            raise _unavailable("the file provider needs PAYHUB_VAULT_MASTER_KEY_FILE")
        try:
            text = self._path.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError):
            # Neither the path nor the content is repeated: the reason reaches API callers.
            raise _unavailable("PAYHUB_VAULT_MASTER_KEY_FILE cannot be read") from None
        return _decode(text, "PAYHUB_VAULT_MASTER_KEY_FILE")


def _from_factory(spec: str) -> MasterKeyProvider:
    module_name, _, attribute = spec.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError):
        raise _unavailable(f"the provider {spec} cannot be imported") from None
    try:
        provider = factory()
    except Exception as exc:
        raise _unavailable(f"the provider {spec} failed ({type(exc).__name__})") from None
    if not isinstance(provider, MasterKeyProvider):
        raise _unavailable(f"the provider {spec} did not return a MasterKeyProvider")
    return provider


def provider_for(settings: Settings) -> MasterKeyProvider:
    choice = settings.vault_master_key_provider
    if choice == "env":
        return EnvProvider(settings)
    if choice == "file":
        return FileProvider(settings)
    return _from_factory(choice)


_cached: tuple[Settings, bytes] | None = None


def master_key() -> bytes:
    """The master key of the current configuration, fetched once."""
    global _cached
    settings = get_settings()
    if _cached is not None and _cached[0] is settings:
        return _cached[1]
    provider = provider_for(settings)
    try:
        key = provider.master_key()
    except PayHubError:
        raise
    except Exception as exc:
        # Only the exception's type: a third party's message might quote what it read.
        raise _unavailable(
            f"{settings.vault_master_key_provider} failed ({type(exc).__name__})"
        ) from None
    if not isinstance(key, bytes) or len(key) != MASTER_KEY_BYTES:
        raise _unavailable(f"{settings.vault_master_key_provider} did not give 32 bytes")
    _cached = (settings, key)
    log.info("vault master key loaded", extra={"provider": settings.vault_master_key_provider})
    return key
