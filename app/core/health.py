from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.db import READ_ONLY
from app.core.deps import SettingsDep
from app.core.errors import DATABASE_UNAVAILABLE
from app.core.metrics import Metrics

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: the process is up and serving."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "the database is unreachable"}})
async def readyz(request: Request, settings: SettingsDep) -> JSONResponse:
    """Readiness: the database answers within the readiness timeout."""
    engine: AsyncEngine = request.app.state.engine
    try:
        async with asyncio.timeout(settings.readiness_timeout_s):
            async with engine.connect() as conn:
                await conn.execution_options(**{READ_ONLY: True})
                await conn.execute(text("SELECT 1"))
    except DATABASE_UNAVAILABLE as exc:
        return JSONResponse(
            {"status": "unavailable", "database": f"unreachable ({type(exc).__name__})"},
            status_code=503,
            headers={"Retry-After": str(settings.retry_after_s)},
        )
    # Optional dependencies (e.g. Redis fan-out) are reported, not required: the app degrades.
    details = getattr(request.app.state, "readiness_details", {})
    return JSONResponse(
        {"status": "ready", "database": "ok"} | {k: f() for k, f in details.items()}
    )


@router.get("/metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    """Prometheus metrics in the text exposition format."""
    registry: Metrics = request.app.state.metrics
    return Response(generate_latest(registry.registry), media_type=CONTENT_TYPE_LATEST)
