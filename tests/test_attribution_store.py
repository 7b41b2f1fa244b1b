"""Attribution from the store: the same numbers on DuckDB, PostgreSQL and Spark; ground truth; CLI."""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from accord.attribution import (
    Conversion,
    JourneySpec,
    journeys_from_store,
    run_models,
    team_credit,
    team_report,
)
from accord.attribution.compare import spend_by_channel
from accord.attribution.inputs import journeys_from_file
from accord.cli.main import app
from accord.model.tables import TABLES
from accord.store import Store
from accord.synth import generate
from conftest import SHARED_DATA

ENGINE_MODELS = [
    "first_touch",
    "last_touch",
    "linear",
    "time_decay",
    "position",
    "w_shaped",
    "full_path",
    "markov",
    "markov(order=2)",
    "shapley",
    "incrementality(bootstrap=0)",
]


@cache
def small_world():
    return generate(leads=1_500, seed=11, touches_per_lead=6)


def fill(store: Store, gen) -> None:
    for name in ("accounts", "leads", "touchpoints", "opportunities", "stage_changes", "spend"):
        store.write_arrow(name, gen.tables[name], schema=TABLES[name].schema)


@cache
def duckdb_reference(conversion: Conversion) -> pd.DataFrame:
    from accord.store import connect

    store = connect("duckdb://:memory:")
    fill(store, small_world())
    with journeys_from_store(store, JourneySpec(conversion=conversion)) as j:
        return run_models(j, ENGINE_MODELS).credit.sort_values(["model", "channel"], ignore_index=True)


@pytest.mark.slow
@pytest.mark.parametrize("conversion", [Conversion.OPPORTUNITY, Conversion.WON])
def test_every_model_gives_the_same_credit_on_every_engine(store: Store, conversion: Conversion) -> None:
    fill(store, small_world())
    with journeys_from_store(store, JourneySpec(conversion=conversion)) as j:
        got = run_models(j, ENGINE_MODELS).credit.sort_values(["model", "channel"], ignore_index=True)
    want = duckdb_reference(conversion)
    assert got[["model", "channel"]].equals(want[["model", "channel"]])
    np.testing.assert_allclose(got.conversions, want.conversions, rtol=1e-9, atol=1e-7)
    np.testing.assert_allclose(got.value, want.value, rtol=1e-9, atol=1e-4)
    if conversion is Conversion.WON:
        won = small_world().tables["opportunities"].to_pandas()
        won = won[won.is_won].sort_values("closed_at").drop_duplicates("primary_lead_id")
        linear = got[got.model == "linear"]
        assert linear.value.sum() == pytest.approx(won.amount.sum())


def test_journeys_cut_at_conversion_with_windows_and_filters(duck: Store) -> None:
    gen = small_world()
    fill(duck, gen)
    tp = gen.tables["touchpoints"].to_pandas()
    opps = (
        gen.tables["opportunities"].to_pandas().sort_values("created_at").drop_duplicates("primary_lead_id")
    )
    with journeys_from_store(duck, JourneySpec(conversion=Conversion.OPPORTUNITY)) as j:
        t = j.table.to_pandas()
        assert j.totals["conversions"] == len(opps)
        assert j.untouched_conversions == 0
        # every path ends at or before its opportunity: post-opportunity sales touches are not on it
        merged = t[t.conv > 0].merge(opps, left_on="journey_id", right_on="primary_lead_id")
        assert (merged.age_days >= 0).all()
        assert len(t) == t.n.groupby(t.journey_id).first().sum()
        assert len(t) < len(tp)
    spec = JourneySpec(conversion=Conversion.OPPORTUNITY, lookback_days=30, channels=("email", "webinar"))
    with journeys_from_store(duck, spec) as j:
        t = j.table.to_pandas()
        assert set(t.channel) <= {"email", "webinar"} and t.age_days.max() <= 30
        assert j.untouched_conversions > 0  # converters with no email or webinar touch in 30 days
    with journeys_from_store(duck, JourneySpec(conversion=Conversion.OPPORTUNITY, per="account")) as j:
        assert j.totals["journeys"] == tp.account_id.nunique()
    early = datetime(2025, 6, 1)
    with journeys_from_store(duck, JourneySpec(conversion=Conversion.OPPORTUNITY, as_of=early)) as j:
        assert j.totals["conversions"] == (opps.created_at <= early).sum()


