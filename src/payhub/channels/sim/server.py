"""The bank-network simulator over HTTP (`payhub sim serve`).

One `SimulatedNetwork` behind a small JSON API that `payhub.channels.http.HttpChannel` talks
to. Every endpoint but `/health` needs a valid `PayHub-Sim-Signature` (see
`payhub.channels.http`); a missing or bad one is answered 401 before anything is read.

Latency is real here: a delivered answer waits its drawn latency × `time_scale`. An answer
the network did not deliver (`timeout`, `lost`) is never sent in-band: the server holds the
request until the client has surely given up (twice the channel's timeout plus a second, or
until the client hangs up), then answers 504 without the decision. The truth is only ever
told by `query`.

Request bodies carry card and account numbers: they are never logged, and no answer or
error repeats any part of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from payhub.channels.base import (
    AuthorizeRequest,
    BankAccount,
    CardData,
    CardType,
    ChannelResult,
    ChannelStatus,
    PayoutRequest,
)
from payhub.channels.http import (
    SIGNATURE_HEADER,
    check_signature,
    info_to_json,
    line_to_json,
    result_to_json,
)
from payhub.channels.sim.network import SimulatedNetwork, Totals
from payhub.channels.sim.scenario import (
    Scenario,
    builtin_scenario,
    builtin_scenarios,
    load_scenario,
)
from payhub.core.clock import parse_rfc3339, to_rfc3339

log = logging.getLogger("payhub.sim.server")

MAX_BODY_BYTES = 64 * 1024
# An undelivered answer is held this long past the channel's timeout: the client has given
# up by then (its per-call timeout is the channel's timeout).
GIVE_UP_FACTOR = 2.0
GIVE_UP_EXTRA_S = 1.0

M = TypeVar("M", bound=BaseModel)


def scenario_named(name_or_path: str) -> Scenario:
    """A shipped scenario by name, else a scenario file (ScenarioError when unreadable)."""
    if name_or_path in builtin_scenarios():
        return builtin_scenario(name_or_path)
    return load_scenario(name_or_path)


# ---------------------------------------------------------------------------------------
# Request bodies
# ---------------------------------------------------------------------------------------

Id = Annotated[str, Field(min_length=1, max_length=200)]
Short = Annotated[str, Field(max_length=200)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class CardIn(_Body):
    pan: Annotated[str, Field(max_length=32)]
    exp_month: int
    exp_year: int
    cvv: Annotated[str, Field(max_length=8)] | None = None
    issuer_code: Id
    card_type: CardType
    brand: Short


class AuthorizeIn(_Body):
    request_id: Id
    payment_id: Id
    merchant_id: Id
    amount: int
    currency: Short
    card: CardIn
    scene: Short = "ecommerce"
    reference: Short | None = None
    capture: bool = False


class FollowUpIn(_Body):
    request_id: Id
    authorization_ref: Id
    amount: int


class VoidIn(_Body):
    request_id: Id
    authorization_ref: Id


class QueryIn(_Body):
    request_id: Id


class AccountIn(_Body):
    bank_code: Id
    account_number: Annotated[str, Field(max_length=64)]
    account_name: Short


class PayoutIn(_Body):
    request_id: Id
    payout_id: Id
    merchant_id: Id
    amount: int
    currency: Short
    account: AccountIn
    reference: Short | None = None


class MalformedRequestError(Exception):
    """A request body that cannot be acted on; the message never carries its values."""


# Field names and list positions only: a key the client made up is not repeated.
_SAFE_LOC = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,40}|\d{1,6}")


def _explain(error: ValidationError) -> str:
    problems = []
    for item in error.errors(include_input=False, include_url=False, include_context=False):
        where = ".".join(
            str(part) if _SAFE_LOC.fullmatch(str(part)) else "…" for part in item["loc"]
        )
        problems.append(f"{where}: {item['msg']}" if where else item["msg"])
    return "; ".join(problems[:10])


def _parse(model: type[M], body: bytes) -> M:
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise MalformedRequestError(_explain(exc)) from None


def _authorize(network: SimulatedNetwork, channel_id: str, body: bytes) -> ChannelResult:
    parsed = _parse(AuthorizeIn, body)
    c = parsed.card
    try:
        # CardData's own messages never carry any part of the number.
        card = CardData(
            pan=c.pan,
            exp_month=c.exp_month,
            exp_year=c.exp_year,
            cvv=c.cvv,
            issuer_code=c.issuer_code,
            card_type=c.card_type,
            brand=c.brand,
        )
    except ValueError as exc:
        raise MalformedRequestError(f"card: {exc}") from None
    request = AuthorizeRequest(
        request_id=parsed.request_id,
        payment_id=parsed.payment_id,
        merchant_id=parsed.merchant_id,
        amount=parsed.amount,
        currency=parsed.currency,
        card=card,
        scene=parsed.scene,
        reference=parsed.reference,
        capture=parsed.capture,
    )
    return network.authorize(channel_id, request)


def _capture(network: SimulatedNetwork, channel_id: str, body: bytes) -> ChannelResult:
    p = _parse(FollowUpIn, body)
    return network.capture(channel_id, p.request_id, p.authorization_ref, p.amount)


def _refund(network: SimulatedNetwork, channel_id: str, body: bytes) -> ChannelResult:
    p = _parse(FollowUpIn, body)
    return network.refund(channel_id, p.request_id, p.authorization_ref, p.amount)


def _void(network: SimulatedNetwork, channel_id: str, body: bytes) -> ChannelResult:
    p = _parse(VoidIn, body)
    return network.void(channel_id, p.request_id, p.authorization_ref)


def _query(network: SimulatedNetwork, channel_id: str, body: bytes) -> ChannelResult:
    return network.query(channel_id, _parse(QueryIn, body).request_id)


def _query_payout(network: SimulatedNetwork, channel_id: str, body: bytes) -> ChannelResult:
    return network.query_payout(channel_id, _parse(QueryIn, body).request_id)


def _payout(network: SimulatedNetwork, channel_id: str, body: bytes) -> ChannelResult:
    p = _parse(PayoutIn, body)
    account = BankAccount(
        bank_code=p.account.bank_code,
        account_number=p.account.account_number,
        account_name=p.account.account_name,
    )
    request = PayoutRequest(
        request_id=p.request_id,
        payout_id=p.payout_id,
        merchant_id=p.merchant_id,
        amount=p.amount,
        currency=p.currency,
        account=account,
        reference=p.reference,
    )
    return network.payout(channel_id, request)


_OPERATIONS: dict[str, Callable[[SimulatedNetwork, str, bytes], ChannelResult]] = {
    "authorize": _authorize,
    "capture": _capture,
    "refund": _refund,
    "void": _void,
    "query": _query,
    "payout": _payout,
    "query_payout": _query_payout,
}


# ---------------------------------------------------------------------------------------
# The app
# ---------------------------------------------------------------------------------------


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def _totals_json(totals: Totals) -> dict[str, int]:
    return {
        "authorizations": totals.authorizations,
        "authorized": totals.authorized,
        "captured": totals.captured,
        "refunded": totals.refunded,
        "voided": totals.voided,
        "charged": totals.charged,
    }


def _target(request: Request) -> str:
    """The path and query string as the client sent (and signed) them."""
    raw = request.scope.get("raw_path") or request.url.path.encode()
    path = bytes(raw).decode("latin-1")
    query = bytes(request.scope.get("query_string", b"")).decode("latin-1")
    return f"{path}?{query}" if query else path


class _Simulator:
    def __init__(self, network: SimulatedNetwork, secret: str, time_scale: float) -> None:
        self.network = network
        self.secret = secret
        self.time_scale = time_scale

    async def _body(self, request: Request) -> bytes:
        """The body of a correctly signed request; HTTPException otherwise."""
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            raise HTTPException(413, "the request body is too large")
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():  # stop reading as soon as it is too large
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise HTTPException(413, "the request body is too large")
            chunks.append(chunk)
        body = b"".join(chunks)
        problem = check_signature(
            self.secret,
            request.headers.get(SIGNATURE_HEADER),
            request.method,
            _target(request),
            body,
        )
        if problem is not None:
            client = request.client.host if request.client else "?"
            log.warning(
                "sim request refused: %s",
                problem,
                extra={"method": request.method, "path": request.url.path, "client": client},
            )
            raise HTTPException(401, problem)
        return body

    def _channel(self, request: Request) -> str:
        channel_id = str(request.path_params["channel_id"])
        if channel_id not in self.network.channel_ids:
            raise HTTPException(404, "no such channel or payout rail")
        return channel_id

    async def _hold(self, request: Request, seconds: float) -> None:
        """Wait `seconds`, or less if the client hangs up (nobody is left to answer)."""
        if seconds <= 0:
            return

        async def hung_up() -> None:
            while (await request.receive())["type"] != "http.disconnect":
                pass

        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(hung_up(), seconds)

    # -- endpoints -------------------------------------------------------------------------

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def channels(self, request: Request) -> Response:
        await self._body(request)
        scenario = self.network.scenario
        return JSONResponse(
            {
                "scenario": {"name": scenario.name, "seed": scenario.seed},
                "time_scale": self.time_scale,
                "channels": [info_to_json(self.network.info(c)) for c in self.network.channel_ids],
            }
        )

    async def operation(self, request: Request) -> Response:
        body = await self._body(request)
        channel_id = self._channel(request)
        name = str(request.path_params["operation"])
        act = _OPERATIONS.get(name)
        if act is None:
            raise HTTPException(404, "no such operation")
        try:
            result = act(self.network, channel_id, body)
        except MalformedRequestError as exc:
            return _error(400, "malformed_request", str(exc))
        log.debug(
            "sim call",
            extra={
                "channel": channel_id,
                "operation": name,
                "status": result.status.value,
                "raw_code": result.raw_code,
                "latency_ms": result.latency_ms,
            },
        )
        if result.status in (ChannelStatus.TIMEOUT, ChannelStatus.LOST):
            # Never in-band: hold until the client has given up, then answer nothing of it.
            timeout_s = self.network.info(channel_id).timeout_ms / 1000
            await self._hold(request, timeout_s * GIVE_UP_FACTOR + GIVE_UP_EXTRA_S)
            return _error(504, "no_response", "the channel's answer was not delivered")
        await self._hold(request, result.latency_ms / 1000 * self.time_scale)
        return JSONResponse(result_to_json(result))

    async def statement(self, request: Request) -> Response:
        await self._body(request)
        channel_id = self._channel(request)
        try:
            start = parse_rfc3339(request.query_params.get("start", ""))
            end = parse_rfc3339(request.query_params.get("end", ""))
        except ValueError as exc:
            return _error(400, "malformed_request", f"start and end: {exc}")
        lines = self.network.statement(channel_id, start, end)
        return JSONResponse(
            {
                "channel_id": channel_id,
                "start": to_rfc3339(start),
                "end": to_rfc3339(end),
                "lines": [line_to_json(line) for line in lines],
            }
        )

    async def decision(self, request: Request) -> Response:
        """What the channel decided for a request id, without a call (None: never acted)."""
        await self._body(request)
        channel_id = self._channel(request)
        found = self.network.lookup(channel_id, str(request.path_params["request_id"]))
        return JSONResponse({"decision": None if found is None else result_to_json(found)})

    async def totals(self, request: Request) -> Response:
        await self._body(request)
        q = request.query_params
        totals = self.network.totals(
            channel_id=q.get("channel_id"),
            payment_id=q.get("payment_id"),
            currency=q.get("currency"),
        )
        return JSONResponse(_totals_json(totals))

    async def charges(self, request: Request) -> Response:
        await self._body(request)
        currency = request.query_params.get("currency") or self.network.scenario.currency
        return JSONResponse(
            {"currency": currency, "by_channel": self.network.charged_by_channel(currency)}
        )

    async def charged_for_payment(self, request: Request) -> Response:
        await self._body(request)
        payment_id = str(request.path_params["payment_id"])
        return JSONResponse(
            {"payment_id": payment_id, "charged": self.network.charged_for_payment(payment_id)}
        )

    async def paid_out(self, request: Request) -> Response:
        await self._body(request)
        currency = request.query_params.get("currency") or self.network.scenario.currency
        return JSONResponse(
            {"currency": currency, "by_rail": self.network.paid_out_by_rail(currency)}
        )

    async def authorizations(self, request: Request) -> Response:
        await self._body(request)
        q = request.query_params
        views = self.network.authorizations(
            payment_id=q.get("payment_id"), channel_id=q.get("channel_id")
        )
        return JSONResponse(
            {
                "data": [
                    {
                        "ref": a.ref,
                        "request_id": a.request_id,
                        "channel_id": a.channel_id,
                        "payment_id": a.payment_id,
                        "merchant_id": a.merchant_id,
                        "issuer": a.issuer,
                        "card_type": a.card_type.value,
                        "amount": a.amount,
                        "currency": a.currency,
                        "captured": a.captured,
                        "refunded": a.refunded,
                        "voided": a.voided,
                        "charged": a.charged,
                        "authorized_at": to_rfc3339(a.authorized_at),
                    }
                    for a in views
                ]
            }
        )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    codes = {401: "bad_signature", 404: "not_found", 405: "method_not_allowed", 413: "too_large"}
    return _error(exc.status_code, codes.get(exc.status_code, "refused"), exc.detail)


async def _crash(request: Request, exc: Exception) -> Response:
    # The exception's text is not shown: it could come from anywhere.
    return _error(500, "internal_error", "the simulator failed on this request")


def create_app(
    world: Scenario | SimulatedNetwork, *, secret: str, time_scale: float = 1.0
) -> Starlette:
    """The simulator's HTTP app for one network (made from the scenario, or the one given).
    `app.state.network` is the network, for tests in the same process."""
    if not secret:
        raise ValueError("a shared secret is required")
    if not (math.isfinite(time_scale) and time_scale >= 0):
        raise ValueError("time_scale must be a finite number ≥ 0")
    network = world if isinstance(world, SimulatedNetwork) else SimulatedNetwork(world)
    sim = _Simulator(network, secret, time_scale)
    routes = [
        Route("/health", sim.health, methods=["GET"]),
        Route("/channels", sim.channels, methods=["GET"]),
        Route("/channels/{channel_id}/statement", sim.statement, methods=["GET"]),
        Route("/channels/{channel_id}/requests/{request_id}", sim.decision, methods=["GET"]),
        Route("/channels/{channel_id}/{operation}", sim.operation, methods=["POST"]),
        Route("/totals", sim.totals, methods=["GET"]),
        Route("/charges", sim.charges, methods=["GET"]),
        Route("/charges/{payment_id}", sim.charged_for_payment, methods=["GET"]),
        Route("/paid_out", sim.paid_out, methods=["GET"]),
        Route("/authorizations", sim.authorizations, methods=["GET"]),
    ]
    handlers: dict[Any, Callable[[Request, Exception], Any]] = {
        HTTPException: _http_error,
        Exception: _crash,
    }
    app = Starlette(routes=routes, exception_handlers=handlers)
    app.state.network = network
    return app
