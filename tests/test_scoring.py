"""Scoring: hand-computed golden scores on every engine; batch equals online under hypothesis."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from accord.errors import PactError
from accord.pact import parse_pact
from accord.pact.schema import Pact
from accord.scoring import Feedback, LeadState, OnlineScorer, Touch, score_leads
from accord.scoring.run import inputs_from
from accord.store import Store, connect
from conftest import PG_URL, _unavailable
from scoring_cases import AS_OF, GOLDEN_PACT, golden_tables, load_tables

# Hand computation (as of 2026-03-31 00:00, half-life 10 days, visit cap 2 per 7 days):
V1, V2, V4 = 4 * 0.5 ** (1 / 10), 4 * 0.5 ** (2 / 10), 4 * 0.5 ** (10 / 10)  # v3 capped, f1 in the future
L1_ENG = V1 + V2 + V4 + 10.0  # event 4 days old: step factor 1.0
L2_ENG = -8.0 + 10.0 * 0.5  # unsubscribe never fades; event 15 days old: 0.5
L3_ENG = 4 * 0.5 ** (0.5 / 10)  # e3 before the recycle on the 15th; v5 half a day old
ACC1 = 10 + L1_ENG + L2_ENG  # account fit (big) + sum of its people's engagement
ACC2 = 0 + L3_ENG
GOLDEN = {
    #      fit   engagement adj  person                 score                          grade band mql
    "L1": (35.0, L1_ENG, 0.0, 40.0, 0.5 * 40 + 0.5 * ACC1, "A", 2, True),
    "L2": (-5.0, L2_ENG, 0.0, 0.0, 0.5 * 0 + 0.5 * ACC1, "D", 4, False),
    "L3": (20.0, L3_ENG, 6.0, 20 + L3_ENG + 6, 0.5 * (20 + L3_ENG + 6) + 0.5 * ACC2, "B", 3, False),
    "L4": (0.0, 0.0, 0.0, 0.0, 0.0, "D", 4, False),  # reset at as_of leaves v6 (also at as_of) out
}


def test_golden_scores_on_every_engine(store: Store) -> None:
    load_tables(store, golden_tables())
    pact = parse_pact(GOLDEN_PACT)
    rows = {r["lead_id"]: r for r in score_leads(pact, inputs_from(store), AS_OF).to_pyarrow().to_pylist()}
    assert set(rows) == set(GOLDEN)
    for lead, (fit, eng, adj, person, score, grade, band, mql) in GOLDEN.items():
        r = rows[lead]
        got = (r["fit"], r["engagement"], r["adjustment"], r["person_score"], r["score"])
        assert got == pytest.approx((fit, eng, adj, person, score), abs=1e-9), lead
        assert (r["grade"], r["band"], r["is_mql"]) == (grade, band, mql), lead


def test_golden_scores_online_and_breakdown() -> None:
    pact = parse_pact(GOLDEN_PACT)
    scored = _online_all(pact, golden_tables_as_rows(), AS_OF)
    for lead, (fit, eng, adj, person, score, grade, band, mql) in GOLDEN.items():
        s = scored[lead]
        assert (s.fit, s.engagement, s.adjustment, s.person_score, s.score) == pytest.approx(
            (fit, eng, adj, person, score), abs=1e-12
        )
        assert (s.grade, s.band, s.is_mql) == (grade, band, mql)
    l1 = scored["L1"]
    assert l1.fit_rules == {"vp": 20.0, "big": 10.0, "budget": 5.0, "freemail": 0.0}
    visits = {h.touch_id: h for h in l1.hits if h.rule_id == "visit"}
    assert set(visits) == {"v1", "v2", "v3", "v4"} and not visits["v3"].counted
    assert visits["v3"].points == 0.0 and visits["v4"].factor == pytest.approx(0.5)


CAP_PACT = """
pact: caps
version: 1
models:
  default:
    fit: {rules: [], grades: {A: 30, B: 20, C: 10}}
    engagement:
      decay: {half_life_days: 10}
      rules:
        - {id: visit, touch_type: web_visit, points: 4, cap: {max: 2, per_days: 7}}
        - {id: bounce, touch_type: email_bounce, points: -6, cap: {max: 1, per_days: 30}}
      bands: {1: 20, 2: 10, 3: 1}
    total: {floor: null, ceiling: null}
    account: {rollup: sum, weight: 0}
