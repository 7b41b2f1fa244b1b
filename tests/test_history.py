"""Writes that cannot hurt history: as-of before creation, run ids and revert, versions side by side,
dry runs, exports; and pact versions that need both teams."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pyarrow.csv as pacsv
import pytest
from typer.testing import CliRunner

from accord.cli.main import app
from accord.errors import PactError, PactRefError
from accord.pact import parse_pact, registry
from accord.scoring import run_scoring
from accord.scoring.run import UnknownRunError, list_runs, revert_run
from accord.store import Store
from scoring_cases import AS_OF, GOLDEN_PACT, golden_tables, load_tables


def _mqls(store: Store) -> list[tuple[str, datetime]]:
    sc = store.table("stage_changes")
    return sorted(
        (r["lead_id"], r["changed_at"]) for r in sc.filter(sc.to_stage == "mql").to_pyarrow().to_pylist()
    )


def test_scoring_before_leads_existed_writes_nothing_dated_before_them(duck: Store) -> None:
    load_tables(duck, golden_tables())
    pact = parse_pact(GOLDEN_PACT)
    created = {r["id"]: r["created_at"] for r in duck.table("leads").to_pyarrow().to_pylist()}
    early = min(created.values()) - timedelta(days=1)
    r = run_scoring(duck, pact, early)
    assert (r.leads.total, r.new_mqls) == (0, 0)
    assert _mqls(duck) == []
    # the real run after it still finds its MQL
    assert run_scoring(duck, pact, AS_OF).new_mqls == 1
    ls = duck.table("lead_scores").to_pyarrow().to_pylist()
    assert all(row["as_of"] >= created[row["lead_id"]] for row in ls)


def test_a_run_can_be_reverted_and_versions_keep_their_own_history(store: Store) -> None:
    duck = store  # on every engine: the delete by run id is each engine's own
    load_tables(duck, golden_tables())
    v1 = parse_pact(GOLDEN_PACT)
    v2 = parse_pact(GOLDEN_PACT.replace("version: 1", "version: 2").replace("points: 20", "points: 21", 1))
    first = run_scoring(duck, v1, AS_OF)
    second = run_scoring(duck, v2, AS_OF, record_mqls=False)
    ls = duck.table("lead_scores")
    assert ls.count().execute() == 8  # 4 leads x 2 versions at the same instant: both kept
    assert {r["pact_version"] for r in ls.to_pyarrow().to_pylist()} == {1, 2}
    assert [r["run_id"] for r in list_runs(duck)] == [second.run_id, first.run_id]
    again = run_scoring(duck, v1, AS_OF)  # re-run: nothing changes, and it owns nothing
    assert (again.leads.unchanged, again.new_mqls) == (4, 0)
    assert revert_run(duck, again.run_id).lead_scores == 0
    gone = revert_run(duck, first.run_id)
    assert (gone.lead_scores, gone.account_scores, gone.stage_changes) == (4, 2, 1)
    assert _mqls(duck) == []
    left = duck.table("lead_scores").to_pyarrow().to_pylist()
    assert {r["pact_version"] for r in left} == {2} and len(left) == 4
    runs = {r["run_id"]: r for r in list_runs(duck)}
    assert runs[first.run_id]["reverted_at"] is not None and runs[second.run_id]["reverted_at"] is None
    with pytest.raises(UnknownRunError, match="already reverted"):
        revert_run(duck, first.run_id)
    with pytest.raises(UnknownRunError, match="no scoring run 'run-nope'"):
        revert_run(duck, "run-nope")
    # after the revert the MQL can be recorded again
    assert run_scoring(duck, v1, AS_OF).new_mqls == 1


def test_dry_run_says_what_would_change_and_writes_nothing(duck: Store) -> None:
    load_tables(duck, golden_tables())
    pact = parse_pact(GOLDEN_PACT)
    dry = run_scoring(duck, pact, AS_OF, dry_run=True)
    assert dry.dry_run and (dry.leads.inserted, dry.accounts.inserted, dry.new_mqls) == (4, 2, 1)
    assert duck.table("lead_scores").count().execute() == 0 and _mqls(duck) == [] and list_runs(duck) == []
    run_scoring(duck, pact, AS_OF)
    again = run_scoring(duck, pact, AS_OF, dry_run=True)
    assert (again.leads.inserted, again.leads.updated, again.leads.unchanged, again.new_mqls) == (0, 0, 4, 0)


def _signed_store(duck: Store, text: str = GOLDEN_PACT) -> registry.PactVersion:
    v = registry.submit(duck, text, by="ana")
    registry.approve(duck, "1", "marketing", by="ana")
    registry.approve(duck, "golden@1", "sales", by="bo")
    return registry.activate(duck, v.content_hash[:12], by="ops")


def test_activation_needs_both_teams_on_the_exact_content(store: Store) -> None:
    duck = store
    v = registry.submit(duck, GOLDEN_PACT, by="ana")
    assert v.missing == ["marketing", "sales"] and registry.active_pact(duck) is None
    registry.approve(duck, "v1", "marketing", by="ana")
    with pytest.raises(
        PactError, match=r"cannot activate golden v1 \(sha256:[0-9a-f]{8}\): sales has not approved it"
    ):
        registry.activate(duck, "1", by="ops")
    # the same version number with changed rules is another content: marketing's approval does not carry over
    changed = GOLDEN_PACT.replace("points: 20", "points: 25", 1)
    v_changed = registry.submit(duck, changed, by="ana")
    assert v_changed.content_hash != v.content_hash
    registry.approve(duck, "1", "sales", by="bo")  # `1` now means the latest content of version 1
    with pytest.raises(PactError, match="marketing has not approved it"):
        registry.activate(duck, "1", by="ops")
    registry.approve(duck, v_changed.content_hash, "marketing", by="ana")
    active = registry.activate(duck, "golden@1", by="ops")
    assert active.content_hash == v_changed.content_hash
    pact = registry.active_pact(duck)
    assert pact is not None and {(a.team, a.by) for a in pact.approvals} == {
        ("marketing", "ana"),
        ("sales", "bo"),
    }
    assert pact.content_hash == parse_pact(changed).content_hash  # approvals are not part of the content
    # submitting the same content again changes nothing; comments and approvals in the YAML do not count
    again = registry.submit(
        duck, "# a comment\n" + changed + "approvals:\n  - {team: sales, by: x, at: 2026-01-01}\n", by="z"
    )
    assert again.content_hash == v_changed.content_hash and len(registry.versions(duck)) == 2
    whats = [e.what for e in registry.history(duck)]
    assert whats == ["submitted", "approved", "submitted", "approved", "approved", "activated"]
    exported = registry.export_yaml(registry.resolve(duck, "1"))
    # A digit Python's isdigit takes but int() refuses (schemathesis sent it) is an unknown version.
    with pytest.raises(PactRefError, match="no submitted pact version"):
        registry.resolve(duck, "\u00b9")
    reparsed = parse_pact(exported)
    assert reparsed.content_hash == v_changed.content_hash and {a.team for a in reparsed.approvals} == {
        "marketing",
        "sales",
    }


def test_commands_default_to_the_active_pact_and_label_drafts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    from accord.store import connect

    with connect("duckdb://accord.duckdb") as store:
        load_tables(store, golden_tables())
    r = runner.invoke(app, ["score", "--as-of", AS_OF.isoformat()])
    assert r.exit_code == 4 and "has no active pact" in r.output
    (tmp_path / "p.yaml").write_text(GOLDEN_PACT)
    with connect("duckdb://accord.duckdb") as store:
        _signed_store(store)
    r = runner.invoke(app, ["score", "--as-of", AS_OF.isoformat()])
    assert r.exit_code == 0, r.output
    assert "with golden v1 (active); 1 new MQLs" in r.output
    draft = tmp_path / "next.yaml"
    draft.write_text(GOLDEN_PACT.replace("version: 1", "version: 2"))
    later = (AS_OF + timedelta(days=1)).isoformat()
    r = runner.invoke(app, ["score", "--pact", str(draft), "--as-of", later])
    assert r.exit_code == 0, r.output
    assert "golden v2 (draft from" in r.output and "MQLs not recorded as stage changes (a draft" in r.output
    r = runner.invoke(app, ["explain", "L1", "--as-of", AS_OF.isoformat()])
    assert r.exit_code == 0 and "with golden v1 (active)" in r.output
    r = runner.invoke(app, ["pact", "diff", str(draft)])  # against the active version
    assert r.exit_code == 0 and "golden v1 -> golden v2" in r.output
    r = runner.invoke(app, ["scores", "export", "--output", "s.csv", "--mql-only"])
    assert r.exit_code == 0, r.output
    rows = pacsv.read_csv(tmp_path / "s.csv").to_pylist()
    assert [(x["lead_id"], x["pact_version"]) for x in rows] == [("L1", 1)]
    r = runner.invoke(app, ["score", "--output", "x.csv"])
    assert r.exit_code == 2 and "--output goes with --leads FILE" in r.output
    r = runner.invoke(app, ["runs", "list"])
    assert r.exit_code == 0 and r.output.count("run-") == 2 and "draft" in r.output


def test_backtest_range_comes_from_the_data_not_from_todays_feedback() -> None:
    import pandas as pd

    from accord.evaluation.backtest import BacktestSpec, History, left_out_note, snapshot_instants

    leads = pd.DataFrame(
        {"id": ["a", "b"], "created_at": pd.to_datetime(["2017-01-10", "2018-06-30"]), "source": [None, None]}
    )
    opps = pd.DataFrame(
        {
            "lead_id": ["a"],
            "created_at": pd.to_datetime(["2018-08-01"]),
            "closed_at": pd.to_datetime(["2018-09-15"]),
            "is_won": [True],
        }
    )
    today = pd.Timestamp("2026-11-29")
    stages = pd.DataFrame({"lead_id": ["b"], "to_stage": ["disqualified"], "changed_at": [today]})
    feedback = pd.DataFrame(
        {"lead_id": ["b"], "given_at": [today], "actor": ["rep"], "action": ["reject"], "reason": ["x"]}
    )
    history = History(leads, opps, stages, feedback, last_touch=datetime(2018, 9, 1))
    assert history.activity_end == datetime(2018, 9, 15)
    spec = BacktestSpec()
    instants = snapshot_instants(history, spec)
    assert instants[-1] <= datetime(2018, 9, 15) - timedelta(days=90)
    note = left_out_note(history, spec, instants[1:])
    assert note is not None and "outcome horizon" in note and "(2018-09-15)" in note


def test_stages_the_store_never_records_are_not_rates_of_zero() -> None:
    import math

    import pandas as pd

    from accord.cli._evaluate import _pct
    from accord.evaluation.backtest import History, _unknown_stages
    from accord.evaluation.results import Funnel

    empty_fb = pd.DataFrame({"lead_id": [], "given_at": [], "actor": [], "action": [], "reason": []})
    stages = pd.DataFrame({"lead_id": ["a"], "to_stage": ["mql"], "changed_at": [pd.Timestamp("2018-01-01")]})
    opps = pd.DataFrame(
        {"lead_id": ["a"], "created_at": [pd.Timestamp("2018-02-01")], "closed_at": [None], "is_won": [None]}
    )
    history = History(pd.DataFrame(), opps, stages, empty_fb)
    zero = {"mql_to_sal": 0.0, "mql_to_sql": 0.0, "mql_to_opportunity": 0.25, "mql_to_won": 0.0}
    days = {"median_days_mql_to_opportunity": 20.0, "median_days_mql_to_won": float("nan")}
    funnel = Funnel(new_mqls=4, mqls_per_month=4.0, capacity_per_month=None, **zero, **days)
    funnel = _unknown_stages(funnel, history)
    assert math.isnan(funnel.mql_to_sal) and math.isnan(funnel.mql_to_sql) and math.isnan(funnel.mql_to_won)
    assert funnel.mql_to_opportunity == 0.25
    assert _pct(funnel.mql_to_sal) == "n/a" and _pct(0.25) == "25.0%"


def test_rules_that_can_never_fire_on_the_store_are_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from accord.store import connect

    monkeypatch.chdir(tmp_path)
    with connect("duckdb://accord.duckdb") as store:
        load_tables(store, golden_tables())
    text = GOLDEN_PACT.replace(
        "        - {id: freemail,",
        "        - {id: landing, field: lead.properties.landing_pge_id, equals: x, points: 5}\n"
        "        - {id: both, all: [{field: lead.properties.budget, equals: approved},"
        " {field: lead.properties.landing_pge_id, equals: x}], points: 5}\n"
        "        - {id: either, any: [{field: lead.properties.budget, equals: approved},"
        " {field: lead.properties.landing_pge_id, equals: x}], points: 5}\n"
        "        - {id: freemail,",
    ).replace(
        "        - {id: unsub,",
        "        - {id: webinars, touch_type: webinar_live, points: 3}\n        - {id: unsub,",
    )
    (tmp_path / "p.yaml").write_text(text)
    runner = CliRunner()
    r = runner.invoke(app, ["pact", "validate", "p.yaml", "--url", "duckdb://accord.duckdb"])
    assert r.exit_code == 0, r.output
    assert (
        "rule 'landing' can never fire on this store: no lead in the store has a value for property"
        in r.output
    )
    assert (
        "rule 'webinars' can never fire on this store: no touch in the store has touch_type 'webinar_live'"
        in (r.output)
    )
    # `all:` needs the misspelt property too; `any:` fires on budget alone
    assert (
        "rule 'both' can never fire on this store: no lead in the store has a value for property" in r.output
    )
    assert (
        "rule 'budget'" not in r.output and "rule 'visit'" not in r.output and "rule 'either'" not in r.output
    )
    r = runner.invoke(app, ["score", "--pact", "p.yaml", "--as-of", AS_OF.isoformat()])
    assert r.exit_code == 0 and r.output.count("can never fire") == 3


def test_an_explanation_says_which_verdict_reset_engagement(duck: Store) -> None:
    from accord.scoring.lookup import explain_lead

    load_tables(duck, golden_tables())
    pact = parse_pact(GOLDEN_PACT)
    rejected = explain_lead(duck, pact, "L4", AS_OF)
    assert "engagement counted since the rejection of 2026-03-31" in rejected.sentence
    assert "recycle" not in rejected.sentence
    assert [v.words for v in rejected.feedback] == ["rejected on 2026-03-31 (no budget)"]
    recycled = explain_lead(duck, pact, "L3", AS_OF)
    assert "engagement counted since the recycle of 2026-03-15" in recycled.sentence


def test_an_explanation_without_role_or_company_names_the_fit_rules_that_counted() -> None:
    from accord.scoring.explain import explain
    from accord.scoring.online import OnlineScorer

    pact = parse_pact(
        "pact: p\nversion: 1\nmodels:\n  default:\n    fit:\n      rules:\n"
        "        - {id: paid, field: lead.source, in: [paid_search, organic_search], points: 60}\n"
        "        - {id: page, field: lead.properties.landing_page_id, equals: x1, points: 5}\n"
        "definitions:\n  mql: {min_score: 50}\n"
    )
    lead = {
        "id": "m1",
        "account_id": None,
        "source": "paid_search",
        "properties": '{"landing_page_id": "x1"}',
    }
    score = OnlineScorer(pact).score(lead, None, [], AS_OF)
    sentence = explain(pact, score, lead, None, [], AS_OF).sentence
    assert sentence.startswith(
        "A4 MQL (65): fits source paid_search or organic_search (+60), landing page id x1 (+5)"
    )


def test_a_store_from_an_earlier_accord_gets_the_new_columns(store: Store) -> None:
    import ibis

    from accord.model.tables import STAGE_CHANGES

    old = ibis.schema({c.name: c.ibis_type for c in STAGE_CHANGES.columns if c.name != "run_id"})
    store.con.create_table("stage_changes", schema=old, overwrite=True)
    assert "run_id" not in store.con.table("stage_changes").columns
    assert store.table("stage_changes").columns == STAGE_CHANGES.column_names
    load_tables(store, golden_tables())
    pact = parse_pact(GOLDEN_PACT)
    r = run_scoring(store, pact, AS_OF)
    sc = store.table("stage_changes")
    assert sc.filter(sc.run_id == r.run_id).count().execute() == r.new_mqls == 1
