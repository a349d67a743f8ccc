"""`/v1/split_batches/{id}/pain001` and `/pain002`: a batch's bank file out, the bank's
status report back. Platform keys holding `bank_files` only: the file carries receivers'
account numbers in clear, and a status report settles payouts. A platform key without the
scope is refused and the attempt audited (as `detokenize` is)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.api.deps import UnitOfWork, get_db, get_principal, get_settings_dep
from payhub.audit import service as audit
from payhub.auth.service import BANK_FILES, OPERATOR, Principal
from payhub.core.config import Settings
from payhub.core.errors import PayHubError
from payhub.core.ids import is_id
from payhub.db.session import Database
from payhub.settlement.payouts.schemas import ObjectOut
from payhub.splits import bankfiles, service

router = APIRouter(prefix="/v1", tags=["split payouts"])
XML = "application/xml"


async def _bank_desk(
    request: Request,
    db: Database = Depends(get_db),
    principal: Principal = Depends(get_principal),
    settings: Settings = Depends(get_settings_dep),
) -> UnitOfWork:
    if principal.role == OPERATOR and principal.has(BANK_FILES):
        return UnitOfWork(request, db, principal, settings)
    if principal.role == OPERATOR:
        batch = str(request.path_params.get("batch_id", ""))
        action = bankfiles.EXPORTED if request.method == "GET" else bankfiles.IMPORTED
        await db.transact(
            lambda sql: audit.record(
                sql,
                f"{action} refused",
                target_type="split_batch",
                target_id=batch if is_id(batch, "spb") else None,
                details={"code": "permission_denied"},
            )
        )
    raise PayHubError("permission_denied", scope=BANK_FILES)


BankDesk = Annotated[UnitOfWork, Depends(_bank_desk)]


@router.get(
    "/split_batches/{batch_id}/pain001",
    response_class=Response,
    responses={200: {"content": {XML: {}}, "description": "a pain.001.001.09 file"}},
)
async def export_pain001(batch_id: str, uow: BankDesk) -> Response:
    """The batch's payouts awaiting the bank as one pain.001.001.09 credit transfer file,
    receivers' account numbers revealed from the vault; each export is audited."""
    made = await uow.db.run_in_transaction(lambda s: bankfiles.export_pain001(s, batch_id))
    return Response(
        made.file,
        media_type=XML,
        headers={
            # No cache on the way may keep the account numbers.
            "Cache-Control": "no-store",
            "Content-Disposition": f'attachment; filename="{made.message_id}.xml"',
        },
    )


@router.post(
    "/split_batches/{batch_id}/pain002",
    response_model=ObjectOut,
    openapi_extra={"requestBody": {"content": {XML: {"schema": {"type": "string"}}}}},
)
async def import_pain002(batch_id: str, request: Request, uow: BankDesk) -> Response:
    """Apply the bank's pain.002 status report (the body, `application/xml`) to the batch's
    payouts; the batch with every line, and what the report changed."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in (XML, "text/xml"):
        raise PayHubError(
            "validation_error", param="body", detail="send the report as application/xml"
        )
    data = await request.body()

    async def work(session: AsyncSession) -> tuple[BaseModel, int]:
        done = await bankfiles.import_pain002(session, batch_id, data)
        batch = await service.get_batch(session, batch_id, merchant_id=None)
        lines = await service.get_lines(session, batch.id)
        body = service.batch_object(batch, service.summarize(lines))
        body["lines"] = [service.line_object(line) for line in lines]
        body["status_report"] = done.summary()
        return ObjectOut.model_validate(body), 200

    return await uow.write(work)
