"""`/v1/vault/data_keys`: the operator lists the vault's data keys and rotates them.

Retiring and destroying stay on the command line (`payhub keys retire | destroy`): they are
rare, deliberate steps of the rotation runbook, not something to automate over HTTP.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.api.deps import OperatorWork
from payhub.api.schemas import ListResponse, StrictModel, Timestamp
from payhub.core.cryptosuite import Aead
from payhub.vault import keys
from payhub.vault.keys import DataKeyInfo

router = APIRouter(prefix="/v1/vault", tags=["vault keys"])


class DataKeyOut(BaseModel):
    object: Literal["data_key"] = "data_key"
    version: int
    algorithm: str
    state: str = Field(description="active, retiring, retired or destroyed.")
    rows: int = Field(description="Cards and bank accounts encrypted under this key.")
    created_at: Timestamp
    deactivated_at: Timestamp | None
    destroyed_at: Timestamp | None

    @classmethod
    def of(cls, info: DataKeyInfo) -> DataKeyOut:
        return cls(
            version=info.version,
            algorithm=info.algorithm,
            state=info.state,
            rows=info.rows,
            created_at=info.created_at,
            deactivated_at=info.deactivated_at,
            destroyed_at=info.destroyed_at,
        )


class RotateIn(StrictModel):
    # Not strict: the model is, and a strict enum takes only an `Aead` instance, never the
    # JSON string naming one (every algorithm was refused).
    algorithm: Aead | None = Field(
        default=None,
        strict=False,
        description="The new key's algorithm; default: the configured suite's.",
    )


@router.get("/data_keys", response_model=ListResponse[DataKeyOut])
async def list_data_keys(uow: OperatorWork) -> Response:
    async def work(session: AsyncSession) -> BaseModel:
        infos = await keys.list_data_keys(session)
        return ListResponse[DataKeyOut](data=[DataKeyOut.of(i) for i in infos], has_more=False)

    return await uow.read(work)


@router.post("/data_keys/rotate", status_code=201, response_model=DataKeyOut)
async def rotate_data_key(uow: OperatorWork, body: RotateIn | None = None) -> Response:
    """A new active data key; the previous one turns retiring, and the re-encryption job
    moves its rows to the new key in the background. Recorded in the audit log."""
    algorithm = body.algorithm if body is not None else None

    async def work(session: AsyncSession) -> tuple[BaseModel, int]:
        return DataKeyOut.of(await keys.rotate(session, algorithm)), 201

    return await uow.write(work)
