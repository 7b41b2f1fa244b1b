"""Learn a readable points-based pact from history: a glass box cut down to whole points on 0 to 100.

Each field's values are read as the scorer reads them (categories with rare ones grouped,
placeholders such as "Select" as missing, dates left out); fields that say one thing are
left to the stronger. The glass box (`glassbox.py`) keeps the segments of fields and the
cells of pairs that explain most within the rule budget; in the store, each touch type
becomes one engagement rule with step decay whose feature the scorer itself computes, beside
the few splits of a type and pairs of touches near in time that `touch_screen.py` keeps. A
regularised logistic regression on an honest split (earlier snapshots against later ones
in the store; a seeded held-out share for a flat file) gives the points, scaled so the best
training leads reach 100, and P(convert) = 1 / (1 + exp(-(intercept + score / scale))).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import yaml
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

from accord.errors import EvaluationError
from accord.evaluation.backtest import (
    DAYS_PER_MONTH,
    Backtest,
    BacktestSpec,
    History,
    Progress,
    measure,
    measure_on,
    score_snapshots,
)
from accord.evaluation.glassbox import Part, Term, association, codes, glass_box, pav
from accord.evaluation.metrics import auc, auc_interval
from accord.evaluation.thresholds import advise
from accord.evaluation.touch_screen import STEPS as SCREEN_STEPS
from accord.evaluation.touch_screen import Candidate, screen
from accord.model.fields import json_keys, property_value
from accord.pact.io import parse_pact
from accord.pact.schema import Pact
from accord.scoring.batch import ACCOUNT_PREFIX, engagement_by_rule
from accord.scoring.run import inputs_as_of
from accord.stats import sigmoid
from accord.store.connection import Store

PLACEHOLDERS = ("", "select", "none", "null", "n/a", "na", "-", "--", "unknown", "(none)", "nan", "not set")


@dataclass(frozen=True)
class LearnSpec:
    """How to learn: feature shaping, the rule budget, regularisation, the split and the MQL line."""

    bins: int = 5
    max_levels: int = 12
    min_share: float = 0.01
    l2: float = 1.0
    half_lives: tuple[float, ...] = (2.0, 10.0, 45.0, 180.0, 730.0)
    """Each touch type is first fitted at these half-lives, from "active this week" to "engaged
    over the years"; their fitted sum is one function of a touch's age, which becomes the touch
    type's one engagement rule with step decay."""
    cap_per_30_days: int = 5
    test_share: float = 0.3
    seed: int = 7
    capacity_per_month: float | None = None
    target_precision: float | None = None
    name: str = "learned"
    force: bool = False
    """Set an MQL line even when the held-out AUC interval includes 0.5 (no better than chance)."""
    max_rules: int = 40
    """At most this many rules, given to the fields, cells and touch types that explain most."""
    pairs: int = 10
    """Interactions the glass box looks for; their strongest cells become `all:` rules."""
    max_association: float = 0.7
    """Two fields this associated (Cramer's V) say one thing: the weaker is left out."""
    max_screened: int = 4
    """At most this many splits of a touch type and pairs of touches near in time (in the store)."""


SCALE_MAX = 100
"""Learned scores run from 0 to this."""
STEP_DAYS = (3, 7, 14, 30, 60, 90, 180, 365)
"""Where a learned engagement rule's step decay changes."""


@dataclass
class Level:
    """One column of the design: a category, a bin, missing, other, or a touch type."""

    attribute: str
    """The pact field (`lead.seniority`, `account.employees`, `lead.properties.origin`) or touch type."""
    kind: str
    """equals, other, missing, bin, touch."""
    value: Any = None
    lo: float | None = None
    hi: float | None = None
    others: list[str] = field(default_factory=list)
    placeholders: list[str] = field(default_factory=list)
    half_life: float | None = None
    term: Term | None = None
    """kind `part`: the glass box's segment of a field, or its cell of two fields."""
    steps: list[tuple[float, float]] | None = None
    """kind `touch` with step decay: [[days, factor], ...]."""
    rule: dict[str, Any] | None = None
    """kind `touch`: a screened condition (a split of a type, or two near in time), as the pact writes it."""

    @property
    def label(self) -> str:
        """A short human label."""
        if self.term is not None:
            return " and ".join(_part_label(p) for p in self.term.parts)
        if self.kind == "equals":
            return f"{self.attribute} = {self.value}"
        if self.kind == "bin":
            lo = "" if self.lo is None else f"{self.lo:g}"
            hi = "" if self.hi is None else f"{self.hi:g}"
            return f"{self.attribute} in [{lo}, {hi}]"
        if self.kind == "touch":
            if self.rule is not None:
                return str(self.value)
            if self.steps is not None:
                return f"each {self.value}"
            return f"each {self.value} (half-life {self.half_life:g} days)"
        return f"{self.attribute} is {self.kind}"


@dataclass
class Design:
    """The feature matrix, its levels grouped by attribute."""

    X: np.ndarray
    levels: list[Level]
    groups: dict[str, list[int]]
    """attribute -> level indices (fit attributes only)."""
    numeric: set[str] = field(default_factory=set)
    raw: pd.DataFrame | None = None
    """The features before encoding, for the reference model."""
    left_out: dict[str, str] = field(default_factory=dict)
    """Columns not learned from, each with the reason (dates: a date is not a category)."""
    kept: dict[str, list[str]] = field(default_factory=dict)
    """A category's values kept as themselves (the rest are `(other)`)."""
    placeholders: dict[str, list[str]] = field(default_factory=dict)
    """A field's placeholder texts ("Select", "n/a"): missing, as empty is."""
    rare: dict[str, list[str]] = field(default_factory=dict)
    """A category's values seen too rarely to stand alone, grouped as `(other)`."""


def _clean(values: pd.Series) -> pd.Series:
    text = values.astype("string").str.strip().str.lower()
    return text.mask(text.isin(PLACEHOLDERS) | text.isna())


