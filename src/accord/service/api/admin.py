"""Admin: the audit log and the API keys (the CLI cannot open a DuckDB file the service holds)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from accord.service.deps import Admin, AppState
from accord.workflows.access import AuditEntry, KeyRow, NewKey, audit_log, create_key, list_keys, revoke_key
from accord.workflows.live import now

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


class NewKeyRequest(BaseModel):
    """A key to make."""

    name: str = Field(min_length=1, max_length=100)
    role: Literal["admin", "marketing", "sales", "viewer", "ingest"]


@router.post("/keys", response_model=NewKey, status_code=201, summary="Make an API key (shown once)")
async def create(body: NewKeyRequest, s: AppState, who: Admin) -> NewKey:
    """The new key is in this answer only; the store keeps its hash."""
    made = await run_in_threadpool(lambda: create_key(s.rows, body.name, body.role, now=now(), by=who.name))
    return made


@router.get("/keys", response_model=list[KeyRow], summary="Every API key (never the key itself)")
async def keys(s: AppState, _: Admin) -> list[KeyRow]:
    """Names, roles, prefixes, when made, when revoked."""
    return await run_in_threadpool(list_keys, s.rows)


@router.delete("/keys/{name}", response_model=KeyRow, summary="Revoke an API key")
async def revoke(name: Annotated[str, Path(min_length=1, max_length=100)], s: AppState, who: Admin) -> KeyRow:
    """Its next request is refused."""
    row = await run_in_threadpool(lambda: revoke_key(s.rows, name, now=now(), by=who.name))
    s.keys.clear()
    return row
