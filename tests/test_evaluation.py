"""Evidence: metrics by hand, back-tests that cannot see the future, comparison, thresholds, feedback."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from functools import cache

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from accord.cli.main import app
from accord.demo import demo_pact
from accord.evaluation import BacktestSpec, backtest
from accord.evaluation.backtest import Backtest, measure, score_snapshots
from accord.evaluation.compare import compare_pacts
from accord.evaluation.feedback_analysis import feedback_report, rates_by
from accord.evaluation.metrics import auc, gains, logistic_calibration, precision_recall, rate_by
from accord.evaluation.thresholds import advise, threshold_curve
from accord.model.tables import TABLES
from accord.pact import parse_pact
from accord.store import Store, connect
from accord.synth import generate, store_generated

# ----------------------------------------------------------------------- metrics


def test_auc_by_hand_with_ties() -> None:
    # converters score 2 and 3, non-converters 1 and 2: pairs won 1 + 0.5 (tie) + 1 + 1 of 4
    assert auc(np.array([1, 2, 2, 3]), np.array([0, 0, 1, 1])) == 0.875
    assert auc(np.array([3, 2, 1]), np.array([1, 0, 0])) == 1.0
    assert np.isnan(auc(np.array([1, 2]), np.array([1, 1])))


def test_gains_precision_recall_and_rates_by_hand() -> None:
    scores = np.array([9, 8, 7, 6, 5, 4, 3, 2, 1, 0])
    y = np.array([1, 1, 0, 1, 0, 0, 0, 0, 0, 1])
    g = gains(scores, y, bins=5)  # pairs (9,8) (7,6) (5,4) (3,2) (1,0)
    assert g.conversions.tolist() == [2, 1, 0, 0, 1]
    assert g.rate.tolist() == [1.0, 0.5, 0.0, 0.0, 0.5]
    assert g.lift.tolist() == pytest.approx([2.5, 1.25, 0.0, 0.0, 1.25])
    assert g.cumulative_gain.tolist() == pytest.approx([0.5, 0.75, 0.75, 0.75, 1.0])
    p, r = precision_recall(scores >= 6, y)
    assert (p, r) == (0.75, 0.75)
    rates = rate_by(pd.Series(["A", "A", "B", "B", "B"], name="grade"), np.array([1, 0, 1, 1, 0]))
    assert rates.to_dict("records") == [
        {"grade": "A", "leads": 2, "conversions": 1.0, "rate": 0.5},
        {"grade": "B", "leads": 3, "conversions": 2.0, "rate": pytest.approx(2 / 3)},
    ]


def test_logistic_calibration_recovers_a_known_curve() -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 100, 200_000)
    y = rng.random(x.size) < 1 / (1 + np.exp(-(-4.0 + 0.05 * x)))
    a, b = logistic_calibration(x, y)
    assert a == pytest.approx(-4.0, abs=0.05) and b == pytest.approx(0.05, abs=0.002)


# ----------------------------------------------------------------- back-tests


def _fill(store: Store, gen) -> None:
    store_generated(gen, store)


@cache
def _world():
    return generate(leads=3_000, seed=5, touches_per_lead=8)


@pytest.fixture
def world_store(tmp_path) -> Store:
    store = connect(f"duckdb://{tmp_path / 'w.duckdb'}")
    _fill(store, _world())
    yield store
    store.close()


SPEC = BacktestSpec(every_days=60, horizon_days=90, capacity_per_month=40)
SCORE_COLUMNS = ["lead_id", "snapshot", "fit", "engagement", "adjustment", "score", "grade", "band", "is_mql"]


def test_backtest_cannot_see_the_future(world_store: Store) -> None:
    """Touches, feedback and leads after the last snapshot change no snapshot's scores;
    the same touch before it does (so the check can fail)."""
    pact = demo_pact()
    before, instants = score_snapshots(world_store, pact, SPEC)
    last = instants[-1]
    lead = before[before.snapshot == last].sort_values("score").lead_id.iloc[0]

    def touch(tid: str, when: datetime) -> pa.Table:
        row = {c: None for c in TABLES["touchpoints"].column_names}
        row.update(
            id=tid, lead_id=lead, occurred_at=when, channel="events", touch_type="event", team="marketing"
        )
        return pa.Table.from_pylist([row], schema=TABLES["touchpoints"].schema.to_pyarrow())

    future = last + timedelta(days=1)
    world_store.write_arrow("touchpoints", touch("tp-future", future), append=True)
    fb = {c: None for c in TABLES["feedback"].column_names}
    fb.update(lead_id=lead, given_at=future, action="adjust", points=50.0, actor="rep-1", reason="test")
    world_store.write_arrow(
        "feedback", pa.Table.from_pylist([fb], schema=TABLES["feedback"].schema.to_pyarrow()), append=True
    )
    new_lead = {c: None for c in TABLES["leads"].column_names}
    new_lead.update(id="lead-future", created_at=future, seniority="vp", job_title="VP")
    world_store.write_arrow(
        "leads", pa.Table.from_pylist([new_lead], schema=TABLES["leads"].schema.to_pyarrow()), append=True
    )
    after, _ = score_snapshots(world_store, pact, SPEC)
    pd.testing.assert_frame_equal(before[SCORE_COLUMNS], after[SCORE_COLUMNS])
    assert "lead-future" not in set(after.lead_id)

    world_store.write_arrow("touchpoints", touch("tp-past", last - timedelta(hours=1)), append=True)
    moved, _ = score_snapshots(world_store, pact, SPEC)
    at_last = moved[(moved.snapshot == last) & (moved.lead_id == lead)].score.item()
    assert at_last > before[(before.snapshot == last) & (before.lead_id == lead)].score.item()


def test_backtest_outcomes_and_metrics_are_consistent(world_store: Store) -> None:
    b = backtest(world_store, demo_pact(), SPEC)
    rows, m = b.rows, b.metrics
    opps = _world().tables["opportunities"].to_pandas()
    # an open lead at a snapshot has no opportunity before it; converted means one in the horizon
    sample = rows[rows.converted].head(50)
    for r in sample.itertuples():
        created = opps[opps.primary_lead_id == r.lead_id].created_at
        assert (created > r.snapshot).all()
        assert ((created > r.snapshot) & (created <= r.snapshot + timedelta(days=90))).any()
    assert m.conversion_rate == pytest.approx(rows.converted.mean())
    assert m.auc == pytest.approx(auc(rows.score.to_numpy(), rows.converted.to_numpy()))
    assert sum(r.leads for r in m.by_band) == len(rows)
    f = m.funnel
    new = rows[rows.new_mql]
    assert f.new_mqls == len(new) and f.mql_to_opportunity == pytest.approx(new.converted.mean())
    # an MQL moment: MQL at a snapshot and not at the one before (the first one compares with
    # a warm-up snapshot outside the rows, so it is left out here)
    mql_at = set(zip(rows.lead_id[rows.is_mql], rows.snapshot[rows.is_mql], strict=True))
    step = timedelta(days=SPEC.every_days)
    later = rows[rows.snapshot > min(b.snapshots)]
    was = [(lead, snap - step) in mql_at for lead, snap in zip(later.lead_id, later.snapshot, strict=True)]
    assert (later.new_mql.to_numpy() == (later.is_mql.to_numpy() & ~np.array(was))).all()
    assert later.new_mql.any() and (later.is_mql & ~later.new_mql).any()
    assert m.auc > 0.7  # the example pact ranks the generated leads well
    assert all(v.over_capacity == (v.per_month > 40) for v in m.volume)
    assert m.calibration and {r.band for r in m.calibration} <= {"1", "2", "3", "4"}
    data = b.to_dict()
    assert isinstance(data["gains"], list) and data["funnel"]["capacity_per_month"] == 40


# --------------------------------------------------------------- compare, thresholds


def _pact_with(mql: int) -> object:
    text = demo_pact_text().replace("mql: {min_score: 60,", f"mql: {{min_score: {mql},")
    return parse_pact(text, "test.yaml")


@cache
def demo_pact_text() -> str:
    from importlib import resources

    return (resources.files("accord.pact") / "demo.yaml").read_text("utf-8")


def test_compare_a_pact_with_itself_and_with_a_lower_threshold(world_store: Store) -> None:
    assert "mql: {min_score: 60," in demo_pact_text()
    same = compare_pacts(world_store, demo_pact(), demo_pact(), SPEC)
    assert same.added.empty and same.dropped.empty
    # the same pact scored twice: equal up to the last bits of parallel float sums
    np.testing.assert_allclose(same.table.old.to_numpy(), same.table.new.to_numpy(), rtol=1e-9, atol=1e-12)
    lower = compare_pacts(world_store, demo_pact(), _pact_with(45), SPEC)
    assert lower.dropped.empty and len(lower.added) > 0  # every old MQL stays one
    per_month = len(lower.added) / lower.months
    rate = lower.added.converted.mean()
    assert (
        lower.sentence
        == f"NEW adds {per_month:,.0f} MQLs a month that converted at {rate:.1%}, and drops no MQLs"
    )
    assert (
        lower.table.set_index("metric").loc["new MQLs per month", "new"]
        > lower.table.set_index("metric").loc["new MQLs per month", "old"]
    )
    typed = type(lower.result()).model_validate_json(lower.result().model_dump_json())
    assert len(typed.added) == len(lower.added) and typed.sentence == lower.sentence
    assert typed.new_backtest.auc == pytest.approx(lower.new.metrics.auc)


def test_threshold_curve_counts_new_mqls_by_hand() -> None:
    snaps = [datetime(2026, 1, 1), datetime(2026, 1, 31), datetime(2026, 3, 2)]
    rows = pd.DataFrame(
        {
            "lead_id": ["a", "a", "a", "b", "b", "c"],
            "snapshot": [snaps[0], snaps[1], snaps[2], snaps[1], snaps[2], snaps[2]],
            "score": [70.0, 80.0, 50.0, 90.0, 95.0, 65.0],
            "converted": [False, False, True, False, True, False],
        }
    )
    spec = BacktestSpec(every_days=30.44)
    # what threshold advice does not read, for the metrics every back-test carries
    rest = {"is_mql": False, "new_mql": False, "grade": "A", "band": 1, "accepted": False, "sql": False}
    full = rows.assign(**rest, won=False, days_to_opportunity=np.nan, days_to_won=np.nan)
    b = Backtest("t", spec, rows, snaps, measure(full, snaps, spec))
    curve = threshold_curve(b, thresholds=[60, 85]).set_index("threshold")
    # at 60: a is above at the first snapshot (nothing before it to compare: not counted), b
    # crosses at the second, c at the third: 2 new MQLs in 2 months; 5 rows at or above, b's
    # last converted; converters are a's last row (below) and b's last row
    assert curve.loc[60].tolist() == [1.0, 0.2, 0.5]
    # at 85: only b, crossing once at the second snapshot; 2 rows, 1 converted
    assert curve.loc[85].tolist() == [0.5, 0.5, 0.5]
    advice = advise(b, target_precision=0.5, thresholds=[60, 85])
    assert advice.threshold == 85 and "converted at 50.0%" in advice.reason
    advice = advise(b, capacity_per_month=0.75, thresholds=[60, 85])
    assert advice.threshold == 85 and "sends 0.5 MQLs a month (capacity 0.75)" in advice.reason


def test_threshold_advice_respects_capacity(world_store: Store) -> None:
    b = backtest(world_store, demo_pact(), SPEC)
    advice = advise(b, capacity_per_month=30)
    curve = advice.curve
    assert (np.diff(curve.recall) <= 1e-12).all()  # a higher bar never catches more converters
    chosen = curve[curve.threshold == advice.threshold].iloc[0]
    assert chosen.mqls_per_month <= 30
    assert not (curve[(curve.mqls_per_month <= 30)].recall > chosen.recall + 1e-12).any()
    with pytest.raises(Exception, match="give a sales capacity"):
        advise(b)


# -------------------------------------------------------------------- feedback


def test_rates_by_hand() -> None:
    v = pd.DataFrame(
        {
            "source": ["web", "web", "web", "ads"],
            "action": ["accept", "reject", "reject", "recycle"],
            "reason": ["", "no budget", "no budget", "timing"],
        }
    )
    r = rates_by(v, "source").set_index("source")
    assert r.loc["web", "verdicts"] == 3 and r.loc["web", "reject_rate"] == pytest.approx(2 / 3)
    assert r.loc["web", "top_reject_reason"] == "no budget" and r.loc["ads", "recycle_rate"] == 1.0


def test_feedback_report_flags_a_rule_that_outcomes_contradict(world_store: Store) -> None:
    # give students (who almost never convert in the generated world) points instead of a penalty
    text = demo_pact_text()
    assert "points: -40" in text
    pact = parse_pact(text.replace("points: -40", "points: 30", 1), "test.yaml")
    b = backtest(world_store, pact, SPEC)
    report = feedback_report(world_store, pact, b)
    rules = report.rules.set_index("rule")
    student = rules.loc["student"]
    assert student.points == 30 and student.rate_hit < student.rate_not_hit and student.disagrees
    assert not rules.loc["event"].disagrees
    assert 0 <= student.recycle_rate_when_hit <= 1 and student.top_reason_when_hit in set(
        report.reasons.reason
    )
    v = report.verdicts
    assert set(v.action) <= {"accept", "reject", "recycle"}
    assert report.reps.verdicts.sum() == len(v)
    assert report.by["source"].verdicts.sum() == len(v)


# ------------------------------------------------------------------------- CLI


def test_cli_evaluate_and_compare(world_store: Store, tmp_path) -> None:
    url = f"duckdb://{world_store.parsed.target}"
    world_store.close()
    pact = tmp_path / "p.yaml"
    pact.write_text(demo_pact_text(), encoding="utf-8")
    out = tmp_path / "m.json"
    runner = CliRunner()
    r = runner.invoke(
        app,
        [
            "evaluate",
            str(pact),
            "--url",
            url,
            "--every",
            "60",
            "--capacity",
            "40",
            "--feedback",
            "--json",
            str(out),
        ],
    )
    assert r.exit_code == 0, r.output
    for text in (
        "AUC",
        "conversion by grade",
        "lift and cumulative gains",
        "funnel:",
        "threshold advice",
        "reps",
    ):
        assert text in r.output, text
    import json

    data = json.loads(out.read_text())
    assert 0.5 < data["auc"] <= 1 and data["threshold_advice"]["threshold"] is not None
    r = runner.invoke(app, ["compare", str(pact), str(pact), "--url", url, "--every", "60"])
    assert r.exit_code == 0, r.output
    assert "NEW adds no MQLs, and drops no MQLs" in r.output
    r = runner.invoke(app, ["evaluate", str(pact), "--url", url, "--from", "2030-01-01"])
    assert r.exit_code == 2 and "no snapshot fits" in r.output
    # with the pact signed in the store, evaluate, learn and compare need no file for it
    from accord.demo import sign_demo_pact

    with connect(url) as store:
        sign_demo_pact(store)
    r = runner.invoke(app, ["evaluate", "--url", url, "--every", "60"])
    assert r.exit_code == 0 and "back-tested demo-scoring v1 (active)" in r.output, r.output
    learned = tmp_path / "next.yaml"
    r = runner.invoke(app, ["learn", "--url", url, "--every", "60", "--out", str(learned)])
    assert r.exit_code == 0, r.output
    assert "learned from the history scored with demo-scoring v1 (active)" in r.output
    assert "held-out AUC: learned points pact" in r.output and "95% interval" in r.output
    assert re.search(r"touches: \d+ splits of a type and pairs near in time screened; ", r.output), r.output
    assert "demo-scoring v1 -> demo-scoring-learned v2" in r.output and "NEW adds" in r.output
    r = runner.invoke(app, ["compare", str(learned), "--url", url, "--every", "60"])
    assert r.exit_code == 0 and "demo-scoring v1 (old) against demo-scoring-learned v2 (new)" in r.output


def test_capacity_from_reps_and_the_comparison_covers_every_metric(world_store: Store) -> None:
    from accord.cli._evaluate import capacity_from
    from accord.errors import ConfigError

    assert capacity_from(None, 5, 30) == 150 and capacity_from(80, None, None) == 80
    with pytest.raises(ConfigError, match="give both --reps and --leads-per-rep"):
        capacity_from(None, 5, None)
    c = compare_pacts(world_store, demo_pact(), _pact_with(45), SPEC)
    table = c.table.set_index("metric")
    for label in (
        "AUC",
        "lift in the top score decile",
        "calibration error (mean |predicted - observed| by band)",
        "conversion, band 1",
        "conversion, grade A",
        "MQL to won",
        "median days MQL to won",
    ):
        assert label in table.index, label
    # a lower MQL line changes nothing in the ranking: same AUC, same band and grade rates
    assert table.loc["AUC", "old"] == pytest.approx(table.loc["AUC", "new"], abs=1e-6)
    assert table.loc["conversion, grade A", "old"] == pytest.approx(table.loc["conversion, grade A", "new"])


@cache
def _small_world():
    return generate(leads=800, seed=9, touches_per_lead=6)


ENGINE_SPEC = BacktestSpec(every_days=150, horizon_days=90)


@cache
def _duckdb_backtest() -> tuple[pd.DataFrame, pd.DataFrame]:
    store = connect("duckdb://:memory:")
    _fill(store, _small_world())
    b = backtest(store, demo_pact(), ENGINE_SPEC)
    report = feedback_report(store, demo_pact(), b)
    return b.rows.sort_values(["snapshot", "lead_id"], ignore_index=True), report.rules


# Spark's back-test and feedback analysis are compared with DuckDB's where a user runs them:
# `accord evaluate --feedback` on a cluster (tests/test_spark_processes.py).
@pytest.mark.slow
@pytest.mark.parametrize("store", ["duckdb", "postgres"], indirect=True)
def test_backtest_and_feedback_analysis_agree_on_every_engine(store: Store) -> None:
    _fill(store, _small_world())
    b = backtest(store, demo_pact(), ENGINE_SPEC)
    assert len(b.snapshots) >= 2
    rows = b.rows.sort_values(["snapshot", "lead_id"], ignore_index=True)
    want_rows, want_rules = _duckdb_backtest()
    assert rows.lead_id.tolist() == want_rows.lead_id.tolist()
    np.testing.assert_allclose(rows.score.to_numpy(), want_rows.score.to_numpy(), atol=1e-6)
    for col in ("is_mql", "new_mql", "converted", "won", "accepted", "sql"):
        assert rows[col].tolist() == want_rows[col].tolist(), col
    rules = feedback_report(store, demo_pact(), b).rules
    pd.testing.assert_frame_equal(rules, want_rules, check_exact=False, atol=1e-9)


def test_a_backtest_with_too_many_snapshots_is_refused_before_any_work(world_store: Store) -> None:
    from accord.errors import EvaluationError

    with pytest.raises(EvaluationError, match=r"snapshots; at most 400 \(snapshot less often\)"):
        backtest(world_store, demo_pact(), BacktestSpec(every_days=1e-6, horizon_days=30))


@pytest.mark.parametrize("store", ["duckdb", "postgres"], indirect=True)  # Spark's: evaluate on a cluster
def test_snapshot_query_compiled_once_scores_as_ibis_does(store: Store) -> None:
    """Each snapshot from the first one's SQL with its instant's literals swapped in: the same
    rows as Ibis compiling every snapshot, and the template is really used."""
    from accord.evaluation.backtest import SnapshotQuery
    from accord.scoring.batch import score_leads
    from accord.scoring.run import inputs_as_of

    _fill(store, generate(leads=300, seed=2, touches_per_lead=5))
    pact = demo_pact()
    q = SnapshotQuery(store, pact, "default")
    for i, t in enumerate([datetime(2025, 9, 1), datetime(2025, 12, 15, 6, 30), datetime(2026, 4, 2)]):
        mine = q.scores(t).sort_values("lead_id", ignore_index=True)
        ibis_own = (
            score_leads(pact, inputs_as_of(store, t), t).to_pandas().sort_values("lead_id", ignore_index=True)
        )
        assert len(mine) > 0
        pd.testing.assert_frame_equal(mine, ibis_own)
        assert (q._template is not None) == (i >= 1)
