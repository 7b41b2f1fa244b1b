"""Run several models on the same journeys and read them side by side: credit, teams, ROI, budget.

One table both teams read: a row per channel, a column per model, with spend, cost
per conversion and ROAS where spend is known, the marketing- and sales-sourced and
influenced figures, and (on generated data) each model's distance to the truth.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from accord.attribution.journeys import Journeys
from accord.attribution.models import DEFAULT_COMPARISON, AttributionModel, make_model
from accord.attribution.models.base import credited
from accord.attribution.models.incrementality import Incrementality
from accord.attribution.models.rules import RuleModel, rule_credit
from accord.errors import AttributionError
from accord.store.connection import Store


@dataclass
class Attribution:
    """The result of running models on journeys."""

    journeys: dict[str, float]
    """Totals: journeys, conversions, value, nulls, touches."""
    credit: pd.DataFrame
    """Long form: `model, channel[, by], conversions, value`."""
    models: dict[str, AttributionModel]
    skipped: dict[str, str] = field(default_factory=dict)
    """Models that could not run on these journeys, with the reason."""
    notes: list[str] = field(default_factory=list)
    spend: pd.Series | None = None
    """Spend per channel, when known."""
    by: str = "channel"

    def wide(self, measure: str = "conversions") -> pd.DataFrame:
        """Channels down, models across (in the order they ran)."""
        keys = ["channel"] if self.by == "channel" else ["channel", self.by]
        w = self.credit.pivot_table(
            index=keys, columns="model", values=measure, aggfunc="sum", fill_value=0.0
        )
        return w[[m for m in self.models if m in w.columns]]

    def shares(self) -> pd.DataFrame:
        """Each model's share of conversions per channel."""
        w = self.wide().groupby(level="channel").sum()
        return w / w.sum(axis=0).replace(0.0, np.nan)

    def roi(self, model: str) -> pd.DataFrame:
        """Spend, credited conversions and value, cost per conversion and ROAS for one model."""
        if self.spend is None:
            raise AttributionError("no spend known: load the spend table (or pass --spend FILE)")
        c = self.credit[self.credit.model == model].groupby("channel")[["conversions", "value"]].sum()
        out = c.join(self.spend.rename("spend"), how="outer").fillna(0.0)
        out["cost_per_conversion"] = out.spend / out.conversions.where(out.conversions > 0)
        out["roas"] = out.value / out.spend.where(out.spend > 0)
        return out

    def distance_to(self, truth: dict[str, float]) -> dict[str, float]:
        """Half the L1 distance between each model's conversion shares and the true shares."""
        t = pd.Series(truth, dtype=float)
        shares = self.shares()
        if not set(t.index) & set(shares.index):
            raise AttributionError(
                f"the truth names no channel these journeys have (truth: {', '.join(map(str, t.index[:8]))}; "
                f"journeys: {', '.join(map(str, shares.index[:8]))}): is it the ground truth of this data?"
            )
        t = t / t.sum()
        out = {}
        for m in shares.columns:
            s = shares[m].reindex(t.index.union(shares.index)).fillna(0.0)
            out[m] = float(0.5 * (s - t.reindex(s.index).fillna(0.0)).abs().sum())
        return out

    def budget_suggestion(self, share: float = 0.1) -> str | None:
        """A budget shift from the surely least to the surely most efficient channel, with its evidence.

        Efficiency is incremental conversions per 1,000 spent (the incrementality model);
        a shift is suggested only when the two bootstrap intervals do not overlap.
        """
        if self.spend is None:
            return None
        model = next((m for m in self.models.values() if isinstance(m, Incrementality)), None)
        if model is None:
            return None
        inc = model.incremental_.set_index("channel")
        spend = self.spend.reindex(inc.index).fillna(0.0)
        paid = spend > 0
        if paid.sum() < 2:
            return None
        per_k = (inc.incremental / spend.where(paid) * 1000.0).dropna()
        lo = (inc.incremental_low / spend.where(paid) * 1000.0).reindex(per_k.index)
        hi = (inc.incremental_high / spend.where(paid) * 1000.0).reindex(per_k.index)
        # Conservative: the channel surely best (highest lower bound) against the surely
        # worst (lowest upper bound); point estimates when there are no intervals.
        if lo.notna().all() and hi.notna().all():
            best, worst = str(lo.idxmax()), str(hi.idxmin())
        else:
            best, worst = str(per_k.idxmax()), str(per_k.idxmin())
        if best == worst:
            return None
        b, b_lo, b_hi = (float(s.loc[best]) for s in (per_k, lo, hi))
        w, w_lo, w_hi = (float(s.loc[worst]) for s in (per_k, lo, hi))
        # A test-sized shift: at most `share` of either budget, since returns fall as spend grows.
        moved = share * min(float(spend.loc[worst]), float(spend.loc[best]))
        gain = moved / 1000.0 * (b - w)
        sure = bool(np.isfinite(w_hi) and np.isfinite(b_lo) and w_hi < b_lo)
        evidence = (
            f"{best} brings {b:.2f} incremental conversions per 1,000 spent "
            f"(95% {b_lo:.2f} to {b_hi:.2f}); {worst} brings {w:.2f} ({w_lo:.2f} to {w_hi:.2f})"
        )
        if not sure:
            return f"no budget shift suggested: the intervals overlap ({evidence})"
        return (
            f"test moving {moved:,.0f} from {worst} to {best} ({share:.0%} of the smaller budget): about "
            f"{gain:,.1f} more conversions if {best}'s average return holds at the margin; {evidence}"
        )