def test_teams_sourced_and_influenced(duck: Store) -> None:
    fill(duck, small_world())
    with journeys_from_store(duck, JourneySpec(conversion=Conversion.OPPORTUNITY)) as j:
        teams = team_report(j).set_index("team")
        first = (
            run_models(j, ["first_touch"])
            .models["first_touch"]
            .breakdown(j, "team")
            .groupby("team")
            .conversions.sum()
        )
        t = j.table.to_pandas()
        split = team_credit(run_models(j, ["first_touch", "linear", "markov"]), j)
    # sourced = the first touch's team; influenced = any touch of the team on the journey
    assert teams.sourced_conversions.to_dict() == pytest.approx(first.to_dict())
    by_model = split.groupby("model").conversions.sum()
    assert by_model.to_dict() == pytest.approx(
        dict.fromkeys(["first_touch", "linear", "markov"], len(t[t.conv > 0].journey_id.unique()))
    )
    first_split = split[split.model == "first_touch"].set_index("team").conversions
    assert first_split.to_dict() == pytest.approx(first.to_dict())
    conv = t[t.conv > 0]
    for team in ("marketing", "sales"):
        assert teams.influenced_conversions[team] == conv[conv.team == team].journey_id.nunique()
    assert teams.sourced_conversions.sum() == conv.journey_id.nunique()


@pytest.mark.slow
def test_incrementality_is_closest_to_the_generator_truth(duck: Store) -> None:
    gen = generate(leads=20_000, seed=7)
    fill(duck, gen)
    with journeys_from_store(duck, JourneySpec(conversion=Conversion.OPPORTUNITY)) as j:
        result = run_models(j, [*ENGINE_MODELS[:-1], "incrementality(bootstrap=20)"])
    dist = result.distance_to(gen.truth.true_incremental_opportunities)
    best = min(dist, key=dist.get)
    assert best.startswith("incrementality"), dist
    assert dist[best] < 0.2 and min(v for k, v in dist.items() if k != best) > dist[best] + 0.05
    # display follows interest but causes nothing: every path-based model credits it more than the counterfactual
    shares = result.shares()
    others = [m for m in shares.columns if m != best]
    assert (shares.loc["display", others] > shares.loc["display", best]).all(), shares.loc["display"]
    inc = result.models[best].incremental_.set_index("channel")
    assert (inc.incremental_low <= inc.incremental).all() and (inc.incremental <= inc.incremental_high).all()
    spend = spend_by_channel(duck)
    assert spend is not None and spend.sum() == pytest.approx(
        gen.tables["spend"].column("amount").to_numpy().sum()
    )


# --------------------------------------------------------------------------- CLI

runner = CliRunner()


def test_cli_attribute_path_file_to_csv_and_json(tmp_path) -> None:
    f = tmp_path / "paths.csv"
    f.write_text(
        "path;total_conversions;total_conversion_value;total_null\na | b;2;20;1\nb;1;5;3\n", encoding="utf-8"
    )
    r = runner.invoke(app, ["attribute", str(f), "--sep", "|", "-m", "first_touch,linear", "--output", "csv"])
    assert r.exit_code == 0, r.output
    from io import StringIO

    rows = pd.read_csv(StringIO(r.stdout))
    assert rows.to_dict("records") == [
        {"model": "first_touch", "channel": "a", "conversions": 2.0, "value": 20.0},
        {"model": "first_touch", "channel": "b", "conversions": 1.0, "value": 5.0},
        {"model": "linear", "channel": "a", "conversions": 1.0, "value": 10.0},
        {"model": "linear", "channel": "b", "conversions": 2.0, "value": 15.0},
    ]
    out = tmp_path / "credit.json"
    r = runner.invoke(
        app, ["attribute", str(f), "--sep", "|", "-m", "markov", "--output", "json", "--to", str(out)]
    )
    assert r.exit_code == 0, r.output
    data = json.loads(out.read_text())
    assert sum(d["conversions"] for d in data) == pytest.approx(3.0)