def design_from_frame(df: pd.DataFrame, columns: dict[str, str], spec: LearnSpec) -> Design:
    """Encode `columns` (data column -> pact field) of a frame into levels."""
    cols: list[np.ndarray] = []
    levels: list[Level] = []
    groups: dict[str, list[int]] = {}
    numeric: set[str] = set()
    left_out: dict[str, str] = {}
    kept_values: dict[str, list[str]] = {}
    held: dict[str, list[str]] = {}
    rare: dict[str, list[str]] = {}
    raw = pd.DataFrame(index=df.index)
    n = len(df)
    for col, attribute in columns.items():
        original = df[col]
        text = _clean(original)
        placeholders = sorted(
            {str(v).strip() for v in original.dropna().astype(str) if str(v).strip().lower() in PLACEHOLDERS}
        )
        present = text.dropna()
        if present.empty:
            continue
        if placeholders:
            held[attribute] = placeholders
        nums = pd.to_numeric(present, errors="coerce")
        if nums.notna().mean() < 0.95 and _dates(present) >= 0.95:
            left_out[attribute] = (
                "holds dates: each day would be a category of its own; a recency in days needs the instant "
                "each lead was scored at, which a flat file does not have"
            )
            continue
        idx: list[int] = []
        if nums.notna().mean() >= 0.95 and nums.nunique() > spec.bins:
            numeric.add(attribute)
            numbers = pd.to_numeric(text, errors="coerce")
            values = pd.Series(numbers.to_numpy(dtype=float, na_value=np.nan), index=text.index)
            raw[attribute] = values
            cuts = np.unique(np.quantile(values.dropna(), np.linspace(0, 1, spec.bins + 1)[1:-1]))
            integer = bool((values.dropna() % 1 == 0).all())
            which = np.searchsorted(cuts, values.fillna(np.inf).to_numpy(), side="left")
            for b in range(len(cuts) + 1):
                lo = (
                    None
                    if b == 0
                    else float(cuts[b - 1]) + (1.0 if integer else 1e-9 * max(1.0, abs(cuts[b - 1])))
                )
                hi = None if b == len(cuts) else float(cuts[b])
                hit = (which == b) & values.notna().to_numpy()
                if hit.any():
                    idx.append(len(levels))
                    levels.append(Level(attribute, "bin", lo=lo, hi=hi))
                    cols.append(hit.astype(float))
        else:
            shares = present.value_counts() / n
            # Most common first, ties by value: the order rows arrive in (engines differ) never shows.
            ranked = sorted(shares.index, key=lambda v: (-shares[v], str(v)))
            kept = [v for v in ranked if shares[v] >= spec.min_share][: spec.max_levels]
            kept_values[attribute] = [str(v) for v in kept]
            rare[attribute] = sorted({str(v) for v in present} - set(kept_values[attribute]))
            grouped = text.astype(object)
            grouped[text.notna() & ~text.isin(kept)] = "(other)"
            raw[attribute] = grouped
            for v in kept:
                idx.append(len(levels))
                levels.append(Level(attribute, "equals", value=v))
                cols.append((text == v).fillna(False).to_numpy(dtype=float))
            other = text.notna() & ~text.isin(kept)
            if other.any():
                idx.append(len(levels))
                levels.append(Level(attribute, "other", others=list(kept), placeholders=placeholders))
                cols.append(other.to_numpy(dtype=float))
        missing = text.isna()
        if missing.any() and not missing.all():
            idx.append(len(levels))
            levels.append(Level(attribute, "missing", placeholders=placeholders))
            cols.append(missing.to_numpy(dtype=float))
        if len(idx) >= 2:
            groups[attribute] = idx
        else:  # a single level carries no information
            for i in sorted(idx, reverse=True):
                levels.pop(i)
                cols.pop(i)
    if not levels:
        raise EvaluationError("no usable feature: every column is empty, constant or an id")
    X = np.column_stack(cols)
    return Design(X, levels, groups, numeric, raw, left_out, kept_values, held, rare)


def _dates(values: pd.Series) -> float:
    """The share of values that read as dates or date-times (ISO 8601, as exports write them)."""
    sample = values.head(2000).astype(str)
    iso = sample.str.match(r"^\d{4}-\d{2}-\d{2}([ t]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?([+-]\d{2}:?\d{2}|z)?$")
    return float(iso.mean()) if len(sample) else 0.0


@dataclass
class PointsModel:
    """A logistic model expressed as integer points per level, on a 0 to 100 scale."""

    design: Design
    points: np.ndarray
    intercept: float
    """Log-odds of converting at score 0."""
    scale: float
    """Points per unit of log-odds."""
    expected: dict[int, float] = field(default_factory=dict)
    """For each cell rule: the conversion its fields' own rules expect of its training rows."""
    exact: np.ndarray | None = None
    """The points before rounding."""

    def score(self, X: np.ndarray) -> np.ndarray:
        """Total points of each row, between the floor 0 and the ceiling SCALE_MAX."""
        out: np.ndarray = np.clip(X @ self.points, 0, SCALE_MAX)
        return out

    def probability(self, score: np.ndarray) -> np.ndarray:
        """P(convert) for a score."""
        return sigmoid(self.intercept + score / self.scale)


def drop_associated(design: Design, y: np.ndarray, train: np.ndarray, spec: LearnSpec) -> None:
    """Leave out a field that says what a stronger one says (Cramer's V at least `max_association`).

    Two fields carrying one signal split its points between them, and the rules then quote
    rates their points seem to contradict; the one that ranks training leads better alone stays.
    """
    assert design.raw is not None  # noqa: S101 - built by design_from_frame
    raw = design.raw
    names = [c for c in raw.columns if c not in design.left_out]
    alone = {c: _alone_auc(raw[c], y, train) for c in names}
    for a, b, v in association(raw[names], train):
        if a in design.left_out or b in design.left_out or v < spec.max_association:
            continue
        strong, weak = (a, b) if (alone[a], b) >= (alone[b], a) else (b, a)
        design.left_out[weak] = (
            f"says what {strong} says (Cramer's V {v:.2f}); {strong} ranks training leads better alone "
            f"(AUC {alone[strong]:.3f} against {alone[weak]:.3f})"
        )