def run_models(
    journeys: Journeys,
    models: Sequence[str | AttributionModel] | None = None,
    *,
    by: str = "channel",
    spend: pd.Series | None = None,
    strict: bool = False,
) -> Attribution:
    """Fit every model on the same journeys (all rule models in one engine query)."""
    specs = list(models) if models else list(DEFAULT_COMPARISON)
    built = [make_model(s) for s in specs]
    labels = [m.label for m in built]
    if len(set(labels)) != len(labels):
        raise AttributionError(f"a model is listed twice: {', '.join(labels)}")
    skipped: dict[str, str] = {}
    usable: list[AttributionModel] = []
    for m in built:
        try:
            m.check(journeys)
            usable.append(m)
        except AttributionError as exc:
            if strict:
                raise
            skipped[m.label] = str(exc)
    rules = [m for m in usable if isinstance(m, RuleModel)]
    parts: list[pd.DataFrame] = []
    frames = rule_credit(journeys, rules, by=by) if rules else {}
    if by == "channel" and rules:
        for m in rules:
            m.credit_ = frames[m.label]
    elif rules:
        by_channel = rule_credit(journeys, rules)
        for m in rules:
            m.credit_ = by_channel[m.label]
    for m in usable:
        if not isinstance(m, RuleModel):
            m.fit(journeys)
            frames[m.label] = m.credit_ if by == "channel" else m.breakdown(journeys, by)
        parts.append(frames[m.label].assign(model=m.label))
    credit = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if not credit.empty:
        credit = credit[["model", *[c for c in credit.columns if c != "model"]]]
    notes = []
    if journeys.untouched_conversions:
        notes.append(
            f"{journeys.untouched_conversions:,.0f} conversions (value {journeys.untouched_value:,.2f}) "
            "had no touch in their window; no model credits them"
        )
    if journeys.repeat_conversions:
        notes.append(
            f"{journeys.repeat_conversions:,.0f} repeat conversions (value {journeys.repeat_value:,.2f}) "
            "came after their customer's first; each journey ends at its first conversion, "
            "so none is credited"
        )
    if journeys.rejected:
        notes.append(f"{journeys.rejected:,} input rows rejected; reasons in {journeys.rejects_path}")
    for m in usable:
        if isinstance(m, Incrementality) and (m.incremental_.incremental <= 0).all():
            notes.append(
                f"{m.label}: no channel shows a positive incremental effect on these journeys; "
                "its credit is split evenly"
            )
    return Attribution(
        journeys=journeys.totals,
        credit=credit,
        models={m.label: m for m in usable},
        skipped=skipped,
        notes=notes,
        spend=spend,
        by=by,
    )


def spend_by_channel(store: Store, start: Any = None, end: Any = None) -> pd.Series | None:
    """Spend per channel from the store, over the periods overlapping [start, end]; None if empty."""
    s = store.table("spend")
    if start is not None:
        s = s.filter(s.period_end >= start)
    if end is not None:
        s = s.filter(s.period_start <= end)
    df = s.group_by("channel").agg(spend=s.amount.sum()).to_pandas()
    if df.empty:
        return None
    series: pd.Series = df.set_index("channel").spend.astype(float)
    return series


