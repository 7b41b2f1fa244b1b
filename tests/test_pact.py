"""The pact: the example validates; each wrong pact is refused with its exact message."""

from __future__ import annotations

from pathlib import Path

import pytest

from accord.errors import PactError
from accord.pact import OPERATORS, load_pact, max_score, parse_pact

HERE = Path(__file__).parent / "pacts"
REPO = Path(__file__).resolve().parents[1]
VALID_OPS = ", ".join(OPERATORS)

WRONG = {
    "wrong_operator.yaml": f"wrong_operator.yaml:9: rule 'vp': unknown operator 'inn'; valid: {VALID_OPS}",
    "wrong_field.yaml": (
        "wrong_field.yaml:8: rule 'size': unknown field 'account.headcount'; valid: account.id, account.name, "
        "account.domain, account.industry, account.employees, account.annual_revenue, account.country, "
        "account.properties.<name>"
    ),
    "wrong_half_life.yaml": (
        "wrong_half_life.yaml:10: rule 'visits': models.default.engagement.rules.0.decay: "
        "half_life_days must be positive, got -7"
    ),
    "wrong_duplicate_id.yaml": "wrong_duplicate_id.yaml:13: rule 'vp': duplicate rule id 'vp' (also at line 7)",
    "wrong_unreachable.yaml": (
        "wrong_unreachable.yaml:18: MQL threshold 80 is unreachable: the most a lead can score in model "
        "'default' is 50"
    ),
    "wrong_between.yaml": "wrong_between.yaml:9: rule 'size': operator 'between' min 500 is above max 100",
    "wrong_key.yaml": "wrong_key.yaml:8: rule 'visits': models.default.engagement.rules.0.touch_typ: unknown key 'touch_typ'",
    "wrong_grades.yaml": (
        "wrong_grades.yaml:12: MQL grades ['A'] are unreachable: the best fit is 30, below the 60 they need"
    ),
}


@pytest.mark.parametrize("name", sorted(WRONG))
def test_wrong_pacts_are_refused_with_exact_messages(name: str) -> None:
    with pytest.raises(PactError) as err:
        load_pact(HERE / name)
    assert str(err.value).replace(str(HERE) + "/", "") == WRONG[name]


def test_example_pact_validates_and_leaves_signing_to_the_store() -> None:
    pact = load_pact(REPO / "examples" / "pact.yaml")
    model = pact.model()
    assert not pact.approvals and pact.version == 1  # each team approves in the store
    assert [r.id for r in model.fit.rules][:2] == ["senior-buyer", "director"]
    assert model.fit.rules[0].op == "in" and model.fit.rules[0].operand == ["c_level", "vp"]
    assert model.engagement.rules[0].property == {"page": "/pricing"}
    assert max_score(model) == 100  # the ceiling
    assert model.engagement.rules[5].decay is not None and model.engagement.rules[5].decay.steps == [
        (30, 1.0),
        (90, 0.5),
    ]


def test_invalid_yaml_names_the_line() -> None:
    with pytest.raises(PactError, match=r"^p.yaml:2: not valid YAML"):
        parse_pact("pact: x\nversion: 1: 2\n", "p.yaml")


def test_several_problems_are_reported_together() -> None:
    text = (HERE / "wrong_field.yaml").read_text().replace("between: [10, 100]", "between: [10, 5]")
    with pytest.raises(PactError) as err:
        parse_pact(text, "p.yaml")
    assert str(err.value).count("\n") == 0  # field error stops operand checks for that rule
    text2 = (HERE / "wrong_unreachable.yaml").read_text().replace("- id: demo", "- id: vp")
    with pytest.raises(PactError) as err2:
        parse_pact(text2, "p.yaml")
    assert len(str(err2.value).splitlines()) == 2  # duplicate id and unreachable MQL


def test_unapproved_pact_is_not_active() -> None:
    text = (HERE / "wrong_operator.yaml").read_text().replace("inn:", "in:")
    pact = parse_pact(text + "approvals:\n  - {team: marketing, by: m, at: 2026-01-01}\n")
    assert not pact.is_approved


