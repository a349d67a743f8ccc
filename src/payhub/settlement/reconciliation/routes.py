"""`/v1/reconciliation`: runs, breaks, their resolution and the daily report. Platform
operator keys only; merchant keys get 403."""

from __future__ import annotations

from datetime import date

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.api.deps import OperatorWork
from payhub.api.schemas import Limit, cursor
from payhub.core.errors import PayHubError
from payhub.core.money import check_amount, check_currency
from payhub.settlement.reconciliation import camt053_source, service
from payhub.settlement.reconciliation.models import BREAK_STATUSES, BREAK_TYPES
from payhub.settlement.reconciliation.schemas import (
    BreakOut,
    BreaksOut,
    DailyReportOut,
    ResolveIn,
    RunIn,
    RunOut,
    RunsOut,
)

router = APIRouter(prefix="/v1/reconciliation", tags=["reconciliation"])


def _day(value: str | None, param: str = "date") -> date:
    try:
        return date.fromisoformat(value or "")
    except ValueError:
        raise PayHubError("validation_error", param=param, detail="a date, YYYY-MM-DD") from None


def _one_of(value: str | None, allowed: tuple[str, ...], param: str) -> str | None:
    if value is not None and value not in allowed:
        raise PayHubError("validation_error", param=param, detail=", ".join(allowed))
    return value


def _custody(values: dict[str, int] | None) -> dict[str, int] | None:
    if values is None:
        return None
    for currency, amount in values.items():
        check_currency(currency, param="custody")
        check_amount(abs(amount), param="custody", allow_zero=True)
    return dict(values)


async def _run_in(request: Request) -> RunIn:
    """The body as JSON, or a CSV statement with `channel` and `date` in the query."""
    raw = await request.body()
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if kind == "text/csv":
            try:
                text = raw.decode("utf-8-sig")
            except UnicodeDecodeError:
                raise PayHubError(
                    "statement_malformed", param="statement", line=1, detail="not UTF-8 text"
                ) from None
            return RunIn(
                channel=request.query_params.get("channel", ""),
                date=request.query_params.get("date", ""),
                statement_csv=text,
            )
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise PayHubError("malformed_json") from None
        return RunIn.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        param = ".".join(str(p) for p in first["loc"]) or None
        raise PayHubError("validation_error", param=param, detail=first["msg"]) from None


@router.post(
    "/runs",
    status_code=201,
    response_model=RunOut,
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {"schema": RunIn.model_json_schema()},
                "text/csv": {"schema": {"type": "string"}},
                "application/xml": {"schema": {"type": "string"}},
            }
        }
    },
)
async def create_run(request: Request, uow: OperatorWork) -> Response:
    """Reconcile one channel's statement for one day: uploaded (CSV, or an ISO 20022
    camt.053 statement as `application/xml` with `channel` and `date` in the query or taken
    from the statement's account and period) or fetched from the channel. The same
    statement again answers with the first run (200)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind in ("application/xml", "text/xml"):
        return await _run_camt053(request, uow)
    body = await _run_in(request)
    day = _day(body.date)
    custody = _custody(body.custody)
    service.check_channel(body.channel)

    async def work(session: AsyncSession) -> tuple[BaseModel, int]:
        if body.statement_csv is not None:
            view, ran = await service.run_csv(
                session,
                channel_id=body.channel,
                day=day,
                data=body.statement_csv.encode(),
                custody=custody,
            )
        else:
            view, ran = await service.run_fetched(
                session, channel_id=body.channel, day=day, custody=custody
            )
        return RunOut.of(view), 201 if ran else 200

    return await uow.write(work)


async def _run_camt053(request: Request, uow: OperatorWork) -> Response:
    data = await request.body()
    channel = request.query_params.get("channel") or None
    when = request.query_params.get("date")
    day = _day(when) if when else None
    if channel is not None:
        service.check_channel(channel)

    async def work(session: AsyncSession) -> tuple[BaseModel, int]:
        view, ran = await camt053_source.run_camt053(
            session, data=data, channel_id=channel, day=day
        )
        return RunOut.of(view), 201 if ran else 200

    return await uow.write(work)


@router.get("/runs", response_model=RunsOut)
async def list_runs(
    uow: OperatorWork,
    limit: Limit = 20,
    starting_after: str | None = None,
    channel: str | None = None,
) -> Response:
    """Newest first."""
    after = cursor(starting_after, "rcr")

    async def work(session: AsyncSession) -> BaseModel:
        views, more = await service.list_runs(
            session, channel_id=channel, limit=limit, starting_after=after
        )
        return RunsOut(data=[RunOut.of(v) for v in views], has_more=more)

    return await uow.read(work)


@router.get("/runs/{run_id}", response_model=RunOut)
async def get_run(run_id: str, uow: OperatorWork) -> Response:
    async def work(session: AsyncSession) -> BaseModel:
        return RunOut.of(await service.get_run(session, run_id))

    return await uow.read(work)


@router.get("/breaks", response_model=BreaksOut)
async def list_breaks(
    uow: OperatorWork,
    limit: Limit = 20,
    starting_after: str | None = None,
    status: str | None = None,
    type: str | None = None,
    channel: str | None = None,
    run: str | None = None,
) -> Response:
    """Newest first; filtered by status, type, channel or run."""
    after = cursor(starting_after, "rcb")
    filters = service.BreakFilter(
        status=_one_of(status, BREAK_STATUSES, "status"),
        type=_one_of(type, BREAK_TYPES, "type"),
        channel_id=channel,
        run_id=run,
    )

    async def work(session: AsyncSession) -> BaseModel:
        views, more = await service.list_breaks(session, filters, limit=limit, starting_after=after)
        today = service.utc_today()
        return BreaksOut(data=[BreakOut.of(v, today) for v in views], has_more=more)

    return await uow.read(work)


@router.get("/breaks/{break_id}", response_model=BreakOut)
async def get_break(break_id: str, uow: OperatorWork) -> Response:
    async def work(session: AsyncSession) -> BaseModel:
        return BreakOut.of(await service.get_break(session, break_id), service.utc_today())

    return await uow.read(work)


@router.post("/breaks/{break_id}/resolve", response_model=BreakOut)
async def resolve_break(break_id: str, body: ResolveIn, uow: OperatorWork) -> Response:
    """`post_proposed` posts the proposed correcting journal, `write_off` posts it against
    write-offs, `mark_explained` closes the break with its reason and posts nothing."""

    async def work(session: AsyncSession) -> tuple[BaseModel, int]:
        view = await service.resolve_break(
            session, break_id, action=body.action, reason=body.reason
        )
        return BreakOut.of(view, service.utc_today()), 200

    return await uow.write(work)


@router.get("/reports/daily", response_model=DailyReportOut)
async def daily_report(
    uow: OperatorWork, channel: str | None = None, date: str | None = None
) -> Response:
    """One channel's day: matched count and amount, breaks by type, open breaks by age."""
    if not channel:
        raise PayHubError("validation_error", param="channel", detail="required")
    day = _day(date)

    async def work(session: AsyncSession) -> BaseModel:
        return DailyReportOut.of(await service.daily_report(session, channel_id=channel, day=day))

    return await uow.read(work)
