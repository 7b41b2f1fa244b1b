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
    assert d.removed == ["default.engagement rule unsub (-8 points)"]
    assert d.changed == ["default.fit rule vp: points 20 -> 25"]
    assert d.thresholds == ["definitions.mql.min_score 25 -> 30"]
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
        and f"content hash {parse_pact(GOLDEN_PACT).content_hash}" in ok.output
    )
    bad = runner.invoke(app, ["pact", "validate", str(REPO / "tests/pacts/wrong_operator.yaml")])
    assert bad.exit_code == 2 and "unknown operator 'inn'" in bad.output
    res = runner.invoke(app, ["score", "--pact", "p.yaml", "--as-of", "2026-03-31", "--draft"])
    assert res.exit_code == 0, res.output
    assert (
        "scored 4 leads and 2 accounts as of 2026-03-31 00:00 with golden v1 (draft from p.yaml); 1 new MQLs"
        in (res.output)
    )
    assert "L1" in res.output and "33.1" in res.output
    ex = runner.invoke(app, ["explain", "L3", "--pact", "p.yaml", "--as-of", "2026-03-31"])
    assert ex.exit_code == 0, ex.output
    assert "adjustment 6.00" in ex.output and "sales-adjustment" in ex.output
    fb = runner.invoke(
        app, ["feedback", "L2", "reject", "--actor", "rep-7", "--reason", "no budget", "--at", "2026-03-30"]
    )
    assert fb.exit_code == 0 and "recorded reject on L2: lead -> disqualified" in fb.output
    no_reason = runner.invoke(app, ["feedback", "L2", "reject", "--actor", "rep-7"])
    assert no_reason.exit_code == 2 and "a rejection needs a reason" in no_reason.output
    wrong = runner.invoke(app, ["score", "--pact", "p.yaml", "--as-of", "yesterday"])
    assert wrong.exit_code == 2 and "is not an ISO date" in wrong.output


def test_feedback_moves_lifecycle_and_changes_the_score(duck: Store) -> None:
    from accord.errors import ConfigError
    from accord.scoring.feedback import record_feedback

    load_tables(duck, golden_tables())
    pact = parse_pact(GOLDEN_PACT)
    before = explain_lead(duck, pact, "L1", AS_OF).score
    r = record_feedback(duck, "L1", "accept", actor="rep-1", at=AS_OF - timedelta(hours=1))
    assert (r.from_stage, r.to_stage) == ("lead", "sal")
    record_feedback(duck, "L1", "adjust", actor="rep-1", points=-12.5, at=AS_OF - timedelta(minutes=30))
    after = explain_lead(duck, pact, "L1", AS_OF)
    assert after.score.adjustment == -12.5
    assert after.score.person_score == pytest.approx(min(40.0, before.fit + before.engagement - 12.5))
    assert any(x.rule_id == "sales-adjustment" and x.points == -12.5 for x in after.lines)
    # A recycle resets engagement (the pact says so) and moves the stage.
    r2 = record_feedback(
        duck, "L1", "recycle", actor="rep-1", reason="next quarter", at=AS_OF - timedelta(minutes=1)
    )
    assert (r2.from_stage, r2.to_stage) == ("sal", "recycled")
    assert explain_lead(duck, pact, "L1", AS_OF).score.engagement == 0.0
    with pytest.raises(ConfigError, match="a rejection needs a reason"):
        record_feedback(duck, "L1", "reject", actor="rep-1")
    with pytest.raises(ConfigError, match="unknown action 'snooze'; valid: accept, reject, recycle, adjust"):
        record_feedback(duck, "L1", "snooze", actor="rep-1")
    with pytest.raises(UnknownLeadError):
        record_feedback(duck, "L9", "accept", actor="rep-1")
    fb = duck.table("feedback")
    assert fb.filter(fb.lead_id == "L1").count().execute() == 3


def test_flat_file_scoring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.yaml").write_text(GOLDEN_PACT)
    (tmp_path / "leads.csv").write_text(
        "Lead,seniority,employees,budget,email,web_visits,event,unsubscribe\n"
        "x1,vp,500,approved,a@corp.io,5,1,0\n"  # fit 35; 4*min(5,2)=8 + 10 = 18 -> 53 -> ceiling 40
        "x2,manager,,none,b@gmail.com,1,0,1\n"  # fit -15; 4 - 8 = -4 -> -19 -> floor 0
        "x3,vp,50,,c@x.io,,,\n"  # fit 20; 0 -> 20
    )
    (tmp_path / "m.yaml").write_text("table: leads\ncolumns:\n  id: Lead\n")
    res = CliRunner().invoke(
        app,
        ["score", "--pact", "p.yaml", "--leads", "leads.csv", "--mapping", "m.yaml", "--output", "out.csv"],
    )
    assert res.exit_code == 0, res.output
    assert "scored 3 leads from leads.csv with golden v1: 1 MQLs -> out.csv" in res.output
    import csv

    rows = {r["lead_id"]: r for r in csv.DictReader((tmp_path / "out.csv").open())}
    got = {
        k: (
            float(r["score"]),
            float(r["fit"]),
            float(r["engagement"]),
            r["grade"],
            int(r["band"]),
            r["stage"],
        )
        for k, r in rows.items()
    }
    assert got == {
        "x1": (40.0, 35.0, 18.0, "A", 2, "mql"),
        "x2": (0.0, -15.0, -4.0, "D", 4, "lead"),
        "x3": (20.0, 20.0, 0.0, "B", 4, "lead"),
    }


def test_weighted_top_k_and_several_models(duck: Store) -> None:
    from accord.scoring import score_all
    from accord.scoring.run import inputs_from

    load_tables(duck, golden_tables())
    text = GOLDEN_PACT.replace(
        "account: {rollup: sum, weight: 0.5}", "account: {rollup: top_k, weights: [1.0, 0.5], weight: 0.5}"
    )
    # A second model for another product line: fit on the VP rule only, no engagement rules.
    text = text.replace(
        "definitions:",
        "  enterprise:\n    fit:\n      rules:\n"
        "        - {id: vp-ent, field: lead.seniority, equals: vp, points: 50}\n"
        "    account: {weight: 0}\ndefinitions:",
    )
    pact = parse_pact(text)
    _, accounts = score_all(pact, inputs_from(duck), AS_OF)
    acc = {r["account_id"]: r for r in accounts.to_pyarrow().to_pylist()}
    l1_eng, l2_eng = 19.214334219331725, -3.0  # see GOLDEN in test_scoring.py
    assert acc["acc1"]["account_engagement"] == pytest.approx(1.0 * l1_eng + 0.5 * l2_eng)
    assert acc["acc1"]["account_score"] == pytest.approx(min(40.0, 10 + l1_eng + 0.5 * l2_eng))
    ent = {
        r["lead_id"]: r["score"]
        for r in score_all(pact, inputs_from(duck), AS_OF, "enterprise")[0].to_pyarrow().to_pylist()
    }
    assert ent == {"L1": 50.0, "L2": 0.0, "L3": 56.0, "L4": 0.0}  # L3 keeps sales' +6 adjustment
    with pytest.raises(KeyError, match="no score model 'smb'; models: default, enterprise"):
        pact.model("smb")


def test_explanation_mentions_a_recycle(duck: Store) -> None:
    load_tables(duck, golden_tables())
    e = explain_lead(duck, parse_pact(GOLDEN_PACT), "L3", AS_OF)
    assert e.score.reset_at == datetime(2026, 3, 15)
    assert "engagement counted since the recycle of 2026-03-15" in e.sentence
