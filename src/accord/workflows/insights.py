"""Results that take seconds to compute (the review, attribution), kept in the store for the pages.

A page reads the kept result and says how old it is; a job recomputes it when the active pact
changed, when it is older than a day, or when someone asks. One job per result at a time.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from accord.model.json_types import Instant
from accord.model.tables import INSIGHTS
from accord.model.vocab import Conversion
from accord.store.connection import Store
from accord.store.rows import Rows
from accord.store.sql import ident
from accord.workflows.jobs import Job, Step, running, start_job
from accord.workflows.review import CreditSection, Review, ReviewSpec

T = TypeVar("T", bound=BaseModel)

REVIEW = "review"
REPORT = "report.html"
MAX_AGE = timedelta(hours=24)
"""A kept result older than this is recomputed the next time a page shows it."""

GROUPINGS = ("channel", "campaign", "touch_type", "team")
LOOKBACKS = (None, 30.0, 90.0, 180.0)


class Kept(BaseModel, Generic[T]):
    """A kept result, when it was computed, with which active pact, and how long it took."""

    key: str
    basis: str | None
    computed_at: Instant
    seconds: float
    value: T

    def stale(self, basis: str | None, at: datetime) -> bool:
        """Computed with another active pact, or too long ago."""
        return self.basis != basis or at - self.computed_at > MAX_AGE


def credit_key(conversion: Conversion | str, lookback_days: float | None, by: str) -> str:
    """The kept attribution for one choice of the page's selectors."""
    days = "all" if lookback_days is None else f"{lookback_days:g}"
    return f"credit:{Conversion(conversion).value}:{days}:{by}"


def keep(rows: Rows, key: str, basis: str | None, body: str, seconds: float, at: datetime) -> None:
    """Replace the kept result `key` (`body` is JSON)."""
    with rows.tx() as t:
        t.execute(f"DELETE FROM {ident(INSIGHTS.name)} WHERE key = ?", [key])
        t.insert(
            INSIGHTS,
            [{"key": key, "basis": basis, "created_at": at, "seconds": seconds, "body": body}],
        )


def _row(rows: Rows, key: str) -> dict[str, Any] | None:
    found = rows.query(f"SELECT * FROM {ident(INSIGHTS.name)} WHERE key = ?", [key])
    return found[0] if found else None


def kept(rows: Rows, key: str, kind: type[T]) -> Kept[T] | None:
    """The kept result `key` as `kind`; None if there is none (or it no longer reads as `kind`)."""
    r = _row(rows, key)
    if r is None:
        return None
    try:
        value = kind.model_validate_json(r["body"])
    except ValueError:  # kept by an older release: recompute rather than fail the page
        return None
    return Kept[kind](  # type: ignore[valid-type]
        key=key, basis=r["basis"], computed_at=r["created_at"], seconds=r["seconds"] or 0.0, value=value
    )


def kept_report(rows: Rows) -> tuple[str, datetime] | None:
    """The review rendered as HTML when it was kept, and when."""
    r = _row(rows, REPORT)
    return (json.loads(r["body"]), r["created_at"]) if r else None


def keep_review(
    rows: Rows, r: Review, basis: str | None, seconds: float, at: datetime, html: str | None = None
) -> None:
    """Keep a review and its report (`html`, when the caller rendered it already)."""
    from accord.report.render import render

    keep(rows, REVIEW, basis, r.model_dump_json(), seconds, at)
    keep(rows, REPORT, basis, json.dumps(html if html is not None else render(r)), seconds, at)
    fresh = r.credit
    if fresh is not None:
        keep(rows, credit_key(fresh.conversion, None, "channel"), basis, fresh.model_dump_json(), seconds, at)


def _refresh(
    rows: Rows,
    store: Store,
    key: str,
    doing: str,
    compute: Callable[[Store, Step], tuple[str, Callable[[float], None]]],
    *,
    by: str,
    now: Callable[[], datetime],
) -> Job:
    """A job that computes `key` on its own connection and keeps it; the running one if there is one.

    `compute` returns what it says when done and how to keep the result given the seconds it took.
    """
    kind = f"insight:{key}"
    busy = running(rows, kind)
    if busy is not None:
        return busy

    def work(step: Step) -> dict[str, Any]:
        own = store.sibling()
        try:
            t0 = time.perf_counter()
            said, store_it = compute(own, step)
            store_it(time.perf_counter() - t0)
        finally:
            if own is not store:
                own.close()
        return {"message": said, "key": key}

    return start_job(rows, kind, doing, work, by=by, now=now)


def refresh_review(
    rows: Rows, store: Store, spec: ReviewSpec, basis: str | None, *, by: str, now: Callable[[], datetime]
) -> Job:
    """Recompute the review (and its report) in a job; the running one if one is already."""
    from accord.workflows.review import review

    def compute(own: Store, step: Step) -> tuple[str, Callable[[float], None]]:
        r = review(own, spec, lambda doing, share: step(0.95 * share, doing))
        step(0.96, "rendering the report")
        return "the review is up to date", lambda seconds: keep_review(rows, r, basis, seconds, now())

    return _refresh(rows, store, REVIEW, "computing the review", compute, by=by, now=now)


def refresh_credit(
    rows: Rows,
    store: Store,
    conversion: Conversion,
    lookback_days: float | None,
    group: str,
    basis: str | None,
    *,
    by: str,
    now: Callable[[], datetime],
) -> Job:
    """Recompute one choice of attribution in a job; the running one if one is already."""
    from accord.workflows.review import credit_section

    key = credit_key(conversion, lookback_days, group)

    def compute(own: Store, step: Step) -> tuple[str, Callable[[float], None]]:
        c = credit_section(
            own,
            conversion,
            None,
            lambda doing, share: step(share, doing),
            lookback_days=lookback_days,
            by=group,
        )
        body = c.model_dump_json()
        return "attribution is up to date", lambda seconds: keep(rows, key, basis, body, seconds, now())

    return _refresh(rows, store, key, f"attributing {conversion.value} by {group}", compute, by=by, now=now)


__all__ = [
    "GROUPINGS",
    "LOOKBACKS",
    "REPORT",
    "REVIEW",
    "CreditSection",
    "Kept",
    "credit_key",
    "keep",
    "keep_review",
    "kept",
    "kept_report",
    "refresh_credit",
    "refresh_review",
]