def test_cli_attribute_explains_mistakes(tmp_path) -> None:
    f = tmp_path / "paths.csv"
    f.write_text("path,total_conversions\na > b,1\n", encoding="utf-8")
    r = runner.invoke(app, ["attribute", str(f), "-m", "lastclick"])
    assert r.exit_code == 2 and "unknown attribution model 'lastclick'" in r.output
    r = runner.invoke(app, ["attribute", str(f), "--lookback", "ten days"])
    assert r.exit_code == 2 and "write days (365d) and/or touches (20touches)" in r.output
    r = runner.invoke(app, ["attribute", str(f), "--conversion", "won"])
    assert r.exit_code == 2 and "--conversion, --per and --url apply to the store" in r.output
    bad = tmp_path / "x.csv"
    bad.write_text("who,when\n1,2\n", encoding="utf-8")
    r = runner.invoke(app, ["attribute", str(bad)])
    assert r.exit_code == 2 and "cannot tell the journey format" in r.output


def small_store_url(tmp_path) -> str:
    from accord.store import connect

    url = f"duckdb://{tmp_path / 'a.duckdb'}"
    store = connect(url)
    fill(store, small_world())
    store.close()
    return url


def test_cli_compare_on_the_store(tmp_path) -> None:
    url = small_store_url(tmp_path)
    truth = tmp_path / "truth.json"
    truth.write_text(small_world().truth.model_dump_json(), encoding="utf-8")
    r = runner.invoke(
        app, ["attribute", "--compare", "--url", url, "--conversion", "won", "--truth", str(truth)]
    )
    assert r.exit_code == 0, r.output
    for text in (
        "conversions credited",
        "value credited",
        "markov",
        "shapley",
        "incrementality",
        "w_shaped",
        "full_path",
        "spend and return",
        "teams: sourced",
        "distance to the true incremental shares",
    ):
        assert text in r.output, text


@pytest.mark.skipif(not (SHARED_DATA / "si05_attribution_journeys.csv").exists(), reason="shared data absent")
def test_tutorial_journeys_cut_at_first_conversion(tmp_path) -> None:
    src = SHARED_DATA / "si05_attribution_journeys.csv"
    raw = pd.read_csv(src, parse_dates=["time"])
    first = raw[raw.interaction == "conversion"].sort_values("time").drop_duplicates("customer_id")
    imp = raw[raw.interaction == "impression"].merge(
        first[["customer_id", "time"]], on="customer_id", how="left", suffixes=("", "_conv")
    )
    kept = imp[imp.time_conv.isna() | (imp.time <= imp.time_conv)]
    converting = kept[kept.time_conv.notna()].customer_id.nunique()
    j = journeys_from_file(src, rejects_path=tmp_path / "rejects.csv")
    assert j.totals["touches"] == len(kept)
    assert j.totals["conversions"] == converting
    assert j.untouched_conversions == len(first) - converting
    linear = run_models(j, ["linear"]).credit
    assert linear.conversions.sum() == pytest.approx(converting)


def test_cli_breakdowns_and_details(tmp_path) -> None:
    url = small_store_url(tmp_path)
    out = tmp_path / "by_campaign.csv"
    r = runner.invoke(
        app,
        [
            "attribute",
            "--url",
            url,
            "-m",
            "linear,markov",
            "--by",
            "campaign",
            "--output",
            "csv",
            "--to",
            str(out),
            "--details",
            str(tmp_path / "details"),
        ],
    )
    assert r.exit_code == 0, r.output
    rows = pd.read_csv(out)
    by_channel = rows.groupby(["model", "channel"]).conversions.sum()
    whole = run_models_on(url, ["linear", "markov"]).set_index(["model", "channel"]).conversions
    np.testing.assert_allclose(by_channel.sort_index(), whole.sort_index(), atol=1e-9)
    # generated campaigns are named after their channel
    assert all(c.startswith(ch) for c, ch in zip(rows.campaign, rows.channel, strict=True))
    matrix = pd.read_csv(tmp_path / "details" / "markov_transition_matrix.csv")
    sums = matrix.groupby("from_state").probability.sum()
    np.testing.assert_allclose(sums, 1.0, atol=1e-9)  # every row of the chain is a distribution
    assert (tmp_path / "details" / "markov_removal_effects.csv").exists()


def run_models_on(url: str, models: list[str]) -> pd.DataFrame:
    from accord.store import connect

    store = connect(url)
    try:
        with journeys_from_store(store, JourneySpec()) as j:
            return run_models(j, models).credit
    finally:
        store.close()


def test_an_empty_store_says_so(duck: Store) -> None:
    from accord.attribution import AttributionError

    with pytest.raises(
        AttributionError, match=r"no journeys in .*: no touchpoint matches .*load touchpoints first"
    ):
        journeys_from_store(duck, JourneySpec())