EMAILS = [
    ("x@gmail.com", True),
    ("X@GMAIL.COM", True),  # domains compare without case
    ("a@b@gmail.com", True),  # the domain follows the last "@"
    ("x@mail.gmail.com", False),  # a subdomain is another domain
    ("x@gmail.com.evil.io", False),
    ("gmail.com", False),  # no "@"
    ("x@", False),  # nothing after the "@"
    ("x@corp.io", False),
    (None, False),
]


def test_email_domain_in_reads_alike_in_sql_and_python() -> None:
    import ibis

    op = OPERATORS["email_domain_in"](["gmail.com", "Yahoo.com"])
    t = ibis.memtable({"email": [e for e, _ in EMAILS]}, schema={"email": "string"})
    got = ibis.duckdb.connect().execute(t.select(hit=op.expr(t.email)))["hit"].tolist()
    assert got == [want for _, want in EMAILS]
    assert [op.test(e) for e, _ in EMAILS] == [want for _, want in EMAILS]


# (properties, key, value, whether the property equals the value)
PROPERTIES = [
    ('{"page":"/pricing"}', "page", "/pricing", True),  # the whole text, tested without a regex
    ('{"page": "/pricing"}', "page", "/pricing", True),
    ('{"page":"/pricing","utm":"x"}', "page", "/pricing", True),
    ('{"page":"/pricing-old"}', "page", "/pricing", False),
    ('{"pages":"/pricing"}', "page", "/pricing", False),
    ('{"x":{"page":"/pricing"},"page":"/"}', "page", "/pricing", True),  # the first "page" is read
    ('{"page":"/","x":{"page":"/pricing"}}', "page", "/pricing", False),
    ('{"size":5000}', "size", "5000", True),
    ('{"size":"5000"}', "size", "5000", True),
    ('{"città":"Zürich"}', "città", "Zürich", True),
    ('{"a\\"b":"v"}', 'a"b', "v", False),  # a quote in the key: read as text, never equal
    ("", "page", "/pricing", False),
    (None, "page", "/pricing", False),
]


def test_property_equals_reads_alike_in_sql_and_python() -> None:
    import ibis

    from accord.model.fields import property_equals_expr, property_value

    t = ibis.memtable({"p": [p for p, *_ in PROPERTIES]}, schema={"p": "string"})
    con = ibis.duckdb.connect()
    for i, (_, key, value, want) in enumerate(PROPERTIES):
        got = con.execute(t.select(hit=property_equals_expr(t.p, key, value)))["hit"].tolist()[i]
        assert bool(got) == want, PROPERTIES[i]
        assert (property_value(PROPERTIES[i][0], key) == value) == want, PROPERTIES[i]


COMPOUND = """pact: p
version: 1
models:
  default:
    fit:
      rules:
        - id: vp-fintech
          description: a VP at a fintech
          all:
            - {field: lead.seniority, equals: vp}
            - {field: account.industry, in: [fintech]}
          points: 12
        - id: big-or-rich
          any:
            - {field: account.employees, between: [1000, null]}
            - {field: account.annual_revenue, between: [50000000, null]}
          points: 5
definitions:
  mql: {min_score: 10}
"""


