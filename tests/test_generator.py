"""The generator: deterministic, internally consistent, and honest about its truth."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from accord.synth import generate
from accord.synth import world as W


@pytest.fixture(scope="module")
def gen():  # type: ignore[no-untyped-def]
    return generate(leads=4000, seed=11)


def test_same_seed_same_data_other_seed_other_data(gen) -> None:  # type: ignore[no-untyped-def]
    again = generate(leads=4000, seed=11)
    for name, table in gen.tables.items():
        assert table.equals(again.tables[name]), name
    assert not generate(leads=4000, seed=12).tables["touchpoints"].equals(gen.tables["touchpoints"])


def test_every_reference_resolves(gen) -> None:  # type: ignore[no-untyped-def]
    t = gen.tables
    acc = set(t["accounts"]["id"].to_pylist())
    leads = set(t["leads"]["id"].to_pylist())
    assert set(t["leads"]["account_id"].to_pylist()) <= acc
    assert set(t["touchpoints"]["lead_id"].to_pylist()) <= leads
    assert set(t["opportunities"]["primary_lead_id"].to_pylist()) <= leads
    assert set(t["stage_changes"]["lead_id"].to_pylist()) <= leads
    assert len(leads) == 4000 and len(set(t["touchpoints"]["id"].to_pylist())) == t["touchpoints"].num_rows


def test_touches_start_at_creation_and_stay_in_window(gen) -> None:  # type: ignore[no-untyped-def]
    tp = gen.tables["touchpoints"].select(["lead_id", "occurred_at"]).to_pandas()
    first = tp.groupby("lead_id").occurred_at.min()
    created = gen.tables["leads"].select(["id", "created_at"]).to_pandas().set_index("id").created_at
    assert (first.sort_index() == created.sort_index()).all()
    assert tp.occurred_at.max() < np.datetime64("2026-11-01")


def test_about_twelve_channels_and_both_teams(gen) -> None:  # type: ignore[no-untyped-def]
    tp = gen.tables["touchpoints"]
    assert set(pc.unique(tp["channel"].combine_chunks().cast(pa.string())).to_pylist()) == {
        c.name for c in W.CHANNELS
    }
    teams = pc.value_counts(tp["team"].combine_chunks().cast(pa.string())).to_pylist()
    assert {v["values"] for v in teams} == {"marketing", "sales"}


def test_lifecycle_is_consistent_with_opportunities(gen) -> None:  # type: ignore[no-untyped-def]
    sc = gen.tables["stage_changes"].to_pandas()
    opps = gen.tables["opportunities"].to_pandas()
    to_opp = sc[sc.to_stage == "opportunity"]
    assert len(to_opp) == len(opps)
    assert set(to_opp.lead_id) == set(opps.primary_lead_id)
    won = opps[opps.is_won]
    assert set(sc[sc.to_stage == "customer"].lead_id) == set(won.primary_lead_id)
    assert (opps.closed_at.dropna() > opps.created_at[opps.closed_at.notna()]).all()
    mql = sc[sc.to_stage == "mql"].set_index("lead_id").changed_at
    o = opps.set_index("primary_lead_id").created_at
    both = mql.index.intersection(o.index)
    assert (mql[both] < o[both]).all()  # an MQL precedes the opportunity it led to
    fb = gen.tables["feedback"].to_pandas()
    assert set(fb.action) == {"accept", "reject", "recycle", "adjust"}
    assert fb[fb.action == "reject"].reason.notna().all()


def test_truth_is_consistent(gen) -> None:  # type: ignore[no-untyped-def]
    truth = gen.truth
    inc = truth.true_incremental_opportunities
    assert inc["display"] == pytest.approx(0.0, abs=1e-9)  # on the path, causes nothing
    assert all(v > 0 for k, v in inc.items() if k != "display")
    assert sum(truth.true_incremental_share.values()) == pytest.approx(1.0)
    lt = gen.lead_truth.to_pandas()
    assert lt.p_opportunity.mean() == pytest.approx(0.085, abs=1e-6)  # calibrated intercept
    assert truth.opportunities == int(lt.opportunity.sum()) == gen.tables["opportunities"].num_rows
    # Realised incremental conversions agree with their expectation.
    for ch in ("webinar", "paid_search", "sales_outreach"):
        assert truth.true_incremental_opportunities_realised[ch] == pytest.approx(inc[ch], rel=0.35)


def test_fit_really_drives_conversion(gen) -> None:  # type: ignore[no-untyped-def]
    leads = gen.tables["leads"].select(["id", "seniority"]).to_pandas()
    lt = gen.lead_truth.to_pandas().set_index("lead_id")
    rate = leads.assign(conv=lt.opportunity.loc[leads.id].to_numpy()).groupby("seniority").conv.mean()
    assert rate["student"] < 0.5 * rate["individual"] < rate["vp"]


def test_spend_matches_touch_costs(gen) -> None:  # type: ignore[no-untyped-def]
    spend = gen.tables["spend"].to_pandas()
    tp = gen.tables["touchpoints"].select(["channel", "cost"]).to_pandas()
    tp["channel"] = tp.channel.astype(str)
    per_channel = tp.groupby("channel").cost.sum()
    fixed = {c.name: c.monthly_fixed_cost for c in W.CHANNELS}
    for ch, total in spend.groupby("channel").amount.sum().items():
        months = spend[spend.channel == ch].campaign.count()
        assert total == pytest.approx(per_channel[ch] + fixed[ch] / 2 * months, rel=1e-6)
