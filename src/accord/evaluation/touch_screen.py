"""Touch conditions worth an engagement rule of their own, found in the history.

A touch type's rule counts all its touches alike. Two kinds of candidate can say more: a
split of a type by channel or by a touch property (a web visit to /pricing), and two
conditions close in time (a pricing page visit within 14 days of a webinar). Every candidate
is screened from one read of the touches with a cheap count (resets and caps aside) against
the log-odds the rest of the model already gives each lead-snapshot; candidates are taken
greedily while one predicts held-back leads better by two standard errors. The learner then
scores the kept ones exactly, through the scorer.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from accord.model.fields import json_keys, property_value
from accord.pact.schema import EngagementRule
from accord.pact.words import engagement_words
from accord.store.connection import Store

SPLIT_SHARE = (0.05, 0.95)
"""A channel or property value is a split when it holds this share of its type's touches."""
MAX_VALUES = 12
"""A property with more distinct values than this (a URL with ids, say) is not split."""
PAIR_CONDITIONS = 16
"""Pairs are screened among this many conditions: the most frequent types and splits."""
WITHIN_DAYS = 14.0
STEPS = ((30.0, 1.0), (90.0, 0.5))
"""A kept candidate's decay: whole points for a month, half to three months, then nothing."""
FOLDS = 4
Z_KEEP = 2.0
DAY = 86_400.0


@dataclass(frozen=True)
class Screened:
    """What the screen tried and what it kept, best first."""

    tried: int
    kept: list[Candidate]


@dataclass(frozen=True)
class Candidate:
    """An engagement rule's touch conditions, as the pact writes them."""

    body: dict[str, Any]
    words: str


def read_touches(store: Store, types: list[str]) -> pd.DataFrame:
    """The touches of `types`, with the time as epoch seconds."""
    tp = store.table("touchpoints")
    df = (
        tp.filter(tp.touch_type.isin(types))
        .select("id", "lead_id", "touch_type", "channel", "occurred_at", "properties")
        .to_pandas()
    )
    df["t"] = (pd.to_datetime(df.occurred_at) - pd.Timestamp(0)) / pd.Timedelta(seconds=1)
    out: pd.DataFrame = df.sort_values(["t", "id"], kind="stable").reset_index(drop=True)
    return out


def _condition(c: dict[str, Any]) -> str:
    body = dict(c)
    if "all" in body:
        body.update(conditions=body.pop("all"), combine="all")
    rule = EngagementRule.model_validate({"id": "c", "points": 1, **body})
    return engagement_words(rule)


class Touches:
    """The touches read once, with each condition's mask kept: candidates share their conditions."""

    def __init__(self, df: pd.DataFrame, rows: pd.DataFrame) -> None:
        codes, leads = pd.factorize(pd.concat([rows.lead_id, df.lead_id], ignore_index=True))
        self.n_leads = len(leads)
        self.row_lead = codes[: len(rows)]
        self.lead = codes[len(rows) :]
        self.df = df
        self.t = df.t.to_numpy()
        self._masks: dict[str, np.ndarray] = {}
        self._props: dict[str, pd.Series] = {}

    def property(self, key: str) -> pd.Series:
        """Each touch's value of a property, read as the scorer reads it."""
        if key not in self._props:
            self._props[key] = self.df.properties.map(lambda text: property_value(text, key))
        return self._props[key]

    def mask(self, c: dict[str, Any]) -> np.ndarray:
        """Which touches meet condition `c`."""
        key = json.dumps(c, sort_keys=True)
        if key not in self._masks:
            m = (self.df.touch_type == c["touch_type"]).to_numpy().copy()
            if "channel" in c:
                m &= (self.df.channel == c["channel"]).to_numpy()
            for k, v in c.get("property", {}).items():
                m &= self.property(k).eq(v).to_numpy()
            self._masks[key] = m
        return self._masks[key]


def splits(touches: Touches, types: list[str]) -> list[dict[str, Any]]:
    """Each type's channels and property values that hold a real share of its touches."""
    out: list[dict[str, Any]] = []
    df = touches.df
    for t in types:
        mine = (df.touch_type == t).to_numpy()
        n = int(mine.sum())
        if not n:
            continue
        share = df.channel[mine].value_counts() / n
        for value in sorted(share.index[(share >= SPLIT_SHARE[0]) & (share <= SPLIT_SHARE[1])]):
            out.append({"touch_type": t, "channel": value})
        for key in sorted({k for ks in df.properties[mine].map(json_keys) for k in ks}):
            values = touches.property(key)[mine].value_counts()
            if len(values) > MAX_VALUES:
                continue
            share = values / n
            for value in sorted(share.index[(share >= SPLIT_SHARE[0]) & (share <= SPLIT_SHARE[1])]):
                out.append({"touch_type": t, "property": {key: value}})
    return out


def candidates(touches: Touches, types: list[str]) -> list[Candidate]:
    """Splits of each type, and pairs "A within 14 days of B" of distinct types among the commonest."""
    cut = splits(touches, types)
    conditions = [*cut, *({"touch_type": t} for t in types)]
    counts = {json.dumps(c, sort_keys=True): int(touches.mask(c).sum()) for c in conditions}
    pool = sorted(counts, key=lambda k: (-counts[k], k))[:PAIR_CONDITIONS]
    out = [Candidate(c, _condition(c)) for c in cut]
    for a, b in itertools.combinations(sorted(pool), 2):
        ca, cb = json.loads(a), json.loads(b)
        if ca["touch_type"] == cb["touch_type"] or not counts[a] or not counts[b]:
            continue
        first, other = (ca, cb) if (counts[a], a) <= (counts[b], b) else (cb, ca)  # count the rarer
        body = {"all": [first, other], "within_days": WITHIN_DAYS}
        out.append(Candidate(body, _condition(body)))
    return out


