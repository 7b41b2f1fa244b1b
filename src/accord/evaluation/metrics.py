"""Ranking and classification metrics on (score, outcome) pairs, in NumPy, checked by hand in tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from accord.stats import fit_logistic


def auc(scores: np.ndarray, outcomes: np.ndarray) -> float:
    """Area under the ROC curve: P(a converter outscores a non-converter), ties counting half."""
    y = np.asarray(outcomes, dtype=bool)
    pos, neg = int(y.sum()), int((~y).sum())
    if pos == 0 or neg == 0:
        return float("nan")
    ranks = rankdata(np.asarray(scores, dtype=float))  # average ranks: ties count half
    return float((ranks[y].sum() - pos * (pos + 1) / 2) / (pos * neg))


def auc_interval(scores: np.ndarray, outcomes: np.ndarray, z: float = 1.96) -> tuple[float, float]:
    """A 95% interval for the AUC (Hanley and McNeil's standard error)."""
    a = auc(scores, outcomes)
    y = np.asarray(outcomes, dtype=bool)
    n1, n0 = int(y.sum()), int((~y).sum())
    if a != a:
        return (float("nan"), float("nan"))
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    se = float(np.sqrt(max(a * (1 - a) + (n1 - 1) * (q1 - a * a) + (n0 - 1) * (q2 - a * a), 0.0) / (n1 * n0)))
    return (max(0.0, a - z * se), min(1.0, a + z * se))


def gains(scores: np.ndarray, outcomes: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Leads ranked by score in `bins` equal groups: each group's rate, lift and cumulative gains.

    Groups have equal sizes (to one lead); leads with equal scores keep their input
    order, so a tie can straddle two groups.
    """
    s = np.asarray(scores, dtype=float)
    y = np.asarray(outcomes, dtype=float)
    n = len(s)
    order = np.argsort(-s, kind="stable")
    group = np.minimum((np.arange(n) * bins) // max(n, 1), bins - 1)
    ys = y[order]
    rows = []
    total = y.sum()
    base = total / n if n else float("nan")
    cum = 0.0
    for g in range(bins):
        m = group == g
        k = int(m.sum())
        conv = float(ys[m].sum())
        cum += conv
        rate = conv / k if k else float("nan")
        rows.append(
            {
                "group": g + 1,
                "leads": k,
                "conversions": conv,
                "rate": rate,
                "lift": rate / base if base else float("nan"),
                "cumulative_share_of_leads": float((group <= g).sum()) / n if n else float("nan"),
                "cumulative_gain": cum / total if total else float("nan"),
            }
        )
    return pd.DataFrame(rows)


def precision_recall(predicted: np.ndarray, outcomes: np.ndarray) -> tuple[float, float]:
    """Precision and recall of a yes/no prediction (nan where undefined)."""
    p = np.asarray(predicted, dtype=bool)
    y = np.asarray(outcomes, dtype=bool)
    tp = float((p & y).sum())
    precision = tp / p.sum() if p.sum() else float("nan")
    recall = tp / y.sum() if y.sum() else float("nan")
    return precision, recall


def rate_by(keys: pd.Series | pd.DataFrame, outcomes: np.ndarray) -> pd.DataFrame:
    """Leads, conversions and conversion rate per key (or key combination)."""
    df = keys.to_frame() if isinstance(keys, pd.Series) else keys.copy()
    names = list(df.columns)
    df["_y"] = np.asarray(outcomes, dtype=float)
    out = df.groupby(names, dropna=False)["_y"].agg(leads="count", conversions="sum").reset_index()
    out["rate"] = out.conversions / out.leads
    return out


def logistic_calibration(train_scores: np.ndarray, train_outcomes: np.ndarray) -> tuple[float, float]:
    """Intercept and slope of P(convert) = 1 / (1 + exp(-(a + b * score))).

    Fitted on the standardised score (well conditioned whatever the score's scale),
    then mapped back to the score's own units.
    """
    x = np.asarray(train_scores, dtype=float)
    y = np.asarray(train_outcomes, dtype=float)
    scale = float(np.std(x)) or 1.0
    z = (x - x.mean()) / scale
    beta = fit_logistic(np.column_stack([np.ones_like(z), z]), y, np.ones_like(y), iterations=50)
    slope = beta[1] / scale
    return float(beta[0] - slope * x.mean()), float(slope)
