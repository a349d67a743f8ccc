"""Stand-ins for a key-management integration (`PAYHUB_VAULT_MASTER_KEY_PROVIDER`)."""

from __future__ import annotations

KEY = bytes(range(32))
calls: list[str] = []


class _Provider:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def master_key(self) -> bytes:
        calls.append("master_key")
        return self._key


class _Failing:
    def master_key(self) -> bytes:
        raise ConnectionError(f"the KMS said no (and leaked {KEY.hex()})")


def provider() -> _Provider:
    return _Provider(KEY)


def short_key() -> _Provider:
    return _Provider(b"sixteen byte key")


def failing() -> _Failing:
    return _Failing()


def not_a_provider() -> object:
    return object()
