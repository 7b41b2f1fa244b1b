"""An additive glass box cut down to a readable pact: which parts of which fields earn points.

An Explainable Boosting Machine (`interpret`) learns each field's shape and its strongest
pairwise interactions on the training rows. Each field's shape is then cut into a few
segments (contiguous ranges of a number, groups of a category's values) by dynamic
programming, and each interaction into the few cells that move the most rows by the most.
Every segment past a field's first, and every cell, is one rule: a greedy budget gives the
next rule to whichever field or cell explains most of the model's remaining shape (squared
log-odds over the training rows), so `max_rules` rules keep what matters most. Cuts of a
number fall on round values. The caller refits points on the parts it gets.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

MISSING = "(missing)"
OTHER = "(other)"
MAX_SEGMENTS = 8
CELL_BINS = 6
MONOTONE = 0.8
"""A number whose shape is this close to monotone (share of its variance) is taken as monotone:
the rest is noise, and zigzag points along a number read as a mistake."""
MAX_FIT_ROWS = 40_000
MIN_GAIN = 0.0005
"""A rule must explain at least this share of the glass box's whole shape (less is noise)."""
ENOUGH = 0.001
"""Fewer rules are kept when they rank held-back training rows within this AUC of the most."""
ROUNDING = 0.05
"""A number's cut moves over at most this share of its smaller segment's rows to fall on a round value."""
MIN_SHARE = 0.005
"""A segment or a cell holds at least this share of the training rows (and 30 of them)."""


@dataclass(frozen=True)
class Part:
    """Some rows of one field: a range of a number (inclusive), or some values of a category."""

    attribute: str
    lo: float | None = None
    hi: float | None = None
    values: tuple[str, ...] = ()
    other: bool = False
    """Includes the category's grouped rare values."""
    missing: bool = False
    numeric: bool = False

    def mask(self, column: pd.Series) -> np.ndarray:
        """Which rows of the field's column (as `design.raw` holds it) this part holds."""
        if self.numeric:
            x = column.to_numpy(dtype=float)
            inside = ~np.isnan(x)
            if self.lo is not None:
                inside &= x >= self.lo
            if self.hi is not None:
                inside &= x <= self.hi
            out: np.ndarray = inside | (np.isnan(x) & self.missing)
            return out
        text = column.astype(object)
        hit = text.isin(list(self.values)).to_numpy().copy()
        if self.other:
            hit |= (text == OTHER).to_numpy()
        if self.missing:
            hit |= text.isna().to_numpy()
        return hit


@dataclass(frozen=True)
class Term:
    """One rule's rows: a field's segment, or a cell of two fields (every part holds)."""

    parts: tuple[Part, ...]
    field_segment: bool = True
    """A segment of one field (False: a cell of an interaction)."""


@dataclass
class Shape:
    """What the glass box keeps: one column per term, and each field's segments."""

    X: np.ndarray
    terms: list[Term]
    fields: dict[str, list[int]]
    """attribute -> indices of its segments (the first is the field's baseline)."""
    pairs: list[tuple[str, str]]
    """The interactions the glass box found, strongest first."""


def pav(values: np.ndarray, weights: np.ndarray, increasing: bool) -> np.ndarray:
    """Pool adjacent violators: the closest monotone sequence (weighted least squares)."""
    v = values if increasing else -values
    blocks: list[list[float]] = []  # [mean, weight, count]
    for x, w in zip(v, weights, strict=True):
        blocks.append([float(x), float(max(w, 1e-9)), 1.0])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            m2, w2, c2 = blocks.pop()
            m1, w1, c1 = blocks.pop()
            blocks.append([(m1 * w1 + m2 * w2) / (w1 + w2), w1 + w2, c1 + c2])
    out = np.concatenate([[b[0]] * int(b[2]) for b in blocks])
    return out if increasing else -out


def _monotone(c: np.ndarray, w: np.ndarray) -> int:
    """+1 or -1 when a monotone curve explains MONOTONE of a number's shape (0: it bends)."""
    spread = float(np.sum(w * (c - np.average(c, weights=w)) ** 2))
    best, direction = (1.0 - MONOTONE) * spread, 0
    for sign in (1, -1):
        left = float(np.sum(w * (c - pav(c, w, increasing=sign > 0)) ** 2))
        if left <= best:
            best, direction = left, sign
    return direction


