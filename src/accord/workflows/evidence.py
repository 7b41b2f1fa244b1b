"""Evidence for the review meeting: back-test the active pact (or a draft), compare two, learn one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from accord.errors import ConfigError
from accord.model.json_types import Number

if TYPE_CHECKING:
    import pandas as pd

    from accord.evaluation import Backtest, BacktestSpec
    from accord.evaluation.compare import PactComparison
    from accord.evaluation.feedback_analysis import FeedbackReport
    from accord.evaluation.learn import Learned, LearnSpec
    from accord.evaluation.thresholds import ThresholdAdvice
    from accord.pact.schema import Pact
    from accord.scoring.reach import SilentRule
    from accord.store.connection import Store
    from accord.workflows.pacts import ChosenPact

Progress = Callable[[str, float], None]


@dataclass
class Evaluated:
    """A back-test of the pact a command chose, with threshold advice and sales' feedback if asked."""

    chosen: ChosenPact
    backtest: Backtest
    advice: ThresholdAdvice | None
    feedback: FeedbackReport | None


def evaluate(
    store: Store,
    pact_file: Path | None,
    spec: BacktestSpec,
    *,
    target_precision: Number | None = None,
    feedback: bool = False,
    progress: Progress | None = None,
) -> Evaluated:
    """Back-test the active pact (or a draft), advise on its MQL line, and read sales' verdicts."""
    from accord.evaluation import backtest
    from accord.evaluation.feedback_analysis import feedback_report
    from accord.evaluation.thresholds import advise
    from accord.workflows.pacts import choose_pact

    chosen = choose_pact(store, pact_file)
    b = backtest(store, chosen.pact, spec, progress=progress)
    capacity = spec.capacity_per_month
    advice = (
        advise(b, capacity_per_month=capacity, target_precision=target_precision)
        if (capacity or target_precision)
        else None
    )
    report = feedback_report(store, chosen.pact, b) if feedback else None
    return Evaluated(chosen, b, advice, report)


def compare(
    store: Store,
    old_file: Path | None,
    new_file: Path,
    spec: BacktestSpec,
    progress: Progress | None = None,
) -> PactComparison:
    """A pact file against the active pact (or another file), back-tested on the same snapshots."""
    from accord.evaluation.compare import compare_pacts
    from accord.pact import load_pact
    from accord.workflows.pacts import choose_pact

    old = choose_pact(store, old_file).pact
    return compare_pacts(store, old, load_pact(new_file), spec, progress=progress)


class LearnedSummary(BaseModel):
    """What `learn` proposes and the evidence for it, as the meeting reads it."""

    model_config = ConfigDict(frozen=True, ser_json_inf_nan="null")

    pact: str
    version: int
    fit_rules: int
    engagement_rules: int
    points_to_double_odds: Number
    split: str
    auc_points: Number
    auc_interval: tuple[float, float]
    auc_reference: Number
    chance: bool
    """The held-out AUC interval includes 0.5: no learned MQL line unless forced."""
    threshold: Number
    threshold_reason: str
    yaml: str
    calibration: list[CalibrationBand] = []
    """Held-out leads by 10 points of score: the chance the pact gives them against what happened."""
    left_out: dict[str, str] = {}
    """Fields not learned from, each with the reason."""
    touches_tried: int = 0
    """Splits of a touch type and pairs of touches near in time screened (learning from the store)."""
    touches_kept: list[str] = []
    """Those the pact holds as rules, in words."""


class CalibrationBand(BaseModel):
    """Held-out leads scoring lo to hi."""

    model_config = ConfigDict(frozen=True)

    lo: int
    hi: int
    leads: int
    predicted: Number
    observed: Number


def summarise(learned: Learned) -> LearnedSummary:
    """The typed summary of a learned pact."""
    model = learned.pact.model("default")
    return LearnedSummary(
        pact=learned.pact.pact,
        version=learned.pact.version,
        fit_rules=len(model.fit.rules),
        engagement_rules=len(model.engagement.rules),
        points_to_double_odds=learned.model.scale * 0.6931,
        split=learned.split,
        auc_points=learned.auc_points,
        auc_interval=learned.auc_interval,
        auc_reference=learned.auc_reference,
        chance=learned.chance,
        threshold=learned.threshold,
        threshold_reason=learned.threshold_reason,
        yaml=learned.yaml,
        calibration=[CalibrationBand(**vars(row)) for row in learned.calibration],
        left_out=dict(learned.left_out),
        touches_tried=learned.touches_tried,
        touches_kept=list(learned.touches_kept),
    )


@dataclass
class LearnedFromStore:
    """A pact learned from the store's history, and how it compares with the one it started from."""

    chosen: ChosenPact
    learned: Learned
    summary: LearnedSummary
    comparison: PactComparison


def learn_from_file(
    path: Path, outcome: str, spec: LearnSpec, *, mapping: str | None = None, id_column: str | None = None
) -> Learned:
    """A points pact learned from a flat export, read through the loader (its mapping applied)."""
    from accord.evaluation.learn import learn_from_frame
    from accord.model.tables import LEADS

    if spec.capacity_per_month is not None:
        raise ConfigError(
            "a flat file has no dates to count MQLs per month: set the line with --precision "
            "(learn from the store to size it by capacity)"
        )
    df = read_flat(path, mapping, id_column, outcome)
    remembered = {"id": id_column} | ({"mapping": mapping} if mapping else {})
    return learn_from_frame(df, outcome, "id", spec, canonical=set(LEADS.column_names), flat_file=remembered)


def read_flat(path: Path, mapping: str | None, id_column: str | None, outcome: str) -> pd.DataFrame:
    """A flat leads export as the loader reads it (the mapping applied), with its outcome column."""
    from accord.store.flat import file_columns, flat_frame, leads_mapping, read_flat_leads
    from accord.store.mapping import ColumnSource

    m = leads_mapping(mapping, id_column)
    columns = file_columns(path, m)
    if "id" not in m.columns and "id" not in {c.lower() for c in columns}:
        m = m.model_copy(update={"columns": {**m.columns, "id": ColumnSource(row=True)}})
    flat = read_flat_leads(path, m, keep=[outcome], columns=columns)
    try:
        return flat_frame(flat)
    finally:
        flat.close()


def learn_from_history(
    store: Store,
    pact_file: Path | None,
    backtest_spec: BacktestSpec,
    spec: LearnSpec,
    *,
    progress: Progress | None = None,
    compare_progress: Progress | None = None,
) -> LearnedFromStore:
    """A points pact learned from the store's history, back-tested beside the active pact (or a draft)."""
    from accord.evaluation.compare import compare_pacts
    from accord.evaluation.learn import learn_from_store
    from accord.workflows.pacts import choose_pact

    chosen = choose_pact(store, pact_file)
    learned = learn_from_store(store, chosen.pact, backtest_spec, spec, progress=progress)
    comparison = compare_pacts(
        store,
        chosen.pact,
        learned.pact,
        backtest_spec,
        old_result=learned.baseline,
        progress=compare_progress,
    )
    return LearnedFromStore(chosen, learned, summarise(learned), comparison)


def silent_on_store(url: str | None, pact: Pact) -> list[SilentRule] | None:
    """The rules of `pact` that could never fire on the store at `url`; None when there is no store yet."""
    from accord.scoring.reach import silent_rules
    from accord.store import connect
    from accord.store.connection import parse_url

    parsed = parse_url(url)
    if parsed.engine == "duckdb" and parsed.target != ":memory:" and not Path(parsed.target).exists():
        return None
    with connect(url) as store:
        if not store.has_table("leads"):
            return None
        return silent_rules(store, pact)
