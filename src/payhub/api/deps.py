"""Dependencies every route uses: the database, the caller, and the unit of work."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.audit import service as audit
from payhub.auth import limits, signing
from payhub.auth.service import COMPLIANCE, OPERATOR, PLATFORM_SCOPES, Principal, authenticate
from payhub.core.config import Settings
from payhub.core.errors import PayHubError, language_from_header
from payhub.core.logging import request_id_var
from payhub.db.session import Database
from payhub.db.sql import Sql
from payhub.idempotency import service as idempotency

JSON = "application/json"


# Dependencies are `async def` even when they do not await: FastAPI runs a plain `def`
# dependency in a worker thread, a hand-off that costs more than the work.


async def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


async def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_principal(request: Request, db: Annotated[Database, Depends(get_db)]) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, secret = header.partition(" ")
    if not header or scheme.lower() != "bearer" or not secret.strip():
        raise PayHubError("api_key_missing")
    # Looked up on every request, so a revocation takes effect at once in every process
    # (one statement, committed on its own: no transaction to open around a read).
    principal = await db.autocommit(lambda sql: authenticate(sql, secret.strip()))
    if principal.signing_algorithm is not None:
        await _check_signature(request, principal)
    settings: Settings = request.app.state.settings
    bucket = limits.bucket_of(request.method)
    limit = limits.limit_for(settings, bucket, principal.rate_limit_per_s)
    await limits.enforce(request.app.state.limiter, principal.key_id, bucket, limit)
    client = request.client.host if request.client is not None else None
    audit.set_actor(audit.Actor.key(principal.key_id, principal.role, client))
    return principal


async def _check_signature(request: Request, principal: Principal) -> None:
    """A key that requires signed requests: the signature, then the nonce (every process
    shares the nonce store, so a replay is refused wherever it lands)."""
    assert principal.signing_algorithm is not None and principal.signing_secret is not None
    query = request.url.query
    nonce, until = signing.check(
        key_id=principal.key_id,
        algorithm=principal.signing_algorithm,
        sealed_secret=principal.signing_secret,
        method=request.method,
        target=request.url.path + (f"?{query}" if query else ""),
        headers={k.lower(): v for k, v in request.headers.items()},
        body=await request.body(),
    )
    await signing.remember(request.app.state.nonces, principal.key_id, nonce, until)


def require_scope(scope: str) -> Callable[[Principal], Awaitable[Principal]]:
    async def check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if scope in PLATFORM_SCOPES and principal.role != OPERATOR:
            raise PayHubError("permission_denied", scope=scope)
        if not principal.has(scope):
            raise PayHubError("permission_denied", scope=scope)
        return principal

    return check


def require_any_scope(*scopes: str) -> Callable[[Principal], Awaitable[Principal]]:
    """Platform keys holding any of `scopes` (e.g. the operator, or a compliance officer's
    key that has only `compliance`)."""

    async def check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if principal.role != OPERATOR or not any(principal.has(s) for s in scopes):
            raise PayHubError("permission_denied", scope=" or ".join(scopes))
        return principal

    return check


class UnitOfWork:
    """Runs a route's work in one transaction and answers with its JSON.

    For a POST that carries an `Idempotency-Key`, the key is claimed first, the response is
    stored in the same transaction as the work, and a repeat gets the stored response.
    """

    def __init__(
        self, request: Request, db: Database, principal: Principal, settings: Settings
    ) -> None:
        self.request = request
        self.db = db
        self.principal = principal
        self.settings = settings

    async def read(self, work: Callable[[AsyncSession], Awaitable[BaseModel]]) -> Response:
        body = await self.db.run_in_transaction(lambda s: _dump(work(s)))
        return Response(body, media_type=JSON)

    async def write(
        self,
        work: Callable[[AsyncSession], Awaitable[tuple[BaseModel, int]]],
        *,
        redact: Callable[[BaseModel], BaseModel] | None = None,
    ) -> Response:
        """`work` returns the response model and its status code (201 created, 200 …); it
        runs in one transaction, which also stores the response for replays.

        `redact` gives the version of the response to keep for replays when the response
        holds a secret shown once (a new API key): the replay says what was made, without it.
        """

        async def in_one_transaction(finish: _Finish) -> tuple[BaseModel, int]:
            async def tx(session: AsyncSession) -> tuple[BaseModel, int]:
                model, status = await work(session)
                await finish(session, model, status)
                return model, status

            return await self.db.run_in_transaction(tx)

        return await self._idempotent(in_one_transaction, redact)

    async def write_sql(self, work: Callable[[Sql], Awaitable[tuple[BaseModel, int]]]) -> Response:
        """`write` for work written against `Sql` (the hot paths): on PostgreSQL its
        transaction is a bare asyncpg one, with no ORM session."""

        async def in_one_transaction(finish: _Finish) -> tuple[BaseModel, int]:
            async def tx(sql: Sql) -> tuple[BaseModel, int]:
                model, status = await work(sql)
                await finish(sql, model, status)
                return model, status

            return await self.db.transact(tx)

        return await self._idempotent(in_one_transaction, None)

    async def write_flow(
        self, flow: Callable[[Database, Store], Awaitable[tuple[BaseModel, int]]]
    ) -> Response:
        """Like `write`, for work that must commit in several transactions (a bank channel
        is called between them). The flow hands its response to `store` inside its last
        transaction (so "the answer is recorded" and "the response is kept" commit
        together); a flow that ends without calling it gets a last transaction of its own.
        If the process dies before the response is stored, a retry re-runs the flow, which
        the object's state machine answers (a payment confirmed once is not confirmed
        again)."""

        async def in_steps(finish: _Finish) -> tuple[BaseModel, int]:
            stored = False

            async def store(sql: Sql, model: BaseModel, status: int) -> None:
                nonlocal stored
                await finish(sql, model, status)
                stored = True

            model, status = await flow(self.db, store)
            if not stored:
                await self.db.transact(lambda sql: finish(sql, model, status))
            return model, status

        return await self._idempotent(in_steps, None)

    async def _idempotent(
        self,
        run: Callable[[_Finish], Awaitable[tuple[BaseModel, int]]],
        redact: Callable[[BaseModel], BaseModel] | None,
    ) -> Response:
        """Run the work once per `Idempotency-Key`: the key is claimed first, `run` hands
        its response to `finish` to store, and a repeat gets the stored response."""
        key = self.request.headers.get("idempotency-key")
        if key is None:
            try:
                model, status = await run(self._audited(_store_nothing))
            except PayHubError as error:
                await self._audit_refusal(error)
                raise
            return Response(model.model_dump_json().encode(), status_code=status, media_type=JSON)
        idempotency.check_key(key)
        raw = await self.request.body()
        outcome = await idempotency.claim(
            self.db,
            principal=self.principal.key_id,
            key=key,
            method=self.request.method,
            path=self.request.url.path,
            fingerprint=idempotency.request_fingerprint(
                self.request.method,
                self.request.url.path,
                raw,
                key=self.settings.key_pepper.get_secret_value().encode(),
            ),
            ttl=timedelta(hours=self.settings.idempotency_ttl_hours),
        )
        if isinstance(outcome, idempotency.Replay):
            return Response(
                outcome.body,
                status_code=outcome.status,
                media_type=JSON,
                headers={"Idempotent-Replayed": "true"},
            )
        claim = outcome

        async def finish(tx: AsyncSession | Sql, model: BaseModel, status: int) -> None:
            kept = redact(model) if redact else model
            await idempotency.complete(tx, claim, status, kept.model_dump_json().encode())

        try:
            model, status = await run(self._audited(finish))
        except PayHubError as error:
            await self._audit_refusal(error)
            if error.spec.retryable:
                await idempotency.release(self.db, claim)
            else:
                language = language_from_header(self.request.headers.get("accept-language"))
                stored = error.to_body(request_id=request_id_var.get(), language=language)
                await idempotency.finish_with_error(
                    self.db, claim, error.status, _json_bytes(stored)
                )
            raise
        except BaseException:
            await idempotency.release(self.db, claim)
            raise
        return Response(model.model_dump_json().encode(), status_code=status, media_type=JSON)

    def _audited(self, finish: _Finish) -> _Finish:
        """`finish`, plus an audit event for an operator's write when the work recorded
        none of its own: in the work's transaction, so the change and its record commit
        together."""
        if self.principal.role != OPERATOR:
            return finish

        async def finish_and_record(tx: AsyncSession | Sql, model: BaseModel, status: int) -> None:
            await finish(tx, model, status)
            if not audit.recorded_in_this_request():
                await audit.record(
                    tx,
                    self._action(),
                    target_type="object" if getattr(model, "id", None) else None,
                    target_id=str(getattr(model, "id", "") or "") or None,
                    details={"status": status, **self._path_params()},
                )

        return finish_and_record

    async def _audit_refusal(self, error: PayHubError) -> None:
        """An operator's write that was refused is recorded too (in a transaction of its
        own: the work's was rolled back)."""
        if self.principal.role != OPERATOR:
            return
        action = self._action()
        details = {"status": error.status, "code": error.spec.code, **self._path_params()}
        await self.db.transact(lambda sql: audit.record(sql, f"{action} refused", details=details))

    def _action(self) -> str:
        route = self.request.scope.get("route")
        template = getattr(route, "path", self.request.url.path)
        return f"operator {self.request.method} {template}"

    def _path_params(self) -> dict[str, str]:
        return {k: str(v)[:120] for k, v in self.request.path_params.items()}


