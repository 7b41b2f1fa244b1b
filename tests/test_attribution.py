"""Attribution models: hand-computed golden cases, invariants, and cross-checks against references."""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
from collections import defaultdict
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accord.attribution import AttributionError, make_model, run_models
from accord.attribution.inputs import journeys_from_file, journeys_from_frame
from accord.attribution.journeys import Journeys, with_journey_columns
from accord.attribution.models import MODELS
from accord.attribution.models.incrementality import Incrementality
from accord.attribution.models.rules import LastNonDirect
from accord.attribution.models.shapley import Shapley

T0 = datetime(2026, 1, 1)


def touches(rows: list[tuple[str, float, str, int, float]]) -> pd.DataFrame:
    """(journey, day, channel, converted, value) -> a touch-level frame."""
    return pd.DataFrame(
        {
            "journey_id": [r[0] for r in rows],
            "occurred_at": [T0 + timedelta(days=r[1]) for r in rows],
            "channel": [r[2] for r in rows],
            "converted": [r[3] for r in rows],
            "value": [r[4] for r in rows],
        }
    )


def paths(rows: list[tuple[str, int, float, int]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["path", "total_conversions", "total_conversion_value", "total_null"])


def credit(model: str, journeys: Journeys) -> dict[str, tuple[float, float]]:
    c = make_model(model).fit(journeys).credit_
    return {r.channel: (r.conversions, r.value) for r in c.itertuples()}


def assert_credit(got: dict[str, tuple[float, float]], want: dict[str, tuple[float, float]]) -> None:
    got, want = ({k: v for k, v in d.items() if abs(v[0]) > 1e-12 or abs(v[1]) > 1e-12} for d in (got, want))
    assert set(got) == set(want), (got, want)
    for ch, (conv, value) in want.items():
        assert got[ch][0] == pytest.approx(conv, abs=1e-9), ch
        assert got[ch][1] == pytest.approx(value, abs=1e-9), ch


# J1: a(day 0) b(5) c(10), converts for 100; J2: b(0) a(5), converts for 50;
# J3: c alone, does not convert; J4: a(0) direct(5) direct(10), converts for 10.
GOLDEN = touches(
    [
        ("j1", 0, "a", 1, 100.0),
        ("j1", 5, "b", 1, 100.0),
        ("j1", 10, "c", 1, 100.0),
        ("j2", 0, "b", 1, 50.0),
        ("j2", 5, "a", 1, 50.0),
        ("j3", 0, "c", 0, 0.0),
        ("j4", 0, "a", 1, 10.0),
        ("j4", 5, "direct", 1, 10.0),
        ("j4", 10, "direct", 1, 10.0),
    ]
)


@pytest.fixture
def golden() -> Journeys:
    return journeys_from_frame(GOLDEN)


def test_golden_rule_models(golden: Journeys) -> None:
    assert golden.totals["conversions"] == 3 and golden.totals["value"] == 160
    # The build counts every total of a touch file; counted again from its table, they agree.
    assert golden.counts.keys() == golden.totals.keys()
    assert dataclasses.replace(golden, counts={}, _memo={}).totals == golden.totals
    assert_credit(credit("first_touch", golden), {"a": (2, 110), "b": (1, 50)})
    assert_credit(credit("last_touch", golden), {"c": (1, 100), "a": (1, 50), "direct": (1, 10)})
    assert_credit(credit("last_non_direct", golden), {"c": (1, 100), "a": (2, 60)})
    assert_credit(
        credit("linear", golden),
        {
            "a": (1 / 3 + 1 / 2 + 1 / 3, 100 / 3 + 25 + 10 / 3),
            "b": (1 / 3 + 1 / 2, 100 / 3 + 25),
            "c": (1 / 3, 100 / 3),
            "direct": (2 / 3, 20 / 3),
        },
    )
    # U-shaped 40/20/40; the two-touch journey splits 50/50.
    assert_credit(
        credit("position", golden),
        {"a": (0.4 + 0.5 + 0.4, 40 + 25 + 4), "b": (0.2 + 0.5, 20 + 25), "c": (0.4, 40), "direct": (0.6, 6)},
    )
    # Half-life 5 days: ages 10, 5, 0 weigh 1/4, 1/2, 1 (of 7/4); ages 5, 0 weigh 1/2, 1 (of 3/2).
    assert_credit(
        credit("time_decay(half_life_days=5)", golden),
        {
            "a": (1 / 7 + 2 / 3 + 1 / 7, 100 / 7 + 100 / 3 + 10 / 7),
            "b": (2 / 7 + 1 / 3, 200 / 7 + 50 / 3),
            "c": (4 / 7, 400 / 7),
            "direct": (6 / 7, 60 / 7),
        },
    )
    # Custom: the last touch weighs 3, others 1.
    assert_credit(
        credit("custom(last=3)", golden),
        {
            "a": (1 / 5 + 3 / 4 + 1 / 5, 20 + 37.5 + 2),
            "b": (1 / 5 + 1 / 4, 20 + 12.5),
            "c": (3 / 5, 60),
            "direct": (4 / 5, 8),
        },
    )


def test_time_decay_counts_from_the_latest_touch_when_the_journey_ends_later(golden: Journeys) -> None:
    """Journeys from the store end at the conversion, maybe years after their last touch.

    Ages of 20,000+ days underflow 2^(-age/5) to 0 for every touch; counted from each
    journey's latest touch they give the golden shares again. Journeys marked as ending
    at their last touch skip that shift, so on these ages their credit is lost.
    """
    con = golden.con
    t = with_journey_columns(golden.table)  # a file's table stores times, not ages
    con.create_table("later", t.mutate(age_days=t.age_days + 20000))
    want = credit("time_decay(half_life_days=5)", golden)
    for ends_at_last_touch in (False, True):
        later = Journeys(
            con=con,
            name="later",
            has_times=True,
            has_milestones=False,
            source="test",
            ends_at_last_touch=ends_at_last_touch,
        )
        got = credit("time_decay(half_life_days=5)", later)
        if ends_at_last_touch:
            assert sum(c for c, _ in got.values()) != pytest.approx(3)
        else:
            assert_credit(got, want)


@pytest.mark.parametrize("old_day", [-30, -5000])
def test_time_decay_on_a_touch_file_spanning_thousands_of_half_lives(old_day: int) -> None:
    """A touch file's ages count from its latest touch while it spans few half-lives; a file
    spanning more (here 5,000 days, 5,000 half-lives) counts from each journey's end: alike."""
    rows = [
        ("j1", 0, "a", 1, 10.0),
        ("j1", 1, "b", 1, 10.0),
        ("j1", 2, "c", 1, 10.0),
        ("j2", old_day, "a", 1, 1.0),
        ("j2", old_day + 1, "b", 1, 1.0),
    ]
    with journeys_from_frame(touches(rows)) as j:
        got = credit("time_decay(half_life_days=1)", j)
    # j1: ages 2, 1, 0 weigh 1/4, 1/2, 1 (of 7/4); j2: ages 1, 0 weigh 1/2, 1 (of 3/2).
    assert_credit(
        got,
        {
            "a": (1 / 7 + 1 / 3, 10 / 7 + 1 / 3),
            "b": (2 / 7 + 2 / 3, 20 / 7 + 2 / 3),
            "c": (4 / 7, 40 / 7),
        },
    )


def test_last_non_direct_reads_direct_whatever_its_case_and_spaces() -> None:
    j = journeys_from_frame(
        touches(
            [
                ("j1", 0, "email", 1, 10.0),
                ("j1", 1, " Direct ", 1, 10.0),
                ("j1", 2, "(NONE)", 1, 10.0),
                ("j2", 0, "DIRECT", 1, 5.0),
                ("j2", 1, "direct", 1, 5.0),
                ("j3", 0, "email", 1, 1.0),
                ("j3", 1, "Direct Mail", 1, 1.0),
            ]
        )
    )
    # j2 is all direct: its last touch keeps the credit; "Direct Mail" is not direct.
    assert_credit(credit("last_non_direct", j), {"email": (1, 10), "direct": (1, 5), "Direct Mail": (1, 1)})
    own = LastNonDirect(direct=("EMAIL ",)).fit(j).credit_
    assert_credit(
        {r.channel: (r.conversions, r.value) for r in own.itertuples()},
        {"(NONE)": (1, 10), "direct": (1, 5), "Direct Mail": (1, 1)},
    )


def test_channels_are_an_enum_up_to_a_limit_and_text_beyond(monkeypatch) -> None:
    from accord.attribution import inputs

    models = [
        "first_touch",
        "last_non_direct",
        "linear",
        "time_decay",
        "markov",
        "markov(order=2)",
        "shapley",
    ]
    results = {}
    for limit, typ in ((inputs.ENUM_LIMIT, "ENUM('a', 'b', 'c', 'direct')"), (3, "VARCHAR")):
        monkeypatch.setattr(inputs, "ENUM_LIMIT", limit)
        with journeys_from_frame(GOLDEN) as j:
            types = j.con.con.execute(f"SELECT DISTINCT typeof(channel), typeof(next_channel) FROM {j.name}")
            assert types.fetchall() == [(typ, typ)]
            assert j.channels == ["a", "b", "c", "direct"]
            results[typ] = {m: credit(m, j) for m in models}
    enum, text = results.values()
    for m in models:
        assert_credit(enum[m], text[m])


def test_channel_names_are_trimmed_only_when_some_need_it() -> None:
    padded = journeys_from_frame(touches([("j", 0, " email ", 1, 5.0), ("j", 1, "email", 1, 5.0)]))
    assert padded.channels == ["email"] and credit("linear", padded) == {"email": (1.0, 5.0)}
    inner = journeys_from_frame(touches([("j", 0, "e mail", 1, 5.0), ("j", 1, "email", 1, 5.0)]))
    assert inner.channels == ["e mail", "email"]


def test_custom_weights_by_touch_type() -> None:
    frame = touches([("j", 0, "a", 1, 8.0), ("j", 1, "b", 1, 8.0), ("j", 2, "a", 1, 8.0)])
    frame["touch_type"] = ["web_visit", "demo", "email_open"]
    j = journeys_from_frame(frame)
    # demo weighs 3, other types 0.5 (default), the last touch doubles: 0.5, 3, 0.5 x 2 (of 4.5)
    assert_credit(
        credit("custom(last=2, default=0.5, demo=3)", j), {"a": (1 / 3, 8 / 3), "b": (2 / 3, 16 / 3)}
    )


def test_models_that_need_times_or_milestones_refuse_path_files() -> None:
    j = journeys_from_frame(paths([("a > b", 1, 1.0, 0)]))
    with pytest.raises(AttributionError, match="time_decay needs touch times"):
        make_model("time_decay").fit(j)
    with pytest.raises(AttributionError, match="w_shaped needs lead and opportunity creation dates"):
        make_model("w_shaped").fit(j)
    result = run_models(j, ["linear", "w_shaped"])
    assert list(result.models) == ["linear"] and "w_shaped" in result.skipped["w_shaped"]


def test_model_registry_errors_list_the_choices() -> None:
    with pytest.raises(AttributionError, match=r"unknown attribution model 'lastclick'; models: first_touch"):
        make_model("lastclick")
    with pytest.raises(AttributionError, match="markov order must be 1 to 4"):
        make_model("markov(order=5)")
    with pytest.raises(AttributionError, match=r"model markov: .*unexpected keyword.*parameters: order"):
        make_model("markov(orden=2)")
    assert make_model("markov(order=2)").label == "markov(order=2)"


def test_lookback_windows_cut_old_and_early_touches() -> None:
    frame = GOLDEN[GOLDEN.journey_id == "j1"]
    from accord.attribution.journeys import JourneySpec

    by_days = journeys_from_frame(frame, spec=JourneySpec(lookback_days=6))
    assert by_days.table.to_pandas().channel.tolist() == ["b", "c"]
    by_touches = journeys_from_frame(frame, spec=JourneySpec(lookback_touches=1))
    assert by_touches.table.to_pandas().channel.tolist() == ["c"]
    with pytest.raises(AttributionError, match="lookback must be a positive number of days"):
        JourneySpec(lookback_days=0)


def test_a_varying_flag_ends_the_journey_at_the_converting_touch() -> None:
    frame = touches([("j", 0, "a", 0, 0.0), ("j", 1, "b", 1, 30.0), ("j", 2, "c", 0, 0.0)])
    j = journeys_from_frame(frame)
    t = j.table.to_pandas()
    assert (
        t.channel.tolist() == ["a", "b"]
        and t.conv.tolist() == [1.0, 1.0]
        and t.value.tolist() == [30.0, 30.0]
    )


@pytest.mark.parametrize("typ", ["int8", "int64", "bool"])
def test_an_integer_flag_is_checked_unless_its_range_is_zero_to_one(typ: str, tmp_path) -> None:
    """A flag column of integers or booleans: a missing flag is 0; any value but 0 and 1 is
    rejected (where the column's range shows none, no touch is checked)."""
    flags: list[object] = [1, 1, None, 0]
    if typ != "bool":
        flags += [2, -1]
    frame = touches([("j", 0, "a", 0, 5.0)] * len(flags)).assign(
        journey_id=[f"j{i}" for i in range(len(flags))]
    )
    table = pa.Table.from_pandas(frame.drop(columns="converted"), preserve_index=False).append_column(
        "converted", pa.array([None if f is None else (bool(f) if typ == "bool" else f) for f in flags], typ)
    )
    f = tmp_path / "touches.parquet"
    pq.write_table(table, f)
    with journeys_from_file(f) as j:
        assert j.totals["journeys"] == 4 and j.totals["conversions"] == 2 and j.totals["value"] == 10.0
        assert j.rejected == len(flags) - 4
    if typ != "bool":
        rejects = pd.read_csv(j.rejects_path)
        assert rejects.reason.tolist() == ["converted is not a yes/no flag"] * 2
        assert rejects.location.tolist() == ["row 5", "row 6"]


@pytest.mark.parametrize("varying", [False, True])
def test_a_conversion_without_value_still_converts(varying: bool) -> None:
    """The table stores a journey's outcome as its value, null when it did not convert."""
    rows = [("j", 0, "a", int(not varying), 0.0), ("j", 1, "b", 1, 0.0), ("k", 0, "a", 0, 0.0)]
    j = journeys_from_frame(touches(rows))
    t = j.table.to_pandas().sort_values(["journey_id", "pos"])
    assert t.conv.tolist() == [1.0, 1.0, 0.0] and t.nulls.tolist() == [0.0, 0.0, 1.0]
    assert t.value.tolist() == [0.0, 0.0, 0.0]
    assert {k: j.totals[k] for k in ("journeys", "conversions", "nulls", "value")} == {
        "journeys": 2,
        "conversions": 1,
        "nulls": 1,
        "value": 0,
    }


@pytest.mark.parametrize("varying", [False, True])
def test_bad_touch_rows_are_rejected_with_reasons(tmp_path, varying: bool) -> None:
    # The same bad rows whether every journey's flag is constant (the one-pass build) or
    # one journey's flag varies (the general build); "k"'s second touch converts when it varies.
    f = tmp_path / "touches.csv"
    f.write_text(
        "journey_id,occurred_at,channel,converted,value\n"
        "j1,2026-01-01,a,1,50\n"
        "j1,2026-01-03,b,1,50\n"
        "   ,2026-01-02,a,0,0\n"
        ",2026-01-02,a,0,0\n"
        " j2,2026-01-02,c,0,0\n"
        "j3,not a date,a,0,0\n"
        "j3,2026-01-02,  ,0,0\n"
        "j3,2026-01-02,a,maybe,0\n"
        "j3,2026-01-02,a,1,lots\n"
        "k,2026-01-01,a,0,0\n"
        f"k,2026-01-02,b,{int(varying)},{20 * int(varying)}\n"
        "k,2026-01-03,c,0,0\n",
        encoding="utf-8",
    )
    from accord.attribution.inputs import journeys_from_file

    j = journeys_from_file(f)
    assert j.rejected == 6
    rejects = pd.read_csv(j.rejects_path)
    assert rejects.reason.tolist() == [
        "journey id is missing",
        "journey id is missing",
        "occurred_at is missing or not a timestamp",
        "channel is missing",
        "converted is not a yes/no flag",
        "value is not a number",
    ]
    assert rejects.location.tolist() == [f"line {n}" for n in (4, 5, 7, 8, 9, 10)]
    t = with_journey_columns(j.table).to_pandas().sort_values(["journey_id", "pos"])
    # " j2" is an id (only an id of nothing but spaces is missing); k ends at its conversion
    assert t.journey_id.tolist() == [" j2", "j1", "j1", "k", "k"] + ([] if varying else ["k"])
    assert j.totals["conversions"] == 1 + varying and j.totals["value"] == 50 + 20 * varying
    assert t[t.journey_id == "j1"].age_days.tolist() == [2.0, 0.0]


def test_bad_path_rows_are_rejected_with_reasons(tmp_path) -> None:
    f = tmp_path / "paths.csv"
    f.write_text(
        "path,total_conversions,total_conversion_value,total_null\n"
        "a > b,2,20,1\n"
        ",1,5,0\n"
        "b,x,0,1\n"
        "c,-1,0,1\n"
        "a,0,9,1\n"
        "b > > c,1,4,0\n",
        encoding="utf-8",
    )
    from accord.attribution.inputs import journeys_from_file

    j = journeys_from_file(f)
    assert j.totals["conversions"] == 3 and j.totals["value"] == 24 and j.rejected == 4
    rejects = pd.read_csv(j.rejects_path)
    assert rejects.reason.tolist() == [
        "path has no channel",
        "total_conversions is not a number",
        "total_conversions is negative",
        "total_conversion_value without conversions",
    ]
    assert rejects.location.tolist() == ["line 3", "line 4", "line 5", "line 6"]
    # the empty hop in "b > > c" is skipped, as ChannelAttribution does
    assert credit("linear", j) == {"a": (1.0, 10.0), "b": (1.5, 12.0), "c": (0.5, 2.0)}


def test_identical_paths_share_a_row_and_every_journey_counts() -> None:
    rows = [
        ("a > b", 1, 10.0, 0),
        ("a > b", 0, 0.0, 1),
        ("a>b", 1, 30.0, 0),
        ("c", 0, 0.0, 1),
        (" >  > ", 1, 0.0, 0),
    ]
    j = journeys_from_frame(paths(rows))
    assert len(j.table.to_pandas()) == 5  # "a > b" once (2 touches), "a>b" (2), "c" (1)
    assert j.totals == {"journeys": 4, "touches": 7, "conversions": 2, "value": 40, "nulls": 2}
    assert j.rejected == 1  # " >  > " has no channel
    assert make_model("shapley").fit(j).coalitions_.journeys.sum() == 4  # journeys, not shared rows
    # The same journeys touch by touch, one per row: every path model credits them alike.
    as_touches = touches(
        [
            ("1", 0, "a", 1, 10.0),
            ("1", 1, "b", 1, 10.0),
            ("2", 0, "a", 0, 0.0),
            ("2", 1, "b", 0, 0.0),
            ("3", 0, "a", 1, 30.0),
            ("3", 1, "b", 1, 30.0),
            ("4", 0, "c", 0, 0.0),
        ]
    )
    one_per_journey = journeys_from_frame(as_touches)
    for model in ("first_touch", "linear", "position", "markov", "shapley", "incrementality(bootstrap=0)"):
        assert_credit(credit(model, j), credit(model, one_per_journey))


def test_incrementality_bootstrap_draws_journeys_not_shared_rows() -> None:
    # 4,000 journeys in four path rows. Drawing rows (each whole or not at all) would make the
    # interval for "a" run from 0 to about 950; drawing journeys keeps it near the estimate.
    rows = [
        ("a", 300, 300.0, 700),
        ("b", 200, 200.0, 800),
        ("a > b", 400, 400.0, 600),
        ("c", 100, 100.0, 900),
    ]
    m = make_model("incrementality(bootstrap=200)").fit(journeys_from_frame(paths(rows)))
    a = m.incremental_.set_index("channel").loc["a"]
    assert (
        0.75 * a.incremental < a.incremental_low < a.incremental < a.incremental_high < 1.25 * a.incremental
    )


def test_incrementality_on_journeys_with_the_same_exposures_fits_as_journey_by_journey() -> None:
    """Journeys with the same touch counts are one row of the fit; the result is the per-journey fit's."""
    from accord.stats import fit_logistic

    rng = np.random.default_rng(5)
    rows = []
    for k in range(400):
        chans = rng.choice(["a", "b", "c"], size=1 + rng.poisson(1.5), p=[0.5, 0.3, 0.2])
        conv = int(rng.random() < 0.1 + 0.2 * ("a" in chans) + 0.1 * list(chans).count("b"))
        value = float(rng.integers(1, 100)) if conv else 0.0
        rows += [(f"j{k}", float(d), ch, conv, value) for d, ch in enumerate(chans)]
    frame = touches(rows)
    m = Incrementality(bootstrap=0)
    got = m.fit(journeys_from_frame(frame)).incremental_.set_index("channel")
    # The reference: one row per journey, built here with pandas.
    counts = pd.crosstab(frame.journey_id, frame.channel).reindex(columns=["a", "b", "c"], fill_value=0)
    per = frame.groupby("journey_id").agg(conv=("converted", "max"), value=("value", "max"))
    df = pd.DataFrame({f"n{i}": counts[c] for i, c in enumerate(["a", "b", "c"])}).join(per)
    df["nulls"] = 1.0 - df.conv
    X, groups = m._design(df, 3, recency=False)
    succ, value = df.conv.to_numpy(float), df.value.to_numpy(float)
    beta = fit_logistic(X, succ, np.ones(len(df)), m.l2)
    inc, inc_value = m._counterfactual(X, beta, groups, np.ones(len(df)), succ, value)
    assert len(m.coef_) == 4 and np.allclose(m.coef_, beta, rtol=1e-9, atol=1e-12)
    assert np.allclose(got.loc[["a", "b", "c"], "incremental"], inc, rtol=1e-9)
    assert np.allclose(got.loc[["a", "b", "c"], "incremental_value"], inc_value, rtol=1e-9)


# ----------------------------------------------------------------- W and full path


def test_milestone_models_on_the_store(duck) -> None:
    """Touches a..e on days 0-4; lead created at b (day 1), opportunity on day 3.5, won on day 4.5."""
    _milestone_store(duck, created_day=1)
    from accord.attribution.journeys import Conversion, JourneySpec, journeys_from_store

    with journeys_from_store(duck, JourneySpec(conversion=Conversion.OPPORTUNITY)) as j:
        assert_credit(
            credit("w_shaped", j), {"a": (0.3, 300), "b": (0.3, 300), "c": (0.1, 100), "d": (0.3, 300)}
        )
    with journeys_from_store(duck, JourneySpec(conversion=Conversion.WON)) as j:
        q = 0.225
        assert_credit(
            credit("full_path", j),
            {"a": (q, 1000 * q), "b": (q, 1000 * q), "c": (0.1, 100), "d": (q, 1000 * q), "e": (q, 1000 * q)},
        )


def test_milestone_roles_on_one_touch_add_up(duck) -> None:
    """Lead created at the first touch: it gets 30 + 30; the opportunity touch 30; the rest 10 in two."""
    _milestone_store(duck, created_day=0)
    from accord.attribution.journeys import Conversion, JourneySpec, journeys_from_store

    with journeys_from_store(duck, JourneySpec(conversion=Conversion.OPPORTUNITY)) as j:
        assert_credit(
            credit("w_shaped", j), {"a": (0.6, 600), "b": (0.05, 50), "c": (0.05, 50), "d": (0.3, 300)}
        )


def _milestone_store(store, created_day: float) -> None:
    from scoring_cases import load_tables, table

    def ts(day: float) -> datetime:
        return T0 + timedelta(days=day)

    teams = ["marketing", "marketing", "marketing", "sales", "sales", "marketing"]
    load_tables(
        store,
        {
            "leads": table(
                "leads", [{"id": "L1", "created_at": ts(created_day)}, {"id": "L2", "created_at": ts(0)}]
            ),
            "touchpoints": table(
                "touchpoints",
                [
                    {
                        "id": f"t{i}",
                        "lead_id": lead,
                        "occurred_at": ts(day),
                        "channel": ch,
                        "touch_type": "web_visit",
                        "team": teams[i],
                    }
                    for i, (lead, day, ch) in enumerate(
                        [
                            ("L1", 0, "a"),
                            ("L1", 1, "b"),
                            ("L1", 2, "c"),
                            ("L1", 3, "d"),
                            ("L1", 4, "e"),
                            ("L2", 1, "a"),
                        ]
                    )
                ],
            ),
            "opportunities": table(
                "opportunities",
                [
                    {
                        "id": "O1",
                        "primary_lead_id": "L1",
                        "created_at": ts(3.5),
                        "closed_at": ts(4.5),
                        "amount": 1000.0,
                        "is_won": True,
                    }
                ],
            ),
        },
    )


# ------------------------------------------------------------ ChannelAttribution


def random_paths(seed: int, n: int = 400, channels: int = 6) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    names = [f"ch{i}" for i in range(channels)]
    rows = []
    for _ in range(n):
        length = int(rng.integers(1, 7))
        path = " > ".join(names[int(rng.integers(0, channels))] for _ in range(length))
        conv = int(rng.integers(0, 4))
        rows.append((path, conv, float(conv * rng.integers(1, 200)), int(rng.integers(0, 5)) + (conv == 0)))
    return paths(rows)


def _channel_attribution():
    """ChannelAttribution, the reference; CI (ACCORD_REQUIRE_CROSSCHECK=1) fails instead of skipping."""
    try:
        import ChannelAttribution
    except ImportError as exc:
        if os.environ.get("ACCORD_REQUIRE_CROSSCHECK"):
            pytest.fail(f"ChannelAttribution is required here: {exc} (pip install -e '.[crosscheck]')")
        pytest.skip(f"ChannelAttribution not installed: {exc}")
    return ChannelAttribution


def test_first_last_linear_equal_channel_attribution_heuristics() -> None:
    ca = _channel_attribution()
    for seed in range(3):
        data = random_paths(seed)
        ref = ca.heuristic_models(data, "path", "total_conversions", var_value="total_conversion_value")
        ref = ref.set_index("channel_name")
        j = journeys_from_frame(data)
        for ours, theirs in (
            ("first_touch", "first_touch"),
            ("last_touch", "last_touch"),
            ("linear", "linear_touch"),
        ):
            got = make_model(ours).fit(j).credit_.set_index("channel")
            np.testing.assert_allclose(
                got.conversions, ref.loc[got.index, f"{theirs}_conversions"], rtol=0, atol=1e-9
            )
            np.testing.assert_allclose(got.value, ref.loc[got.index, f"{theirs}_value"], rtol=0, atol=1e-8)


def independent_markov(data: pd.DataFrame, order: int) -> tuple[dict[str, float], dict[str, float]]:
    """Removal effects from a dense absorbing-chain solve written without the library's code."""
    counts: dict[tuple, float] = defaultdict(float)
    conv_value: dict[tuple, float] = defaultdict(float)
    for path, conv, value, null in data.itertuples(index=False):
        ch = [c.strip() for c in path.split(">") if c.strip()]
        states = (
            [tuple(ch)] if len(ch) < order else [tuple(ch[i : i + order]) for i in range(len(ch) - order + 1)]
        )
        collapsed = [s for i, s in enumerate(states) if i == 0 or s != states[i - 1]]
        seq = [("START",), *collapsed]
        for a, b in itertools.pairwise(seq):
            counts[(a, b)] += conv + null
        counts[(seq[-1], ("CONV",))] += conv
        counts[(seq[-1], ("NULL",))] += null
        conv_value[seq[-1]] += value
    states = sorted({a for a, _ in counts} | {b for _, b in counts} - {("CONV",), ("NULL",)})
    idx = {s: i for i, s in enumerate(states)}
    n = len(states)
    P = np.zeros((n, n))
    b = np.zeros(n)
    bv = np.zeros(n)
    out = defaultdict(float)
    for (a, _), w in counts.items():
        out[a] += w
    for (a, c), w in counts.items():
        if c == ("CONV",):
            b[idx[a]] = w / out[a]
            bv[idx[a]] = (w / out[a]) * (conv_value[a] / w if w else 0.0)
        elif c != ("NULL",):
            P[idx[a], idx[c]] = w / out[a]

    def solve(removed: str | None) -> tuple[float, float]:
        keep = [i for i, s in enumerate(states) if removed is None or removed not in s]
        A = np.eye(len(keep)) - P[np.ix_(keep, keep)]
        x = np.linalg.solve(A, np.column_stack([b[keep], bv[keep]]))
        start = keep.index(idx[("START",)])
        return x[start, 0], x[start, 1]

    base, base_v = solve(None)
    channels = sorted({c for s in states for c in s} - {"START"})
    re = {c: 1 - solve(c)[0] / base for c in channels}
    rev = {c: 1 - solve(c)[1] / base_v for c in channels}
    return re, rev


@pytest.mark.parametrize(("order", "channels"), [(1, 6), (2, 6), (3, 6), (3, 11)])
def test_markov_equals_an_independent_absorbing_chain(order: int, channels: int) -> None:
    """Order 3 with 11 channels has more than 400 states: the iterative solve is checked too."""
    data = random_paths(11 + order, n=2000 if channels > 6 else 400, channels=channels)
    j = journeys_from_frame(data)
    m = make_model(f"markov(order={order})").fit(j)
    re, rev = independent_markov(data, order)
    assert (len(m.chain_.states) > 400) == (channels > 6)
    got = m.removal_effects_.set_index("channel")
    for c in re:
        assert got.loc[c, "removal_effect"] == pytest.approx(re[c], abs=1e-9)
        assert got.loc[c, "value_removal_effect"] == pytest.approx(rev[c], abs=1e-9)
    shares = np.array([re[c] for c in got.index])
    np.testing.assert_allclose(
        m.credit_.conversions, data.total_conversions.sum() * shares / shares.sum(), atol=1e-9
    )


def test_markov_hand_computed_chain() -> None:
    """start->a .5, ->b .2, ->c .3; a: conv 2/7, null 3/7, ->b 2/7; b: ->a .5, ->c .5; c: conv .4."""
    data = paths(
        [("a > b > c", 1, 10.0, 1), ("a", 0, 0.0, 3), ("b > a > a", 2, 30.0, 0), ("c > c", 1, 5.0, 2)]
    )
    m = make_model("markov").fit(journeys_from_frame(data))
    assert m.conversion_probability_ == pytest.approx(0.4, abs=1e-12)
    re = m.removal_effects_.set_index("channel").removal_effect
    # without b: a converts 2/7, c .4 -> .5*2/7 + .3*.4 = 0.262857; without a: b -> c only -> .2*.2 + .3*.4
    assert re["b"] == pytest.approx(1 - (0.5 * 2 / 7 + 0.3 * 0.4) / 0.4, abs=1e-12)
    assert re["a"] == pytest.approx(1 - (0.2 * 0.5 * 0.4 + 0.3 * 0.4) / 0.4, abs=1e-12)
    assert re["c"] == pytest.approx(0.5, abs=1e-12)
    tm = m.transition_matrix_
    assert tm[(tm.from_state == "a") & (tm.to_state == "b")].probability.item() == pytest.approx(2 / 7)


def test_markov_within_monte_carlo_tolerance_of_channel_attribution() -> None:
    ca = _channel_attribution()
    data = random_paths(5, n=300, channels=5)
    ref = ca.markov_model(
        data,
        "path",
        "total_conversions",
        var_value="total_conversion_value",
        var_null="total_null",
        nsim_start=1e6,
        max_step=200,
        verbose=False,
    ).set_index("channel_name")
    got = make_model("markov").fit(journeys_from_frame(data)).credit_.set_index("channel")
    total = data.total_conversions.sum()
    # 1e6 simulated paths: the Monte-Carlo error of a channel's share is well under 1%.
    assert np.abs(got.conversions - ref.loc[got.index, "total_conversions"]).max() / total < 0.01


# --------------------------------------------------------------------- Shapley


def test_shapley_two_channels_by_hand() -> None:
    """v(a) = .1, v(b) = .2, v(ab) = .4: phi_a = (.1 + .2) / 2 = .15, phi_b = (.2 + .3) / 2 = .25."""
    data = paths([("a", 1, 10.0, 9), ("b", 2, 0.0, 8), ("a > b", 4, 80.0, 6)])
    got = credit("shapley", journeys_from_frame(data))
    assert got["a"][0] == pytest.approx(1 + 4 * 0.15 / 0.4)
    assert got["b"][0] == pytest.approx(2 + 4 * 0.25 / 0.4)
    assert got["a"][1] == pytest.approx(10 + 80 * 0.375)


def test_shapley_axioms() -> None:
    # x and y are interchangeable; n never changes any coalition's rate (a null player).
    rows = []
    for base, (conv, null) in {
        "x": (1, 9),
        "y": (1, 9),
        "z": (3, 7),
        "x > z": (5, 5),
        "y > z": (5, 5),
        "x > y": (4, 6),
        "x > y > z": (8, 2),
    }.items():
        rows.append((base, conv, float(conv), null))
        rows.append((base + " > n", conv, float(conv), null))
    rows.append(("n", 0, 0.0, 10))
    data = paths(rows)
    m = Shapley().fit(journeys_from_frame(data))
    got = m.credit_.set_index("channel")
    assert got.conversions["n"] == pytest.approx(0.0, abs=1e-12)  # null player
    assert got.conversions["x"] == pytest.approx(got.conversions["y"], abs=1e-12)  # symmetry
    assert got.conversions.sum() == pytest.approx(data.total_conversions.sum())  # efficiency
    rates = m.coalitions_.set_index("key").rate
    for (
        key,
        shares,
    ) in m.shares_.items():  # per coalition: shares x v(T) are the Shapley values, summing to v(T)
        assert sum(s for s, _ in shares.values()) == pytest.approx(1.0)
        assert rates[key] > 0


def test_shapley_sampled_agrees_with_exact_within_its_bound() -> None:
    rng = np.random.default_rng(3)
    names = [f"c{i}" for i in range(13)]
    rows = []
    for _ in range(600):
        size = int(rng.integers(1, 14))
        members = sorted(rng.choice(13, size=size, replace=False))
        conv = int(rng.integers(0, 5))
        rows.append((" > ".join(names[i] for i in members), conv, float(conv), int(rng.integers(1, 5))))
    j = journeys_from_frame(paths(rows))
    exact = Shapley(method="exact").fit(j)
    sampled = Shapley(method="sampled", samples=400, seed=1).fit(j)
    diff = (exact.credit_.conversions - sampled.credit_.conversions).abs()
    bound = sampled.error_bound_.conversions_95
    assert (bound > 0).any()
    assert (diff <= 2 * bound + 1e-9).all(), pd.DataFrame({"diff": diff, "bound": bound})
    assert sampled.credit_.conversions.sum() == pytest.approx(exact.credit_.conversions.sum(), rel=1e-9)


def test_ordered_shapley_splits_each_channel_by_first_position() -> None:
    data = paths([("a > b", 3, 30.0, 1), ("b > a", 1, 10.0, 3), ("a", 1, 5.0, 4), ("b", 1, 1.0, 9)])
    m = Shapley(ordered=True).fit(journeys_from_frame(data))
    pos = m.by_position_.groupby("channel").conversions.sum()
    np.testing.assert_allclose(pos.reindex(m.credit_.channel), m.credit_.conversions, atol=1e-12)
    first_a = m.by_position_.set_index(["channel", "position"]).conversions
    assert set(first_a.index) == {("a", 1), ("a", 2), ("b", 1), ("b", 2)}


# ------------------------------------------------------------------- invariants

PATH_MODELS = [
    "first_touch",
    "last_touch",
    "last_non_direct",
    "linear",
    "position",
    "custom(last=2)",
    "markov",
    "markov(order=2)",
    "markov(collapse_repeats=false)",
    "shapley",
    "incrementality(bootstrap=0)",
]


@st.composite
def path_sets(draw):
    n = draw(st.integers(1, 12))
    rows = []
    for _ in range(n):
        chans = draw(st.lists(st.sampled_from(["a", "b", "c", "direct"]), min_size=1, max_size=5))
        conv = draw(st.integers(0, 3))
        null = draw(st.integers(0 if conv else 1, 3))
        value = draw(st.floats(0, 1000, allow_nan=False)) if conv else 0.0
        rows.append((" > ".join(chans), conv, value, null))
    return paths(rows)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path_sets())
