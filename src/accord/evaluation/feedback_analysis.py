"""Sales feedback analysis: rejection and recycle rates by source, campaign and band; reps; rule evidence.

This is how the pact evolves with sales' reality: where rejected leads come from,
why sales turned them down, which reps accept what, and which rules give points
that the outcomes (and sales) disagree with.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import numpy as np
import pandas as pd

from accord.evaluation.backtest import Backtest
from accord.model.tables import FeedbackAction
from accord.pact.schema import Pact
from accord.scoring.batch import engagement_matches, fit_points, leads_with_accounts
from accord.scoring.run import inputs_as_of
from accord.store.connection import Store

VERDICTS = (FeedbackAction.ACCEPT.value, FeedbackAction.REJECT.value, FeedbackAction.RECYCLE.value)


@dataclass
class FeedbackReport:
    """Verdict rates by dimension, reasons, reps and rule evidence."""

    verdicts: pd.DataFrame
    """One row per verdict: lead_id, given_at, actor, action, reason, source, campaign, band."""
    by: dict[str, pd.DataFrame]
    """Per dimension (source, campaign, band): verdicts, accept/reject/recycle rates, top reject reason."""
    reasons: pd.DataFrame
    reps: pd.DataFrame
    rules: pd.DataFrame
    """Per rule: points, leads hit, conversion with and without, lift, z, sales' rejection and
    recycle rates and top reason for its leads, and whether it disagrees with the outcomes."""


def verdicts_with_context(store: Store, b: Backtest) -> pd.DataFrame:
    """Each accept/reject/recycle with the lead's source, campaign and score band then.

    The campaign is that of the lead's last touch before the verdict (found on the
    engine); the band is the lead's at the last snapshot before it.
    """
    fb = store.table("feedback")
    fb = fb.filter(fb.action.isin(list(VERDICTS)))
    tp = store.table("touchpoints").select("lead_id", "occurred_at", "campaign")
    j = fb.join(tp, [fb.lead_id == tp.lead_id, tp.occurred_at <= fb.given_at], how="left")
    w = ibis.window(group_by=[j.lead_id, j.given_at, j.action], order_by=ibis.desc(j.occurred_at))
    j = j.mutate(_r=ibis.row_number().over(w))
    last = j.filter(j._r == 0).select("lead_id", "given_at", "actor", "action", "reason", "campaign")
    leads = store.table("leads").select(lead_id="id", source="source")
    df = last.left_join(leads, "lead_id").select(last, leads.source).to_pandas()
    bands = b.rows[["lead_id", "snapshot", "band"]].sort_values("snapshot")
    df = df.sort_values("given_at")
    # One resolution on both sides: engines return microseconds or nanoseconds.
    df["given_at"] = pd.to_datetime(df.given_at).astype("datetime64[ns]")
    bands = bands.assign(snapshot=pd.to_datetime(bands.snapshot).astype("datetime64[ns]"))
    df = pd.merge_asof(df, bands, left_on="given_at", right_on="snapshot", by="lead_id", direction="backward")
    df["band"] = df.band.astype("Int64").astype(str).replace("<NA>", "(before the first snapshot)")
    for col in ("source", "campaign", "reason", "actor"):
        df[col] = df[col].fillna("(none)")
    return df.drop(columns="snapshot").reset_index(drop=True)


def rates_by(verdicts: pd.DataFrame, dim: str) -> pd.DataFrame:
    """Verdicts and accept, reject and recycle rates per value of `dim`, with the top reject reason."""
    counts = pd.crosstab(verdicts[dim], verdicts.action)
    for a in VERDICTS:
        if a not in counts:
            counts[a] = 0
    total = counts[list(VERDICTS)].sum(axis=1)
    out = pd.DataFrame({"verdicts": total})
    for a in VERDICTS:
        out[f"{a}_rate"] = counts[a] / total
    rejects = verdicts[verdicts.action == FeedbackAction.REJECT.value]
    top = rejects.groupby(dim)["reason"].agg(lambda s: s.value_counts().index[0] if len(s) else "")
    out["top_reject_reason"] = top.reindex(out.index).fillna("")
    result: pd.DataFrame = out.sort_values("verdicts", ascending=False).reset_index()
    return result


def rule_evidence(store: Store, pact: Pact, b: Backtest, verdicts: pd.DataFrame) -> pd.DataFrame:
    """Per rule: conversion of the snapshot leads it fired for against those it did not.

    A rule *disagrees* when its points and the outcome point opposite ways with a
    difference of at least two standard errors: positive points for leads that
    converted less, or negative points for leads that converted more.
    """
    model = pact.model(b.spec.model)
    rows = b.rows[["lead_id", "snapshot", "converted"]].copy()
    hits: dict[str, pd.Series] = {}
    t = leads_with_accounts(store.table("leads"), store.table("accounts"))
    if model.fit.rules:
        fit = t.select(lead_id=t.id, **{r.id: fit_points(r, t) != 0 for r in model.fit.rules}).to_pandas()
        fit = rows[["lead_id"]].merge(fit, on="lead_id", how="left")
        for r in model.fit.rules:
            hits[r.id] = fit[r.id].fillna(False).astype(bool)
    if model.engagement.rules:
        parts = []
        for snap in b.snapshots:
            m = engagement_matches(model, pact, inputs_as_of(store, snap), snap)
            if m is not None:
                parts.append(m.select("lead_id", "rule").distinct().to_pandas().assign(snapshot=snap))
        matched = (
            pd.concat(parts, ignore_index=True)
            if parts
            else pd.DataFrame(columns=["lead_id", "rule", "snapshot"])
        )
        # (lead, snapshot) pairs as integers: string keys and their set lookups took seconds.
        leads = pd.Index(pd.unique(rows.lead_id))
        snaps = pd.Index(pd.unique(rows.snapshot))
        lead_at = leads.get_indexer(pd.Index(rows.lead_id)).astype(np.int64)
        key = lead_at * len(snaps) + snaps.get_indexer(pd.Index(rows.snapshot))
        for i, rule in enumerate(model.engagement.rules):
            mk = matched[matched.rule == i]
            lk = leads.get_indexer(pd.Index(mk.lead_id)).astype(np.int64)
            sk = snaps.get_indexer(pd.DatetimeIndex(mk.snapshot))
            ok = (lk >= 0) & (sk >= 0)
            hits[rule.id] = pd.Series(np.isin(key, lk[ok] * len(snaps) + sk[ok]), index=rows.index)
    rejected = set(verdicts.lead_id[verdicts.action == FeedbackAction.REJECT.value])
    recycled = set(verdicts.lead_id[verdicts.action == FeedbackAction.RECYCLE.value])
    judged = set(verdicts.lead_id)
    turned_down = verdicts[verdicts.action != FeedbackAction.ACCEPT.value]
    down_leads = turned_down.lead_id.to_numpy(dtype=object)
    row_leads = rows.lead_id.to_numpy(dtype=object)
    points = {r.id: r.points for r in model.fit.rules}
    points.update({e.id: e.points for e in model.engagement.rules})
    y = rows.converted.to_numpy(dtype=float)
    out = []
    for rule_id, hit in hits.items():
        h = hit.to_numpy()
        n1, n0 = int(h.sum()), int((~h).sum())
        p1 = y[h].mean() if n1 else float("nan")
        p0 = y[~h].mean() if n0 else float("nan")
        pooled = y.mean()
        se = np.sqrt(pooled * (1 - pooled) * (1 / max(n1, 1) + 1 / max(n0, 1)))
        z = (p1 - p0) / se if se > 0 and n1 and n0 else float("nan")
        hit_leads = set(row_leads[h])
        judged_hit = hit_leads & judged
        reject_rate = len(hit_leads & rejected) / len(judged_hit) if judged_hit else float("nan")
        recycle_rate = len(hit_leads & recycled) / len(judged_hit) if judged_hit else float("nan")
        reasons = turned_down.reason[[x in hit_leads for x in down_leads]].value_counts()
        pts = points[rule_id]
        disagrees = bool(np.isfinite(z) and ((pts > 0 and z <= -2) or (pts < 0 and z >= 2)))
        out.append(
            {
                "rule": rule_id,
                "points": pts,
                "rows_hit": n1,
                "rate_hit": p1,
                "rate_not_hit": p0,
                "lift": p1 / p0 if p0 else float("nan"),
                "z": z,
                "reject_rate_when_hit": reject_rate,
                "recycle_rate_when_hit": recycle_rate,
                "top_reason_when_hit": str(reasons.index[0]) if len(reasons) else "",
                "disagrees": disagrees,
            }
        )
    return pd.DataFrame(out)


def feedback_report(store: Store, pact: Pact, b: Backtest) -> FeedbackReport:
    """Everything sales' verdicts say about the pact."""
    v = verdicts_with_context(store, b)
    reps = rates_by(v, "actor").rename(columns={"actor": "rep"})
    reasons = (
        v[v.action != FeedbackAction.ACCEPT.value]
        .groupby(["action", "reason"])
        .size()
        .rename("verdicts")
        .reset_index()
        .sort_values("verdicts", ascending=False, ignore_index=True)
    )
    return FeedbackReport(
        verdicts=v,
        by={dim: rates_by(v, dim) for dim in ("source", "campaign", "band")},
        reasons=reasons,
        reps=reps,
        rules=rule_evidence(store, pact, b, v),
    )