def round_cut(below: float, above: float) -> float:
    """The roundest number c with below < c <= above (1, 2 or 5 times a power of ten, if any)."""
    if not above > below:
        return above
    span = above - below
    for exponent in range(math.floor(math.log10(max(abs(above), span))) + 1, -10, -1):
        for mult in (5, 2, 1):
            step = mult * 10.0**exponent
            c = round(math.floor(below / step) * step, 10)
            while c <= below:  # the first multiple of step above `below`, free of float dust
                c = round(c + step, 10)
            if c <= above:
                return float(c)
    return above


def _segments(c: np.ndarray, w: np.ndarray, kmax: int, least: float) -> dict[int, tuple[float, list[int]]]:
    """Best split of an ordered sequence into k contiguous segments (least weighted squares), k <= kmax.

    Every segment weighs at least `least` (a rule for a handful of leads is noise). Returns
    k -> (remaining squared error, cut positions) for each k that can be had.
    """
    m = len(c)
    cw = np.concatenate([[0.0], np.cumsum(w)])
    cs = np.concatenate([[0.0], np.cumsum(w * c)])
    cq = np.concatenate([[0.0], np.cumsum(w * c * c)])

    def cost(i: np.ndarray, j: int) -> np.ndarray:
        ww = cw[j] - cw[i]
        ss = cs[j] - cs[i]
        out: np.ndarray = cq[j] - cq[i] - np.where(ww > 0, ss * ss / np.maximum(ww, 1e-12), 0.0)
        return np.where(ww >= least, out, np.inf)

    kmax = min(kmax, m)
    best = np.full((kmax + 1, m + 1), np.inf)
    back = np.zeros((kmax + 1, m + 1), dtype=int)
    best[1, 1:] = [cost(np.array([0]), j)[0] for j in range(1, m + 1)]
    for k in range(2, kmax + 1):
        for j in range(k, m + 1):
            i = np.arange(k - 1, j)
            v = best[k - 1, i] + cost(i, j)
            b = int(np.argmin(v))
            best[k, j] = v[b]
            back[k, j] = i[b]
    out: dict[int, tuple[float, list[int]]] = {}
    for k in range(1, kmax + 1):
        if not np.isfinite(best[k, m]):
            continue
        cuts: list[int] = []
        j = m
        for kk in range(k, 1, -1):
            j = back[kk, j]
            cuts.append(int(j))
        out[k] = (max(float(best[k, m]), 0.0), sorted(cuts))
    return out


@dataclass
class _Field:
    attribute: str
    numeric: bool
    groups: pd.DataFrame
    """v (value), c (mean contribution), w (training rows), ordered as segments run."""
    options: dict[int, tuple[float, list[int]]]
    missing_c: float | None = None
    """A number's missing rows: their mean contribution (joined to the nearest segment)."""
    monotone: int = 0
    """+1 or -1: the number's points only rise or only fall along it."""


def _field(attribute: str, column: pd.Series, contrib: np.ndarray, train: np.ndarray) -> _Field | None:
    numeric = column.dtype.kind in "fi"
    if numeric:
        x = column.to_numpy(dtype=float)
        present = train & ~np.isnan(x)
        df = pd.DataFrame({"v": x[present], "c": contrib[present]})
        g = df.groupby("v").agg(c=("c", "mean"), w=("c", "size")).reset_index().sort_values("v")
        # values the model cannot tell apart (one bin of its shape) are one group
        run = (g.c.diff().abs() > 1e-12).cumsum()
        g = g.groupby(run).agg(v=("v", "min"), hi=("v", "max"), c=("c", "mean"), w=("w", "sum"))
        missing = train & np.isnan(x)
        missing_c = float(contrib[missing].mean()) if missing.any() else None
    else:
        text = column.astype(object).where(column.notna(), MISSING)
        df = pd.DataFrame({"v": text[train].to_numpy(), "c": contrib[train]})
        g = df.groupby("v").agg(c=("c", "mean"), w=("c", "size")).reset_index()
        g = g.sort_values(["c", "v"], kind="stable")
        missing_c = None
    g = g.reset_index(drop=True)
    if len(g) < 2:
        return None
    direction = 0
    if numeric:
        direction = _monotone(g.c.to_numpy(), g.w.to_numpy(dtype=float))
        if direction:
            g["c"] = pav(g.c.to_numpy(), g.w.to_numpy(dtype=float), increasing=direction > 0)
    least = max(30.0, MIN_SHARE * float(train.sum()))
    options = _segments(g.c.to_numpy(), g.w.to_numpy(dtype=float), MAX_SEGMENTS, least)
    if 1 not in options:
        options[1] = (0.0, [])
    return _Field(attribute, numeric, g, options, missing_c, direction)


