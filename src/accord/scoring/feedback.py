"""Sales' verdicts on leads: record them, and move the lead's lifecycle accordingly.

accept -> SAL, reject -> disqualified, recycle -> recycled (engagement restarts
and the recycle wait applies, per the pact), adjust -> points added to the
score. Every verdict is a `feedback` row, visible in history and explanations.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa

from accord.errors import ConfigError, UnknownLeadError
from accord.model.tables import FEEDBACK, STAGE_CHANGES, FeedbackAction
from accord.store.connection import Store
from accord.store.writer import upsert

STAGE_FOR_ACTION = {"accept": "sal", "reject": "disqualified", "recycle": "recycled"}


@dataclass(frozen=True)
class Recorded:
    """What recording a verdict did."""

    lead_id: str
    action: str
    from_stage: str | None
    to_stage: str | None


def current_stage(store: Store, lead_id: str, at: datetime) -> str:
    """The lead's stage at `at`: its latest stage change, or `lead`."""
    sc = store.table("stage_changes")
    rows = (
        sc.filter((sc.lead_id == lead_id) & (sc.changed_at <= at))
        .order_by([sc.changed_at.desc(), sc.to_stage.desc()])
        .limit(1)
        .to_stage.execute()
        .tolist()
    )
    return str(rows[0]) if rows else "lead"


def check_verdict(
    action: str, reason: str | None, points: float | None, reasons: list[str] | None = None
) -> None:
    """Refuse a verdict that is incomplete, or whose reason is not one of the pact's `reasons`."""
    valid = [a.value for a in FeedbackAction]
    if action not in valid:
        raise ConfigError(f"unknown action {action!r}; valid: {', '.join(valid)}")
    if action == "reject" and not reason:
        raise ConfigError("a rejection needs a reason, so marketing can learn from it")
    if action == "adjust" and points is None:
        raise ConfigError("an adjustment needs points (negative to lower the score)")
    if action != "adjust" and points is not None:
        raise ConfigError("points only go with adjust")
    if reasons and action in ("reject", "recycle") and reason is not None and reason not in reasons:
        raise ConfigError(f"reason {reason!r} is not one of the pact's: {', '.join(reasons)}")


def record_feedback(
    store: Store,
    lead_id: str,
    action: str,
    *,
    actor: str,
    reason: str | None = None,
    points: float | None = None,
    at: datetime | None = None,
    reasons: list[str] | None = None,
) -> Recorded:
    """Record one verdict on a lead; reject needs a reason (one of `reasons`, if given), adjust points."""
    check_verdict(action, reason, points, reasons)
    leads = store.table("leads")
    if leads.filter(leads.id == lead_id).count().execute() == 0:
        raise UnknownLeadError(f"no lead {lead_id!r} in {store.describe()}")
    when = at or datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    upsert(
        store,
        FEEDBACK,
        pa.table(
            {
                "lead_id": [lead_id],
                "given_at": [when],
                "actor": [actor],
                "action": [action],
                "reason": [reason],
                "points": [points],
            },
            schema=FEEDBACK.schema.to_pyarrow(),
        ),
    )
    to_stage = STAGE_FOR_ACTION.get(action)
    if to_stage is None:
        return Recorded(lead_id, action, None, None)
    from_stage = current_stage(store, lead_id, when)
    upsert(
        store,
        STAGE_CHANGES,
        pa.table(
            {
                "lead_id": [lead_id],
                "from_stage": [from_stage],
                "to_stage": [to_stage],
                "changed_at": [when],
                "actor": [actor],
                "reason": [reason or action],
                "run_id": [None],
            },
            schema=STAGE_CHANGES.schema.to_pyarrow(),
        ),
    )
    return Recorded(lead_id, action, from_stage, to_stage)
