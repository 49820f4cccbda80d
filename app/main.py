"""Application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp

# First: every model, so that a foreign key column knows its type before any repository
# builds a statement with it at import (untyped, SQLite cannot bind a UUID to it).
import app.models_registry  # noqa: F401
from app.api import api_router
from app.core import health
from app.core.clock import Clock, SystemClock
from app.core.config import Settings, get_settings
from app.core.db import create_engine, create_sessionmaker
from app.core.errors import add_exception_handlers
from app.core.gc_tuning import tune_garbage_collector
from app.core.logging import configure_logging
from app.core.loop_lag import LoopLagMonitor
from app.core.metrics import Metrics
from app.core.middleware import RequestContextMiddleware
from app.core.openapi import document_errors
from app.core.scheduler import Scheduler
from app.core.throttle import CredentialThrottleMiddleware, FailureThrottle
from app.devices import service as devices_service
from app.interop import fhir_router
from app.interop.mllp import MllpServer, tls_context
from app.jobs import jobs
from app.realtime import ws as board_ws
from app.realtime.runtime import Realtime
from app.vitals import ws as vitals_ws
from app.vitals.batcher import IngestBatcher
from app.web.router import router as web_router
from app.web.router import static_files

API_DESCRIPTION = """
Secondary alarm and documentation system for ketamine infusion clinics.

* Staff authenticate with `POST /api/v1/auth/login` and send `Authorization: Bearer <token>`.
* Monitors and gateways authenticate with a device API key (`Authorization: Bearer kmd_...`).
* Errors are `{"error": <name>, "detail": <message>}`; validation errors (422) also list
  each field in `errors`.
"""


class KetamineMonitorApp(FastAPI):
    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None:
            self.openapi_schema = document_errors(super().openapi())
        return self.openapi_schema

    def build_middleware_stack(self) -> ASGIApp:
        # Outermost, so that even FastAPI's own 413 and 500 responses carry the security
        # headers and the request id, and are counted.
        # Inside it, the device-key throttle: its 429s are logged and carry the headers too.
        throttled = CredentialThrottleMiddleware(
            super().build_middleware_stack(),
            throttle=self.state.device_key_throttle,
            clock=self.state.clock,
            prefix=devices_service.KEY_PREFIX,
        )
        return RequestContextMiddleware(
            throttled,
            metrics=self.state.metrics,
            max_body_bytes=self.state.settings.max_body_bytes,
            hsts=self.state.settings.secure_cookies,
        )


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(level=settings.log_level, json=settings.log_json)
    engine = create_engine(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        scheduler: Scheduler = _app.state.scheduler
        realtime: Realtime = _app.state.realtime
        await realtime.start()
        if settings.env != "test":
            # Not in the test suite's process: freezing would keep every test app's objects.
            tune_garbage_collector()
        loop_lag = LoopLagMonitor(_app.state.metrics)
        loop_lag.start()
        if settings.scheduler_enabled:
            scheduler.start()
        mllp: MllpServer | None = None
        if settings.mllp_port is not None:
            mllp = MllpServer(
                _app.state.sessionmaker,
                _app.state.clock,
                host=settings.mllp_host or settings.host,
                port=settings.mllp_port,
                ssl_context=tls_context(settings),
            )
            await mllp.start()
            _app.state.mllp = mllp
        try:
            yield
        finally:
            if mllp is not None:
                await mllp.stop()
            await scheduler.stop()
            await _app.state.ingest_batcher.stop()
            await realtime.stop()
            await loop_lag.stop()
        await engine.dispose()

    app = KetamineMonitorApp(
        title="Ketamine infusion monitor",
        version="0.1.0",
        description=API_DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # Swagger UI needs inline scripts, which our CSP forbids; use /openapi.json.
        redoc_url=None,
        max_body_size=settings.max_body_bytes,
    )
    app.state.settings = settings
    app.state.clock = clock or SystemClock()
    app.state.engine = engine
    app.state.metrics = Metrics()
    app.state.device_key_throttle = FailureThrottle(
        max_failures=settings.device_key_max_failures,
        window=timedelta(seconds=settings.device_key_failure_window_s),
    )
    realtime = Realtime(settings, app.state.clock, app.state.metrics)
    # Events reach the boards only once their transaction is committed.
    app.state.sessionmaker = create_sessionmaker(
        engine, after_commit=[realtime.on_commit], after_rollback=[realtime.on_rollback]
    )
    realtime.bind(app.state.sessionmaker)
    app.state.ingest_batcher = IngestBatcher(app.state.sessionmaker, app.state.clock)
    app.state.realtime = realtime
    app.state.readiness_details = {"redis": realtime.redis_status}
    app.state.scheduler = Scheduler(
        app.state.sessionmaker,
        app.state.clock,
        jobs(settings),
        interval_s=settings.scheduler_interval_s,
    )

    add_exception_handlers(app, retry_after_s=settings.retry_after_s)
    fhir_router.add_fhir_exception_handler(app)
    app.include_router(health.router)
    app.include_router(api_router)
    app.include_router(fhir_router.router)
    app.include_router(vitals_ws.router)
    app.include_router(board_ws.router)
    app.include_router(web_router)
    app.mount("/static", static_files(), name="static")
    return app