def spend_by_campaign(store: Store, start: Any = None, end: Any = None) -> pd.DataFrame:
    """Spend per channel and campaign over the periods overlapping [start, end] (named campaigns only)."""
    s = store.table("spend")
    s = s.filter(s.campaign.notnull())
    if start is not None:
        s = s.filter(s.period_end >= start)
    if end is not None:
        s = s.filter(s.period_start <= end)
    out: pd.DataFrame = s.group_by(["channel", "campaign"]).agg(spend=s.amount.sum()).to_pandas()
    return out


def spend_from_file(path: str) -> pd.Series:
    """Spend per channel from a CSV with `channel` and `amount` (or `spend`) columns."""
    try:
        df = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise AttributionError(f"cannot read spend file {path}: {exc}") from None
    cols = {c.lower(): c for c in df.columns}
    amount = cols.get("amount") or cols.get("spend") or cols.get("cost")
    if "channel" not in cols or amount is None:
        raise AttributionError(f"{path}: a spend file needs `channel` and `amount` columns")
    values = pd.to_numeric(df[amount], errors="coerce")
    bad = values.isna() | (values < 0)
    if bad.any():
        rows = ", ".join(str(i + 2) for i in df.index[bad][:5])
        raise AttributionError(f"{path}: amount is not a non-negative number on line(s) {rows}")
    return values.groupby(df[cols["channel"]].astype(str)).sum().astype(float)


def team_report(journeys: Journeys) -> pd.DataFrame:
    """Per team: conversions and value it sourced (first touch) and influenced (any touch)."""
    t = credited(journeys.table)
    t = t.mutate(team=t.team.fill_null("(unknown)"))
    first = t.filter(t.pos == 1)
    sourced = first.group_by("team").agg(
        sourced_conversions=first.conv.sum(), sourced_value=first.value.sum()
    )
    per = t.select("journey_id", "team", "conv", "value").distinct()
    influenced = per.group_by("team").agg(
        influenced_conversions=per.conv.sum(), influenced_value=per.value.sum()
    )
    df = sourced.outer_join(influenced, "team").to_pandas()
    df["team"] = df["team"].fillna(df.pop("team_right")) if "team_right" in df else df["team"]
    out: pd.DataFrame = df.fillna(0.0).sort_values("team", ignore_index=True)
    return out


def team_credit(attribution: Attribution, journeys: Journeys) -> pd.DataFrame:
    """Each model's credit by team (marketing, sales): rule models from the touches, others split."""
    rules = [m for m in attribution.models.values() if isinstance(m, RuleModel)]
    by_team = rule_credit(journeys, rules, by="team") if rules else {}  # one query for all of them
    parts = [
        (by_team[label] if label in by_team else m.breakdown(journeys, "team")).assign(model=label)
        for label, m in attribution.models.items()
    ]
    if not parts:
        return pd.DataFrame(columns=["model", "team", "conversions", "value"])
    out: pd.DataFrame = (
        pd.concat(parts, ignore_index=True)
        .groupby(["model", "team"], as_index=False, sort=False)[["conversions", "value"]]
        .sum()
    )
    return out


def write_details(result: Attribution, folder: str | Path) -> list[Path]:
    """Write each model's workings as CSV files in `folder` and return their paths."""
    from accord.attribution.models.markov import Markov
    from accord.attribution.models.shapley import Shapley

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def save(name: str, frame: pd.DataFrame) -> None:
        path = out / f"{name}.csv"
        frame.to_csv(path, index=False)
        written.append(path)

    save("credit", result.credit)
    for label, m in result.models.items():
        stem = "".join(ch if ch.isalnum() else "_" for ch in label).strip("_")
        if isinstance(m, Markov):
            save(f"{stem}_transition_matrix", m.transition_matrix_)
            save(f"{stem}_removal_effects", m.removal_effects_)
        elif isinstance(m, Shapley):
            save(f"{stem}_coalitions", m.coalitions_.drop(columns="key"))
            if m.ordered:
                save(f"{stem}_by_position", m.by_position_)
        elif isinstance(m, Incrementality):
            save(f"{stem}_incremental", m.incremental_)
    return written
