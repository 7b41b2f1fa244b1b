"""A flat file scores exactly as the store does, lead by lead: one mapping, one scorer."""

from __future__ import annotations

import functools
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import accord
from accord.pact import parse_pact
from accord.scoring import score_all
from accord.scoring.flat import score_flat
from accord.scoring.run import inputs_from
from accord.store import connect, load_file
from accord.store.mapping import load_mapping
from conftest import SHARED_DATA

REPO = Path(__file__).resolve().parents[1]


@functools.cache
def _generated(folder: str) -> tuple[Path, Path, Path]:
    """Generated accounts and leads as the store loads them, and as one flat CSV export."""
    base = Path(folder)
    base.mkdir(parents=True, exist_ok=True)
    gen = accord.generate(leads=400, seed=5)
    accounts, leads = gen.tables["accounts"], gen.tables["leads"]
    acc_path, leads_path = base / "accounts.parquet", base / "leads.parquet"
    import pyarrow.parquet as pq

    pq.write_table(accounts, acc_path)
    pq.write_table(leads, leads_path)
    acc = accounts.rename_columns([f"account_{c}" for c in accounts.column_names])
    joined = leads.join(acc, "account_id", "account_id", join_type="left outer")
    flat = joined.drop_columns(["account_id"]).rename_columns(
        ["lead_ref" if c == "id" else c for c in joined.drop_columns(["account_id"]).column_names]
    )
    flat = flat.cast(
        pa.schema(
            [pa.field(f.name, pa.string() if pa.types.is_dictionary(f.type) else f.type) for f in flat.schema]
        )
    )
    flat_path = base / "export.csv"
    pacsv.write_csv(flat, flat_path)
    return acc_path, leads_path, flat_path


FIELDS = {
    "lead.seniority": st.sampled_from(["c_level", "vp", "director", "manager", "student", "individual"]),
    "lead.country": st.sampled_from(["US", "DE", "GB", "FR", "BR"]),
    "lead.source": st.sampled_from(["paid_search", "organic_search", "email", "event", "referral"]),
    "account.industry": st.sampled_from(["fintech", "saas", "retail", "healthcare", "manufacturing"]),
    "lead.properties.budget": st.sampled_from(["approved", "none", "pending"]),
}
NUMERIC = ("account.employees", "account.annual_revenue")


@st.composite
def fit_rules(draw: st.DrawFn) -> str:
    lines = []

    def condition() -> tuple[str, str]:
        if draw(st.booleans()):
            field = draw(st.sampled_from(sorted(FIELDS)))
            values = draw(st.lists(FIELDS[field], min_size=1, max_size=3, unique=True))
            return field, f"in: [{', '.join(values)}]"
        field = draw(st.sampled_from(NUMERIC))
        lo = draw(st.integers(0, 2000)) * (1 if field.endswith("employees") else 100_000)
        return field, f"between: [{lo}, null]"

    for i in range(draw(st.integers(1, 6))):
        points = draw(st.integers(-40, 40)) if i else draw(st.integers(40, 60))
        if i and draw(st.booleans()):  # a compound rule: "a VP at a fintech"
            conds = [condition() for _ in range(draw(st.integers(2, 3)))]
            parts = ", ".join(f"{{field: {f}, {o}}}" for f, o in conds)
            lines.append(
                f"        - {{id: r{i}, {draw(st.sampled_from(['all', 'any']))}: [{parts}], points: {points}}}"
            )
            continue
        field, op = condition()
        lines.append(f"        - {{id: r{i}, field: {field}, {op}, points: {points}}}")
    return "\n".join(lines)


def _pact(rules: str, min_score: int) -> str:
    return (
        "pact: prop\nversion: 1\nmodels:\n  default:\n    fit:\n      rules:\n"
        f"{rules}\n      grades: {{A: 40, B: 20, C: 5}}\n"
        "    total: {floor: 0, ceiling: 100}\n"
        f"definitions:\n  mql: {{min_score: {min_score}, grades: [A, B, C, D]}}\n"
    )


