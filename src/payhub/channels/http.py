"""The HTTP channel adapter, and the wire format it shares with `payhub sim serve`.

`HttpChannel` reaches a bank channel over HTTP (today the bank-network simulator's server)
behind the same `ChannelAdapter` interface as the in-process `SimulatedChannel`.

Every request is signed with a shared secret: the header
`PayHub-Sim-Signature: t=<unix seconds>,v1=<hex>` carries HMAC-SHA256 over

    <t> "\\n" <METHOD> "\\n" <path and query, as sent> "\\n" <hex SHA-256 of the body>

and the server refuses a missing or wrong signature, or a `t` more than five minutes away
from its own clock.

Transport trouble never raises, it becomes a `ChannelResult`:

- nothing was sent (connection refused, DNS, no free connection) → `error`: nothing happened;
- a money-moving call timed out or its connection dropped after sending → ask `query` (or
  `query_payout`) for the same request id a few times with a short backoff. A known answer
  is the result (`latency_ms` = the whole time spent); `not_found` means the channel never
  received the request → `error`; still unknown → `timeout`, or `lost` when the connection
  died after the request went out.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from datetime import time as clock_time
from typing import TYPE_CHECKING, Any

import httpx

from payhub.channels.base import (
    AuthorizeRequest,
    BusinessHours,
    CardType,
    ChannelAdapter,
    ChannelInfo,
    ChannelKind,
    ChannelResult,
    ChannelStatus,
    PayoutRequest,
    SettlementSchedule,
    StatementKind,
    StatementLine,
)
from payhub.core.clock import parse_rfc3339, to_rfc3339

SIGNATURE_HEADER = "PayHub-Sim-Signature"
SIGNATURE_TOLERANCE_S = 300  # how far a request's timestamp may be from the server's clock

# Loading the channel list and statements are not latency-simulated: a generous timeout.
_ADMIN_TIMEOUT_S = 30.0


class ChannelServerError(RuntimeError):
    """The channel server could not be reached or refused us (loading channels, statements).
    Money-moving calls never raise it: they return a `ChannelResult`."""


# ---------------------------------------------------------------------------------------
# Signatures
# ---------------------------------------------------------------------------------------


def signature(secret: str, timestamp: int, method: str, target: str, body: bytes) -> str:
    """Hex HMAC-SHA256 of a request: its timestamp, method, path (with the query string,
    exactly as sent) and the SHA-256 of its body."""
    message = "\n".join((str(timestamp), method.upper(), target, hashlib.sha256(body).hexdigest()))
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def signature_header(
    secret: str, method: str, target: str, body: bytes, *, timestamp: int | None = None
) -> str:
    """The `PayHub-Sim-Signature` value for a request, stamped now (wall time, not the
    injectable clock: the server checks it against its own wall time)."""
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},v1={signature(secret, t, method, target, body)}"


def check_signature(
    secret: str,
    header: str | None,
    method: str,
    target: str,
    body: bytes,
    *,
    now: float | None = None,
) -> str | None:
    """None when `header` signs this request with `secret` within the tolerance; else why
    not (safe to show: it never repeats the header)."""
    if not header:
        return f"the {SIGNATURE_HEADER} header is missing"
    fields: dict[str, list[str]] = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        fields.setdefault(key, []).append(value)
    stamps, candidates = fields.get("t", []), fields.get("v1", [])
    if len(stamps) != 1 or not stamps[0].isascii() or not stamps[0].isdigit() or not candidates:
        return f"the {SIGNATURE_HEADER} header is malformed (expected t=<unix>,v1=<hex>)"
    timestamp = int(stamps[0])
    now = time.time() if now is None else now
    if abs(now - timestamp) > SIGNATURE_TOLERANCE_S:
        return "the signature's timestamp is more than five minutes from the server's clock"
    expected = signature(secret, timestamp, method, target, body).encode()
    matched = False
    for candidate in candidates:
        # Constant time, and every candidate compared (no early exit).
        matched |= hmac.compare_digest(expected, candidate.encode("utf-8", "replace"))
    return None if matched else "the signature does not match"


# ---------------------------------------------------------------------------------------
# Wire format (JSON)
# ---------------------------------------------------------------------------------------


def dumps(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def info_to_json(info: ChannelInfo) -> dict[str, Any]:
    hours = info.business_hours
    return {
        "channel_id": info.channel_id,
        "kind": info.kind.value,
        "issuers": sorted(info.issuers) if info.issuers is not None else None,
        "card_types": sorted(t.value for t in info.card_types),
        "currencies": sorted(info.currencies),
        "min_amount": info.min_amount,
        "max_amount": info.max_amount,
        "fee_bps_debit": info.fee_bps_debit,
        "fee_bps_credit": info.fee_bps_credit,
        "fee_fixed_minor": info.fee_fixed_minor,
        "timeout_ms": info.timeout_ms,
        "latency_median_ms": info.latency_median_ms,
        "latency_p99_ms": info.latency_p99_ms,
        "business_hours": None
        if hours is None
        else {
            "days": sorted(hours.days),
            "opens": hours.opens.isoformat(),
            "closes": hours.closes.isoformat(),
            "utc_offset_minutes": hours.utc_offset_minutes,
            "holidays": sorted(d.isoformat() for d in hours.holidays),
        },
        "settlement": None
        if info.settlement is None
        else {"delay_days": info.settlement.delay_days, "cutoff": info.settlement.cutoff},
    }


def info_from_json(data: Mapping[str, Any]) -> ChannelInfo:
    hours = data["business_hours"]
    issuers = data["issuers"]
    return ChannelInfo(
        channel_id=str(data["channel_id"]),
        kind=ChannelKind(data["kind"]),
        issuers=frozenset(issuers) if issuers is not None else None,
        card_types=frozenset(CardType(t) for t in data["card_types"]),
        currencies=frozenset(data["currencies"]),
        min_amount=data["min_amount"],
        max_amount=data["max_amount"],
        fee_bps_debit=int(data["fee_bps_debit"]),
        fee_bps_credit=int(data["fee_bps_credit"]),
        fee_fixed_minor=int(data["fee_fixed_minor"]),
        timeout_ms=int(data["timeout_ms"]),
        latency_median_ms=float(data["latency_median_ms"]),
        latency_p99_ms=float(data["latency_p99_ms"]),
        business_hours=None
        if hours is None
        else BusinessHours(
            days=frozenset(int(d) for d in hours["days"]),
            opens=clock_time.fromisoformat(hours["opens"]),
            closes=clock_time.fromisoformat(hours["closes"]),
            utc_offset_minutes=int(hours["utc_offset_minutes"]),
            holidays=frozenset(date.fromisoformat(d) for d in hours["holidays"]),
        ),
        settlement=_schedule(data.get("settlement")),
    )


def _schedule(data: Any) -> SettlementSchedule | None:
    """A server that predates settlement schedules sends none: the default then."""
    if not isinstance(data, Mapping):
        return None
    return SettlementSchedule(delay_days=int(data["delay_days"]), cutoff=str(data["cutoff"]))


def result_to_json(result: ChannelResult) -> dict[str, Any]:
    return {
        "status": result.status.value,
        "raw_code": result.raw_code,
        "raw_message": result.raw_message,
        "channel_ref": result.channel_ref,
        "latency_ms": result.latency_ms,
        "approved_amount": result.approved_amount,
    }


def _optional_str(value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ValueError("expected a string or null")
    return value


def result_from_json(data: Any) -> ChannelResult:
    """A result as the server sent it; ValueError when it is not one."""
    if not isinstance(data, dict):
        raise ValueError("a result is an object")
    amount = data.get("approved_amount")
    latency = data.get("latency_ms", 0)
    if (amount is not None and not isinstance(amount, int)) or not isinstance(latency, int):
        raise ValueError("amounts and latencies are integers")
    return ChannelResult(
        ChannelStatus(str(data.get("status"))),
        raw_code=_optional_str(data.get("raw_code")),
        raw_message=_optional_str(data.get("raw_message")),
        channel_ref=_optional_str(data.get("channel_ref")),
        latency_ms=latency,
        approved_amount=amount,
    )


def line_to_json(line: StatementLine) -> dict[str, Any]:
    return {
        "channel_id": line.channel_id,
        "kind": line.kind.value,
        "request_id": line.request_id,
        "channel_ref": line.channel_ref,
        "authorization_ref": line.authorization_ref,
        "payment_id": line.payment_id,
        "amount": line.amount,
        "currency": line.currency,
        "fee": line.fee,
        "occurred_at": to_rfc3339(line.occurred_at),
    }


def line_from_json(data: Mapping[str, Any]) -> StatementLine:
    return StatementLine(
        channel_id=str(data["channel_id"]),
        kind=StatementKind(data["kind"]),
        request_id=str(data["request_id"]),
        channel_ref=str(data["channel_ref"]),
        authorization_ref=_optional_str(data["authorization_ref"]),
        payment_id=str(data["payment_id"]),
        amount=int(data["amount"]),
        currency=str(data["currency"]),
        fee=int(data["fee"]),
        occurred_at=parse_rfc3339(str(data["occurred_at"])),
    )


def authorize_to_json(request: AuthorizeRequest) -> dict[str, Any]:
    card = request.card
    return {
        "request_id": request.request_id,
        "payment_id": request.payment_id,
        "merchant_id": request.merchant_id,
        "amount": request.amount,
        "currency": request.currency,
        "card": {
            "pan": card.pan,
            "exp_month": card.exp_month,
            "exp_year": card.exp_year,
            "cvv": card.cvv,
            "issuer_code": card.issuer_code,
            "card_type": card.card_type.value,
            "brand": card.brand,
        },
        "scene": request.scene,
        "reference": request.reference,
        "capture": request.capture,
    }


def payout_to_json(request: PayoutRequest) -> dict[str, Any]:
    account = request.account
    return {
        "request_id": request.request_id,
        "payout_id": request.payout_id,
        "merchant_id": request.merchant_id,
        "amount": request.amount,
        "currency": request.currency,
        "account": {
            "bank_code": account.bank_code,
            "account_number": account.account_number,
            "account_name": account.account_name,
        },
        "reference": request.reference,
    }


# ---------------------------------------------------------------------------------------
# The adapter
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Trouble:
    """A call that got no usable answer."""

    sent: bool  # the request (maybe) reached the server: its outcome is unknown
    dropped: bool  # the connection died after sending (rather than: no answer in time)
    why: str


def new_client() -> httpx.AsyncClient:
    """The shared client `load_http_channels` makes when given none. The channel server is
    addressed directly (no proxies from the environment); pass a client of your own for
    anything else."""
    return httpx.AsyncClient(
        limits=httpx.Limits(max_connections=1000, max_keepalive_connections=200),
        trust_env=False,
    )


def _signed(
    client: httpx.AsyncClient | httpx.Client,
    secret: str,
    method: str,
    url: str,
    *,
    body: bytes = b"",
    params: Mapping[str, str] | None = None,
    timeout: float,
) -> httpx.Request:
    headers = {"Content-Type": "application/json"} if body else {}
    request = client.build_request(
        method, url, content=body or None, params=params, headers=headers, timeout=timeout
    )
    # Sign the target exactly as it goes on the wire (percent-encoding included).
    target = request.url.raw_path.decode("ascii")
    request.headers[SIGNATURE_HEADER] = signature_header(secret, method, target, body)
    return request


def _error_message(response: httpx.Response) -> str:
    try:
        error = response.json()["error"]
        return f"{error['code']}: {error['message']}"
    except (ValueError, KeyError, TypeError):
        return response.reason_phrase or "no explanation"


def _elapsed_ms(started: float) -> int:
    return max(1, round((time.monotonic() - started) * 1000))


class HttpChannel:
    """One channel (or payout rail) of a channel server, as an adapter.

    Per call the timeout is the channel's `timeout_ms`. `latency_ms` of a result is the wall
    time the call took here (including any queries after a timeout), not what the server
    drew. Build them with `load_http_channels`, which shares one `httpx.AsyncClient`.
    """

    def __init__(
        self,
        info: ChannelInfo,
        *,
        base_url: str,
        secret: str,
        client: httpx.AsyncClient,
        query_attempts: int = 3,
        query_backoff_s: float = 0.05,
    ) -> None:
        if query_attempts < 0 or query_backoff_s < 0:
            raise ValueError("query_attempts and query_backoff_s must not be negative")
        self._info = info
        self._base = base_url.rstrip("/")
        self._secret = secret
        self.client = client
        self.query_attempts = query_attempts
        self.query_backoff_s = query_backoff_s

    def __repr__(self) -> str:
        return f"HttpChannel({self._info.channel_id!r}, {self._base!r})"

    @property
    def channel_id(self) -> str:
        return self._info.channel_id

    @property
    def info(self) -> ChannelInfo:
        return self._info

    # -- the interface ---------------------------------------------------------------------

    async def authorize(self, request: AuthorizeRequest) -> ChannelResult:
        return await self._act("authorize", authorize_to_json(request), request.request_id, "query")

    async def capture(self, request_id: str, authorization_ref: str, amount: int) -> ChannelResult:
        body = {"request_id": request_id, "authorization_ref": authorization_ref, "amount": amount}
        return await self._act("capture", body, request_id, "query")

    async def refund(self, request_id: str, authorization_ref: str, amount: int) -> ChannelResult:
        body = {"request_id": request_id, "authorization_ref": authorization_ref, "amount": amount}
        return await self._act("refund", body, request_id, "query")

    async def void(self, request_id: str, authorization_ref: str) -> ChannelResult:
        body = {"request_id": request_id, "authorization_ref": authorization_ref}
        return await self._act("void", body, request_id, "query")

    async def query(self, request_id: str) -> ChannelResult:
        return await self._ask("query", request_id)

    async def payout(self, request: PayoutRequest) -> ChannelResult:
        return await self._act(
            "payout", payout_to_json(request), request.request_id, "query_payout"
        )

    async def query_payout(self, request_id: str) -> ChannelResult:
        return await self._ask("query_payout", request_id)

    async def statement(
        self, channel_id: str, start: datetime, end: datetime
    ) -> list[StatementLine]:
        """The channel's statement. Raises `ChannelServerError` when it cannot be fetched:
        an empty list would falsely say nothing settled."""
        if channel_id != self.channel_id:
            raise ValueError(
                f"this adapter is channel {self.channel_id!r}; it has no statement for "
                f"{channel_id!r}"
            )
        request = _signed(
            self.client,
            self._secret,
            "GET",
            f"{self._base}/channels/{self.channel_id}/statement",
            params={"start": to_rfc3339(start), "end": to_rfc3339(end)},
            timeout=_ADMIN_TIMEOUT_S,
        )
        try:
            response = await self.client.send(request)
        except httpx.HTTPError as exc:
            raise ChannelServerError(
                f"the statement of {self.channel_id} could not be fetched: {exc!r}"
            ) from None
        if response.status_code != 200:
            raise ChannelServerError(
                f"the statement of {self.channel_id} was refused: {_error_message(response)}"
            )
        try:
            return [line_from_json(line) for line in response.json()["lines"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise ChannelServerError(f"unreadable statement: {exc!r}") from None

    # -- machinery -------------------------------------------------------------------------

    async def _call(self, operation: str, payload: Mapping[str, Any]) -> ChannelResult | _Trouble:
        """One signed POST; the answer as a result, or the trouble that prevented one."""
        started = time.monotonic()
        body = dumps(payload)
        request = _signed(
            self.client,
            self._secret,
            "POST",
            f"{self._base}/channels/{self.channel_id}/{operation}",
            body=body,
            timeout=self._info.timeout_ms / 1000,
        )
        try:
            response = await self.client.send(request)
        except (
            httpx.ConnectError,
            httpx.ConnectTimeout,
            httpx.PoolTimeout,
            httpx.UnsupportedProtocol,
            httpx.ProxyError,
            httpx.LocalProtocolError,
        ) as exc:
            return _Trouble(sent=False, dropped=False, why=f"not sent: {exc!r}")
        except (httpx.ReadTimeout, httpx.WriteTimeout):
            return _Trouble(
                sent=True, dropped=False, why=f"no response within {self._info.timeout_ms} ms"
            )
        except httpx.TransportError as exc:  # ReadError, WriteError, RemoteProtocolError…
            return _Trouble(sent=True, dropped=True, why=f"the connection failed: {exc!r}")
        latency = _elapsed_ms(started)
        if response.status_code == 200:
            try:
                return replace(result_from_json(response.json()), latency_ms=latency)
            except ValueError:  # JSON errors too
                return _Trouble(sent=True, dropped=True, why="the response was unreadable")
        if response.status_code >= 500:
            # A proxy's or the server's failure: whether it acted is unknown.
            return _Trouble(
                sent=True, dropped=False, why=f"HTTP {response.status_code} from the server"
            )
        # 4xx: refused before acting (signature, malformed, unknown channel).
        refused = _error_message(response)
        return ChannelResult(
            ChannelStatus.ERROR,
            raw_code="13" if response.status_code in (400, 413, 422) else None,
            raw_message=f"refused by the channel server (HTTP {response.status_code}): {refused}",
            latency_ms=latency,
        )

    async def _ask(self, operation: str, request_id: str) -> ChannelResult:
        """A query: one call, trouble reported as the unknown result it is."""
        started = time.monotonic()
        answer = await self._call(operation, {"request_id": request_id})
        if isinstance(answer, ChannelResult):
            return answer
        return _unknown(answer, _elapsed_ms(started))

    async def _act(
        self, operation: str, payload: Mapping[str, Any], request_id: str, query_operation: str
    ) -> ChannelResult:
        """A money-moving call with retries-with-query after a timeout or a dropped line."""
        started = time.monotonic()
        answer = await self._call(operation, payload)
        if isinstance(answer, ChannelResult):
            return answer
        if not answer.sent:
            return _unknown(answer, _elapsed_ms(started))
        for attempt in range(self.query_attempts):
            await asyncio.sleep(self.query_backoff_s * 2**attempt)
            truth = await self._ask(query_operation, request_id)
            if truth.status in (ChannelStatus.APPROVED, ChannelStatus.DECLINED):
                return replace(truth, latency_ms=_elapsed_ms(started))
            if truth.status is ChannelStatus.NOT_FOUND:
                # The channel never acted on it (its answer is final): nothing happened.
                return ChannelResult(
                    ChannelStatus.ERROR,
                    raw_message=f"{answer.why}; the channel never received the request "
                    "(query: not found), nothing happened",
                    latency_ms=_elapsed_ms(started),
                )
        return _unknown(answer, _elapsed_ms(started), queried=self.query_attempts)


def _unknown(trouble: _Trouble, latency_ms: int, *, queried: int = 0) -> ChannelResult:
    if not trouble.sent:
        return ChannelResult(ChannelStatus.ERROR, raw_message=trouble.why, latency_ms=latency_ms)
    why = trouble.why + (f"; still unknown after {queried} queries" if queried else "")
    status = ChannelStatus.LOST if trouble.dropped else ChannelStatus.TIMEOUT
    return ChannelResult(status, raw_message=why, latency_ms=latency_ms)


# ---------------------------------------------------------------------------------------
# Loading the channels of a server
# ---------------------------------------------------------------------------------------


def _channel_list(response: httpx.Response, base_url: str) -> list[ChannelInfo]:
    if response.status_code != 200:
        raise ChannelServerError(
            f"the channel server at {base_url} refused to list its channels "
            f"(HTTP {response.status_code}): {_error_message(response)}"
            + (" — check the shared secret" if response.status_code == 401 else "")
        )
    try:
        return [info_from_json(item) for item in response.json()["channels"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise ChannelServerError(
            f"the channel list from {base_url} is unreadable: {exc!r}"
        ) from None


def _adapters(
    infos: list[ChannelInfo],
    base_url: str,
    secret: str,
    client: httpx.AsyncClient,
    options: Mapping[str, Any],
) -> dict[str, HttpChannel]:
    return {
        info.channel_id: HttpChannel(
            info, base_url=base_url, secret=secret, client=client, **options
        )
        for info in infos
    }


async def load_http_channels(
    base_url: str,
    secret: str,
    *,
    client: httpx.AsyncClient | None = None,
    query_attempts: int = 3,
    query_backoff_s: float = 0.05,
) -> dict[str, HttpChannel]:
    """An adapter for every channel and payout rail the server at `base_url` lists, all
    sharing one client (`client`, else a new one; close it with `adapter.client.aclose()`).
    Raises `ChannelServerError` when the list cannot be fetched."""
    own = client is None
    http = client if client is not None else new_client()
    base = base_url.rstrip("/")
    request = _signed(http, secret, "GET", f"{base}/channels", timeout=_ADMIN_TIMEOUT_S)
    try:
        response = await http.send(request)
        infos = _channel_list(response, base)
    except httpx.HTTPError as exc:
        if own:
            await http.aclose()
        raise ChannelServerError(f"cannot reach the channel server at {base}: {exc!r}") from None
    except ChannelServerError:
        if own:
            await http.aclose()
        raise
    options = {"query_attempts": query_attempts, "query_backoff_s": query_backoff_s}
    return _adapters(infos, base, secret, http, options)


def load_http_channels_sync(
    base_url: str,
    secret: str,
    *,
    client: httpx.AsyncClient | None = None,
    query_attempts: int = 3,
    query_backoff_s: float = 0.05,
) -> dict[str, HttpChannel]:
    """`load_http_channels` for process start-up outside (or before) the event loop: the
    list is fetched with a blocking request, the adapters share `client` or a new one."""
    base = base_url.rstrip("/")
    with httpx.Client(trust_env=False) as sync:
        request = _signed(sync, secret, "GET", f"{base}/channels", timeout=_ADMIN_TIMEOUT_S)
        try:
            response = sync.send(request)
        except httpx.HTTPError as exc:
            raise ChannelServerError(
                f"cannot reach the channel server at {base}: {exc!r}"
            ) from None
        infos = _channel_list(response, base)
    options = {"query_attempts": query_attempts, "query_backoff_s": query_backoff_s}
    return _adapters(infos, base, secret, client or new_client(), options)


if TYPE_CHECKING:
    # The HTTP adapter implements the interface (checked by mypy).
    def _conforms(channel: HttpChannel) -> ChannelAdapter:
        return channel