def _alone_auc(column: pd.Series, y: np.ndarray, train: np.ndarray) -> float:
    """Training AUC of a field's own conversion rates (numbers in deciles)."""
    key = pd.Series(codes(column, train))
    rate = pd.Series(y[train]).groupby(key[train].to_numpy()).mean()
    return auc(key[train].map(rate).to_numpy(dtype=float), y[train])


def shaped_design(
    design: Design,
    y: np.ndarray,
    train: np.ndarray,
    spec: LearnSpec,
    budget: int,
    offset: np.ndarray | None = None,
    names: list[str] | None = None,
) -> Design:
    """The fields' parts the glass box keeps within `budget` rules, as the design's levels.

    `names` are the fit fields among the raw columns (all of them by default); `offset` is each
    row's log-odds from engagement, learned beside the fields.
    """
    assert design.raw is not None  # noqa: S101 - built by design_from_frame
    names = [c for c in (names or list(design.raw.columns)) if c not in design.left_out]
    fields = design.raw[names]
    shape = glass_box(fields, y, train, budget=budget, pairs=spec.pairs, seed=spec.seed, offset=offset)
    levels = [Level(t.parts[0].attribute if t.field_segment else "cell", "part", term=t) for t in shape.terms]
    return Design(
        shape.X,
        levels,
        shape.fields,
        design.numeric,
        design.raw,
        design.left_out,
        design.kept,
        design.placeholders,
        design.rare,
    )


def fit_points(design: Design, train: np.ndarray, y: np.ndarray, spec: LearnSpec) -> PointsModel:
    """Fit the logistic model on the training rows and turn it into integer points from 0 to 100.

    Within a field, points follow the conversion rates its rules quote (a segment that converted
    better never gets fewer points); each field's lowest segment is its baseline at 0. The scale
    puts the best fit (and the 99th percentile of engagement) at 100. A cell of two fields keeps
    its points only when they lean the way its leads converted against what the fields' own
    rules expect of them.
    """
    X = design.X[train]
    yt = y[train]
    model = LogisticRegression(C=1.0 / spec.l2, max_iter=5000)
    model.fit(X, yt)
    coef = model.coef_[0].astype(float).copy()
    intercept = float(model.intercept_[0])
    weights = X.sum(axis=0)
    for idx in design.groups.values():
        rates = np.array([yt[X[:, i] > 0].mean() if weights[i] else 0.0 for i in idx])
        ranked = [idx[k] for k in np.argsort(rates, kind="stable")]
        coef[ranked] = pav(coef[ranked], weights[ranked], increasing=True)
        base = coef[idx].min()
        coef[idx] -= base
        intercept += base
    touch = [i for i, lv in enumerate(design.levels) if lv.kind == "touch"]
    grouped = {i for idx in design.groups.values() for i in idx}
    cells = [i for i in range(len(coef)) if i not in grouped and i not in touch]
    cells += [i for i in touch if design.levels[i].rule is not None]
    # The top of the scale is the best training lead (the highest 0.1%), not the best lead imaginable.
    total = X @ coef
    span = float(np.quantile(total, 0.999)) if len(total) else 0.0
    scale = SCALE_MAX / span if span > 0 else 1.0
    pm = PointsModel(design, np.round(coef * scale), intercept, scale, exact=coef * scale)
    calibrate(pm, train, y)
    _honest_cells(pm, cells, train, y)
    calibrate(pm, train, y)
    return pm


def calibrate(pm: PointsModel, train: np.ndarray, y: np.ndarray) -> None:
    """What each whole-point score means: a logistic curve of the final scores on the training rows.

    Pooling and rounding move points off the fitted coefficients, so the probability the pact
    writes comes from the points themselves.
    """
    s = pm.score(pm.design.X[train]).reshape(-1, 1)
    if np.ptp(s) == 0:
        return
    curve = LogisticRegression(C=1e6, max_iter=5000).fit(s, y[train])
    slope = float(curve.coef_[0][0])
    if slope > 0:
        pm.intercept = float(curve.intercept_[0])
        pm.scale = 1.0 / slope


def _honest_cells(pm: PointsModel, cells: list[int], train: np.ndarray, y: np.ndarray) -> None:
    """Drop a cell's points when they lean against how its leads converted beside what its fields expect."""
    X = pm.design.X[train]
    total = X @ pm.points
    for i in cells:
        hit = X[:, i] > 0
        if not pm.points[i] or not hit.any():
            continue
        without = np.clip(total[hit] - pm.points[i], 0, SCALE_MAX)
        expected = float(pm.probability(without).mean())
        observed = float(y[train][hit].mean())
        if (observed - expected) * pm.points[i] <= 0:
            total[hit] -= pm.points[i]
            pm.points[i] = 0
        else:
            pm.expected[i] = expected


def reference_frame(design: Design) -> pd.DataFrame:
    """The features before encoding, as reference models take them: numbers, and categories."""
    assert design.raw is not None  # noqa: S101 - built by design_from_frame
    raw = design.raw.copy()
    for c in raw.columns:
        if c in design.numeric or raw[c].dtype.kind in "fi":
            raw[c] = pd.to_numeric(raw[c], errors="coerce").astype(float)
        else:
            raw[c] = raw[c].astype("category")
    return raw


def reference_auc(design: Design, train: np.ndarray, test: np.ndarray, y: np.ndarray, seed: int) -> float:
    """AUC of gradient boosting on the same features and split (the quality bar)."""
    raw = reference_frame(design)
    categorical = [raw[c].dtype == "category" for c in raw.columns]
    for c, is_cat in zip(raw.columns, categorical, strict=True):
        if is_cat:
            codes = raw[c].cat.codes.astype(float)
            raw[c] = codes.mask(codes < 0)
    gbm = HistGradientBoostingClassifier(categorical_features=categorical, random_state=seed)
    gbm.fit(raw.to_numpy()[train], y[train])
    return auc(gbm.predict_proba(raw.to_numpy()[test])[:, 1], y[test])


