"""Segment's Tracking API: `/v1/batch`, `/v1/track`, `/v1/page`, `/v1/identify`, `/v1/group`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body
from fastapi.concurrency import run_in_threadpool

from accord.errors import ConfigError
from accord.service.deps import AppState, Collector
from accord.workflows.collect import Collected, collect

router = APIRouter(prefix="/v1", tags=["collect"])

_BODY = Body(..., description="A Segment message (see segment.com/docs/connections/spec).")


@router.post("/batch", response_model=Collected, summary="Segment batch")
async def batch(s: AppState, who: Collector, body: dict[str, Any] = _BODY) -> Collected:
    """Up to 1,000 messages in `batch`; context and integrations at the top apply to each."""
    messages = body.get("batch")
    if not isinstance(messages, list):
        raise ConfigError('a batch is {"batch": [messages]}')
    if len(messages) > 1000:
        raise ConfigError(f"at most 1,000 messages per batch, got {len(messages):,}")
    shared = body.get("context") if isinstance(body.get("context"), dict) else None
    if shared:
        messages = [({"context": shared} | m) if isinstance(m, dict) else m for m in messages]
    return await run_in_threadpool(collect, s.live, s.collect, messages, who.name, who.role)


def _single(kind: str) -> None:
    async def one(s: AppState, who: Collector, body: dict[str, Any] = _BODY) -> Collected:
        return await run_in_threadpool(
            collect, s.live, s.collect, [body | {"type": kind}], who.name, who.role
        )

    router.add_api_route(
        f"/{kind}",
        one,
        methods=["POST"],
        response_model=Collected,
        name=f"collect_{kind}",
        summary=f"Segment {kind}",
    )


for _kind in ("track", "page", "identify", "group"):
    _single(_kind)