def test_compound_rules_score_alike_in_sql_and_python_and_read_in_words() -> None:
    """Hand-computed: `all` needs both conditions, `any` one; an `any` of account fields is the account's."""
    import ibis

    from accord.pact.words import pact_words
    from accord.scoring.batch import fit_points
    from accord.scoring.online import OnlineScorer

    pact = parse_pact(COMPOUND)
    vp, big = pact.model().fit.rules
    assert (vp.scope, big.scope) == ("lead", "account")
    rows = [  # seniority, industry, employees, revenue -> vp-fintech, big-or-rich
        ("vp", "fintech", 10, None, 12.0, 0.0),
        ("vp", "retail", 5000, None, 0.0, 5.0),
        ("manager", "fintech", None, 9e7, 0.0, 5.0),
        (None, None, None, None, 0.0, 0.0),
        ("VP", "Fintech", 1000, 6e7, 12.0, 5.0),
    ]
    t = ibis.memtable(
        {
            "seniority": [r[0] for r in rows],
            "account__industry": [r[1] for r in rows],
            "account__employees": [r[2] for r in rows],
            "account__annual_revenue": [r[3] for r in rows],
        },
        schema={
            "seniority": "string",
            "account__industry": "string",
            "account__employees": "float64",
            "account__annual_revenue": "float64",
        },
    )
    got = t.select(a=fit_points(vp, t), b=fit_points(big, t)).to_pyarrow().to_pylist()
    assert [(g["a"], g["b"]) for g in got] == [(r[4], r[5]) for r in rows]
    scorer = OnlineScorer(pact)
    for r in rows:
        fired = scorer.fit_rules(
            {"seniority": r[0]}, {"industry": r[1], "employees": r[2], "annual_revenue": r[3]}
        )
        assert (fired["vp-fintech"], fired["big-or-rich"]) == (r[4], r[5])
    words = {w.id: w.words for w in pact_words(pact).rules}
    assert words["vp-fintech"] == (
        "+12 points when the lead's seniority is vp and the account's industry is fintech (a VP at a fintech)."
    )
    assert words["big-or-rich"] == (
        "+5 points when the account's employees is at least 1000 or the account's annual revenue is at least 5e+07."
    )


def test_compound_rules_are_checked_with_their_lines() -> None:
    def refused(text: str) -> list[str]:
        with pytest.raises(PactError) as err:
            parse_pact(text, "p.yaml")
        return str(err.value).splitlines()

    fields = refused(
        COMPOUND.replace("account.industry", "account.sector").replace("lead.seniority", "lead.rank")
    )
    assert [line.split(";")[0] for line in fields] == [
        "p.yaml:10: rule 'vp-fintech': unknown field 'lead.rank'",
        "p.yaml:11: rule 'vp-fintech': unknown field 'account.sector'",
    ]
    shape = refused(
        COMPOUND.replace("{field: lead.seniority, equals: vp}", "{field: lead.seniority}").replace(
            "        - id: big-or-rich\n", "        - id: big-or-rich\n          all: []\n"
        )
    )
    assert [line.split(";")[0] for line in shape] == [
        "p.yaml:10: rule 'vp-fintech': has no operator",
        "p.yaml:13: rule 'big-or-rich': has both all: and any:",
    ]
    single = COMPOUND.replace("            - {field: account.industry, in: [fintech]}\n", "")
    with pytest.raises(PactError, match="all: needs at least two conditions"):
        parse_pact(single, "p.yaml")


ENGAGEMENT_COMPOUND = """pact: p
version: 1
models:
  default:
    engagement:
      rules:
        - id: pricing-near-webinar
          points: 15
          all:
            - {touch_type: web_visit, property: {page: /pricing}}
            - {touch_type: webinar}
          within_days: 7
        - id: talked
          points: 5
          any:
            - {touch_type: demo}
            - {touch_type: call, channel: phone}
          cap: {max: 2, per_days: 30}
definitions:
  mql: {min_score: 10}
"""


