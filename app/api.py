from __future__ import annotations

from fastapi import APIRouter

from app.alerts.router import router as alerts_router
from app.audit.router import router as audit_router
from app.auth.router import router as auth_router
from app.clinics.router import router as clinics_router
from app.devices.router import router as devices_router
from app.interop.router import router as interop_router
from app.patients.router import router as patients_router
from app.protocols.router import router as protocols_router
from app.registry.router import router as registry_router
from app.screening.router import router as screening_router
from app.sessions.router import router as sessions_router
from app.vitals.router import router as vitals_router

api_router = APIRouter(prefix="/api/v1")
for router in (
    auth_router,
    clinics_router,
    devices_router,
    patients_router,
    protocols_router,
    screening_router,
    sessions_router,
    vitals_router,
    alerts_router,
    audit_router,
    registry_router,
):
    api_router.include_router(router)
api_router.include_router(interop_router)
