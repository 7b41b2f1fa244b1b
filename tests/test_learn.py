"""The learned pact: integer, monotone points that the scorer reproduces, and that beat a hand-made pact."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from accord.cli.main import app
from accord.demo import demo_pact
from accord.evaluation.compare import compare_pacts
from accord.evaluation.learn import LearnSpec, learn_from_frame, learn_from_store
from accord.evaluation.metrics import auc
from accord.scoring.flat import score_flat
from accord.workflows.evidence import summarise
from conftest import SHARED_DATA
from test_evaluation import SPEC, world_store  # noqa: F401 - the fixture is used below


def messy_leads(n: int = 4_000, seed: int = 3) -> pd.DataFrame:
    """A flat export as they come: a numeric with a monotone effect, a category with a
    "Select" placeholder and blanks, a high-cardinality text column, an activity count."""
    rng = np.random.default_rng(seed)
    size = rng.lognormal(4, 1.2, n).round()
    industry = rng.choice(["saas", "fintech", "retail", "Select", ""], n, p=[0.3, 0.2, 0.3, 0.1, 0.1])
    city = np.array([f"city-{i}" for i in rng.integers(0, 400, n)])
    visits = rng.poisson(2, n)
    logit = -3 + 0.5 * np.log1p(size) / 2 + np.where(industry == "saas", 1.0, 0.0) + 0.25 * visits
    won = rng.random(n) < 1 / (1 + np.exp(-logit))
    size_text = size.astype(object)
    size_text[rng.random(n) < 0.05] = None
    return pd.DataFrame(
        {
            "lead_ref": [f"L{i}" for i in range(n)],
            "employees": size_text,
            "industry": industry,
            "city": city,
            "web_visits": visits,
            "won": np.where(won, "yes", "no"),
        }
    )


def test_learned_points_are_integer_monotone_and_scored_alike(tmp_path) -> None:
    df = messy_leads()
    learned = learn_from_frame(df, "won", "lead_ref", LearnSpec(seed=11))
    pm = learned.model
    assert np.array_equal(pm.points, np.round(pm.points))  # integer points
    rules = learned.pact.model("default").fit.rules
    assert all(float(r.points).is_integer() for r in rules)
    for attribute in ("lead.properties.employees", "lead.properties.web_visits"):
        segments = sorted(
            (lv.term.parts[0].lo or -np.inf, i)
            for i, lv in enumerate(pm.design.levels)
            if lv.term is not None and lv.term.field_segment and lv.attribute == attribute
        )
        assert len(segments) >= 2, attribute
        pts = pm.points[[i for _, i in segments]]
        assert (np.diff(pts) >= 0).all(), pts  # monotone along the number, the right way: more is better
        assert pts[-1] > pts[0]
    # the placeholder is read as missing
    assert any(c.op == "in" and "Select" in c.operand for r in rules for c in r.tests)
    # 400 cities, none with 1% of leads: all are "other", a single level that tells nothing
    assert not any(r.field.endswith(".city") for r in rules)
    assert learned.auc_points > 0.6 and learned.auc_points >= learned.auc_reference - 0.02
    # the scorer reads the learned pact back into exactly the model's scores
    path = tmp_path / "leads.csv"
    df.to_csv(path, index=False)
    (tmp_path / "m.yaml").write_text("columns:\n  id: {from: lead_ref}\n", encoding="utf-8")
    from accord.store.mapping import load_mapping

    flat = score_flat(
        learned.pact, path, load_mapping(str(tmp_path / "m.yaml"), table="leads")
    ).table.to_pandas()
    by_id = flat.set_index("lead_id").score.reindex(df.lead_ref)
    np.testing.assert_allclose(by_id.to_numpy(), pm.score(pm.design.X), atol=1e-9)


def test_learned_flat_pact_is_reproducible_with_whole_lines_and_no_dates() -> None:
    """The same data, options and seed give the same pact byte for byte; every grade, band and MQL
    line is a whole number; a column of dates is left out with its reason, not learned as categories."""
    df = messy_leads(seed=5)
    rng = np.random.default_rng(1)
    days = pd.Timestamp("2026-01-01") + pd.to_timedelta(rng.integers(0, 300, len(df)), unit="D")
    df["first_contact_date"] = days.strftime("%Y-%m-%d")
    df["created"] = days.strftime("%Y-%m-%dT%H:%M:%SZ")
    spec = LearnSpec(seed=3)
    first, again = (learn_from_frame(df, "won", "lead_ref", spec) for _ in range(2))
    assert first.yaml == again.yaml
    assert set(first.left_out) == {"lead.properties.first_contact_date", "lead.properties.created"}
    assert _contradictions(first.pact) == []
    small = learn_from_frame(df, "won", "lead_ref", LearnSpec(seed=3, max_rules=3))
    assert (
        len(small.pact.model("default").fit.rules)
        <= 3
        < len(m_rules := first.pact.model("default").fit.rules)
    )
    assert small.auc_points > 0.6 and m_rules
    assert all("dates" in why for why in first.left_out.values())
    m = first.pact.model("default")
    assert not any("first_contact_date" in r.field or r.field.endswith(".created") for r in m.fit.rules)
    lines = [*m.fit.grades.values(), *m.engagement.bands.values(), first.pact.definitions.mql.min_score]
    assert all(float(x).is_integer() for x in lines), lines


def test_learn_refuses_what_it_cannot_use() -> None:
    df = messy_leads(200)
    from accord.evaluation import EvaluationError

    with pytest.raises(EvaluationError, match="no outcome column 'converted'"):
        learn_from_frame(df, "converted", "lead_ref")
    bad = df.assign(won=["maybe", *list(df.won[1:])])
    with pytest.raises(EvaluationError, match="1 values that are not yes/no \\(first: 'maybe'\\)"):
        learn_from_frame(bad, "won", "lead_ref")
    with pytest.raises(EvaluationError, match="the outcome never varies"):
        learn_from_frame(df.assign(won="no"), "won", "lead_ref")


def test_learned_pact_beats_the_example_on_generated_history(world_store) -> None:  # noqa: F811
    learned = learn_from_store(world_store, demo_pact(), SPEC)
    assert learned.pact.version == demo_pact().version + 1
    eng = learned.pact.model("default").engagement.rules
    assert eng and all(r.decay is not None and r.cap is not None for r in eng)
    c = compare_pacts(world_store, demo_pact(), learned.pact, SPEC)
    table = c.table.set_index("metric")
    # the back-test learning started from is the example's back-test: reusing it changes nothing
    reused = compare_pacts(world_store, demo_pact(), learned.pact, SPEC, old_result=learned.baseline)
    np.testing.assert_allclose(reused.table.old, c.table.old, rtol=1e-9, atol=1e-12)
    assert reused.sentence == c.sentence
    assert table.loc["AUC", "new"] > table.loc["AUC", "old"] + 0.02, table
    assert table.loc["MQL precision (converted)", "new"] > table.loc["MQL precision (converted)", "old"]
    # the back-test through the real scorer agrees with the model's own held-out ranking
    rows = c.new.rows
    late = rows[rows.snapshot > rows.snapshot.min()]
    assert auc(late.score.to_numpy(), late.converted.to_numpy()) > 0.75
    assert _contradictions(learned.pact) == []
    # the pact scores every lead-snapshot exactly as the model it was written from (plus sales' adjustments)
    pm = learned.model
    model_rows = learned.baseline.rows[["lead_id", "snapshot"]].assign(model=pm.design.X @ pm.points)
    both = model_rows.merge(rows[["lead_id", "snapshot", "score", "adjustment"]], on=["lead_id", "snapshot"])
    assert len(both) == len(model_rows) == len(rows)
    np.testing.assert_allclose(both.score, np.clip(both.model + both.adjustment, 0, 100), atol=1e-6)
    assert (both.adjustment != 0).any()
    _readable(learned.pact)
    # the same history, pact and options give the same pact, byte for byte
    assert learn_from_store(world_store, demo_pact(), SPEC).yaml == learned.yaml


def _readable(pact: object) -> None:
    """At most 40 rules, whole points and lines, scores from 0 to 100 with what each means written down."""
    m = pact.model("default")  # type: ignore[attr-defined]
    assert 0 < len(m.fit.rules) + len(m.engagement.rules) <= 40
    assert (m.total.floor, m.total.ceiling) == (0, 100)
    lines = [*m.fit.grades.values(), *m.engagement.bands.values(), pact.definitions.mql.min_score]  # type: ignore[attr-defined]
    assert all(float(x).is_integer() for x in lines), lines
    assert all(float(r.points).is_integer() for r in [*m.fit.rules, *m.engagement.rules])
    assert "Scores run from 0 to 100" in pact.description and " 100: " in pact.description  # type: ignore[attr-defined]
    for r in m.fit.rules:
        for c in r.tests:
            if c.op == "between":  # cuts on round values: 20, 250, 7,000,000, not 70.11253028360562
                assert all(b is None or float(b) == round(float(b), 2) for b in c.operand), r


def _contradictions(pact: object) -> list[str]:
    """Rules whose points run against the conversion rates their descriptions quote.

    Within a field, a rule that converted better never has fewer points; a rule of two fields
    at once, or a learned split or pair of touches, has points that lean the way its leads
    converted against what the rest of their score expects.
    """
    import re

    by_field: dict[str, list[tuple[float, float, str]]] = {}
    out = []
    for r in pact.model("default").fit.rules:  # type: ignore[attr-defined]
        quoted = re.search(r"converted at ([0-9.]+)%", r.description)
        fields = {c.field for c in r.tests}
        if quoted and len(fields) == 1:
            by_field.setdefault(fields.pop(), []).append((float(quoted.group(1)), float(r.points), r.id))
        elif quoted:
            expected = re.search(r"expect ([0-9.]+)%", r.description)
            assert expected, r.description
            if (float(quoted.group(1)) - float(expected.group(1))) * r.points < 0:
                out.append(
                    f"{r.id} converted at {quoted.group(1)}% against {expected.group(1)}% with {r.points:g}"
                )
    for r in pact.model("default").engagement.rules:  # type: ignore[attr-defined]
        said = re.search(
            r"converted at ([0-9.]+)% where the rest of their score expects ([0-9.]+)%", r.description
        )
        if said and (float(said.group(1)) - float(said.group(2))) * r.points < 0:
            out.append(f"{r.id} converted at {said.group(1)}% against {said.group(2)}% with {r.points:g}")
    for rules in by_field.values():
        for rate, points, rid in rules:
            for rate2, points2, rid2 in rules:
                if rate2 > rate and points2 < points:
                    out.append(
                        f"{rid2} converted at {rate2}% with {points2:g} points, {rid} at {rate}% with {points:g}"
                    )
    return out


@pytest.mark.skipif(not (SHARED_DATA / "olist_closed_deals.csv").exists(), reason="shared data absent")
def test_quality_bar_on_real_leads(tmp_path) -> None:
    """Olist's marketing-qualified leads, won when they appear among the closed deals."""
    mqls = pd.read_csv(SHARED_DATA / "olist_marketing_qualified_leads.csv")
    won = set(pd.read_csv(SHARED_DATA / "olist_closed_deals.csv").mql_id)
    mqls["won"] = mqls.mql_id.isin(won).map({True: "yes", False: "no"})
    path = tmp_path / "olist.csv"
    mqls.to_csv(path, index=False)
    r = CliRunner().invoke(
        app,
        [
            "learn",
            "--leads",
            str(path),
            "--outcome",
            "won",
            "--id",
            "mql_id",
            "--out",
            str(tmp_path / "p.yaml"),
        ],
    )
    assert r.exit_code == 0, r.output
    learned = learn_from_frame(mqls, "won", "mql_id")
    assert learned.auc_points >= learned.auc_reference - 0.01, (learned.auc_points, learned.auc_reference)
    assert f"learned points pact {learned.auc_points:.3f}" in r.output