def test_every_model_credits_exactly_the_totals(data: pd.DataFrame) -> None:
    j = journeys_from_frame(data)
    total_c, total_v = data.total_conversions.sum(), data.total_conversion_value.sum()
    result = run_models(j, PATH_MODELS)
    assert len(result.models) == len(PATH_MODELS)
    sums = result.credit.groupby("model")[["conversions", "value"]].sum()
    for model, row in sums.iterrows():
        assert row.conversions == pytest.approx(total_c, rel=1e-9, abs=1e-9), model
        assert row.value == pytest.approx(total_v, rel=1e-9, abs=1e-6), model


def test_registry_names_every_model() -> None:
    assert set(MODELS) == {
        "first_touch",
        "last_touch",
        "last_non_direct",
        "linear",
        "time_decay",
        "position",
        "w_shaped",
        "full_path",
        "custom",
        "markov",
        "shapley",
        "incrementality",
    }
    assert math.isclose(sum(MODELS["full_path"]().shares), 0.9)


def test_budget_suggestion_needs_separated_intervals() -> None:
    from accord.attribution.compare import Attribution
    from accord.attribution.models.incrementality import Incrementality

    m = Incrementality()
    m.incremental_ = pd.DataFrame(
        {
            "channel": ["a", "b", "c"],
            "incremental": [50.0, 5.0, 20.0],
            "incremental_low": [40.0, 1.0, 2.0],
            "incremental_high": [60.0, 9.0, 45.0],
        }
    )
    spend = pd.Series({"a": 10_000.0, "b": 20_000.0, "c": 10_000.0})
    result = Attribution(journeys={}, credit=pd.DataFrame(), models={"incrementality": m}, spend=spend)
    # per 1,000: a 5.0 (4.0-6.0), b 0.25 (0.05-0.45), c 2.0 (0.2-4.5): a surely beats b
    tip = result.budget_suggestion()
    assert tip is not None and tip.startswith("test moving 1,000 from b to a")
    assert "about 4.8 more conversions" in tip  # 1,000 / 1,000 x (5.0 - 0.25)
    m.incremental_.loc[0, "incremental_low"] = 3.0  # a's interval now reaches b's: no shift
    assert result.budget_suggestion().startswith("no budget shift suggested")