def _ready(touches: Touches, cand: Candidate) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The counted touches of a candidate: lead code, time, and the time from which it counts."""
    conditions = cand.body.get("all", [cand.body])
    m = touches.mask(conditions[0])
    lead, t = touches.lead[m], touches.t[m]
    ready = t.copy()
    reach = float(cand.body.get("within_days", 0.0)) * DAY
    left = pd.DataFrame({"lead": lead, "t": t})
    for c in conditions[1:]:
        o = touches.mask(c)
        other = pd.DataFrame({"lead": touches.lead[o], "o": touches.t[o]})
        back = pd.merge_asof(left, other, left_on="t", right_on="o", by="lead", direction="backward").o
        ahead = pd.merge_asof(left, other, left_on="t", right_on="o", by="lead", direction="forward").o
        after = ahead.to_numpy()
        when = np.where(t - back.to_numpy() <= reach, t, np.where(after - t <= reach, after, np.inf))
        ready = np.maximum(ready, when)
    return lead, t, ready


def feature(touches: Touches, cand: Candidate, rows: pd.DataFrame, instants: list[Any]) -> np.ndarray:
    """Each lead-snapshot's decayed count of the candidate's touches (no caps, no resets)."""
    lead, t, ready = _ready(touches, cand)
    out = np.zeros(len(rows))
    snaps = rows.snapshot.to_numpy()
    for s in instants:
        at = pd.Timestamp(s).timestamp()
        age = (at - t) / DAY
        weight = np.select([age < 0, *(age <= d for d, _ in STEPS)], [0.0, *(f for _, f in STEPS)], 0.0)
        weight = np.where(ready <= at, weight, 0.0)
        sums = np.bincount(lead, weights=weight, minlength=touches.n_leads)
        here = snaps == np.datetime64(pd.Timestamp(s))
        out[here] = sums[touches.row_lead[here]]
    return out


def _fit(z: np.ndarray, f: np.ndarray | None, y: np.ndarray) -> tuple[float, float]:
    """Intercept and slope of a logistic model with offset z, by Newton's method."""
    X = np.column_stack([np.ones_like(z)] + ([f] if f is not None else []))
    beta = np.zeros(X.shape[1])
    for _ in range(25):
        p = 1.0 / (1.0 + np.exp(-(z + X @ beta)))
        g = X.T @ (y - p) - 1e-3 * beta
        h = (X * (p * (1 - p))[:, None]).T @ X + 1e-3 * np.eye(X.shape[1])
        step = np.linalg.solve(h, g)
        beta += step
        if np.abs(step).max() < 1e-8:
            break
    return float(beta[0]), float(beta[1]) if len(beta) > 1 else 0.0


def _loglik(eta: np.ndarray, y: np.ndarray) -> np.ndarray:
    out: np.ndarray = y * eta - np.logaddexp(0.0, eta)
    return out


def screen(
    store: Store,
    types: list[str],
    rows: pd.DataFrame,
    instants: list[Any],
    z: np.ndarray,
    y: np.ndarray,
    train: np.ndarray,
    budget: int,
    seed: int,
) -> Screened:
    """The candidates that predict held-back training leads better, best first, at most `budget`.

    `z` is each row's log-odds from the rest of the model. A candidate's worth is what its
    slope, fitted on three folds of the training leads, adds to the log-likelihood of the
    fourth, summed over the folds.
    """
    if budget <= 0 or not types:
        return Screened(0, [])
    rows, yt, zt = rows[train], y[train], z[train].copy()  # only training rows are screened on
    touches = Touches(read_touches(store, types), rows)
    pool = candidates(touches, types)
    if not (yt.any() and (1 - yt).any()):
        return Screened(len(pool), [])
    features = [feature(touches, c, rows, instants) for c in pool]
    # Folds of training leads, not rows: a lead's snapshots stay together and count as one sample.
    lead_code, leads = pd.factorize(rows.lead_id, sort=True)
    fold = np.random.default_rng(seed).integers(0, FOLDS, len(leads))[lead_code]
    kept: list[int] = []
    alive = [i for i, f in enumerate(features) if f.any()]
    while len(kept) < budget and alive:
        base = np.zeros(len(yt))
        for k in range(FOLDS):
            a0, _ = _fit(zt[fold != k], None, yt[fold != k])
            base[fold == k] = _loglik(zt[fold == k] + a0, yt[fold == k])
        best: tuple[float, int] | None = None
        still = []
        for i in alive:
            f = features[i]
            gain = -base.copy()
            for k in range(FOLDS):
                a, b = _fit(zt[fold != k], f[fold != k], yt[fold != k])
                gain[fold == k] += _loglik(zt[fold == k] + a + b * f[fold == k], yt[fold == k])
            per_lead = np.bincount(lead_code, weights=gain)
            mean, se = per_lead.mean(), per_lead.std() / np.sqrt(len(per_lead))
            if mean > 0:
                still.append(i)
            if mean > Z_KEEP * se and (best is None or mean > best[0]):
                best = (float(mean), i)
        if best is None:
            break
        kept.append(best[1])
        alive = [i for i in still if i != best[1]]
        _, b = _fit(zt, features[best[1]], yt)
        zt += b * features[best[1]]
    return Screened(len(pool), [pool[i] for i in kept])