def test_learn_cli_explains_what_a_flat_file_cannot_do(tmp_path) -> None:
    path = tmp_path / "leads.csv"
    messy_leads(300).to_csv(path, index=False)
    runner = CliRunner()
    out = str(tmp_path / "p.yaml")
    r = runner.invoke(
        app, ["learn", "--leads", str(path), "--outcome", "won", "--capacity", "50", "--out", out]
    )
    assert r.exit_code == 2 and "a flat file has no dates to count MQLs per month" in r.output
    r = runner.invoke(app, ["learn", "--leads", str(path), "--out", out])
    assert r.exit_code == 2 and "--leads needs --outcome COLUMN" in r.output
    r = runner.invoke(
        app,
        [
            "learn",
            "--leads",
            str(path),
            "--outcome",
            "won",
            "--id",
            "lead_ref",
            "--precision",
            "0.2",
            "--seed",
            "3",
            "--out",
            out,
        ],
    )
    assert r.exit_code == 0, r.output
    assert "seed 3" in r.output and "MQL line: score >=" in r.output
    from accord.pact import load_pact

    assert load_pact(out).definitions.mql.min_score is not None


def test_columns_that_say_nothing_give_almost_no_rules_and_no_line() -> None:
    """Noise in, no proposal out: the rules that rank held-back training rows no better are not kept,
    and with a held-out AUC interval that includes 0.5 there is no learned MQL line."""
    rng = np.random.default_rng(9)
    n = 3000
    df = pd.DataFrame(
        {
            "ref": [f"L{i}" for i in range(n)],
            "size": rng.lognormal(4, 1, n).round(),
            "industry": rng.choice(["saas", "retail", "fintech", "media"], n),
            "visits": rng.poisson(3, n),
            "won": np.where(rng.random(n) < 0.2, "yes", "no"),
        }
    )
    learned = learn_from_frame(df, "won", "ref")
    everything = learn_from_frame(df, "won", "ref", LearnSpec(max_rules=40))
    assert learned.chance and "no MQL line learned" in learned.threshold_reason
    assert learned.threshold == 100
    assert len(learned.pact.model("default").fit.rules) <= 2, learned.yaml
    assert everything.yaml == learned.yaml  # the default budget is 40: the same pact


