"""HTTP routes of the ledger, operator scope. Thin: parse, call the service, shape the answer."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.api.deps import OperatorWork
from payhub.api.schemas import Limit, ListResponse, Timestamp
from payhub.core.errors import PayHubError, language_from_header
from payhub.core.ids import is_client_id, is_id
from payhub.core.money import check_currency
from payhub.ledger import service
from payhub.ledger.accounts import ACCOUNT_CODE
from payhub.ledger.domain import Side
from payhub.ledger.schemas import (
    AccountIn,
    AccountOut,
    AccountUpdateIn,
    BalanceOut,
    BatchIn,
    BatchItemOut,
    BatchOut,
    EntryOut,
    HoldIn,
    HoldOut,
    HoldPostIn,
    JournalIn,
    JournalOut,
    ReverseIn,
)

router = APIRouter(prefix="/v1/ledger", tags=["ledger"])


def _account_ref(value: str, param: str = "account") -> str:
    if value.startswith("acct_"):
        if not is_id(value, "acct"):
            raise PayHubError("invalid_id", param=param)
    elif len(value) > 160 or not ACCOUNT_CODE.fullmatch(value):
        raise PayHubError("invalid_id", param=param)
    return value


def _client_id(value: str, param: str) -> str:
    if not is_client_id(value):
        raise PayHubError("invalid_id", param=param)
    return value


async def _account_id(session: AsyncSession, ref: str, currency: str | None) -> str:
    return (await service.get_account(session, _account_ref(ref), currency)).id


@router.post("/accounts", status_code=201, response_model=AccountOut)
async def create_account(body: AccountIn, uow: OperatorWork) -> Response:
    async def work(session: AsyncSession) -> tuple[BaseModel, int]:
        view = await service.create_account(
            session,
            code=body.code,
            currency=body.currency,
            normal_side=Side(body.normal_side),
            name=body.name,
            owner=body.owner,
            debits_must_not_exceed_credits=body.flags.debits_must_not_exceed_credits,
            credits_must_not_exceed_debits=body.flags.credits_must_not_exceed_debits,
            shards=body.shards,
            metadata=body.metadata,
        )
        return AccountOut.of(view), 201

    return await uow.write(work)


@router.get("/accounts", response_model=ListResponse[AccountOut])
async def list_accounts(
    uow: OperatorWork,
    limit: Limit = 20,
    starting_after: str | None = None,
    owner: str | None = None,
    code_prefix: str | None = None,
    currency: str | None = None,
) -> Response:
    if starting_after is not None and not is_id(starting_after, "acct"):
        # The cursor is an account id: codes do not sort in creation order.
        raise PayHubError("invalid_id", param="starting_after")
    if currency is not None:
        check_currency(currency)

    async def work(session: AsyncSession) -> BaseModel:
        views, more = await service.list_accounts(
            session,
            limit=limit,
            starting_after=starting_after,
            owner=owner,
            code_prefix=code_prefix,
            currency=currency,
        )
        return ListResponse[AccountOut](data=[AccountOut.of(v) for v in views], has_more=more)

    return await uow.read(work)


@router.get("/accounts/{account}", response_model=AccountOut)
async def get_account(
    account: str,
    uow: OperatorWork,
    currency: Annotated[
        str | None, Query(description="Needed with a code in several currencies")
    ] = None,
) -> Response:
    async def work(session: AsyncSession) -> BaseModel:
        return AccountOut.of(await service.get_account(session, _account_ref(account), currency))

    return await uow.read(work)


@router.post("/accounts/{account}", response_model=AccountOut)
async def update_account(
    account: str, body: AccountUpdateIn, uow: OperatorWork, currency: str | None = None
) -> Response:
    async def work(session: AsyncSession) -> tuple[BaseModel, int]:
        account_id = await _account_id(session, account, currency)
        view = await service.update_account(
            session, account_id, name=body.name, metadata=body.metadata
        )
        return AccountOut.of(view), 200

    return await uow.write(work)


@router.get("/accounts/{account}/balance", response_model=BalanceOut)
async def get_balance(
    account: str,
    uow: OperatorWork,
    currency: str | None = None,
    as_of: Annotated[Timestamp | None, Query(description="Posted balance at this moment")] = None,
) -> Response:
    async def work(session: AsyncSession) -> BaseModel:
        account_id = await _account_id(session, account, currency)
        return BalanceOut.of(await service.get_balance(session, account_id, as_of=as_of))

    return await uow.read(work)


@router.get("/accounts/{account}/entries", response_model=ListResponse[EntryOut])
async def list_entries(
    account: str,
    uow: OperatorWork,
    currency: str | None = None,
    limit: Limit = 20,
    starting_after: str | None = None,
    include_pending: bool = False,
) -> Response:
    if starting_after is not None and not is_id(starting_after, "ent"):
        raise PayHubError("invalid_id", param="starting_after")

    async def work(session: AsyncSession) -> BaseModel:
        account_id = await _account_id(session, account, currency)
        views, more = await service.list_entries(
            session,
            account_id,
            limit=limit,
            starting_after=starting_after,
            include_pending=include_pending,
        )
        return ListResponse[EntryOut](data=[EntryOut.of(v) for v in views], has_more=more)

    return await uow.read(work)


@router.post(
    "/journals",
    status_code=201,
    response_model=JournalOut,
    responses={200: {"description": "The same journal was posted before; it is returned."}},
)
async def post_journal(body: JournalIn, uow: OperatorWork) -> Response:
    if body.linked:
        raise PayHubError("validation_error", param="linked", detail="only meaningful in a batch")

    async def work(session: AsyncSession) -> tuple[BaseModel, int]:
        view, created = await service.post_journal(session, body.to_spec())
        return JournalOut.of(view), 201 if created else 200

    return await uow.write(work)


@router.post("/journals/batch", response_model=BatchOut)
async def post_batch(body: BatchIn, uow: OperatorWork, request: Request) -> Response:
    language = language_from_header(request.headers.get("accept-language"))

    async def work(session: AsyncSession) -> tuple[BaseModel, int]:
        results = await service.post_journals(session, [j.to_spec() for j in body.journals])
        items = [BatchItemOut.of(r, language) for r in results]
        return (
            BatchOut(
                created=sum(r.status == "created" for r in results),
                duplicates=sum(r.status == "duplicate" for r in results),
                rejected=sum(r.status == "rejected" for r in results),
                results=items,
            ),
            200,
        )

    return await uow.write(work)


@router.get("/journals", response_model=ListResponse[JournalOut])
async def list_journals(
    uow: OperatorWork,
    account: str | None = None,
    currency: str | None = None,
    limit: Limit = 20,
    starting_after: str | None = None,
) -> Response:
    if starting_after is not None:
        _client_id(starting_after, "starting_after")

    async def work(session: AsyncSession) -> BaseModel:
        account_id = await _account_id(session, account, currency) if account else None
        views, more = await service.list_journals(
            session, limit=limit, starting_after=starting_after, account_id=account_id
        )
        return ListResponse[JournalOut](data=[JournalOut.of(v) for v in views], has_more=more)

    return await uow.read(work)


@router.get("/journals/{journal_id}", response_model=JournalOut)
async def get_journal(journal_id: str, uow: OperatorWork) -> Response:
    _client_id(journal_id, "journal_id")

    async def work(session: AsyncSession) -> BaseModel:
        return JournalOut.of(await service.get_journal(session, journal_id))

    return await uow.read(work)


@router.post("/journals/{journal_id}/reverse", status_code=201, response_model=JournalOut)
async def reverse_journal(
    journal_id: str, uow: OperatorWork, body: ReverseIn | None = None
) -> Response:
    _client_id(journal_id, "journal_id")
    body = body or ReverseIn()
    if body.id is not None:
        _client_id(body.id, "id")

    async def work(session: AsyncSession) -> tuple[BaseModel, int]:
        view, created = await service.reverse_journal(
            session, journal_id, reversal_id=body.id, description=body.description
        )
        return JournalOut.of(view), 201 if created else 200

    return await uow.write(work)


@router.post("/holds", status_code=201, response_model=HoldOut)
async def create_hold(body: HoldIn, uow: OperatorWork) -> Response:
    async def work(session: AsyncSession) -> tuple[BaseModel, int]:
        view, created = await service.create_hold(
            session, body.to_spec(), expires_at=body.expires_at
        )
        return HoldOut.of(view), 201 if created else 200

    return await uow.write(work)


@router.get("/holds", response_model=ListResponse[HoldOut])
async def list_holds(
    uow: OperatorWork,
    status: Literal["pending", "posted", "voided", "expired"] | None = None,
    limit: Limit = 20,
    starting_after: str | None = None,
) -> Response:
    if starting_after is not None:
        _client_id(starting_after, "starting_after")

    async def work(session: AsyncSession) -> BaseModel:
        views, more = await service.list_holds(
            session, limit=limit, starting_after=starting_after, status=status
        )
        return ListResponse[HoldOut](data=[HoldOut.of(v) for v in views], has_more=more)

    return await uow.read(work)


@router.get("/holds/{hold_id}", response_model=HoldOut)
async def get_hold(hold_id: str, uow: OperatorWork) -> Response:
    _client_id(hold_id, "hold_id")

    async def work(session: AsyncSession) -> BaseModel:
        return HoldOut.of(await service.get_hold(session, hold_id))

    return await uow.read(work)


@router.post("/holds/{hold_id}/post", response_model=HoldOut)
async def post_hold(hold_id: str, uow: OperatorWork, body: HoldPostIn | None = None) -> Response:
    _client_id(hold_id, "hold_id")
    body = body or HoldPostIn()
    if body.journal_id is not None:
        _client_id(body.journal_id, "journal_id")

    async def work(session: AsyncSession) -> tuple[BaseModel, int]:
        postings = tuple(p.to_spec() for p in body.postings) if body.postings else None
        view = await service.post_hold(
            session,
            hold_id,
            journal_id=body.journal_id,
            postings=postings,
            description=body.description,
        )
        return HoldOut.of(view), 200

    return await uow.write(work)


@router.post("/holds/{hold_id}/void", response_model=HoldOut)
async def void_hold(hold_id: str, uow: OperatorWork) -> Response:
    _client_id(hold_id, "hold_id")

    async def work(session: AsyncSession) -> tuple[BaseModel, int]:
        return HoldOut.of(await service.void_hold(session, hold_id)), 200

    return await uow.write(work)
