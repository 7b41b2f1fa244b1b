"""Threshold advice: MQL volume against conversion for every candidate threshold, and a pick.

A threshold's volume is the number of *new* MQLs per month it would send to sales
(a lead counts in the month its score first reaches the threshold, not again while
it stays there); its precision is how many of the leads at or above it converted
within the horizon, and its recall how many of the converters it caught.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from accord.errors import EvaluationError
from accord.evaluation.backtest import DAYS_PER_MONTH, Backtest
from accord.evaluation.metrics import precision_recall


@dataclass
class ThresholdAdvice:
    """The trade-off curve and the recommended threshold with why."""

    curve: pd.DataFrame
    """threshold, mqls_per_month, precision, recall."""
    threshold: float | None
    reason: str


def threshold_curve(
    b: Backtest, points: int = 200, thresholds: Sequence[float] | None = None
) -> pd.DataFrame:
    """Volume, precision and recall for `points` thresholds across the observed scores (or those given)."""
    rows = b.rows.sort_values(["lead_id", "snapshot"])
    scores = rows.score.to_numpy()
    y = rows.converted.to_numpy(dtype=bool)
    lead = rows.lead_id.to_numpy()
    same_lead = np.r_[False, lead[1:] == lead[:-1]]
    prev = np.r_[-np.inf, scores[:-1]]
    prev = np.where(same_lead, prev, -np.inf)
    counted = rows.snapshot.to_numpy() != np.datetime64(min(b.snapshots))  # the first one has no "before"
    months = (len(b.snapshots) - 1) * b.spec.every_days / DAYS_PER_MONTH
    candidates: Sequence[float] | np.ndarray
    if thresholds is not None:
        candidates = sorted(thresholds)
    else:
        candidates = np.unique(np.quantile(scores, np.linspace(0.5, 0.999, points))) if len(scores) else []
    out = []
    for th in candidates:
        at = scores >= th
        new = at & (prev < th) & counted
        precision, recall = precision_recall(at, y)
        out.append(
            {
                "threshold": float(th),
                "mqls_per_month": float(new.sum()) / months if months > 0 else float("nan"),
                "precision": precision,
                "recall": recall,
            }
        )
    return pd.DataFrame(out)


def advise(
    b: Backtest,
    *,
    capacity_per_month: float | None = None,
    target_precision: float | None = None,
    points: int = 200,
    thresholds: Sequence[float] | None = None,
) -> ThresholdAdvice:
    """The threshold that fills sales' capacity best, or the lowest one reaching a precision."""
    if capacity_per_month is None and target_precision is None:
        raise EvaluationError("give a sales capacity (MQLs per month) or a target precision")
    curve = threshold_curve(b, points, thresholds)
    if capacity_per_month is not None:
        fits = curve[curve.mqls_per_month <= capacity_per_month]
        if fits.empty:
            return ThresholdAdvice(
                curve, None, f"no threshold keeps volume within {capacity_per_month:g} a month"
            )
        pick = fits.sort_values(["recall", "threshold"], ascending=[False, True]).iloc[0]
        return ThresholdAdvice(
            curve,
            float(pick.threshold),
            f"score >= {pick.threshold:.1f} sends {pick.mqls_per_month:,.1f} MQLs a month (capacity "
            f"{capacity_per_month:g}), of which {pick.precision:.1%} converted, catching "
            f"{pick.recall:.1%} of converters",
        )
    target = float(target_precision or 0.0)
    reach = curve[curve.precision >= target]
    if reach.empty:
        return ThresholdAdvice(curve, None, f"no threshold reaches a precision of {target:.1%}")
    pick = reach.sort_values("threshold").iloc[0]
    return ThresholdAdvice(
        curve,
        float(pick.threshold),
        f"score >= {pick.threshold:.1f} is the lowest threshold whose MQLs converted at "
        f"{pick.precision:.1%} (target {target:.1%}): {pick.mqls_per_month:,.1f} a month, "
        f"catching {pick.recall:.1%} of converters",
    )