def test_a_channel_only_on_journeys_that_did_not_convert_gets_a_zero_row() -> None:
    frame = touches([("j", 0, "a", 1, 10.0), ("k", 0, "b", 0, 0.0), ("k", 1, "a", 0, 0.0)])
    j = journeys_from_frame(frame)
    result = run_models(j, ["first_touch", "linear", "markov"])
    rows = {(r.model, r.channel): (r.conversions, r.value) for r in result.credit.itertuples()}
    # Markov: P(conversion) = 1/2 * 1/2 (via a) + 1/2 * 1/2 (via b, then a) = 1/2; without b it
    # is 1/4 (removal effect 1/2), without a 0 (removal effect 1): shares 2/3 and 1/3.
    assert rows == {
        ("first_touch", "a"): (1.0, 10.0),
        ("first_touch", "b"): (0.0, 0.0),
        ("linear", "a"): (1.0, 10.0),
        ("linear", "b"): (0.0, 0.0),
        ("markov", "a"): pytest.approx((2 / 3, 20 / 3)),
        ("markov", "b"): pytest.approx((1 / 3, 10 / 3)),
    }


def test_a_file_with_no_usable_journey_says_why(tmp_path) -> None:
    from accord.attribution.inputs import journeys_from_file

    header = tmp_path / "header.csv"
    header.write_text("journey_id,occurred_at,channel\n", encoding="utf-8")
    with pytest.raises(
        AttributionError, match=r"header\.csv: no usable journey: the file has a header but no rows"
    ):
        journeys_from_file(header)
    bad = tmp_path / "bad.csv"
    bad.write_text("journey_id,occurred_at,channel\n,2026-01-01,a\n", encoding="utf-8")
    with pytest.raises(
        AttributionError, match=r"every row was rejected; the reasons are in .*bad\.rejects\.csv"
    ):
        journeys_from_file(bad)