def _planted(seed: int = 11) -> object:
    """The generated world, plus webinars and pricing page visits whose only effect is together:
    a lead with a pricing visit within 3 days of a webinar converts at about 60%; one whose
    visit is two months from the webinar gets nothing from either."""
    import pyarrow as pa

    from accord.model.tables import TABLES
    from test_evaluation import _world

    gen = _world()
    rng = np.random.default_rng(seed)
    leads = gen.tables["leads"].to_pandas()
    touches = gen.tables["touchpoints"].to_pandas()
    opps = gen.tables["opportunities"].to_pandas()
    end = touches.occurred_at.max() - pd.Timedelta(days=60)
    free = leads[~leads.id.isin(opps.primary_lead_id) & (leads.created_at < end - pd.Timedelta(days=30))]
    extra, won = [], []
    for k, lead in enumerate(free.itertuples()):
        if rng.random() < 0.5:
            continue
        span = (end - lead.created_at).total_seconds()
        webinar = lead.created_at + pd.Timedelta(seconds=float(rng.random() * span))
        near = rng.random() < 0.5
        away = rng.uniform(-3, 3) if near else rng.choice([-1, 1]) * rng.uniform(50, 80)
        visit = (webinar + pd.Timedelta(days=float(away))).floor("s")
        webinar = webinar.floor("s")
        base = {"lead_id": lead.id, "account_id": lead.account_id, "team": "marketing", "cost": 0.0}
        extra.append(
            {
                **base,
                "id": f"pw-{k}",
                "occurred_at": webinar,
                "channel": "webinar",
                "touch_type": "webinar",
                "properties": "{}",
            }
        )
        extra.append(
            {
                **base,
                "id": f"pp-{k}",
                "occurred_at": visit,
                "channel": "direct",
                "touch_type": "web_visit",
                "properties": '{"page":"/pricing"}',
            }
        )
        if near and rng.random() < 0.6:
            when = (max(webinar, visit) + pd.Timedelta(days=float(rng.uniform(5, 40)))).floor("s")
            won.append(
                {
                    "id": f"po-{k}",
                    "account_id": lead.account_id,
                    "primary_lead_id": lead.id,
                    "created_at": when,
                    "closed_at": None,
                    "stage": "open",
                    "amount": 1000.0,
                    "is_won": False,
                    "properties": "{}",
                }
            )
    tables = dict(gen.tables)
    for name, rows in (("touchpoints", extra), ("opportunities", won)):
        schema = TABLES[name].schema.to_pyarrow()
        add = pa.Table.from_pylist([{c: r.get(c) for c in schema.names} for r in rows], schema=schema)
        plain = pa.Table.from_pandas(
            tables[name].to_pandas()[schema.names], schema=schema, preserve_index=False
        )
        tables[name] = pa.concat_tables([plain, add])
    return type(gen)(tables, gen.truth, gen.lead_truth, gen.meta)


