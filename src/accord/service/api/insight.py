"""Attribution and the back-test of the active pact, computed on the store (cached a few minutes)."""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from accord.evaluation.results import BacktestMetrics
from accord.model.vocab import Conversion
from accord.service.api.pacts import heavy
from accord.service.deps import AppState, Reader, State
from accord.workflows.attribution import AttributionResult
from accord.workflows.jobs import Job
from accord.workflows.live import now

router = APIRouter(prefix="/v1", tags=["insight"])

TTL_SECONDS = 300.0


def _cached(s: State, key: tuple[Any, ...], compute: Any) -> Any:
    cache = s.cache
    hit = cache.get(key)
    if hit is not None and time.monotonic() - hit[0] < TTL_SECONDS:
        return hit[1]
    value = compute()
    cache[key] = (time.monotonic(), value)
    return value


@router.get("/attribution", response_model=AttributionResult, summary="Credit by every model, side by side")
async def attribution(
    s: AppState,
    _: Reader,
    models: Annotated[str, Query(max_length=300, description="Comma-separated model names")] = (
        "first_touch,last_touch,linear,time_decay,position_based,markov"
    ),
    conversion: Annotated[Conversion, Query()] = Conversion.OPPORTUNITY,
    lookback: Annotated[float | None, Query(gt=0, le=3650, description="Days before the conversion")] = None,
    by: Annotated[str, Query(pattern="^(channel|campaign|touch_type|team)$")] = "channel",
) -> AttributionResult:
    """Conversions and value credited to each channel (or campaign, touch type, team) by each model."""
    from accord.workflows.attribution import attribute

    names = [m.strip() for m in models.split(",") if m.strip()]

    def run() -> AttributionResult:
        return attribute(
            s.store, None, names, conversion=conversion, lookback_days=lookback, by=by, strict=False
        ).result

    key = ("attribution", tuple(names), conversion.value, lookback, by)
    return await heavy(s, lambda: _cached(s, key, run))


class EvaluationView(BaseModel):
    """The active pact's back-test on the store's history."""

    pact: str
    version: int
    content_hash: str
    metrics: BacktestMetrics


@router.get("/evaluation", response_model=EvaluationView, summary="Back-test of the active pact")
async def evaluation(
    s: AppState,
    _: Reader,
    every_days: Annotated[
        float, Query(ge=7, le=365, description="Days between snapshots (weekly at most)")
    ] = 30.0,
    horizon_days: Annotated[
        float, Query(ge=7, le=730, description="Days each snapshot waits for its outcome")
    ] = 90.0,
) -> EvaluationView:
    """How the active pact's MQLs converted: AUC, precision and recall at the MQL line, by band and grade."""
    from accord.evaluation import BacktestSpec
    from accord.workflows.evidence import evaluate

    def run() -> EvaluationView:
        e = evaluate(s.store, None, BacktestSpec(every_days=every_days, horizon_days=horizon_days))
        p = e.chosen.pact
        return EvaluationView(
            pact=p.pact, version=p.version, content_hash=p.content_hash, metrics=e.backtest.metrics
        )

    def keyed() -> EvaluationView:
        active = s.live.active()
        return _cached(s, ("evaluation", active.content_hash, every_days, horizon_days), run)  # type: ignore[no-any-return]

    return await heavy(s, keyed)


@router.post(
    "/insights/review", response_model=Job, status_code=202, summary="Recompute the review the pages show"
)
async def refresh_review(s: AppState, who: Reader) -> Job:
    """Start the job that recomputes the quarterly review (the running one if it runs already)."""
    from accord.workflows.insights import refresh_review as start
    from accord.workflows.review import ReviewSpec

    def run() -> Job:
        basis = s.live.active().content_hash
        return start(s.rows, s.store, ReviewSpec(capacity=s.settings.capacity), basis, by=who.name, now=now)

    return await run_in_threadpool(run)


@router.post(
    "/insights/attribution",
    response_model=Job,
    status_code=202,
    summary="Recompute one choice of the attribution page",
)
async def refresh_attribution(
    s: AppState,
    who: Reader,
    conversion: Annotated[Conversion, Query()] = Conversion.WON,
    lookback: Annotated[Literal[30, 90, 180] | None, Query(description="Days before the conversion")] = None,
    by: Annotated[Literal["channel", "campaign", "touch_type", "team"], Query()] = "channel",
) -> Job:
    """Start the job that recomputes every model's credit for these choices."""
    from accord.workflows.insights import refresh_credit

    def run() -> Job:
        basis = s.live.active().content_hash
        days = None if lookback is None else float(lookback)
        return refresh_credit(s.rows, s.store, conversion, days, by, basis, by=who.name, now=now)

    return await run_in_threadpool(run)