@dataclass
class Learned:
    """The learned pact and the evidence for it."""

    pact: Pact
    yaml: str
    model: PointsModel
    auc_points: float
    auc_reference: float
    split: str
    threshold: float
    threshold_reason: str
    baseline: Backtest | None = None
    """The current pact's back-test the store learning started from (None for a flat file);
    pass it to `compare_pacts` as `old_result` rather than back-testing that pact again."""
    auc_interval: tuple[float, float] = (float("nan"), float("nan"))
    """95% interval of the held-out AUC of the points."""
    chance: bool = False
    """The interval includes 0.5: the points rank held-out leads no better than chance."""
    left_out: dict[str, str] = field(default_factory=dict)
    """Columns not learned from, with the reason."""
    train: np.ndarray | None = None
    """Which rows of the design trained (the rest are the held-out test), for other models to compare."""
    y: np.ndarray | None = None
    """The outcome of each row of the design."""
    calibration: list[CalibrationRow] = field(default_factory=list)
    """Held-out leads by score band: what the pact's probabilities said against what happened."""
    touches_tried: int = 0
    """Splits of a touch type and pairs of touches near in time the screen tried (in the store)."""
    touches_kept: list[str] = field(default_factory=list)
    """Those of them the pact holds as rules, in words."""


@dataclass(frozen=True)
class CalibrationRow:
    """Held-out leads scoring lo to hi: how many, the mean P the pact gives them, and how many converted."""

    lo: int
    hi: int
    leads: int
    predicted: float
    observed: float


def calibration_table(
    pm: PointsModel, scores: np.ndarray, y: np.ndarray, width: int = 10
) -> list[CalibrationRow]:
    """Predicted against observed conversion per band of `width` points, on the held-out rows."""
    out = []
    for lo in range(0, SCALE_MAX, width):
        hi = lo + width - 1 if lo + width < SCALE_MAX else SCALE_MAX
        at = (scores >= lo) & (scores <= hi) if hi == SCALE_MAX else (scores >= lo) & (scores < lo + width)
        if at.any():
            predicted = float(pm.probability(scores[at]).mean())
            out.append(CalibrationRow(lo, hi, int(at.sum()), predicted, float(y[at].mean())))
    return out


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-")[:40] or "x"


def _short(attribute: str) -> str:
    """A field as people say it: `lead.properties.budget` is budget, `account.employees` account employees."""
    scope, _, rest = attribute.partition(".")
    rest = rest.removeprefix("properties.")
    return rest if scope == "lead" else f"{scope} {rest}"


def _num(x: float) -> str:
    return f"{x:,.10g}" if abs(x) >= 10_000 else f"{x:.10g}"


def _part_label(part: Part) -> str:
    name = _short(part.attribute)
    if part.numeric:
        if part.lo is None and part.hi is None:
            text = f"{name} any"
        elif part.lo is None:
            text = f"{name} up to {_num(part.hi)}"  # type: ignore[arg-type]
        elif part.hi is None:
            text = f"{name} {_num(part.lo)} or more"
        else:
            text = f"{name} {_num(part.lo)} to {_num(part.hi)}"
        return text + (" or missing" if part.missing else "")
    said = (
        list(part.values) + (["a rarer value"] if part.other else []) + (["missing"] if part.missing else [])
    )
    return f"{name} {said[0]}" if len(said) == 1 else f"{name} {', '.join(said[:-1])} or {said[-1]}"


def _part_conditions(part: Part, design: Design) -> list[dict[str, Any]]:
    """The conditions of which a part's rule needs one (any)."""
    at = part.attribute
    out: list[dict[str, Any]] = []
    if part.numeric:
        out.append({"field": at, "between": [part.lo, part.hi]})
    rare = design.rare.get(at, [])
    # a handful of rare values reads better named than as "none of the others"
    values = [*part.values, *(rare if part.other and len(rare) <= 5 else [])]
    if len(values) == 1:
        out.append({"field": at, "equals": values[0]})
    elif values:
        out.append({"field": at, "in": values})
    held = design.placeholders.get(at, [])
    if part.other and len(rare) > 5:
        out.append({"field": at, "not_in": [*design.kept.get(at, []), *held, ""]})
    if part.missing:
        out.append({"field": at, "is_missing": True})
        if held:
            out.append({"field": at, "in": held})
    return out


def _rule_id(term: Term) -> str:
    bits = []
    for p in term.parts:
        if p.numeric:
            span = f"{'min' if p.lo is None else _num(p.lo)}-{'max' if p.hi is None else _num(p.hi)}"
        else:
            span = "-".join(
                [*p.values[:2], *(["other"] if p.other else []), *(["missing"] if p.missing else [])]
            )
        bits.append(f"{_slug(_short(p.attribute))}-{_slug(span)}")
    return "-".join(bits)[:80].strip("-")


def _fit_rule(
    level: Level, points: int, rate: float, design: Design, expected: float | None
) -> dict[str, Any]:
    assert level.term is not None  # noqa: S101 - the learned design's fit levels are parts
    term = level.term
    said = f"{level.label}: converted at {rate:.1%}"
    if expected is not None:
        said += f" where its fields' own rules expect {expected:.1%}"
    rule: dict[str, Any] = {"id": _rule_id(term), "description": said}
    if term.field_segment:
        conditions = _part_conditions(term.parts[0], design)
        if len(conditions) == 1:
            rule.update(conditions[0])
        else:
            rule["any"] = conditions
    else:
        rule["all"] = [_part_conditions(p, design)[0] for p in term.parts]
    rule["points"] = points
    return rule


def _quantile_cuts(values: np.ndarray, shares: tuple[float, float, float]) -> list[float]:
    """Grade or band lines at quantiles, as whole points (a line of 70.11 points reads as noise)."""
    cuts = [float(round(np.quantile(values, q))) if len(values) else 0.0 for q in shares]
    for i in range(1, 3):  # strictly descending
        cuts[i] = min(cuts[i], cuts[i - 1] - 1)
    return cuts