def _field_parts(f: _Field, k: int, integer: bool) -> list[Part]:
    cuts = [0, *f.options[k][1], len(f.groups)]
    parts: list[Part] = []
    if f.numeric:
        means = []
        edges: list[float] = []
        w = f.groups.w.to_numpy(dtype=float)
        for s in range(1, len(cuts) - 1):
            # A cut may move over a few rows (ROUNDING of the smaller side) to land on a round number.
            room = ROUNDING * min(w[cuts[s - 1] : cuts[s]].sum(), w[cuts[s] : cuts[s + 1]].sum())
            a, moved = cuts[s], 0.0
            while a - 1 > cuts[s - 1] and moved + w[a - 1] <= room:
                a, moved = a - 1, moved + w[a - 1]
            b, moved = cuts[s], 0.0
            while b + 1 < cuts[s + 1] and moved + w[b] <= room:
                b, moved = b + 1, moved + w[b]
            edges.append(round_cut(float(f.groups.hi.iloc[a - 1]), float(f.groups.v.iloc[b])))
        for s in range(len(cuts) - 1):
            rows = f.groups.iloc[cuts[s] : cuts[s + 1]]
            means.append(float(np.average(rows.c, weights=rows.w)))
            lo = None if s == 0 else edges[s - 1]
            hi = None if s == len(cuts) - 2 else _just_below(edges[s], integer)
            parts.append(Part(f.attribute, lo=lo, hi=hi, numeric=True))
        if f.missing_c is not None:
            near = int(np.argmin([abs(m - f.missing_c) for m in means]))
            parts[near] = Part(f.attribute, lo=parts[near].lo, hi=parts[near].hi, numeric=True, missing=True)
        return parts
    for s in range(len(cuts) - 1):
        values = [str(v) for v in f.groups.v.iloc[cuts[s] : cuts[s + 1]]]
        kept = tuple(sorted(v for v in values if v not in (MISSING, OTHER)))
        parts.append(Part(f.attribute, values=kept, other=OTHER in values, missing=MISSING in values))
    return parts


def _pooled(f: _Field, parts: list[Part], column: pd.Series, y: np.ndarray, train: np.ndarray) -> list[Part]:
    """A monotone number's neighbouring segments merged until their training rates run its way too."""
    if not f.monotone or len(parts) < 2:
        return parts
    hits = [p.mask(column) & train for p in parts]
    n = np.array([h.sum() for h in hits], dtype=float)
    rates = np.array([y[h].mean() if h.any() else 0.0 for h in hits])
    pooled = pav(rates, n, increasing=f.monotone > 0)
    out: list[Part] = []
    for k, p in enumerate(parts):
        if out and math.isclose(pooled[k], pooled[k - 1], rel_tol=1e-12, abs_tol=1e-15):
            last = out.pop()
            p = Part(p.attribute, lo=last.lo, hi=p.hi, numeric=True, missing=last.missing or p.missing)
        out.append(p)
    return out if len(out) >= 2 else []


def _just_below(edge: float, integer: bool) -> float:
    """The top of the segment below a cut: one less for whole numbers, else one unit of its last digit."""
    if integer:
        return edge - 1
    text = f"{edge:.10f}".rstrip("0")
    decimals = len(text.split(".")[1]) if "." in text else 0
    return round(edge - 10.0 ** -max(decimals, 2), max(decimals, 2))


def _fine(column: pd.Series, train: np.ndarray, attribute: str, integer: bool) -> list[Part]:
    """Up to CELL_BINS parts of a field for interaction cells: round quantile ranges, or single values."""
    if column.dtype.kind in "fi":
        x = column.to_numpy(dtype=float)
        present = x[train & ~np.isnan(x)]
        values = np.unique(present)
        edges: list[float] = []
        for share in np.linspace(0, 1, CELL_BINS + 1)[1:-1]:
            # anywhere among the rows within ROUNDING of a bin of the quantile, on the roundest value
            room = ROUNDING / CELL_BINS
            lo, hi = np.quantile(present, [max(share - room, 0.0), min(share + room, 1.0)])
            if integer:  # a whole number between them, so the part below ends one under it
                lo, hi = math.floor(lo), math.ceil(hi)
            cut = round_cut(float(lo), float(hi)) if hi > lo else float(hi)
            if values[0] < cut <= values[-1] and (not edges or cut > edges[-1]):
                edges.append(cut)
        bounds = [None, *edges, None]
        return [
            Part(
                attribute,
                lo=bounds[b],
                hi=None if bounds[b + 1] is None else _just_below(float(bounds[b + 1]), integer),  # type: ignore[arg-type]
                numeric=True,
            )
            for b in range(len(bounds) - 1)
        ]
    text = column.astype(object)
    return [Part(attribute, values=(str(v),)) for v in sorted(set(text[train].dropna()) - {OTHER})]


