"""Scoring runs: history, idempotence, MQL stage changes with the recycle wait; explanations; CLI."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from accord.cli.main import app
from accord.pact import diff_pacts, parse_pact
from accord.scoring import run_scoring
from accord.scoring.lookup import UnknownLeadError, explain_lead
from accord.store import Store, connect
from scoring_cases import AS_OF, GOLDEN_PACT, golden_tables, load_tables, table

REPO = Path(__file__).resolve().parents[1]


def _mql_changes(store: Store) -> list[tuple[str, str, datetime]]:
    sc = store.table("stage_changes")
    rows = sc.filter(sc.to_stage == "mql").to_pyarrow().to_pylist()
    return sorted((r["lead_id"], r["from_stage"], r["changed_at"]) for r in rows)


def test_run_writes_history_once_and_moves_mqls(store: Store) -> None:
    load_tables(store, golden_tables())
    pact = parse_pact(GOLDEN_PACT)
    first = run_scoring(store, pact, AS_OF)
    assert (first.leads.inserted, first.accounts.inserted, first.new_mqls) == (4, 2, 1)
    again = run_scoring(store, pact, AS_OF)
    assert (again.leads.unchanged, again.accounts.unchanged, again.new_mqls) == (4, 2, 0)
    assert _mql_changes(store) == [("L1", "lead", AS_OF)]
    hist = {r["lead_id"]: r for r in store.table("lead_scores").to_pyarrow().to_pylist()}
    assert hist["L1"]["grade"] == "A" and hist["L1"]["pact_version"] == 1 and hist["L1"]["band"] == 2
    assert store.table("lead_scores").count().execute() == 4
    acc = {r["account_id"]: r for r in store.table("account_scores").to_pyarrow().to_pylist()}
    assert acc["acc1"]["leads"] == 2 and acc["acc1"]["account_fit"] == 10.0
    # A later instant adds history without touching the first.
    later = run_scoring(store, pact, AS_OF + timedelta(days=1))
    assert later.leads.inserted == 4 and later.new_mqls == 0  # L1 is already an MQL
    assert store.table("lead_scores").count().execute() == 8


def test_recycled_lead_waits_before_it_can_be_an_mql_again(duck: Store) -> None:
    tables = golden_tables()
    tables["stage_changes"] = table(
        "stage_changes",
        [
            {
                "lead_id": "L1",
                "from_stage": "lead",
                "to_stage": "mql",
                "changed_at": AS_OF - timedelta(days=40),
            },
            {
                "lead_id": "L1",
                "from_stage": "mql",
                "to_stage": "recycled",
                "changed_at": AS_OF - timedelta(days=10),
            },
        ],
    )
    load_tables(duck, tables)
    pact = parse_pact(
        GOLDEN_PACT.replace(
            "recycle: {reset_engagement: true}", "recycle: {reset_engagement: false, min_days_before_mql: 14}"
        )
    )
    assert run_scoring(duck, pact, AS_OF).new_mqls == 0  # recycled 10 days ago: must wait 14
    assert run_scoring(duck, pact, AS_OF + timedelta(days=5)).new_mqls == 1
    assert _mql_changes(duck)[-1] == ("L1", "recycled", AS_OF + timedelta(days=5))


def test_explanation_of_golden_lead(duck: Store) -> None:
    load_tables(duck, golden_tables())
    e = explain_lead(duck, parse_pact(GOLDEN_PACT), "L1", AS_OF)
    assert e.score.score == pytest.approx(0.5 * 40 + 0.5 * (10 + 19.214334219331725 - 3.0))
    assert e.sentence.startswith(
        "A2 MQL (33): vp at a 500-person company; event 1x, last 4 days ago; visit 4x"
    )
    assert e.sentence.endswith("no conversation with sales yet")
    visit = next(x for x in e.lines if x.rule_id == "visit")
    assert visit.points_before == 16.0 and "1 over the cap of 2" in visit.detail
    assert [x.rule_id for x in e.top_positive] == ["vp", "big", "event"]  # big and event tie at 10
    assert e.top_negative == ()
    with pytest.raises(UnknownLeadError, match="no lead 'nobody'"):
        explain_lead(duck, parse_pact(GOLDEN_PACT), "nobody", AS_OF)


def test_pact_diff_lists_changes() -> None:
    old = parse_pact(GOLDEN_PACT)
    new = parse_pact(
        GOLDEN_PACT.replace("points: 20}", "points: 25}")
        .replace("        - {id: unsub, touch_type: unsubscribe, points: -8, decay: {}}\n", "")
        .replace("min_score: 25", "min_score: 30")
        + ""
    )
    d = diff_pacts(old, new)
    assert d.removed == ["default.engagement rule unsub (-8.0 points)"]
    assert d.changed == ["default.fit rule vp: points 20.0 -> 25.0"]
    assert d.thresholds == ["definitions.mql.min_score 25.0 -> 30.0"]
    assert diff_pacts(old, old).is_empty


def test_cli_pact_score_explain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = connect(f"duckdb://{tmp_path / 'accord.duckdb'}")
    load_tables(store, golden_tables())
    store.close()
    (tmp_path / "p.yaml").write_text(GOLDEN_PACT)
    runner = CliRunner()
    ok = runner.invoke(app, ["pact", "validate", "p.yaml"])
    assert (
        ok.exit_code == 0
        and "valid: golden v1" in ok.output
        and "draft: needs approval from marketing, sales" in ok.output
    )
    bad = runner.invoke(app, ["pact", "validate", str(REPO / "tests/pacts/wrong_operator.yaml")])
    assert bad.exit_code == 2 and "unknown operator 'inn'" in bad.output
    res = runner.invoke(app, ["score", "--pact", "p.yaml", "--as-of", "2026-03-31"])
    assert res.exit_code == 0, res.output
    assert "scored 4 leads and 2 accounts as of 2026-03-31 00:00 with golden v1; 1 new MQLs" in res.output
    assert "L1" in res.output and "33.1" in res.output
    ex = runner.invoke(app, ["explain", "L3", "--pact", "p.yaml", "--as-of", "2026-03-31"])
    assert ex.exit_code == 0, ex.output
    assert "adjustment 6.00" in ex.output and "sales-adjustment" in ex.output
    wrong = runner.invoke(app, ["score", "--pact", "p.yaml", "--as-of", "yesterday"])
    assert wrong.exit_code == 2 and "is not an ISO date" in wrong.output
