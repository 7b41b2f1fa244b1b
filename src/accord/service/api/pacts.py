"""The pact over HTTP: submit a draft, read and compare versions, approve as a team, activate."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from typing import Annotated, TypeVar

from fastapi import APIRouter, Body, HTTPException, Path, Query, Request
from fastapi.concurrency import run_in_threadpool

from accord.pact import registry
from accord.pact.registry import PactVersion
from accord.service.deps import Activator, Approver, AppState, Reader, State, Submitter
from accord.workflows.access import TEAM_OF_ROLE
from accord.workflows.jobs import Job, get_job, start_rescore
from accord.workflows.live import now
from accord.workflows.pacts import PactDiffView, activate_pact, approve_pact, diff_with_active, submit_pact

router = APIRouter(prefix="/v1", tags=["pacts"])
T = TypeVar("T")

Ref = Annotated[str, Path(min_length=1, max_length=100, description="`3`, `NAME@3` or a content hash")]


async def heavy(s: State, fn: Callable[[], T]) -> T:
    """Run Ibis work on the shared connection, one at a time (and, on DuckDB, apart from row writes)."""

    def run() -> T:
        with s.heavy, s.rows.write_lock if s.rows.engine == "duckdb" else nullcontext():
            return fn()

    return await run_in_threadpool(run)


async def recorded(s: State, change: Callable[[], PactVersion]) -> PactVersion:
    """A pact change (with its audit entry and event) apart from other Ibis work."""

    def run() -> PactVersion:
        with s.heavy, s.rows.write_lock if s.rows.engine == "duckdb" else nullcontext():
            return change()

    return await run_in_threadpool(run)


@router.post(
    "/pacts",
    response_model=PactVersion,
    status_code=201,
    summary="Submit a pact version (YAML)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/yaml": {"schema": {"type": "string"}},
                "text/plain": {"schema": {"type": "string"}},
            },
        }
    },
)
async def submit(request: Request, s: AppState, who: Submitter) -> PactVersion:
    """Validate and record a draft; a refusal is 422 naming every problem with its line."""
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise HTTPException(422, "the pact must be UTF-8 YAML") from None
    return await recorded(
        s,
        lambda: submit_pact(
            s.store, text, by=who.name, role=who.role, via=f"api:{who.name}", where="pact", rows=s.rows
        ),
    )


@router.get("/pacts", response_model=list[PactVersion], summary="Every pact version")
async def list_pacts(s: AppState, _: Reader) -> list[PactVersion]:
    """Versions oldest first, with their approvals and which is active."""
    return await heavy(s, lambda: registry.versions(s.store))


@router.get("/pacts/{version}", response_model=PactVersion, summary="One pact version")
async def get_pact(version: Ref, s: AppState, _: Reader) -> PactVersion:
    """A version with its YAML and approvals."""
    return await heavy(s, lambda: registry.resolve(s.store, version))


@router.get("/pacts/{version}/diff", response_model=PactDiffView, summary="A version against the active one")
async def diff(version: Ref, s: AppState, _: Reader) -> PactDiffView:
    """Rules added, removed and changed, and thresholds moved."""
    return await heavy(s, lambda: diff_with_active(s.store, version))


@router.post(
    "/pacts/{version}/approve", response_model=PactVersion, summary="Approve a version for your team"
)
async def approve(
    version: Ref,
    s: AppState,
    who: Approver,
    comment: Annotated[str | None, Body(embed=True, max_length=1000)] = None,
    team: Annotated[str | None, Query(pattern="^(marketing|sales)$", description="admin keys only")] = None,
) -> PactVersion:
    """Record the approving key's team (marketing or sales role; an admin names the team)."""
    signed_for = TEAM_OF_ROLE.get(who.role) or team
    if signed_for is None:
        raise HTTPException(422, "an admin key approves for a team it names: ?team=marketing or ?team=sales")
    if team is not None and team != signed_for:
        raise HTTPException(403, f"a {who.role} key approves for {signed_for}, not {team}")
    return await recorded(
        s,
        lambda: approve_pact(
            s.store,
            version,
            signed_for,
            by=who.name,
            role=who.role,
            via=f"api:{who.name}",
            comment=comment,
            rows=s.rows,
        ),
    )


@router.post("/pacts/{version}/activate", response_model=Job, status_code=202, summary="Activate and rescore")
async def activate(version: Ref, s: AppState, who: Activator) -> Job:
    """409 unless both teams approved this exact content; starts the rescore job."""
    v = await recorded(
        s,
        lambda: activate_pact(
            s.store, version, by=who.name, role=who.role, via=f"api:{who.name}", rows=s.rows
        ),
    )
    s.live.forget_active()
    pact = s.live.pact(v.content_hash)
    return await run_in_threadpool(
        lambda: start_rescore(
            s.rows,
            s.store,
            pact,
            by=who.name,
            now=now,
            exclusive=_Exclusive(s),
            after=s.live.keep_resident if s.live.resident is not None else None,
        )
    )


class _Exclusive:
    """The rescore holds the Ibis lock (and DuckDB's writer) while it runs."""

    def __init__(self, s: State) -> None:
        self.s = s

    def __enter__(self) -> None:
        self.s.heavy.acquire()
        if self.s.rows.engine == "duckdb":
            self.s.rows.write_lock.acquire()

    def __exit__(self, *_: object) -> None:
        if self.s.rows.engine == "duckdb":
            self.s.rows.write_lock.release()
        self.s.heavy.release()


@router.get("/jobs/{job_id}", response_model=Job, summary="A background job's progress")
async def job(job_id: Annotated[str, Path(max_length=100)], s: AppState, _: Reader) -> Job:
    """Its state (queued, running, done, failed), progress 0 to 1, and result."""
    return await run_in_threadpool(get_job, s.rows, job_id)
