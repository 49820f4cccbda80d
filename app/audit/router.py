from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.audit import service as audit_service
from app.audit.schemas import AuditEntryRead, AuditPage
from app.auth.dependencies import Admin
from app.core.db import SessionDep
from app.core.errors import Forbidden, Unauthorized, responses
from app.core.schemas import MAX_SEQ

router = APIRouter(tags=["audit"])


@router.get("/audit", response_model=AuditPage, responses=responses(Unauthorized, Forbidden))
async def list_audit(
    principal: Admin,
    db: SessionDep,
    after_seq: Annotated[
        int, Query(ge=0, le=MAX_SEQ, description="return rows after this sequence number")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AuditPage:
    """Page through the clinic's audit rows in chain order; pass ``next_after_seq`` to continue."""
    rows = await audit_service.page(
        db, clinic_id=principal.clinic_id, after_seq=after_seq, limit=limit
    )
    items = [AuditEntryRead.model_validate(r) for r in rows]
    return AuditPage(items=items, next_after_seq=items[-1].seq if len(items) == limit else None)
