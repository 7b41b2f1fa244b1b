"""The funnel over a period: how many leads reached each stage, how fast, by month and by source.

A lead counts at a stage when it ever reached it (MQL, SAL and SQL from the stage history, an
opportunity it is the primary lead of, a won deal); the rate from one stage to the next is the
share of the leads that reached the first and later reached the second, so sales-sourced leads
that skip MQL do not inflate it.
"""

from __future__ import annotations

from datetime import datetime

import ibis
import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from accord.evaluation.backtest import History
from accord.model.json_types import Instant, Number
from accord.store.connection import Store

STAGES = ("lead", "mql", "sal", "sql", "opportunity", "won")
STAGE_NAMES = {
    "lead": "Lead",
    "mql": "MQL",
    "sal": "SAL",
    "sql": "SQL",
    "opportunity": "Opportunity",
    "won": "Won",
}


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True, ser_json_inf_nan="null")


class StageStep(_Result):
    """One stage of the funnel and the step into it from the stage before."""

    stage: str
    leads: int
    """Leads of the period that reached the stage."""
    share_of_leads: Number
    from_previous: Number | None
    """Of the leads that reached the stage before, the share that later reached this one."""
    median_days_from_previous: Number | None


class FunnelRow(_Result):
    """The funnel of one month (of lead creation) or one source."""

    key: str
    leads: int
    mql: int
    sal: int
    sql: int
    opportunity: int
    won: int
    lead_to_mql: Number | None
    mql_to_opportunity: Number | None
    lead_to_won: Number | None


class FunnelReport(_Result):
    """Leads created in [start, end) and how far they got, with the period's pipeline and revenue."""

    start: Instant
    end: Instant
    stages: list[StageStep]
    by_month: list[FunnelRow]
    by_source: list[FunnelRow]
    recorded: list[str]
    """The stages the store records at all (SAL and SQL are often not exported)."""
    opportunities_opened: int
    pipeline: Number
    """Value of the opportunities opened in the period (all of them, with or without a lead)."""
    deals_won: int
    revenue: Number
    """Value of the deals closed won in the period."""


def reached(history: History, start: datetime, end: datetime) -> pd.DataFrame:
    """One row per lead created in [start, end): its source, month, and when it first reached each stage."""
    le = history.leads
    created = pd.to_datetime(le.created_at)
    keep = (created >= pd.Timestamp(start)) & (created < pd.Timestamp(end))
    out = pd.DataFrame(
        {
            "lead_id": le.id[keep].to_numpy(),
            "source": le.source[keep].fillna("(none)").to_numpy(),
            "lead": created[keep].to_numpy(),
        }
    )
    out["month"] = out["lead"].dt.strftime("%Y-%m")
    out = out.set_index("lead_id")
    st = history.stages
    for stage in ("mql", "sal", "sql"):
        first = st[st.to_stage == stage].groupby("lead_id").changed_at.min()
        out[stage] = pd.to_datetime(first.reindex(out.index))
    op = history.opportunities
    out["opportunity"] = pd.to_datetime(op.groupby("lead_id").created_at.min().reindex(out.index))
    won = op[op.is_won.fillna(False).astype(bool)]
    won_at = won.closed_at.fillna(won.created_at)
    out["won"] = pd.to_datetime(won_at.groupby(won.lead_id).min().reindex(out.index))
    return out.reset_index()


def _rate(num: int, den: int) -> float | None:
    return num / den if den else None


def _row(key: str, g: pd.DataFrame) -> FunnelRow:
    n = {s: int(g[s].notna().sum()) for s in STAGES}
    mql_then_opp = int((g.mql.notna() & (g.opportunity >= g.mql)).sum())
    return FunnelRow(
        key=key,
        leads=n["lead"],
        mql=n["mql"],
        sal=n["sal"],
        sql=n["sql"],
        opportunity=n["opportunity"],
        won=n["won"],
        lead_to_mql=_rate(n["mql"], n["lead"]),
        mql_to_opportunity=_rate(mql_then_opp, n["mql"]),
        lead_to_won=_rate(n["won"], n["lead"]),
    )


def _steps(r: pd.DataFrame, recorded: list[str]) -> list[StageStep]:
    total = len(r)
    steps = [
        StageStep(
            stage="lead",
            leads=total,
            share_of_leads=1.0 if total else 0.0,
            from_previous=None,
            median_days_from_previous=None,
        )
    ]
    previous = "lead"
    for stage in STAGES[1:]:
        if stage not in recorded:
            continue
        both = r[previous].notna() & r[stage].notna() & (r[stage] >= r[previous])
        days = (r.loc[both, stage] - r.loc[both, previous]).dt.total_seconds() / 86400
        base = int(r[previous].notna().sum())
        steps.append(
            StageStep(
                stage=stage,
                leads=int(r[stage].notna().sum()),
                share_of_leads=(r[stage].notna().sum() / total) if total else 0.0,
                from_previous=_rate(int(both.sum()), base),
                median_days_from_previous=float(np.median(days)) if len(days) else None,
            )
        )
        previous = stage
    return steps


def funnel(store: Store, history: History, start: datetime, end: datetime) -> FunnelReport:
    """The funnel of the leads created in [start, end), and the pipeline and revenue of the period."""
    r = reached(history, start, end)
    st = set(history.stages.to_stage.unique()) if not history.stages.empty else set()
    recorded = ["lead"] + [s for s in ("mql", "sal", "sql") if s in st]
    if not history.opportunities.empty:
        recorded.append("opportunity")
        if history.opportunities.is_won.fillna(False).astype(bool).any():
            recorded.append("won")
    by_month = [_row(str(k), g) for k, g in r.groupby("month", sort=True)]
    by_source = sorted((_row(str(k), g) for k, g in r.groupby("source")), key=lambda x: -x.leads)
    op = store.table("opportunities")
    lo, hi = ibis.literal(start), ibis.literal(end)
    opened = op.filter((op.created_at >= lo) & (op.created_at < hi))
    closed = op.filter(op.is_won & (op.closed_at >= lo) & (op.closed_at < hi))
    figures = (
        opened.aggregate(n=opened.count(), value=opened.amount.sum())
        .cross_join(closed.aggregate(won=closed.count(), revenue=closed.amount.sum()))
        .to_pandas()
        .iloc[0]
    )
    return FunnelReport(
        start=start,
        end=end,
        stages=_steps(r, recorded),
        by_month=by_month,
        by_source=by_source,
        recorded=recorded,
        opportunities_opened=int(figures.n),
        pipeline=float(0 if pd.isna(figures.value) else figures.value),
        deals_won=int(figures.won),
        revenue=float(0 if pd.isna(figures.revenue) else figures.revenue),
    )
