"""The audit log (admin)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool

from accord.service.deps import Admin, AppState
from accord.workflows.access import AuditEntry, audit_log

router = APIRouter(prefix="/v1", tags=["admin"])


@router.get(
    "/audit", response_model=list[AuditEntry], summary="Every write: who, what, when, before and after"
)
async def audit(
    s: AppState,
    _: Admin,
    actor: Annotated[str | None, Query(max_length=100)] = None,
    action: Annotated[str | None, Query(max_length=100, description="prefix, e.g. `pacts.`")] = None,
    before: Annotated[datetime | None, Query(description="entries before this instant (paging)")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditEntry]:
    """Newest first."""
    return await run_in_threadpool(
        lambda: audit_log(s.rows, actor=actor, action=action, limit=limit, before=before)
    )