@st.composite
def touch_sets(draw):
    """Touches of up to 8 journeys in any file order: equal times, constant or varying flags,
    the journey's value on every touch or a value of each touch's own (0 on most)."""
    rows = []
    for k in range(draw(st.integers(1, 8))):
        n = draw(st.integers(1, 4))
        varying = n > 1 and draw(st.booleans())
        outcome = draw(st.integers(0, 1))
        value = float(draw(st.integers(0, 500)))
        own = draw(st.booleans())
        for _ in range(n):
            flag = draw(st.integers(0, 1)) if varying else outcome
            v = float(draw(st.sampled_from([0, 0, 120, 300]))) if own else value
            rows.append(
                (f"j{k}", draw(st.integers(0, 3)), draw(st.sampled_from(["a", "b", "direct"])), flag, v)
            )
    order = draw(st.permutations(range(len(rows))))
    return touches([rows[i] for i in order])


def reference_journeys(frame: pd.DataFrame) -> pd.DataFrame:
    """The journey table of a touch frame, built row by row in pandas (the documented rules)."""
    out = []
    frame = frame.assign(row=range(len(frame)))
    for jid, g in frame.groupby("journey_id", sort=True):
        g = g.sort_values(["occurred_at", "row"])
        flags = g.converted.tolist()
        if len(set(flags)) == 1:  # constant: the journey's outcome; it ends at its last touch
            conv, end, value = flags[0], g.occurred_at.max(), g.value.max() if flags[0] else 0.0
        else:  # varying: the first flagged touch converts; later touches are not part of it
            end = g.occurred_at[g.converted == 1].min()
            conv, value = 1, g.value[g.converted == 1].max()
        g = g[g.occurred_at <= end]
        chans = g.channel.tolist()
        for i, (ch, at) in enumerate(zip(chans, g.occurred_at, strict=True)):
            nxt = chans[i + 1] if i + 1 < len(chans) else None
            age = (end - at).total_seconds() / 86400
            out.append((jid, i + 1, len(chans), ch, nxt, float(conv), float(value), age))
    cols = ["journey_id", "pos", "n", "channel", "next_channel", "conv", "value", "age_days"]
    return pd.DataFrame(out, columns=cols)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(touch_sets())
