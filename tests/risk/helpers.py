"""Builders shared by the sanctions tests."""

from __future__ import annotations

from importlib import resources
from typing import Any

import httpx

SAMPLE_CSV = resources.files("payhub.data").joinpath("sanctions_sample.csv").read_text("utf-8")
SAMPLE_FTM = resources.files("payhub.data").joinpath("sanctions_sample.ftm.json").read_text("utf-8")
HEADER = "list,id,name,aliases,type,country,birth_date,program\n"


def csv_list(*rows: str, name: str = "test_list") -> str:
    return HEADER + "".join(f"{name},{row}\n" for row in rows)


async def load(
    client: httpx.AsyncClient, content: str, *, name: str = "payhub_sample", fmt: str = "csv"
) -> httpx.Response:
    return await client.post(
        "/v1/sanctions/lists", json={"list": name, "format": fmt, "content": content}
    )


async def loaded(client: httpx.AsyncClient, content: str, **kwargs: Any) -> dict[str, Any]:
    response = await load(client, content, **kwargs)
    assert response.status_code in (200, 201), response.text
    body: dict[str, Any] = response.json()
    return body