def glass_box(
    raw: pd.DataFrame,
    y: np.ndarray,
    train: np.ndarray,
    *,
    budget: int,
    pairs: int = 10,
    seed: int = 7,
    offset: np.ndarray | None = None,
) -> Shape:
    """Fit the glass box on the training rows and keep `budget` rules of it.

    `raw` holds each field's values (numbers as floats, categories as text with `(other)` and
    missing as NaN). `offset` is each row's log-odds from what is not a field (a store's
    engagement): the fields' shapes are learned beside it.
    """
    from interpret.glassbox import ExplainableBoostingClassifier  # type: ignore[import-untyped]

    frame = pd.DataFrame(index=raw.index)
    names = list(raw.columns)
    types: list[str] = []
    for c in names:
        if raw[c].dtype.kind in "fi":
            frame[c] = raw[c].astype(float)
            types.append("continuous")
        else:
            frame[c] = raw[c].astype(object).where(raw[c].notna(), MISSING).astype(str)
            types.append("nominal")
    ebm = ExplainableBoostingClassifier(
        feature_types=types,
        interactions=pairs if pairs and len(names) > 1 else 0,
        outer_bags=4,
        random_state=seed,
        n_jobs=-1,
    )
    # Shapes need tens of thousands of rows, not every lead-snapshot of a long history.
    rng = np.random.default_rng(seed)
    fit_rows = train & (rng.random(len(train)) < min(1.0, MAX_FIT_ROWS / max(int(train.sum()), 1)))
    with warnings.catch_warnings():  # "missing values detected": they are a segment of their own here
        warnings.simplefilter("ignore", UserWarning)
        ebm.fit(frame[fit_rows], y[fit_rows], init_score=None if offset is None else offset[fit_rows])
    contrib = ebm.eval_terms(frame)
    term_features = [tuple(int(i) for i in t) for t in ebm.term_features_]
    integer = {c: bool(raw[c].dtype.kind in "fi" and (raw[c].dropna() % 1 == 0).all()) for c in names}

    fields: dict[str, _Field] = {}
    for t, feats in enumerate(term_features):
        if len(feats) == 1:
            f = _field(names[feats[0]], raw[names[feats[0]]], contrib[:, t], train)
            if f is not None:
                fields[f.attribute] = f
    candidates: list[tuple[float, Part, Part]] = []
    found: list[tuple[str, str]] = []
    for t, feats in enumerate(term_features):
        if len(feats) != 2:
            continue
        a, b = names[feats[0]], names[feats[1]]
        found.append((a, b))
        b_parts = _fine(raw[b], train, b, integer[b])
        for pa in _fine(raw[a], train, a, integer[a]):
            ma = pa.mask(raw[a])
            for pb in b_parts:
                cell = ma & pb.mask(raw[b]) & train
                n = int(cell.sum())
                if n >= max(30, MIN_SHARE * train.sum()):
                    m = float(contrib[cell, t].mean())
                    candidates.append((n * m * m, pa, pb))
    candidates.sort(key=lambda x: (-x[0], x[1].attribute, x[2].attribute))
    strength = {
        (names[f[0]], names[f[1]]): float(np.abs(contrib[train, t]).mean())
        for t, f in enumerate(term_features)
        if len(f) == 2
    }
    found.sort(key=lambda ab: -strength[ab])

    # The greedy budget: the next rule goes where the most of the model's shape is still unexplained.
    segments = dict.fromkeys(fields, 1)
    cells: list[tuple[Part, Part]] = []
    next_cell = 0
    pair_terms = [t for t, f in enumerate(term_features) if len(f) == 2]
    shape_total = sum(f.options[1][0] for f in fields.values()) + float(
        np.sum(contrib[train][:, pair_terms] ** 2) if pair_terms else 0.0
    )
    steps: list[str | None] = []
    """Each rule in the order the budget gave it: a field's next segment, or None for the next cell."""
    for _ in range(budget):
        best_field, gain = None, MIN_GAIN * shape_total
        for name, f in sorted(fields.items()):
            k = segments[name]
            if k + 1 in f.options:
                g = f.options[k][0] - f.options[k + 1][0]
                if g > gain:
                    best_field, gain = name, g
        if next_cell < len(candidates) and candidates[next_cell][0] > max(gain, MIN_GAIN * shape_total):
            cells.append((candidates[next_cell][1], candidates[next_cell][2]))
            next_cell += 1
            steps.append(None)
        elif best_field is not None:
            segments[best_field] += 1
            steps.append(best_field)
        else:
            break

    def build(n_steps: int) -> Shape:
        """The design after the budget's first n_steps rules."""
        counts = dict.fromkeys(fields, 1)
        n_cells = 0
        for step in steps[:n_steps]:
            if step is None:
                n_cells += 1
            else:
                counts[step] += 1
        columns: list[np.ndarray] = []
        terms: list[Term] = []
        by_field: dict[str, list[int]] = {}
        for name in names:
            if name not in fields or counts[name] < 2:
                continue
            parts = _field_parts(fields[name], counts[name], integer[name])
            for part in _pooled(fields[name], parts, raw[name], y, train):
                by_field.setdefault(name, []).append(len(terms))
                terms.append(Term((part,)))
                columns.append(part.mask(raw[name]).astype(float))
        for pa, pb in cells[:n_cells]:
            terms.append(Term((pa, pb), field_segment=False))
            columns.append((pa.mask(raw[pa.attribute]) & pb.mask(raw[pb.attribute])).astype(float))
        X = np.column_stack(columns) if columns else np.zeros((len(raw), 0))
        return Shape(X, terms, by_field, found)

    return build(_enough(steps, build, y, train, offset, seed))


