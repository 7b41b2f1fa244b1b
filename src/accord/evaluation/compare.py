"""Two pacts on the same history: their metrics side by side, and the leads one adds or drops."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from accord.evaluation.backtest import DAYS_PER_MONTH, Backtest, BacktestSpec, History, Progress, backtest
from accord.evaluation.results import Comparison, MetricRow, MqlChange, rows_of
from accord.pact.schema import Pact
from accord.store.connection import Store

HEADLINE = (
    ("auc", "AUC"),
    ("conversion_rate", "base conversion rate"),
    ("top_decile_lift", "lift in the top score decile"),
    ("calibration_error", "calibration error (mean |predicted - observed| by band)"),
    ("precision_at_mql", "MQL precision (converted)"),
    ("recall_at_mql", "MQL recall"),
    ("funnel.mqls_per_month", "new MQLs per month"),
    ("funnel.mql_to_sal", "MQL to SAL (accepted)"),
    ("funnel.mql_to_sql", "MQL to SQL"),
    ("funnel.mql_to_opportunity", "MQL to opportunity"),
    ("funnel.mql_to_won", "MQL to won"),
    ("funnel.median_days_mql_to_opportunity", "median days MQL to opportunity"),
    ("funnel.median_days_mql_to_won", "median days MQL to won"),
)


def headline(b: Backtest) -> dict[str, float]:
    """The metrics a review meeting reads first, by label."""
    out: dict[str, float] = {}
    m = b.metrics
    cal = m.calibration
    extra = {
        "top_decile_lift": m.gains[0].lift if m.gains else float("nan"),
        "calibration_error": float(np.mean([abs(r.predicted - r.observed) for r in cal]))
        if cal
        else float("nan"),
    }
    for key, label in HEADLINE:
        if key in extra:
            out[label] = extra[key]
            continue
        value: Any = m
        for part in key.split("."):
            value = getattr(value, part)
        out[label] = float(value) if value is not None else float("nan")
    for rates, key in ((m.by_band, "band"), (m.by_grade, "grade")):
        for r in rates:
            out[f"conversion, {key} {getattr(r, key)}"] = float(r.rate)
    return out


@dataclass
class PactComparison:
    """OLD and NEW back-tested on the same snapshots, and the MQLs that differ."""

    old: Backtest
    new: Backtest
    table: pd.DataFrame
    """metric, old, new."""
    added: pd.DataFrame
    """Leads MQL under NEW and never under OLD: lead_id, snapshot (first MQL under NEW), converted, won."""
    dropped: pd.DataFrame
    months: float

    @property
    def sentence(self) -> str:
        """One line for the meeting."""

        def part(df: pd.DataFrame) -> str:
            per_month = len(df) / self.months if self.months else float("nan")
            rate = df.converted.mean() if len(df) else float("nan")
            mqls = "MQL" if round(per_month) == 1 else "MQLs"
            return f"{per_month:,.0f} {mqls} a month that converted at {rate:.1%}" if len(df) else "no MQLs"

        return f"NEW adds {part(self.added)}, and drops {part(self.dropped)}"

    def result(self) -> Comparison:
        """The comparison as a typed result (what the service returns and the report renders)."""
        return Comparison(
            old=self.old.pact,
            new=self.new.pact,
            metrics=rows_of(self.table, MetricRow),
            added=rows_of(self.added, MqlChange),
            dropped=rows_of(self.dropped, MqlChange),
            sentence=self.sentence,
            old_backtest=self.old.metrics,
            new_backtest=self.new.metrics,
        )


def first_mql(rows: pd.DataFrame) -> pd.DataFrame:
    """Each lead's first snapshot as an MQL, with what happened after it."""
    m = rows[rows.is_mql].sort_values("snapshot")
    out: pd.DataFrame = m.drop_duplicates("lead_id")[["lead_id", "snapshot", "converted", "won"]]
    return out.reset_index(drop=True)


def compare_pacts(
    store: Store,
    old: Pact,
    new: Pact,
    spec: BacktestSpec | None = None,
    old_result: Backtest | None = None,
    progress: Progress | None = None,
    history: History | None = None,
) -> PactComparison:
    """Back-test both pacts on the same snapshots and compare.

    `old_result`, OLD's back-test with the same spec on the same store, spares running it again.
    """
    spec = spec or BacktestSpec()
    if old_result is not None and old_result.spec != spec:
        raise ValueError("old_result was back-tested with another spec than the comparison's")
    history = history or History.read(store)
    tick = progress or (lambda _s, _f: None)
    half = 0.0 if old_result is not None else 0.5
    a = old_result or backtest(store, old, spec, history, lambda s, f: tick(s, f / 2))
    b = backtest(store, new, spec, history, lambda s, f: tick(s, half + f * (1 - half)))
    tick("done", 1.0)
    ha, hb = headline(a), headline(b)
    labels = list(dict.fromkeys([*ha, *hb]))
    table = pd.DataFrame(
        {
            "metric": labels,
            "old": [ha.get(k, np.nan) for k in labels],
            "new": [hb.get(k, np.nan) for k in labels],
        }
    )
    fa, fb = first_mql(a.rows), first_mql(b.rows)
    added = fb[~fb.lead_id.isin(fa.lead_id)].reset_index(drop=True)
    dropped = fa[~fa.lead_id.isin(fb.lead_id)].reset_index(drop=True)
    months = len(a.snapshots) * spec.every_days / DAYS_PER_MONTH
    return PactComparison(a, b, table, added, dropped, months)