def pact_document(
    pm: PointsModel,
    y: np.ndarray,
    train: np.ndarray,
    spec: LearnSpec,
    threshold: float,
    touch_levels: list[int],
    base: Pact | None,
) -> dict[str, Any]:
    """The learned pact as a YAML-ready document."""
    X = pm.design.X
    fit_rules: list[dict[str, Any]] = []
    eng_rules: list[dict[str, Any]] = []
    for i, level in enumerate(pm.design.levels):
        pts = int(pm.points[i])
        if pts == 0:
            continue
        hit = X[train, i] > 0
        rate = float(y[train][hit].mean()) if hit.any() else float("nan")
        if level.kind == "touch" and level.rule is not None:
            eng_rules.append(_screened_rule(level, pts, rate, pm.expected.get(i), spec))
            continue
        if level.kind == "touch":
            eng_rules.append(_touch_rule(level, pts, spec))
            continue
        fit_rules.append(_fit_rule(level, pts, rate, pm.design, pm.expected.get(i)))
    seen: dict[str, int] = {}
    for rule in [*fit_rules, *eng_rules]:  # a category may be called "other" or "missing" too
        n = seen.get(rule["id"], 0)
        seen[rule["id"]] = n + 1
        if n:
            rule["id"] = f"{rule['id']}-{n + 1}"
    fit_idx = [i for i, lv in enumerate(pm.design.levels) if lv.kind != "touch"]
    fit_scores = X[train][:, fit_idx] @ pm.points[fit_idx]
    eng_scores = (
        X[train][:, touch_levels] @ pm.points[touch_levels] if touch_levels else np.zeros(int(train.sum()))
    )
    grades = dict(zip(("A", "B", "C"), _quantile_cuts(fit_scores, (0.9, 0.7, 0.4)), strict=True))
    engaged = eng_scores[eng_scores > 0]
    if len(engaged):
        bands = dict(zip((1, 2, 3), _quantile_cuts(engaged, (0.95, 0.8, 0.5)), strict=True))
    else:  # no engagement rules (a flat file): every lead is band 4
        bands = {1: 3.0, 2: 2.0, 3: 1.0}
    p_at = pm.probability(np.array([threshold]))[0]
    marks = np.arange(0, SCALE_MAX + 1, 20)
    means = ", ".join(
        f"{m}: {p:.1%}" for m, p in zip(marks, pm.probability(marks.astype(float)), strict=True)
    )
    doc: dict[str, Any] = {
        "pact": f"{base.pact}-{spec.name}" if base else spec.name,
        "version": (base.version + 1) if base else 1,
        "description": (
            f"Learned from history. Scores run from 0 to {SCALE_MAX}; the chance that a lead converts "
            f"at a score: {means} (P = 1 / (1 + exp(-({pm.intercept:.4f} + score / {pm.scale:.4f})))). "
            f"MQL at score >= {threshold:g} (P = {p_at:.1%}). A draft: sign it only after the review."
        ),
        "teams": dict(base.teams)
        if base
        else {"sales": ["sales_email", "sales_call", "meeting", "demo", "proposal"]},
        "models": {
            "default": {
                "fit": {"rules": fit_rules, "grades": grades},
                "engagement": {
                    "decay": {"half_life_days": spec.half_lives[-1]},
                    "lookback_days": 365,
                    "rules": eng_rules,
                    "bands": bands,
                },
                "total": {"floor": 0, "ceiling": SCALE_MAX},
                "account": {"rollup": "sum", "weight": 0.0},
            }
        },
        "definitions": {"mql": {"min_score": float(threshold)}},
    }
    if base is not None:
        doc["recycle"] = base.recycle.model_dump()
    return doc


def _touch_rule(level: Level, points: int, spec: LearnSpec) -> dict[str, Any]:
    """One touch type's engagement rule: its points fade by the steps its fitted shape over age took."""
    assert level.steps is not None  # noqa: S101 - learned touch levels carry their steps
    fades = ", ".join(f"{f:.0%} to {d:g} days" for d, f in level.steps)
    kind = "" if points > 0 else " counts against the lead"
    return {
        "id": f"touch-{_slug(level.value)}" + ("" if points > 0 else "-against"),
        "description": f"each {level.value}{kind}: {fades}, then nothing "
        f"(at most {spec.cap_per_30_days} per 30 days)",
        "touch_type": level.value,
        "points": points,
        "decay": {"steps": [[d, f] for d, f in level.steps]},
        "cap": {"max": spec.cap_per_30_days, "per_days": 30},
    }


def _screened_rule(
    level: Level, points: int, rate: float, expected: float | None, spec: LearnSpec
) -> dict[str, Any]:
    """A split of a touch type or two touches near in time, with the rate its leads converted at."""
    assert level.rule is not None and level.steps is not None  # noqa: S101 - screened levels carry both
    fades = ", ".join(f"{f:.0%} to {d:g} days" for d, f in level.steps)
    said = f"each {level.value}: {fades}, then nothing (at most {spec.cap_per_30_days} per 30 days); "
    said += f"leads with one converted at {rate:.1%}"
    if expected is not None:
        said += f" where the rest of their score expects {expected:.1%}"
    return {
        "id": "touch-" + "-near-".join(_slug(_condition_key(c)) for c in level.rule.get("all", [level.rule])),
        "description": said,
        **level.rule,
        "points": points,
        "decay": {"steps": [[d, f] for d, f in level.steps]},
        "cap": {"max": spec.cap_per_30_days, "per_days": 30},
    }


def _condition_key(c: dict[str, Any]) -> str:
    return " ".join(
        [c["touch_type"], *([c["channel"]] if "channel" in c else []), *c.get("property", {}).values()]
    )


def dump_pact(doc: dict[str, Any]) -> str:
    """YAML text with a header saying what it is."""
    header = (
        "# A pact learned by `accord learn` from history. Review it before anyone signs it:\n"
        "# every rule's description says how the leads it fires for converted in training.\n"
    )
    return header + yaml.safe_dump(_native(doc), sort_keys=False, allow_unicode=True, width=100)