def _store_scores(store: accord.Store, pact_text: str) -> dict[str, tuple[float, str, bool]]:
    pact = parse_pact(pact_text)
    from datetime import datetime

    leads, _ = score_all(pact, inputs_from(store), datetime(2030, 1, 1))
    t = leads.to_pyarrow()
    return {
        r["lead_id"]: (r["score"], r["grade"], r["is_mql"])
        for r in t.select(["lead_id", "score", "grade", "is_mql"]).to_pylist()
    }


def _flat_scores(
    path: Path, pact_text: str, mapping: object, **kw: object
) -> dict[str, tuple[float, str, bool]]:
    t = score_flat(parse_pact(pact_text), path, mapping, **kw).table  # type: ignore[arg-type]
    return {
        r["lead_id"]: (r["score"], r["grade"], r["stage"] == "mql")
        for r in t.select(["lead_id", "score", "grade", "stage"]).to_pylist()
    }


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rules=fit_rules(), min_score=st.integers(0, 40))
def test_generated_flat_scores_equal_store_scores(
    tmp_path_factory: pytest.TempPathFactory, rules: str, min_score: int
) -> None:
    acc_path, leads_path, flat_path = _generated(str(tmp_path_factory.getbasetemp() / "flatgen"))
    text = _pact(rules, min_score)
    store = connect("duckdb://:memory:")
    try:
        load_file(store, "accounts", acc_path)
        load_file(store, "leads", leads_path)
        expected = _store_scores(store, text)
    finally:
        store.close()
    got = _flat_scores(flat_path, text, None, id_column="lead_ref")
    assert set(got) == set(expected) and len(got) == 400
    for lead, (score, grade, mql) in expected.items():
        assert got[lead][0] == pytest.approx(score, abs=1e-9), lead
        assert got[lead][1:] == (grade, mql), lead


OLIST_PACT = """
pact: olist
version: 1
models:
  default:
    fit:
      rules:
        - {id: paid, field: lead.source, in: [paid_search, organic_search], points: 60}
        - {id: direct, field: lead.source, equals: direct, points: 30}
        - {id: landing, field: lead.properties.landing_page_id, equals: b76ef37428e6799c421989521c0e5077, points: 5}
definitions:
  mql: {min_score: 50}
"""


@pytest.mark.skipif(
    not (SHARED_DATA / "olist_marketing_qualified_leads.csv").exists(), reason="no shared data"
)
def test_olist_flat_scores_equal_store_scores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The issue's case: value maps of the mapping apply to the file as to the store."""
    monkeypatch.chdir(tmp_path)
    path = SHARED_DATA / "olist_marketing_qualified_leads.csv"
    mapping = load_mapping(str(REPO / "examples" / "mappings" / "olist-mqls.yaml"), table="leads")
    store = connect("duckdb://:memory:")
    try:
        load_file(store, "leads", path, mapping)
        expected = _store_scores(store, OLIST_PACT)
    finally:
        store.close()
    got = _flat_scores(path, OLIST_PACT, mapping)
    assert got == expected
    assert len(got) == 8000
    assert sum(m for _, _, m in got.values()) == sum(m for _, _, m in expected.values()) > 2000
    # "paid search" -> paid_search and "direct traffic" -> direct: the value maps applied
    assert {s for s, _, _ in got.values()} == {0.0, 5.0, 30.0, 35.0, 60.0, 65.0}


