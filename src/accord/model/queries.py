"""Reusable queries over the canonical tables, as Ibis expressions (they run on every engine)."""

from __future__ import annotations

from datetime import datetime

import ibis


def touch_counts_by_channel(touchpoints: ibis.Table, start: datetime, end: datetime) -> ibis.Table:
    """Per lead and channel: touches in ``[start, end)``, distinct touch types, first and last touch.

    The building block of engagement scoring and of journey-level attribution.
    """
    t = touchpoints.filter((touchpoints.occurred_at >= start) & (touchpoints.occurred_at < end))
    return t.group_by(["lead_id", "channel"]).aggregate(
        touches=t.count(),
        touch_types=t.touch_type.nunique(),
        first_touch=t.occurred_at.min(),
        last_touch=t.occurred_at.max(),
        cost=t.cost.sum(),
    )