definitions:
  mql: {min_score: 5}
"""


def test_caps_with_ties_and_negative_points(store: Store) -> None:
    # As of the 31st: cap windows are [0, 7) and [7, 14) days old. Four visits at the same
    # instant (1 day old) fill the first window's cap of 2 between them; the 8-day-old visit
    # is alone in the second window. Of three bounces in one 30-day window only the most recent
    # counts, so the cap keeps the largest negative points, not the smallest.
    from scoring_cases import table

    at = datetime(2026, 3, 31)
    tp = [
        {"id": f"v{i}", "lead_id": "L", "occurred_at": at - timedelta(days=1), "touch_type": "web_visit"}
        for i in range(4)
    ]
    tp.append({"id": "old", "lead_id": "L", "occurred_at": at - timedelta(days=8), "touch_type": "web_visit"})
    tp += [
        {"id": f"b{i}", "lead_id": "L", "occurred_at": at - timedelta(days=d), "touch_type": "email_bounce"}
        for i, d in enumerate((2, 5, 20))
    ]
    tables = {
        "accounts": table("accounts", []),
        "leads": table("leads", [{"id": "L", "created_at": datetime(2026, 1, 1)}]),
        "touchpoints": table("touchpoints", [{**t, "channel": "web"} for t in tp]),
        "feedback": table("feedback", []),
    }
    load_tables(store, tables)
    pact = parse_pact(CAP_PACT)
    want = 2 * 4 * 0.5**0.1 + 4 * 0.5**0.8 - 6 * 0.5**0.2
    (row,) = score_leads(pact, inputs_from(store), at).to_pyarrow().to_pylist()
    assert row["engagement"] == pytest.approx(want, abs=1e-9)
    lead = {"id": "L", "created_at": datetime(2026, 1, 1)}
    online = OnlineScorer(pact).score(lead, None, [Touch.from_row({**t, "channel": "web"}) for t in tp], at)
    assert online.engagement == pytest.approx(want, abs=1e-12)


def test_apply_one_touch_rescoring() -> None:
    pact = parse_pact(GOLDEN_PACT)
    rows = golden_tables_as_rows()
    lead = rows["leads"]["L3"]
    state = LeadState(
        OnlineScorer(pact),
        lead,
        rows["accounts"]["acc2"],
        feedback=[Feedback.from_row(d) for d in rows["feedback"] if d["lead_id"] == "L3"],
    )
    first = state.apply(Touch("x1", datetime(2026, 3, 30), "web_visit", "web"), as_of=AS_OF)
    second = state.apply(Touch("x2", datetime(2026, 3, 30, 6), "web_visit", "web"), as_of=AS_OF)
    third = state.apply(Touch("x3", datetime(2026, 3, 30, 7), "web_visit", "web"), as_of=AS_OF)
    assert first.engagement == pytest.approx(4 * 0.5**0.1)
    assert second.engagement == pytest.approx(4 * 0.5**0.1 + 4 * 0.5 ** (18 / 24 / 10))
    # The cap keeps the 2 most recent visits in the 7-day window: x3 and x2 (x1 drops out).
    assert third.engagement == pytest.approx(4 * 0.5 ** (17 / 24 / 10) + 4 * 0.5 ** (18 / 24 / 10))


# ------------------------------------------------------------------ batch == online
def golden_tables_as_rows() -> dict[str, Any]:
    t = golden_tables()
    return {
        "accounts": {r["id"]: r for r in t["accounts"].to_pylist()},
        "leads": {r["id"]: r for r in t["leads"].to_pylist()},
        "touchpoints": t["touchpoints"].to_pylist(),
        "feedback": t["feedback"].to_pylist(),
    }


def _online_all(pact: Pact, rows: dict[str, Any], as_of: datetime) -> dict[str, Any]:
    scorer = OnlineScorer(pact)
    touches: dict[str, list[Touch]] = defaultdict(list)
    for r in rows["touchpoints"]:
        touches[r["lead_id"]].append(Touch.from_row(r))
    feedback: dict[str, list[Feedback]] = defaultdict(list)
    for r in rows["feedback"]:
        feedback[r["lead_id"]].append(Feedback.from_row(r))
    leads, accounts = rows["leads"], rows["accounts"]
    first = {
        lid: scorer.score(lead, accounts.get(lead["account_id"]), touches[lid], as_of, feedback[lid])
        for lid, lead in leads.items()
    }
    out = {}
    for lid, lead in leads.items():
        colleagues = [
            first[o].engagement
            for o, x in leads.items()
            if o != lid and x["account_id"] is not None and x["account_id"] == lead["account_id"]
        ]
        out[lid] = scorer.score(
            lead, accounts.get(lead["account_id"]), touches[lid], as_of, feedback[lid], colleagues
        )
    return out


FIT_POOL = [
    ("lead.seniority", "equals", "vp"),
    ("lead.seniority", "in", ["vp", "director"]),
    ("lead.seniority", "not_in", ["student"]),
    ("lead.email", "email_domain_in", ["gmail.com"]),
    ("lead.job_title", "contains", "head"),
    ("lead.job_title", "regex", "^(vp|chief)"),
    ("lead.department", "is_missing", True),
    ("account.employees", "between", [50, 1000]),
    ("account.employees", "between", [None, 40]),
    ("account.industry", "in", ["saas", "fintech"]),
    ("lead.properties.budget", "equals", "approved"),
    ("lead.properties.size", "between", [10, None]),
    ("account.annual_revenue", "equals", 1000000),
    ("account.employees", "in", [50, 500]),
]
TOUCH_TYPES = ["web_visit", "event", "form_fill", "unsubscribe", "demo"]
TOUCH_POOL = [
    "{touch_type: web_visit}",
    "{touch_type: web_visit, property: {page: /pricing}}",
    "{touch_type: [event, demo]}",
    "{channel: c}",
    "{touch_type: form_fill, channel: x}",
]


@st.composite
def pacts(draw: st.DrawFn) -> str:
    fits = draw(st.lists(st.sampled_from(range(len(FIT_POOL))), max_size=6, unique=True))
    lines = ["pact: p", "version: 1", "models:", "  default:", "    fit:", "      rules:"]
    for i in fits:
        field, op, operand = FIT_POOL[i]
        lines.append(
            f"        - {{id: f{i}, field: {field}, {op}: {_yaml(operand)}, "
            f"points: {draw(st.integers(-30, 30))}}}"
        )
    for k in range(draw(st.integers(0, 2))):  # compound rules: all: / any: of pool conditions
        parts = draw(st.lists(st.sampled_from(range(len(FIT_POOL))), min_size=2, max_size=3, unique=True))
        conds = ", ".join(
            f"{{field: {FIT_POOL[i][0]}, {FIT_POOL[i][1]}: {_yaml(FIT_POOL[i][2])}}}" for i in parts
        )
        lines.append(
            f"        - {{id: c{k}, {draw(st.sampled_from(['all', 'any']))}: [{conds}], "
            f"points: {draw(st.integers(-30, 30))}}}"
        )
    if len(lines) == 6:
        lines[-1] = "      rules: []"
    lines += [
        "    engagement:",
        f"      decay: {_decay(draw)}",
        f"      lookback_days: {draw(st.sampled_from([20, 60, 365]))}",
        "      rules:",
    ]
    for j in range(draw(st.integers(1, 4))):
        # Rules with touch types are matched by one join, the others by their own scans;
        # a channel condition on a typed rule holds after the join.
        tt = draw(st.lists(st.sampled_from(TOUCH_TYPES), max_size=2, unique=True))
        channel = draw(st.sampled_from([None, ["c"], ["x"]])) if tt else draw(st.sampled_from([["c"], ["x"]]))
        rule = f"        - {{id: e{j}, points: {draw(st.integers(-10, 20))}"
        if tt:
            rule += f", touch_type: {_yaml(tt)}"
        if channel:
            rule += f", channel: {_yaml(channel)}"
        if draw(st.booleans()):
            rule += f", decay: {_decay(draw)}"
        if draw(st.booleans()):
            rule += f", cap: {{max: {draw(st.integers(1, 3))}, per_days: {draw(st.sampled_from([1, 2.5, 7, 30]))}}}"
        if draw(st.booleans()):
            rule += ", property: {page: /pricing}"
        lines.append(rule + "}")
    for j in range(draw(st.integers(0, 2))):  # compound rules: any: / all: within days of touch conditions
        conds = draw(st.lists(st.sampled_from(TOUCH_POOL), min_size=2, max_size=3))
        combine = draw(st.sampled_from(["all", "any"]))
        rule = f"        - {{id: k{j}, points: {draw(st.integers(-10, 20))}, {combine}: [{', '.join(conds)}]"
        if combine == "all":
            rule += f", within_days: {draw(st.sampled_from([0.5, 3, 10]))}"
        if draw(st.booleans()):
            rule += f", cap: {{max: {draw(st.integers(1, 3))}, per_days: {draw(st.sampled_from([2.5, 30]))}}}"
        lines.append(rule + "}")
    lo = draw(st.one_of(st.none(), st.integers(-20, 0)))
    hi = draw(st.one_of(st.none(), st.integers(10, 80)))
    lines += [
        f"    total: {{floor: {_yaml(lo)}, ceiling: {_yaml(hi)}}}",
        f"    account: {_account(draw)}",
        "definitions:",
        f"  mql: {{min_score: {draw(st.integers(-5, 30))}}}",
        f"recycle: {{reset_engagement: {str(draw(st.booleans())).lower()}}}",
    ]
    return "\n".join(lines) + "\n"


# Touch properties the batch and online property tests must read alike: plain, spaced,
# a longer value with the same prefix, the key as a prefix of another, nested objects.
TOUCH_PROPERTIES = [
    None,
    '{"page":"/pricing"}',
    '{"page":"/"}',
    '{"page": "/pricing" }',
    '{"page":"/pricing-old"}',
    '{"pages":"/pricing"}',
    '{"x":{"page":"/pricing"},"page":"/"}',
    '{"page":"/","x":{"page":"/pricing"}}',
]


def _account(draw: st.DrawFn) -> str:
    rollup = draw(st.sampled_from(["sum", "max", "top_k", "top_k_weighted"]))
    weight = draw(st.sampled_from([0, 0.3, 1]))
    if rollup == "top_k_weighted":
        return f"{{rollup: top_k, weights: [1.0, 0.5, 0.25], weight: {weight}}}"
    return f"{{rollup: {rollup}, k: {draw(st.integers(1, 2))}, weight: {weight}}}"


def _decay(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["none", "half", "steps"]))
    if kind == "half":
        return f"{{half_life_days: {draw(st.sampled_from([0.5, 3, 10, 45]))}}}"
    if kind == "steps":
        return "{steps: [[2, 1.0], [9.5, 0.25]]}"
    return "{}"


def _yaml(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, list):
        return "[" + ", ".join(_yaml(x) for x in v) + "]"
    return str(v)


@st.composite
def worlds(draw: st.DrawFn) -> dict[str, list[dict[str, Any]]]:
    base = datetime(2026, 3, 1)
    secs = st.integers(0, 40 * 86400).map(
        lambda s: base + timedelta(seconds=s, microseconds=draw(st.sampled_from([0, 250_000])))
    )
    accounts = [
        {
            "id": f"a{i}",
            "employees": draw(st.sampled_from([None, 10, 50, 500, 5000])),
            "industry": draw(st.sampled_from([None, "saas", "retail"])),
            "annual_revenue": draw(st.sampled_from([None, 1e6, 2.5e6])),
        }
        for i in range(2)
    ]
    leads = []
    for i in range(draw(st.integers(1, 4))):
        props = draw(
            st.sampled_from([None, '{"budget":"approved"}', '{"budget":"none","size":25}', '{"size":"n/a"}'])
        )
        leads.append(
            {
                "id": f"l{i}",
                "account_id": draw(st.sampled_from([None, "a0", "a1"])),
                "seniority": draw(st.sampled_from([None, "vp", "director", "student"])),
                "email": draw(st.sampled_from([None, "x@gmail.com", "y@corp.io"])),
                "job_title": draw(st.sampled_from([None, "VP Sales", "Head of IT", "chief of staff"])),
                "department": draw(st.sampled_from([None, "it"])),
                "created_at": base,
                "properties": props,
            }
        )
    touches = []
    for n in range(draw(st.integers(0, 14))):
        touches.append(
            {
                "id": f"t{n:02d}",
                "lead_id": draw(st.sampled_from([x["id"] for x in leads])),
                "occurred_at": draw(secs),
                "channel": "c",
                "touch_type": draw(st.sampled_from(TOUCH_TYPES)),
                "properties": draw(st.sampled_from(TOUCH_PROPERTIES)),
            }
        )
    feedback = []
    for _ in range(draw(st.integers(0, 3))):
        action = draw(st.sampled_from(["recycle", "reject", "adjust", "accept"]))
        feedback.append(
            {
                "lead_id": draw(st.sampled_from([x["id"] for x in leads])),
                "given_at": draw(secs),
                "action": action,
                "points": 5.0 if action == "adjust" else None,
            }
        )
    return {"accounts": accounts, "leads": leads, "touchpoints": touches, "feedback": feedback}


def _check_batch_equals_online(store: Store, pact_text: str, world: dict[str, Any], as_of: datetime) -> None:
    from scoring_cases import table

    try:
        pact = parse_pact(pact_text)
    except PactError as exc:  # a drawn MQL threshold no lead can reach is rightly refused
        assert "unreachable" in str(exc)
        reject()
    load_tables(store, {name: table(name, rows) for name, rows in world.items()})
    batch = {r["lead_id"]: r for r in score_leads(pact, inputs_from(store), as_of).to_pyarrow().to_pylist()}
    rows = {
        "accounts": {a["id"]: a for a in world["accounts"]},
        "leads": {x["id"]: _full("leads", x) for x in world["leads"]},
        "touchpoints": [_full("touchpoints", t) for t in world["touchpoints"]],
        "feedback": [_full("feedback", f) for f in world["feedback"]],
    }
    online = _online_all(pact, rows, as_of)
    assert set(batch) == set(online)
    for lid, b in batch.items():
        o = online[lid]
        for k in ("fit", "engagement", "adjustment", "person_score", "score"):
            assert abs(getattr(o, k) - b[k]) <= 1e-9, (lid, k, getattr(o, k), b[k])
        acc = b["account_score"]
        assert (o.account_score is None) == (acc is None) and (
            acc is None or abs(o.account_score - acc) <= 1e-9
        )
        assert (o.grade, o.band, o.is_mql) == (b["grade"], b["band"], b["is_mql"]), lid


def _full(name: str, row: dict[str, Any]) -> dict[str, Any]:
    from accord.model import TABLES

    return {c: row.get(c) for c in TABLES[name].column_names}


AS_OFS = st.sampled_from([datetime(2026, 3, 20), datetime(2026, 4, 1, 12, 30), datetime(2026, 4, 15)])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pact_text=pacts(), world=worlds(), as_of=AS_OFS)
def test_batch_equals_online_duckdb(pact_text: str, world: dict[str, Any], as_of: datetime) -> None:
    store = connect("duckdb://")
    try:
        _check_batch_equals_online(store, pact_text, world, as_of)
    finally:
        store.close()


@st.composite
def crowded_cases(draw: st.DrawFn) -> tuple[str, dict[str, list[dict[str, Any]]]]:
    """Many capped rules (past the 10 whose counts are packed per lead, past the 63 with a mask
    bit) and leads with more matches than a packed count holds (32 or more)."""
    n_rules = draw(st.sampled_from([3, 14, 66]))
    channels = [f"c{i}" for i in range(draw(st.integers(2, 6)))]
    lines = [
        "pact: crowded",
        "version: 1",
        "models:",
        "  default:",
        "    fit: {rules: []}",
        "    engagement:",
        f"      decay: {_decay(draw)}",
        "      lookback_days: 60",
        "      rules:",
    ]
    for i in range(n_rules):
        rule = f"        - {{id: r{i}, touch_type: web_visit, channel: [{channels[i % len(channels)]}]"
        rule += f", points: {draw(st.integers(-5, 9))}"
        if draw(st.integers(0, 5)) > 0:
            rule += (
                f", cap: {{max: {draw(st.integers(1, 4))}, per_days: {draw(st.sampled_from([3, 7, 30]))}}}"
            )
        lines.append(rule + "}")
    lines += [
        "    account: {rollup: sum, weight: 0}",
        "definitions:",
        "  mql: {min_score: 0}",
        "recycle: {reset_engagement: false}",
    ]
    base = datetime(2026, 3, 1)
    leads = [{"id": f"l{i}", "created_at": base} for i in range(3)]
    touches = []
    # The first lead's touches mostly share one channel (32 or more matches of one rule); the
    # second's favour the last channel, whose rules include some past the 10 packed ones.
    heavy = draw(st.integers(30, 45)), [channels[0]] * 5 + channels
    light = draw(st.integers(3, 14)), [channels[-1]] * 5 + channels
    plan = (heavy, light, (0, channels))
    for lead, (count, pool) in zip(leads, plan, strict=True):
        for _ in range(count):
            touches.append(
                {
                    "id": f"t{len(touches):03d}",
                    "lead_id": lead["id"],
                    "occurred_at": base + timedelta(hours=draw(st.integers(0, 40 * 24))),
                    "channel": draw(st.sampled_from(pool)),
                    "touch_type": "web_visit",
                }
            )
    world = {"accounts": [], "leads": leads, "touchpoints": touches, "feedback": []}
    return "\n".join(lines) + "\n", world


@settings(max_examples=15, deadline=None)
@given(case=crowded_cases())
def test_batch_equals_online_with_many_capped_rules_and_crowded_leads(
    case: tuple[str, dict[str, list[dict[str, Any]]]],
) -> None:
    pact_text, world = case
    store = connect("duckdb://")
    try:
        _check_batch_equals_online(store, pact_text, world, datetime(2026, 4, 12))
    finally:
        store.close()


@pytest.mark.parametrize("engine", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_caps_of_rules_past_the_packed_and_masked_ones(engine: str, request: pytest.FixtureRequest) -> None:
    # 66 capped rules, one channel each. Lead l0 touches rule 20's channel (past the 10 rules
    # whose counts are packed) and l1 rule 65's (past the 63 with a mask bit): three touches
    # in one 7-day window each, of which a cap of 1 keeps the youngest.
    rules = "\n".join(
        f"        - {{id: r{i}, channel: [c{i}], points: 2, cap: {{max: 1, per_days: 7}}}}" for i in range(66)
    )
    pact_text = (
        "pact: many\nversion: 1\nmodels:\n  default:\n    fit: {rules: []}\n    engagement:\n"
        f"      decay: {{}}\n      rules:\n{rules}\n    account: {{rollup: sum, weight: 0}}\n"
        "definitions:\n  mql: {min_score: 0}\n"
    )
    at = datetime(2026, 4, 12)
    touches = [
        {"id": f"{lead}-{d}", "lead_id": lead, "occurred_at": at - timedelta(days=d), "channel": channel}
        for lead, channel in (("l0", "c20"), ("l1", "c65"))
        for d in (1, 2, 3)
    ]
    world = {
        "accounts": [],
        "leads": [{"id": lead, "created_at": datetime(2026, 1, 1)} for lead in ("l0", "l1")],
        "touchpoints": [{**t, "touch_type": "web_visit"} for t in touches],
        "feedback": [],
    }
    store = connect("duckdb://") if engine == "duckdb" else request.getfixturevalue("pg_store")
    try:
        _check_batch_equals_online(store, pact_text, world, at)
        rows = score_leads(parse_pact(pact_text), inputs_from(store), at).to_pyarrow().to_pylist()
        assert {r["lead_id"]: r["engagement"] for r in rows} == {"l0": 2.0, "l1": 2.0}
    finally:
        if engine == "duckdb":
            store.close()


def test_caps_of_a_lead_with_too_many_matches_to_pack() -> None:
    # 300,000 matches of the last packed rule: their packed sum (300,000 * 2**45) would not
    # fit a 64-bit integer, so such a lead is not packed at all. Every match lies in one 7-day
    # window, of which the cap keeps one; l1 has three matches in it, also one kept.
    from scoring_cases import table

    n = 300_000
    rules = "\n".join(
        f"        - {{id: r{i}, channel: [c{i}], points: 2, cap: {{max: 1, per_days: 7}}}}" for i in range(10)
    )
    pact = parse_pact(
        "pact: busy\nversion: 1\nmodels:\n  default:\n    fit: {rules: []}\n    engagement:\n"
        f"      decay: {{}}\n      rules:\n{rules}\n    account: {{rollup: sum, weight: 0}}\n"
        "definitions:\n  mql: {min_score: 0}\n"
    )
    at = datetime(2026, 4, 12)
    ids = [f"b{i}" for i in range(n)] + ["q0", "q1", "q2"]
    touches = pa.table(
        {
            "id": ids,
            "lead_id": ["l0"] * n + ["l1"] * 3,
            "occurred_at": pa.array(
                [at - timedelta(seconds=1 + i) for i in range(n)]
                + [at - timedelta(days=d) for d in (1, 2, 3)],
                pa.timestamp("us"),
            ),
            "channel": ["c9"] * n + ["c3"] * 3,
            "touch_type": ["web_visit"] * (n + 3),
        }
    )
    full = table("touchpoints", [{}] * len(ids)).to_pydict() | touches.to_pydict()
    store = connect("duckdb://")
    try:
        load_tables(
            store,
            {
                "accounts": table("accounts", []),
                "leads": table(
                    "leads", [{"id": x, "created_at": datetime(2026, 1, 1)} for x in ("l0", "l1")]
                ),
                "touchpoints": pa.table(full).cast(table("touchpoints", []).schema),
                "feedback": table("feedback", []),
            },
        )
        rows = score_leads(pact, inputs_from(store), at).to_pyarrow().to_pylist()
        assert {r["lead_id"]: r["engagement"] for r in rows} == {"l0": 2.0, "l1": 2.0}
    finally:
        store.close()


@pytest.fixture(scope="module")
def pg_store() -> Any:
    import uuid

    schema = f"accord_test_{uuid.uuid4().hex[:10]}"
    try:
        store = connect(f"{PG_URL}?schema={schema}")
    except Exception as exc:
        _unavailable("postgres", str(exc))
    yield store
    store.con.raw_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    store.close()


@pytest.mark.postgres
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pact_text=pacts(), world=worlds(), as_of=AS_OFS)
def test_batch_equals_online_postgres(
    pg_store: Store, pact_text: str, world: dict[str, Any], as_of: datetime
) -> None:
    _check_batch_equals_online(pg_store, pact_text, world, as_of)


@settings(max_examples=40, deadline=None)
@given(case=crowded_cases(), as_of=AS_OFS, keep=st.booleans())
def test_engagement_from_kept_matches_is_the_sum_of_the_hits(
    case: tuple[str, dict[str, list[dict[str, Any]]]], as_of: datetime, keep: bool
) -> None:
    """The colleagues' shortcut (no Hit objects; matches kept from another instant) adds up the
    same points in the same order as `hits`: equal to the last bit."""
    pact_text, world = case
    scorer = OnlineScorer(parse_pact(pact_text))
    for lead in world["leads"]:
        mine = [Touch.from_row(t) for t in world["touchpoints"] if t["lead_id"] == lead["id"]]
        before = [t for t in mine if t.occurred_at <= as_of]  # what a caller reading up to as_of passes
        expected = sum(h.points for h in scorer.hits(before, as_of))
        kept = scorer.match(mine) if keep else None  # matched once, touches after as_of included
        assert scorer.engagement(before, as_of, (), kept) == expected


# ------------------------------------------------------------------ compound engagement rules
def test_compound_engagement_rules_on_every_engine(store: Store) -> None:
    from scoring_cases import COMPOUND_ENGAGEMENT, COMPOUND_PACT, compound_tables

    load_tables(store, compound_tables())
    pact = parse_pact(COMPOUND_PACT)
    rows = score_leads(pact, inputs_from(store), AS_OF).to_pyarrow().to_pylist()
    assert {r["lead_id"]: r["engagement"] for r in rows} == pytest.approx(COMPOUND_ENGAGEMENT, abs=1e-9)


def test_compound_engagement_rules_online_explained() -> None:
    from accord.scoring.explain import explain
    from scoring_cases import COMPOUND_ENGAGEMENT, COMPOUND_PACT, compound_tables

    pact = parse_pact(COMPOUND_PACT)
    rows = {k: v.to_pylist() for k, v in compound_tables().items()}
    scorer = OnlineScorer(pact)
    got = {}
    for lead in rows["leads"]:
        touches = [Touch.from_row(t) for t in rows["touchpoints"] if t["lead_id"] == lead["id"]]
        verdicts = [Feedback.from_row(f) for f in rows["feedback"] if f["lead_id"] == lead["id"]]
        s = scorer.score(lead, None, touches, AS_OF, verdicts)
        got[lead["id"]] = s.engagement
        # The kept-matches shortcut the service uses for colleagues adds up the same.
        assert scorer.engagement([], AS_OF, verdicts, scorer.match(touches)) == s.engagement
        if lead["id"] == "A":
            counted = {h.touch_id for h in s.hits if h.rule_id == "pricing_near_webinar"}
            assert counted == {"a1", "a3"}
            talked = {h.touch_id: h.counted for h in s.hits if h.rule_id == "talked"}
            assert talked == {"a5": False, "a6": True, "a8": True}
            lines = {x.rule_id: x for x in explain(pact, s, lead, None, touches, AS_OF).lines}
            near = lines["pricing_near_webinar"]
            assert near.description == "web visit page /pricing within 7 days of a webinar"
            assert (near.points, near.detail) == (30.0, "2x, last 5 days ago")
            assert lines["talked"].detail == "3x, last 3 days ago; 1 over the cap of 2"
    assert got == pytest.approx(COMPOUND_ENGAGEMENT, abs=1e-12)