def _enough(
    steps: list[str | None],
    build: Callable[[int], Shape],
    y: np.ndarray,
    train: np.ndarray,
    offset: np.ndarray | None,
    seed: int,
) -> int:
    """How many of the budget's rules earn their place on training rows the model did not fit.

    A quarter of the training rows is held back; the rules are taken in the budget's order, a
    few at a time, and the fewest that rank those rows within ENOUGH of the best are kept. When
    the best is not two standard errors better than no rules at all (no signal), one rule is.
    """
    from sklearn.linear_model import LogisticRegression

    from accord.evaluation.metrics import auc, auc_interval

    if len(steps) <= 1:
        return len(steps)
    rng = np.random.default_rng(seed + 1)
    held = train & (rng.random(len(train)) < 0.25)
    fit = train & ~held
    if not (y[held].any() and (1 - y[held]).any() and y[fit].any() and (1 - y[fit]).any()):
        return len(steps)
    stride = max(1, len(steps) // 10)
    scores: dict[int, tuple[float, float]] = {}
    for n in sorted({0, *range(1, len(steps), stride), len(steps)}):
        X = build(n).X if n else np.zeros((len(y), 0))
        if offset is not None:
            X = np.column_stack([X, offset])
        if not X.shape[1]:
            scores[n] = (0.5, 0.0)
            continue
        ranked = LogisticRegression(max_iter=5000).fit(X[fit], y[fit]).decision_function(X[held])
        lo, hi = auc_interval(ranked, y[held])
        scores[n] = (float(auc(ranked, y[held])), (hi - lo) / (2 * 1.96))
    best = max(scores, key=lambda n: (scores[n][0], -n))
    if scores[best][0] - scores[0][0] < 2 * scores[best][1]:  # no better than no rules, within its error
        return 1
    return max(1, min(n for n, (v, _) in scores.items() if v >= scores[best][0] - ENOUGH))


def codes(column: pd.Series, train: np.ndarray) -> np.ndarray:
    """A field's values as small integer codes: numbers in deciles, missing a code of its own."""
    if column.dtype.kind in "fi":
        x = column.to_numpy(dtype=float)
        present = x[train & ~np.isnan(x)]
        if not len(present):
            return np.zeros(len(x), dtype=int)
        cuts = np.unique(np.quantile(present, np.linspace(0, 1, 11)[1:-1]))
        return np.where(np.isnan(x), -1, np.searchsorted(cuts, x)).astype(int)
    codes, _ = pd.factorize(column.astype(object).where(column.notna(), MISSING), sort=True)
    return np.asarray(codes, dtype=int)


def association(raw: pd.DataFrame, train: np.ndarray) -> list[tuple[str, str, float]]:
    """Cramer's V of every two fields on the training rows, strongest first."""
    from scipy.stats.contingency import association as cramer

    coded = {c: codes(raw[c], train)[train] for c in raw.columns}
    out: list[tuple[str, str, float]] = []
    names = list(raw.columns)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            table = pd.crosstab(coded[a], coded[b]).to_numpy()
            if min(table.shape) < 2:
                continue
            out.append((a, b, float(cramer(table, method="cramer"))))
    out.sort(key=lambda x: (-x[2], x[0], x[1]))
    return out
