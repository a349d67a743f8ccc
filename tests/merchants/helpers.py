"""Builders shared by tests that need merchants and their keys."""

from __future__ import annotations

from typing import Any

import httpx


async def create_merchant(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    response = await client.post("/v1/merchants", json={"name": "Noodle Shop", **fields})
    assert response.status_code == 201, response.text
    merchant: dict[str, Any] = response.json()
    return merchant


async def merchant_key(client: httpx.AsyncClient, merchant_id: str, **fields: Any) -> str:
    response = await client.post(
        f"/v1/merchants/{merchant_id}/api_keys", json={"name": "checkout", **fields}
    )
    assert response.status_code == 201, response.text
    secret: str = response.json()["secret"]
    assert secret.startswith("sk_mer_")
    return secret