_Finish = Callable[[AsyncSession | Sql, BaseModel, int], Awaitable[None]]
# Hands a flow's response to the unit of work, inside the flow's last transaction.
Store = Callable[[Sql, BaseModel, int], Awaitable[None]]


async def _store_nothing(tx: AsyncSession | Sql, model: BaseModel, status: int) -> None:
    """Without an Idempotency-Key there is no response to keep."""


def _json_bytes(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


async def _dump(pending: Awaitable[BaseModel]) -> bytes:
    model = await pending
    return model.model_dump_json().encode()


def work_for(scope: str, *alternatives: str) -> Callable[..., Awaitable[UnitOfWork]]:
    """A dependency giving a UnitOfWork to callers whose key has `scope` (or, with
    `alternatives`, a platform key with any of them)."""
    check = require_any_scope(scope, *alternatives) if alternatives else require_scope(scope)

    # Dependencies as defaults, not in annotations: with postponed annotations FastAPI
    # resolves annotation strings in module globals, where `check` does not exist.
    async def dependency(
        request: Request,
        db: Database = Depends(get_db),
        principal: Principal = Depends(check),
        settings: Settings = Depends(get_settings_dep),
    ) -> UnitOfWork:
        return UnitOfWork(request, db, principal, settings)

    return dependency


# Operator-only routes; and routes any key may use for reading or writing its own objects.
OperatorWork = Annotated[UnitOfWork, Depends(work_for(OPERATOR))]
# The audit log and other compliance reads: the operator, or a compliance officer's key.
ComplianceWork = Annotated[UnitOfWork, Depends(work_for(OPERATOR, COMPLIANCE))]
ReadWork = Annotated[UnitOfWork, Depends(work_for("read"))]
WriteWork = Annotated[UnitOfWork, Depends(work_for("write"))]
