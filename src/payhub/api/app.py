"""The FastAPI application factory."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import text

from payhub import __version__, jobs
from payhub.api.errors import install_error_handlers
from payhub.api.middleware import RequestContextMiddleware
from payhub.api.openapi import document_errors
from payhub.audit.routes import router as audit_router
from payhub.auth.limits import DatabaseLimiter, RedisLimiter
from payhub.auth.nonces import DatabaseNonces, RedisNonces
from payhub.auth.routes import router as auth_router
from payhub.core.config import Settings, get_settings
from payhub.core.logging import configure_logging
from payhub.db.session import Database
from payhub.events.routes import router as events_router
from payhub.ledger.routes import router as ledger_router
from payhub.merchants.routes import router as merchants_router
from payhub.payments.routes import router as payments_router
from payhub.risk.cases.routes import router as risk_cases_router
from payhub.risk.decisions.routes import router as risk_decisions_router
from payhub.risk.monitoring.routes import router as risk_monitoring_router
from payhub.risk.reports.routes import router as risk_reports_router
from payhub.risk.sanctions.routes import router as sanctions_router
from payhub.routing.routes import router as routing_router
from payhub.settlement.balances.routes import router as settlement_router
from payhub.settlement.fees.routes import router as fees_router
from payhub.settlement.payouts.routes import router as payouts_router
from payhub.settlement.reconciliation.routes import router as reconciliation_router
from payhub.splits.bankfile_routes import router as split_bank_files_router
from payhub.splits.routes import router as splits_router
from payhub.vault.key_routes import router as vault_keys_router
from payhub.vault.routes import router as vault_router

DESCRIPTION = """
PayHub's one standard payment API. Money is integer minor units plus an ISO 4217
currency; times are RFC 3339 UTC with `Z`; every POST takes an `Idempotency-Key`;
every failure is a catalogue error `{"error": {"code", "type", "message", "param",
"retryable", "request_id"}}` (send `Accept-Language: zh-CN` for Chinese messages).
Authenticate with `Authorization: Bearer <API key>`.
"""


def create_app(
    settings: Settings | None = None,
    database: Database | None = None,
    *,
    run_jobs: bool = True,
) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    db = database or Database(settings.database_url, pool_size=settings.database_pool_size)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runner = (
            asyncio.create_task(jobs.run_forever(db, settings.job_interval_seconds))
            if run_jobs
            else None
        )
        try:
            yield
        finally:
            if runner is not None:
                runner.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await runner
            if database is None:
                await db.dispose()

    app = FastAPI(
        title="PayHub",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.db = db
    app.state.settings = settings
    # Shared by every API process: request-signing nonces and rate-limit buckets.
    app.state.nonces = RedisNonces(settings.redis_url) if settings.redis_url else DatabaseNonces(db)
    app.state.limiter = (
        RedisLimiter(settings.redis_url) if settings.redis_url else DatabaseLimiter(db)
    )
    install_error_handlers(app)
    app.add_middleware(RequestContextMiddleware, max_body_bytes=settings.max_body_bytes)
    app.include_router(merchants_router)
    app.include_router(auth_router)
    app.include_router(audit_router)
    app.include_router(vault_router)
    app.include_router(vault_keys_router)
    app.include_router(payments_router)
    app.include_router(events_router)
    app.include_router(routing_router)
    app.include_router(risk_decisions_router)
    app.include_router(sanctions_router)
    app.include_router(risk_cases_router)
    app.include_router(risk_reports_router)
    app.include_router(risk_monitoring_router)
    app.include_router(ledger_router)
    app.include_router(fees_router)
    app.include_router(reconciliation_router)
    app.include_router(settlement_router)
    app.include_router(payouts_router)
    app.include_router(splits_router)
    app.include_router(split_bank_files_router)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> JSONResponse:
        async with db.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return JSONResponse({"status": "ok", "database": db.dialect, "version": __version__})

    document_errors(app)
    return app


def app_factory() -> FastAPI:
    """Entry point for `uvicorn --factory` (used by `payhub serve --workers N`)."""
    return create_app()
