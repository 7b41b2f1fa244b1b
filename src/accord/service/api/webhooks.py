"""Webhooks: endpoints that receive Accord's events, their secrets, the delivery log, replays."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field, HttpUrl

from accord.service.deps import AppState, Hooker, State
from accord.workflows import webhooks as wh
from accord.workflows.access import audit
from accord.workflows.live import now

router = APIRouter(prefix="/v1", tags=["webhooks"])

Id = Annotated[str, Path(min_length=1, max_length=60)]


class EndpointRequest(BaseModel):
    """An endpoint to make."""

    url: HttpUrl
    events: list[str] = Field(default_factory=list, max_length=20, description="Event types; empty: all.")
    description: str | None = Field(None, max_length=500)


class ReplayRequest(BaseModel):
    """Events to send again."""

    event_ids: list[str] = Field(min_length=1, max_length=1000)


def _audit(s: State, who: str, role: str, action: str, target: str, after: dict[str, object] | None) -> None:
    with s.rows.tx() as t:
        audit(t, who, role, action, target, None, after, now())


@router.post("/webhooks", response_model=wh.NewSecret, status_code=201, summary="Add an endpoint")
async def create(body: EndpointRequest, s: AppState, who: Hooker) -> wh.NewSecret:
    """Its id and signing secret (shown this once); internal addresses are refused unless allowed."""

    def run() -> wh.NewSecret:
        made = wh.create(
            s.rows,
            str(body.url),
            body.events,
            description=body.description,
            by=who.name,
            now=now(),
            allow=s.settings.webhook_allow,
        )
        _audit(s, who.name, who.role, "webhooks.create", made.id, {"url": made.url, "events": made.events})
        return made

    return await run_in_threadpool(run)


@router.get("/webhooks", response_model=list[wh.Endpoint], summary="Every endpoint")
async def list_endpoints(s: AppState, _: Hooker) -> list[wh.Endpoint]:
    """Oldest first, with whether and why each was disabled."""
    return await run_in_threadpool(wh.endpoints, s.rows)


@router.delete("/webhooks/{endpoint_id}", response_model=wh.Endpoint, summary="Remove an endpoint")
async def delete(endpoint_id: Id, s: AppState, who: Hooker) -> wh.Endpoint:
    """No more deliveries to it; its attempt log stays."""

    def run() -> wh.Endpoint:
        gone = wh.delete(s.rows, endpoint_id)
        _audit(s, who.name, who.role, "webhooks.delete", endpoint_id, None)
        return gone

    return await run_in_threadpool(run)


@router.post(
    "/webhooks/{endpoint_id}/rotate",
    response_model=wh.NewSecret,
    summary="A new secret (the old one signs 24 h)",
)
async def rotate(endpoint_id: Id, s: AppState, who: Hooker) -> wh.NewSecret:
    """Deliveries carry both signatures for 24 hours, then the new one only."""

    def run() -> wh.NewSecret:
        made = wh.rotate(s.rows, endpoint_id, now())
        _audit(s, who.name, who.role, "webhooks.rotate", endpoint_id, None)
        return made

    return await run_in_threadpool(run)


@router.get(
    "/webhooks/{endpoint_id}/attempts", response_model=list[wh.Attempt], summary="The endpoint's delivery log"
)
async def attempts(
    endpoint_id: Id, s: AppState, _: Hooker, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[wh.Attempt]:
    """Every attempt, newest first: status, latency, the start of the answer."""
    return await run_in_threadpool(lambda: wh.attempts(s.rows, endpoint_id, limit))


@router.post(
    "/webhooks/{endpoint_id}/replay", response_model=wh.Replayed, status_code=202, summary="Send events again"
)
async def replay(endpoint_id: Id, body: ReplayRequest, s: AppState, who: Hooker) -> wh.Replayed:
    """The events are queued for this endpoint again, with their original `webhook-id`."""

    def run() -> wh.Replayed:
        done = wh.replay(s.rows, endpoint_id, body.event_ids, now())
        _audit(s, who.name, who.role, "webhooks.replay", endpoint_id, {"events": len(body.event_ids)})
        return done

    return await run_in_threadpool(run)