def test_compound_engagement_rules_read_in_words_and_keep_old_hashes() -> None:
    from accord.pact.words import pact_words

    pact = parse_pact(ENGAGEMENT_COMPOUND)
    near, talked = pact.model().engagement.rules
    assert (near.combine, near.within_days, near.touch_types) == ("all", 7, {"web_visit", "webinar"})
    assert [c.touch_type for c in near.context] == [["webinar"]]
    assert (talked.combine, [c.channel for c in talked.counted]) == ("any", [None, ["phone"]])
    words = {w.id: w.words for w in pact_words(pact).rules}
    assert (
        words["pricing-near-webinar"] == "+15 points per web visit page /pricing within 7 days of a webinar."
    )
    assert words["talked"] == "+5 points per demo or call on phone, at most 2 every 30 days."
    from accord.pact.words import engagement_words

    clicked = near.model_copy(
        update={
            "conditions": (
                near.conditions[0],
                near.conditions[1].model_copy(update={"touch_type": ["ad_click"]}),
            )
        }
    )
    assert engagement_words(clicked) == "web visit page /pricing within 7 days of an ad click"
    # A simple rule dumps as it always did: the approvals of pacts signed before compound rules stand.
    assert {"conditions", "combine", "within_days"} <= set(near.model_dump())
    example = load_pact(REPO / "examples" / "pact.yaml").model().engagement.rules[0].model_dump()
    assert not {"conditions", "combine", "within_days"} & set(example)


def test_compound_engagement_rules_are_checked_with_their_lines() -> None:
    def refused(text: str) -> list[str]:
        with pytest.raises(PactError) as err:
            parse_pact(text, "p.yaml")
        return str(err.value).splitlines()

    assert refused(ENGAGEMENT_COMPOUND.replace("{touch_type: webinar}", "{touch_typ: webinar}")) == [
        "p.yaml:11: rule 'pricing-near-webinar': models.default.engagement.rules.0.all.1.touch_typ: "
        "unknown key 'touch_typ'"
    ]
    assert refused(ENGAGEMENT_COMPOUND.replace("          within_days: 7\n", "")) == [
        "p.yaml:7: rule 'pricing-near-webinar': models.default.engagement.rules.0: all: needs within_days "
        "(how close the touches must be); for one touch that meets several conditions, give them in one "
        "condition"
    ]
    assert refused(ENGAGEMENT_COMPOUND.replace("within_days: 7", "within_days: 0")) == [
        "p.yaml:7: rule 'pricing-near-webinar': models.default.engagement.rules.0: within_days must be "
        "positive, got 0"
    ]
    assert refused(ENGAGEMENT_COMPOUND.replace("            - {touch_type: call, channel: phone}\n", "")) == [
        "p.yaml:13: rule 'talked': models.default.engagement.rules.1: any: needs at least two conditions"
    ]
    both = ENGAGEMENT_COMPOUND.replace(
        "          any:\n", "          all: [{touch_type: x}]\n          any:\n"
    )
    assert refused(both) == ["p.yaml:13: rule 'talked': has both all: and any:; give one"]
    own = ENGAGEMENT_COMPOUND.replace(
        "          within_days: 7\n", "          within_days: 7\n          channel: web\n"
    )
    assert refused(own)[0].startswith(
        "p.yaml:7: rule 'pricing-near-webinar': models.default.engagement.rules.0: a compound rule (all: or "
        "any:) has no touch_type, channel, campaign, team, property of its own"
    )
    assert refused(ENGAGEMENT_COMPOUND.replace("{touch_type: demo}", "{}")) == [
        "p.yaml:16: rule 'talked': models.default.engagement.rules.1.any.0: needs at least one of "
        "touch_type, channel, campaign, team, property"
    ]


def test_a_compound_rules_change_reads_as_its_yaml() -> None:
    from accord.pact.diff import diff_pacts

    before = parse_pact(ENGAGEMENT_COMPOUND)
    after = parse_pact(
        ENGAGEMENT_COMPOUND.replace("within_days: 7", "within_days: 14").replace(
            "{touch_type: webinar}", "{touch_type: [webinar, event]}"
        )
    )
    assert diff_pacts(before, after).changed == [
        "default.engagement rule pricing-near-webinar: all [{'touch_type': ['web_visit'], 'property': "
        "{'page': '/pricing'}}, {'touch_type': ['webinar']}] -> [{'touch_type': ['web_visit'], 'property': "
        "{'page': '/pricing'}}, {'touch_type': ['webinar', 'event']}]",
        "default.engagement rule pricing-near-webinar: within_days 7 -> 14",
    ]