def _native(x: Any) -> Any:
    """NumPy scalars as Python numbers, integral floats as ints (YAML reads better)."""
    if isinstance(x, dict):
        return {k: _native(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_native(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and x.is_integer() and abs(x) < 1e15:
        return int(x)
    return x


# --------------------------------------------------------------------- flat files


def learn_from_frame(
    df: pd.DataFrame,
    outcome: str,
    id_column: str | None,
    spec: LearnSpec | None = None,
    canonical: set[str] | None = None,
    flat_file: dict[str, str | None] | None = None,
) -> Learned:
    """Learn a points pact from a flat table (one row per lead, an outcome column).

    Columns named like a canonical lead column (`canonical`) become `lead.X` rules;
    any other column a `lead.properties.X` rule, which flat scoring reads from the
    column of that name. `flat_file` (id column, mapping) is remembered in the pact, so
    a file of the same shape scores with no extra option.
    """
    spec = spec or LearnSpec()
    if outcome not in df.columns:
        raise EvaluationError(f"no outcome column {outcome!r}; columns: {', '.join(map(str, df.columns))}")
    y = _outcome(df[outcome])
    if id_column is not None and id_column not in df.columns:
        raise EvaluationError(f"no id column {id_column!r}; columns: {', '.join(map(str, df.columns))}")
    known = canonical or set()
    features = {
        c: (f"lead.{c}" if c in known and c not in ("id", "properties") else f"lead.properties.{c}")
        for c in df.columns
        if c not in (outcome, id_column)
    }
    design = design_from_frame(df, features, spec)
    rng = np.random.default_rng(spec.seed)
    test = rng.random(len(df)) < spec.test_share
    train = ~test
    drop_associated(design, y, train, spec)
    shaped = shaped_design(design, y, train, spec, spec.max_rules, None)
    pm = fit_points(shaped, train, y, spec)
    scores = pm.score(shaped.X)
    threshold, reason = _flat_threshold(scores[test], y[test], spec)
    split = (
        f"random hold-out of {spec.test_share:.0%} (seed {spec.seed}): "
        f"{int(train.sum()):,} train, {int(test.sum()):,} test"
    )
    return _finish(pm, y, train, spec, (threshold, reason), [], None, split, flat_file)


def _finish(
    pm: PointsModel,
    y: np.ndarray,
    train: np.ndarray,
    spec: LearnSpec,
    line: tuple[float, str],
    touch_levels: list[int],
    base: Pact | None,
    split: str,
    flat_file: dict[str, str | None] | None = None,
) -> Learned:
    """Measure both models on the held-out rows and write the pact."""
    test = ~train
    auc_points = auc(pm.score(pm.design.X)[test], y[test])
    interval = auc_interval(pm.score(pm.design.X)[test], y[test])
    chance = not interval[0] > 0.5
    auc_ref = reference_auc(pm.design, train, test, y, spec.seed)
    threshold, reason = line
    if chance and not spec.force:
        keep = base.definitions.mql.min_score if base is not None else None
        threshold = float(keep) if keep is not None else float(SCALE_MAX)
        reason = (
            f"no MQL line learned: the held-out AUC {auc_points:.3f} (95% interval {interval[0]:.3f} to "
            f"{interval[1]:.3f}) includes 0.5, so the points rank leads no better than chance; "
            + ("the current pact's line is kept" if keep is not None else "the line is at the top score")
            + " (--force sets a learned one)"
        )
    calibration = calibration_table(pm, pm.score(pm.design.X)[test], y[test])
    doc = pact_document(pm, y, train, spec, threshold, touch_levels, base)
    if flat_file and any(flat_file.values()):
        doc["flat_file"] = {k: v for k, v in flat_file.items() if v}
    text = dump_pact(doc)
    pact = parse_pact(text, f"{spec.name}.yaml")
    return Learned(
        pact,
        text,
        pm,
        auc_points,
        auc_ref,
        split,
        threshold,
        reason,
        auc_interval=interval,
        chance=chance,
        left_out=dict(pm.design.left_out),
        train=train,
        y=y,
        calibration=calibration,
    )


def _outcome(values: pd.Series) -> np.ndarray:
    text = values.astype("string").str.strip().str.lower()
    yes = text.isin(["1", "true", "t", "yes", "y", "won", "converted", "1.0"])
    no = text.isin(["0", "false", "f", "no", "n", "lost", "0.0", ""]) | text.isna()
    bad = ~(yes | no)
    if bad.any():
        first = values[bad].iloc[0]
        raise EvaluationError(
            f"outcome column has {int(bad.sum())} values that are not yes/no (first: {first!r}); "
            "use 1/0, true/false, yes/no or won/lost"
        )
    if yes.sum() == 0 or no.sum() == 0:
        raise EvaluationError("the outcome never varies: nothing to learn")
    return yes.to_numpy(dtype=float)


def _flat_threshold(scores: np.ndarray, y: np.ndarray, spec: LearnSpec) -> tuple[float, str]:
    order = np.sort(np.unique(scores))
    if spec.target_precision is not None:
        for t in order:
            at = scores >= t
            if at.any() and y[at].mean() >= spec.target_precision:
                return float(t), f"lowest score whose leads converted at {spec.target_precision:.0%} or more"
        return float(order[-1]), f"no score reaches a precision of {spec.target_precision:.0%}: the top score"
    t = float(round(np.quantile(scores, 0.9)))
    return t, "the top 10% of held-out leads (give --precision or --capacity to set it)"


# ------------------------------------------------------------------------ store


def _store_frame(store: Store) -> tuple[pd.DataFrame, dict[str, str]]:
    leads = store.table("leads").to_pandas()
    accounts = store.table("accounts").to_pandas().add_prefix(ACCOUNT_PREFIX)
    df = leads.merge(accounts, left_on="account_id", right_on=f"{ACCOUNT_PREFIX}id", how="left")
    columns = {c: f"lead.{c}" for c in ("seniority", "department", "country", "job_title", "source")}
    columns.update(
        {
            f"{ACCOUNT_PREFIX}{c}": f"account.{c}"
            for c in ("industry", "employees", "annual_revenue", "country")
        }
    )
    props = leads.properties.dropna().map(json_keys)
    keys = pd.Series([k for ks in props for k in ks]).value_counts()
    for key in sorted(keys[keys >= 0.05 * len(leads)].index):
        # Read as the scorer reads it, so a learned rule fires on exactly the leads it was fitted on.
        df[f"prop__{key}"] = leads.properties.map(lambda t, k=key: property_value(t, k))
        columns[f"prop__{key}"] = f"lead.properties.{key}"
    return df.set_index("id"), {c: f for c, f in columns.items() if c in df.columns}


def _touch_types(store: Store, min_share: float) -> list[str]:
    tp = store.table("touchpoints")
    counts = tp.group_by("touch_type").agg(n=tp.count()).to_pandas()
    total = counts.n.sum()
    return sorted(counts.touch_type[counts.n >= min_share * total].dropna().tolist())


def _touch_features(types: list[str], spec: LearnSpec) -> list[tuple[str, float]]:
    return [(t, h) for t in types for h in spec.half_lives]


def _feature_pact(types: list[str], spec: LearnSpec) -> Pact:
    return _engagement_pact(
        [{"touch_type": t, "decay": {"half_life_days": h}} for t, h in _touch_features(types, spec)], spec
    )


def _engagement_pact(rules: list[dict[str, Any]], spec: LearnSpec) -> Pact:
    """A pact of engagement rules only, one point a touch: each rule's points are its feature."""
    cap = {"max": spec.cap_per_30_days, "per_days": 30}
    doc = {
        "pact": "features",
        "version": 1,
        "models": {
            "default": {
                "engagement": {
                    "lookback_days": STEP_DAYS[-1],
                    "rules": [{"id": f"t{i}", **r, "points": 1, "cap": cap} for i, r in enumerate(rules)],
                }
            }
        },
        "definitions": {"mql": {"min_score": 0}},
    }
    return parse_pact(yaml.safe_dump(doc), "features.yaml")


def learn_from_store(
    store: Store,
    current: Pact,
    backtest_spec: BacktestSpec | None = None,
    spec: LearnSpec | None = None,
    progress: Progress | None = None,
) -> Learned:
    """Learn from the store's history: rows are the current pact's back-test snapshots."""
    spec = spec or LearnSpec()
    bt = backtest_spec or BacktestSpec()
    history = History.read(store)
    tick = progress or (lambda _s, _f: None)
    rows, instants = score_snapshots(store, current, bt, history, lambda s, f: tick(f"scoring {s}", 0.6 * f))
    tick("reading touch features", 0.6)
    if len(instants) < 2:
        raise EvaluationError("learning from the store needs at least two snapshots: lengthen the window")
    leads, columns = _store_frame(store)
    frame = leads.reindex(rows.lead_id).reset_index(drop=True)
    types = _touch_types(store, spec.min_share)
    touch_features = _touch_features(types, spec)
    eng = _touch_matrix(store, _feature_pact(types, spec), rows, instants)
    y = rows.converted.to_numpy(dtype=float)
    # By time: the earliest snapshots holding about 1 - test_share of the rows train.
    share = rows.groupby("snapshot").size().sort_index().cumsum() / len(rows)
    reached = [t for t in instants if share.get(t, 0.0) >= 1 - spec.test_share]
    cut = min([*reached[:1], instants[-2]])  # keep at least the last snapshot for testing
    test = (rows.snapshot > cut).to_numpy()
    train = ~test
    tick("fitting the points", 0.75)
    design = design_from_frame(frame, columns, spec)
    drop_associated(design, y, train, spec)
    assert design.raw is not None  # noqa: S101 - built by design_from_frame
    names = list(design.raw.columns)
    for j, (t, h) in enumerate(touch_features):  # for the reference models
        design.raw[f"touch__{t}__{h:g}"] = eng[:, j]
    # Engagement's own log-odds, net of the fields' levels: the fields' shapes are learned beside it.
    both = LogisticRegression(C=1.0 / spec.l2, max_iter=5000).fit(
        np.column_stack([design.X, eng])[train], y[train]
    )
    tick("screening splits and pairs of touches", 0.7)
    screen_out = screen(
        store,
        types,
        rows,
        instants,
        both.decision_function(np.column_stack([design.X, eng])),
        y,
        train,
        min(spec.max_screened, spec.max_rules // 4),
        spec.seed,
    )
    screened = screen_out.kept
    steps_of = [(float(d), f) for d, f in SCREEN_STEPS]
    screened_levels = [Level(c.words, "touch", value=c.words, steps=steps_of, rule=c.body) for c in screened]
    extra = _touch_matrix(store, _screened_pact(screened, spec), rows, instants) if screened else eng[:, :0]
    if screened:  # the fields' shapes are learned beside what the screened touches say too
        both = LogisticRegression(C=1.0 / spec.l2, max_iter=5000).fit(
            np.column_stack([design.X, eng, extra])[train], y[train]
        )
    offset = np.column_stack([eng, extra]) @ both.coef_[0][design.X.shape[1] :]
    budget = max(spec.max_rules - len(types), 1)
    shaped = shaped_design(design, y, train, spec, budget, offset, names)
    n_parts = len(shaped.levels)
    shaped.X = np.column_stack([shaped.X, eng, extra])
    shaped.levels += [Level(t, "touch", value=t, half_life=h) for t, h in touch_features]
    shaped.levels += screened_levels
    first = fit_points(shaped, train, y, spec)
    n_fit = int(np.count_nonzero(first.points[:n_parts]))
    rules = _step_rules(first, types)
    tick("reading the learned engagement", 0.85)
    steps = _touch_matrix(store, _step_pact(rules, spec), rows, instants)
    # One budget for both kinds of engagement rule: over it, the rules with the fewest points go.
    screened_at = len(shaped.levels) - len(screened)
    assert first.exact is not None  # noqa: S101 - set by fit_points
    weight = [float(abs(p)) for _, p, _ in rules]
    weight += [round(abs(float(first.exact[screened_at + k]))) for k in range(len(screened))]
    room = sorted(range(len(weight)), key=lambda i: (-weight[i], i))[: max(spec.max_rules - n_fit, 0)]
    kept_steps = [i for i in range(len(rules)) if i in room]
    kept_screened = [k for k in range(len(screened)) if len(rules) + k in room]
    final = Design(
        np.column_stack([shaped.X[:, :n_parts], steps[:, kept_steps], extra[:, kept_screened]]),
        [
            *shaped.levels[:n_parts],
            *(Level(rules[i][0], "touch", value=rules[i][0], steps=rules[i][2]) for i in kept_steps),
            *(screened_levels[k] for k in kept_screened),
        ],
        shaped.groups,
        shaped.numeric,
        shaped.raw,
        shaped.left_out,
        shaped.kept,
        shaped.placeholders,
        shaped.rare,
    )
    # Each touch type's shape over age is now fixed: its points are fitted again beside the fields.
    pm = fit_points(final, train, y, spec)
    scores = pm.score(final.X)
    touch_levels = list(range(n_parts, n_parts + len(kept_steps) + len(kept_screened)))
    threshold, reason = _store_threshold(rows, scores, current, spec, bt)
    split = (
        f"by time: snapshots up to {cut:%Y-%m-%d} train ({int(train.sum()):,} lead-snapshots), "
        f"from then on test ({int(test.sum()):,})"
    )
    learned = _finish(pm, y, train, spec, (float(round(threshold)), reason), touch_levels, current, split)
    learned.baseline = Backtest(
        f"{current.pact} v{current.version}", bt, rows, instants, measure_on(history, rows, instants, bt)
    )
    learned.touches_tried = screen_out.tried
    at = n_parts + len(kept_steps)
    learned.touches_kept = [
        screened_levels[k].label for j, k in enumerate(kept_screened) if pm.points[at + j]
    ]
    return learned


def _touch_matrix(store: Store, features: Pact, rows: pd.DataFrame, instants: list[Any]) -> np.ndarray:
    """Each row's points from each engagement rule of `features` (one point a touch) at its snapshot."""
    n_rules = len(features.model("default").engagement.rules)
    out = np.zeros((len(rows), n_rules))
    position = {(lid, snap): i for i, (lid, snap) in enumerate(zip(rows.lead_id, rows.snapshot, strict=True))}
    for snap in instants:
        by_rule = engagement_by_rule(features.model("default"), features, inputs_as_of(store, snap), snap)
        if by_rule is None:
            continue
        df = by_rule.to_pandas()
        for lead_id, rule, points in zip(df.lead_id, df.rule, df.points, strict=True):
            i = position.get((lead_id, snap))
            if i is not None:
                out[i, int(rule)] = points
    return out


def _step_rules(pm: PointsModel, types: list[str]) -> list[tuple[str, int, list[tuple[float, float]]]]:
    """One engagement rule per touch type: the fitted sum of its half-lives as points and step decay.

    A type whose fitted shape turns negative with age (old touches of leads who went quiet) gets
    a second rule with negative points for those ages.
    """
    assert pm.exact is not None  # noqa: S101 - set by fit_points
    touch = [i for i, lv in enumerate(pm.design.levels) if lv.kind == "touch"]
    ages = np.arange(0, STEP_DAYS[-1] + 1, dtype=float)
    edges = [-1.0, *STEP_DAYS]
    out: list[tuple[str, int, list[tuple[float, float]]]] = []
    for t in types:
        mine = [i for i in touch if pm.design.levels[i].value == t]
        shape = sum(pm.exact[i] * 0.5 ** (ages / float(pm.design.levels[i].half_life or 1)) for i in mine)
        means = np.array([shape[(ages > lo) & (ages <= hi)].mean() for lo, hi in itertools.pairwise(edges)])
        for sign in (1, -1):
            part = np.maximum(sign * means, 0.0)
            top = float(part.max())
            points = round(top) * sign
            if not points:
                continue
            factors = [round(float(v) / top, 2) for v in part]
            while factors and factors[-1] == 0:
                factors.pop()
            out.append((t, points, [(float(d), f) for d, f in zip(STEP_DAYS, factors, strict=False)]))
    return out


def _step_pact(rules: list[tuple[str, int, list[tuple[float, float]]]], spec: LearnSpec) -> Pact:
    return _engagement_pact(
        [{"touch_type": t, "decay": {"steps": [list(x) for x in st]}} for t, _, st in rules], spec
    )


def _screened_pact(screened: list[Candidate], spec: LearnSpec) -> Pact:
    return _engagement_pact(
        [{**c.body, "decay": {"steps": [list(x) for x in SCREEN_STEPS]}} for c in screened], spec
    )


def _store_threshold(
    rows: pd.DataFrame, scores: np.ndarray, current: Pact, spec: LearnSpec, bt: BacktestSpec
) -> tuple[float, str]:
    learned_rows = rows.assign(score=scores)
    snapshots = sorted(set(rows.snapshot))
    b = Backtest("learned", bt, learned_rows, snapshots, measure(learned_rows, snapshots, bt))
    lines = list(range(SCALE_MAX + 1))  # whole points: the line the reason quotes is the line written
    if spec.capacity_per_month is not None or spec.target_precision is not None:
        a = advise(
            b,
            capacity_per_month=spec.capacity_per_month,
            target_precision=spec.target_precision,
            thresholds=lines,
        )
        if a.threshold is not None:
            return a.threshold, a.reason
    months = len(b.snapshots) * bt.every_days / DAYS_PER_MONTH
    current_volume = rows.new_mql.sum() / months if months else 0.0
    a = advise(b, capacity_per_month=max(float(current_volume), 1.0), thresholds=lines)
    if a.threshold is None:
        return float(np.quantile(scores, 0.95)), "the top 5% (no threshold matched the current volume)"
    return a.threshold, f"as many MQLs as the current pact sends ({current_volume:.0f} a month): {a.reason}"