def test_flat_id_column_from_option_or_pact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "x.csv"
    path.write_text("ref,seniority\na,vp\nb,student\n")
    text = (
        "pact: p\nversion: 1\nmodels:\n  default:\n    fit:\n      rules:\n"
        "        - {id: vp, field: lead.seniority, equals: vp, points: 50}\n"
        "definitions:\n  mql: {min_score: 40}\n"
    )
    assert _flat_scores(path, text, None, id_column="ref") == {"a": (50.0, "B", True), "b": (0.0, "D", False)}
    remembered = text + "flat_file: {id: ref}\n"
    assert _flat_scores(path, remembered, None) == {"a": (50.0, "B", True), "b": (0.0, "D", False)}
    from accord.errors import MappingError

    with pytest.raises(MappingError, match="no lead id column; give --id COLUMN"):
        _flat_scores(path, text, None)


def test_learned_from_a_flat_file_uses_canonical_fields_and_remembers_its_shape(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import numpy as np
    from typer.testing import CliRunner

    from accord.cli.main import app
    from accord.pact import load_pact

    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(3)
    origins = rng.choice(["paid search", "organic search", "social", "email"], 3000)
    rate = np.select([origins == "paid search", origins == "organic search"], [0.3, 0.15], 0.03)
    won = rng.random(3000) < rate
    lines = ["ref,origin,page,won"] + [
        f"r{i},{o},p{i % 3},{'yes' if w else 'no'}" for i, (o, w) in enumerate(zip(origins, won, strict=True))
    ]
    (tmp_path / "export.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "m.yaml").write_text(
        "table: leads\ncolumns:\n  source:\n    from: origin\n"
        "    map: {paid search: paid_search, organic search: organic_search}\n"
    )
    (tmp_path / "store.csv").write_text("id,source,created_at\ns1,paid_search,2024-01-01\n")
    assert CliRunner().invoke(app, ["load", "leads", "store.csv"]).exit_code == 0
    r = CliRunner().invoke(
        app,
        [
            "learn",
            "--leads",
            "export.csv",
            "--outcome",
            "won",
            "--id",
            "ref",
            "--mapping",
            "m.yaml",
            "--precision",
            "0.2",
            "--out",
            "next.yaml",
        ],
    )
    assert r.exit_code == 0, r.output
    # the store's leads carry no `page` property: rules on it are named
    assert "can never fire on the store: no lead in the store has a value for property 'page'" in r.output
    assert "rule 'lead-source-paid-search' can never" not in r.output
    pact = load_pact(tmp_path / "next.yaml")
    fields = {rule.field for rule in pact.model().fit.rules}
    assert "lead.source" in fields and "lead.properties.origin" not in fields
    assert any(
        rule.field == "lead.source" and "paid_search" in str(rule.operand) for rule in pact.model().fit.rules
    )
    assert pact.flat_file is not None and pact.flat_file.id == "ref" and pact.flat_file.mapping == "m.yaml"
    # the same shape scores with no --id and no --mapping
    r = CliRunner().invoke(app, ["score", "--pact", "next.yaml", "--leads", "export.csv"])
    assert r.exit_code == 0, r.output
    assert "scored 3,000 leads from export.csv" in r.output


def test_rules_that_read_nothing_in_the_file_are_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "x.csv"
    path.write_text("ref,seniority,webinars\na,vp,2\nb,,0\n")
    pact = parse_pact(
        "pact: p\nversion: 1\nmodels:\n  default:\n    fit:\n      rules:\n"
        "        - {id: vp, field: lead.seniority, equals: vp, points: 50}\n"
        "        - {id: fintech, field: account.industry, equals: fintech, points: 10}\n"
        "        - {id: budget, field: lead.properties.budget, equals: yes, points: 5}\n"
        "    engagement:\n      rules:\n"
        "        - {id: webinar, touch_type: webinar, points: 3}\n"
        "        - {id: demo, touch_type: demo, points: 9}\n"
        "definitions:\n  mql: {min_score: 40}\n"
    )
    scores = score_flat(pact, path, None, id_column="ref")
    assert scores.unresolved == ["fintech", "budget", "demo"]
    assert {r["lead_id"]: r["engagement"] for r in scores.table.to_pylist()} == {"a": 6.0, "b": 0.0}


def test_a_learned_pact_with_compound_rules_scores_alike_from_the_file_and_the_store(tmp_path: Path) -> None:
    """A VP at a fintech converts more than being a VP and being at a fintech add up to: the learned
    pact says so with an `all:` rule; a blank or "Select" seniority is one `any:` rule. The file and
    the store then give every lead the same score, grade and stage."""
    import numpy as np
    import pandas as pd

    from accord.evaluation.learn import learn_from_frame

    rng = np.random.default_rng(5)
    n = 6000
    seniority = rng.choice(["vp", "manager", "individual", "", "Select"], n, p=[0.2, 0.3, 0.3, 0.1, 0.1])
    industry = rng.choice(["fintech", "retail", "saas"], n)
    employees = rng.lognormal(5, 1, n).round()
    vp, fintech = seniority == "vp", industry == "fintech"
    unknown = (seniority == "") | (seniority == "Select")
    logit = -3 + 0.6 * vp + 0.3 * np.log1p(employees) + 1.2 * unknown + 2.0 * (vp & fintech)
    won = rng.random(n) < 1 / (1 + np.exp(-logit))
    df = pd.DataFrame(
        {
            "id": [f"L{i}" for i in range(n)],
            "seniority": seniority,
            "industry": industry,
            "employees": employees.astype(int),
            "won": np.where(won, "yes", "no"),
        }
    )
    learned = learn_from_frame(df, "won", "id", canonical={"seniority"})
    rules = learned.pact.model("default").fit.rules
    assert any(r.combine == "all" and r.conditions for r in rules), learned.yaml
    assert any(r.combine == "any" and r.conditions for r in rules), learned.yaml
    path = tmp_path / "leads.csv"
    df.drop(columns=["won"]).assign(created_at="2026-01-01").to_csv(path, index=False)
    store = connect("duckdb://:memory:")
    try:
        load_file(store, "leads", path)
        expected = _store_scores(store, learned.yaml)
    finally:
        store.close()
    got = _flat_scores(path, learned.yaml, None, id_column="id")
    assert set(got) == set(expected) and len(got) == n
    for lead, (score, grade, mql) in expected.items():
        assert got[lead][0] == pytest.approx(score, abs=1e-9), lead
        assert got[lead][1:] == (grade, mql), lead
    by_id = dict(zip(df.id, learned.model.score(learned.model.design.X), strict=True))
    assert all(got[lead][0] == pytest.approx(by_id[lead], abs=1e-9) for lead in got)


def test_a_compound_engagement_rule_reads_its_own_count(tmp_path: Path) -> None:
    """A flat file cannot say which touches fell near which: a compound rule reads the count the
    export made for it, named by its id, and never its touch types' columns."""
    path = tmp_path / "x.csv"
    path.write_text("ref,webinars,pricing_near_webinar,talked_count\na,2,1,3\nb,4,0,\n")
    pact = parse_pact(
        "pact: p\nversion: 1\nmodels:\n  default:\n    engagement:\n      rules:\n"
        "        - {id: webinar, touch_type: webinar, points: 3}\n"
        "        - id: pricing_near_webinar\n          points: 15\n          within_days: 7\n"
        "          all: [{touch_type: web_visit, property: {page: /pricing}}, {touch_type: webinar}]\n"
        "        - {id: talked, points: 5, any: [{touch_type: demo}, {touch_type: call}], cap: {max: 2, per_days: 30}}\n"
        "        - {id: met, points: 8, any: [{touch_type: webinar}, {touch_type: meeting}]}\n"
        "definitions:\n  mql: {min_score: 40}\n"
    )
    scores = score_flat(pact, path, None, id_column="ref")
    assert scores.unresolved == ["met"]
    # a: 2 webinars x 3 + 1 x 15 + min(3, cap 2) x 5; b: 4 x 3, no talks.
    assert {r["lead_id"]: r["engagement"] for r in scores.table.to_pylist()} == {"a": 31.0, "b": 12.0}