def test_learn_finds_two_touches_that_only_count_together(tmp_path) -> None:
    """A pair planted in the history becomes an `all:` engagement rule, which the scorer reproduces."""
    from accord.store import connect
    from accord.synth import store_generated

    store = connect(f"duckdb://{tmp_path / 'p.duckdb'}")
    store_generated(_planted(), store)
    learned = learn_from_store(store, demo_pact(), SPEC)
    rules = learned.pact.model("default").engagement.rules
    pair = [r for r in rules if r.conditions and r.combine == "all"]
    assert pair, [r.id for r in rules]
    r = pair[0]
    assert sorted(c.touch_type[0] for c in r.conditions if c.touch_type) == ["web_visit", "webinar"], r
    assert r.points > 0 and r.within_days == 14
    assert any(c.property == {"page": "/pricing"} for c in r.conditions), r
    assert "where the rest of their score expects" in r.description
    assert learned.touches_tried > 50
    assert learned.touches_kept[0] == "webinar within 14 days of a web visit page /pricing"
    assert summarise(learned).touches_kept == learned.touches_kept
    assert _contradictions(learned.pact) == []
    _readable(learned.pact)
    # the scorer gives every lead-snapshot the model's score, the pair rule included
    c = compare_pacts(store, demo_pact(), learned.pact, SPEC, old_result=learned.baseline)
    pm = learned.model
    model_rows = learned.baseline.rows[["lead_id", "snapshot"]].assign(model=pm.design.X @ pm.points)
    both = model_rows.merge(
        c.new.rows[["lead_id", "snapshot", "score", "adjustment"]], on=["lead_id", "snapshot"]
    )
    assert len(both) == len(model_rows)
    np.testing.assert_allclose(both.score, np.clip(both.model + both.adjustment, 0, 100), atol=1e-6)
    store.close()
