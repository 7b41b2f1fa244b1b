"""Leads, the MQL queue, accounts, sales' verdicts and erasure."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from accord.service.deps import Admin, AppState, Reader, Seller
from accord.workflows.live import AccountView, Erased, LeadHistory, LeadView, QueuePage, Recorded

router = APIRouter(prefix="/v1", tags=["leads"])

Id = Annotated[str, Path(min_length=1, max_length=200)]


@router.get("/leads/{lead_id}", response_model=LeadView, summary="A lead's score, rule by rule")
async def get_lead(lead_id: Id, s: AppState, _: Reader) -> LeadView:
    """The lead scored now with the active pact: every rule, the sentence, the stage."""
    return await run_in_threadpool(s.live.lead, lead_id)


@router.get("/leads/{lead_id}/history", response_model=LeadHistory, summary="Every change of a lead's score")
async def get_history(lead_id: Id, s: AppState, _: Reader) -> LeadHistory:
    """Each change of the stored score with the rules that moved it; the changes add up to the score."""
    return await run_in_threadpool(s.live.history, lead_id)


@router.get("/mql-queue", response_model=QueuePage, summary="MQLs waiting for sales, best first")
async def mql_queue(
    s: AppState,
    _: Reader,
    owner: Annotated[str | None, Query(max_length=200, description="`properties.owner` of the lead")] = None,
    grade: Annotated[Literal["A", "B", "C", "D"] | None, Query()] = None,
    band: Annotated[int | None, Query(ge=1, le=4)] = None,
    account: Annotated[str | None, Query(max_length=200)] = None,
    cursor: Annotated[
        str | None, Query(max_length=500, description="`next_cursor` of the page before")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> QueuePage:
    """Leads whose stage is MQL by their latest score; `next_cursor` pages on."""
    return await run_in_threadpool(
        lambda: s.live.queue(owner=owner, grade=grade, band=band, account=account, cursor=cursor, limit=limit)
    )


@router.get("/accounts/{account_id}", response_model=AccountView, summary="An account and its people")
async def get_account(account_id: Id, s: AppState, _: Reader) -> AccountView:
    """The account scored now, with each of its people's score."""
    return await run_in_threadpool(s.live.account, account_id)


class Verdict(BaseModel):
    """Sales' verdict on a lead."""

    action: Literal["accept", "reject", "recycle", "adjust"]
    reason: str | None = Field(
        None, max_length=500, description="One of the pact's reasons (reject, recycle)."
    )
    points: float | None = Field(
        None, ge=-1000, le=1000, description="Points to add (adjust; negative lowers)."
    )


@router.post(
    "/leads/{lead_id}/feedback", response_model=Recorded, summary="Accept, reject, recycle or adjust"
)
async def feedback(lead_id: Id, verdict: Verdict, s: AppState, who: Seller) -> Recorded:
    """Record the verdict, move the lead's stage, and rescore it."""
    return await run_in_threadpool(
        lambda: s.live.feedback(
            lead_id,
            verdict.action,
            actor=who.name,
            role=who.role,
            reason=verdict.reason,
            points=verdict.points,
        )
    )


@router.delete("/leads/{lead_id}", response_model=Erased, summary="Erase a lead (right to be forgotten)")
async def erase(lead_id: Id, s: AppState, who: Admin) -> Erased:
    """Remove the lead, its touchpoints, verdicts, scores and stage changes; the audit keeps a hash."""
    return await run_in_threadpool(lambda: s.live.erase(lead_id, actor=who.name, role=who.role))