def test_touch_journeys_equal_a_row_by_row_reference(data: pd.DataFrame) -> None:
    """The one-pass build (constant flags) and the general one (some flag varies) alike."""
    want = reference_journeys(data)
    with journeys_from_frame(data) as j:
        got = (
            with_journey_columns(j.table)
            .to_pandas()
            .sort_values(["journey_id", "pos"])
            .reset_index(drop=True)
        )

        def exact(df: pd.DataFrame) -> list[tuple[object, ...]]:
            cols = df[["journey_id", "pos", "n", "channel", "next_channel"]].astype(object)
            return [tuple(None if pd.isna(v) else v for v in row) for row in cols.itertuples(index=False)]

        assert exact(got) == exact(want)
        for col in ("conv", "value", "age_days"):
            assert np.allclose(got[col].to_numpy(float), want[col].to_numpy(float), rtol=0, atol=1e-9), col
        assert np.array_equal(got.nulls.to_numpy(float), 1 - want.conv.to_numpy(float))
        assert j.channels == sorted(set(want.channel))  # from the build or asked of the table
        totals = j.totals
        first = want[want.pos == 1]
        assert totals["journeys"] == len(first) and totals["touches"] == len(want)
        assert totals["conversions"] == first.conv.sum() and totals["value"] == first.value.sum()
        result = run_models(
            j, ["first_touch", "last_non_direct", "linear", "time_decay", "position", "markov"]
        )
        sums = result.credit.groupby("model")[["conversions", "value"]].sum()
        assert np.allclose(sums.conversions, first.conv.sum()) and np.allclose(sums.value, first.value.sum())
