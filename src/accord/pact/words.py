"""A pact in plain words: what the meeting reads instead of YAML."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from accord.pact.schema import Condition, Decay, EngagementRule, FitRule, Pact, ScoreModel, TouchCondition


class RuleWords(BaseModel):
    """One rule as a sentence, with its points."""

    model_config = ConfigDict(frozen=True)

    id: str
    section: str
    points: float
    words: str


class PactWords(BaseModel):
    """The definitions, every rule and the thresholds of one score model, as sentences."""

    model_config = ConfigDict(frozen=True)

    label: str
    description: str
    definitions: dict[str, str]
    """lead, MQL, SAL and SQL."""
    rules: list[RuleWords]
    thresholds: list[str]
    """Grades, bands, decay, the account blend and recycling."""


def _points(x: float) -> str:
    return f"{x:+g} point{'' if abs(x) == 1 else 's'}"


def _values(v: Any) -> str:
    if isinstance(v, list):
        items = [str(x) for x in v]
        return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]
    return str(v)


def _fit(rule: FitRule) -> str:
    joined = f" {'or' if rule.combine == 'any' else 'and'} "
    tests = joined.join(_test(c) for c in rule.tests)
    why = f" ({rule.description})" if rule.description else ""
    return f"{_points(rule.points)} when {tests}{why}."


def _test(c: Condition) -> str:
    owner = "the lead's" if c.scope == "lead" else "the account's"
    name = (c.property_key or c.column).replace("_", " ")
    op, v = c.op, c.operand
    if op == "equals":
        test = f"is {v}"
    elif op == "in":
        test = f"is {_values(v)}"
    elif op == "not_in":
        test = f"is not {_values(v)}"
    elif op == "between" and isinstance(v, list):
        lo, hi = v
        test = (
            f"is at most {hi:g}"
            if lo is None
            else f"is at least {lo:g}"
            if hi is None
            else f"is between {lo:g} and {hi:g}"
        )
    elif op == "contains":
        test = f"contains {_values(v)}"
    elif op == "regex":
        test = f"matches /{v}/"
    elif op == "is_missing":
        test = "is missing" if v in (None, True) else "is given"
    elif op == "email_domain_in":
        name, test = "email", f"is at {_values(v)}"
    else:
        test = f"{op.replace('_', ' ')} {v}"
    return f"{owner} {name} {test}"


def _decay(d: Decay) -> str:
    if d.half_life_days is not None:
        return f"loses half its points every {d.half_life_days:g} days"
    if d.steps:
        parts = [f"x{f:g} up to {days:g} days" for days, f in d.steps]
        return "counts " + ", ".join(parts) + ", then nothing"
    return "keeps its points"


def touch_words(c: TouchCondition) -> str:
    """`web visit page /pricing`, `call on phone`: what a touch must be."""
    what = []
    if c.touch_type:
        what.append(_values(c.touch_type).replace("_", " "))
    if c.channel:
        what.append(f"on {_values(c.channel)}")
    if c.campaign:
        what.append(f"from campaign {_values(c.campaign)}")
    if c.team:
        what.append(f"by {_values(c.team)}")
    if c.property:
        what.append(", ".join(f"{k} {v}" for k, v in c.property.items()))
    return " ".join(what) or "touch"


def engagement_words(rule: EngagementRule) -> str:
    """What a rule counts: `web visit page /pricing within 7 days of a webinar`."""
    counted = " or ".join(touch_words(c) for c in rule.counted)
    if not rule.context:
        return counted
    near = " and of ".join(_a(touch_words(c)) for c in rule.context)
    return f"{counted} within {rule.within_days:g} days of {near}"


def _a(words: str) -> str:
    return ("an " if words[:1].lower() in "aeiou" else "a ") + words


def _engagement(rule: EngagementRule, default: Decay) -> str:
    text = f"{_points(rule.points)} per {engagement_words(rule)}"
    if rule.description:
        text += f" ({rule.description})"
    if rule.cap is not None:
        text += f", at most {rule.cap.max} every {rule.cap.per_days:g} days"
    if rule.decay is not None and rule.decay != default:
        text += f"; each {_decay(rule.decay)}"
    return text + "."


def _thresholds(pact: Pact, m: ScoreModel) -> list[str]:
    g, b = m.fit.grades, m.engagement.bands
    out = [
        f"Fit grades: A from {g['A']:g} points, B from {g['B']:g}, C from {g['C']:g}, D below.",
        f"Engagement bands: 1 from {b[1]:g} points, 2 from {b[2]:g}, 3 from {b[3]:g}, 4 below.",
        f"A touch {_decay(m.engagement.decay)}; touches older than "
        f"{m.engagement.lookback_days:g} days count for nothing.",
    ]
    if m.total.floor is not None or m.total.ceiling is not None:
        lo = "" if m.total.floor is None else f"at least {m.total.floor:g}"
        hi = "" if m.total.ceiling is None else f"at most {m.total.ceiling:g}"
        out.append(f"A score is {' and '.join(x for x in (lo, hi) if x)}.")
    if m.account.weight > 0:
        roll = {"sum": "the sum", "max": "the highest", "top_k": f"the top {len(m.account.rank_weights)}"}
        out.append(
            f"The account counts for {m.account.weight:.0%} of a lead's score: its fit plus "
            f"{roll[m.account.rollup]} of its people's engagement."
        )
    r = pact.recycle
    engagement = "starts its engagement again" if r.reset_engagement else "keeps its engagement"
    out.append(
        f"A rejected or recycled lead {engagement} and can become an MQL again after "
        f"{r.min_days_before_mql:g} days."
    )
    if r.reasons:
        out.append(f"Reasons sales may give: {', '.join(r.reasons)}.")
    return out


def pact_words(pact: Pact, model: str = "default") -> PactWords:
    """The pact's definitions, rules and thresholds as sentences a marketer and a rep both read."""
    m = pact.model(model)
    mql = pact.definitions.mql
    needs = []
    if mql.min_score is not None:
        needs.append(f"a score of at least {mql.min_score:g}")
    if mql.grades:
        needs.append(f"fit grade {_values(list(mql.grades))}")
    rules = [RuleWords(id=r.id, section="fit", points=r.points, words=_fit(r)) for r in m.fit.rules]
    rules += [
        RuleWords(id=r.id, section="engagement", points=r.points, words=_engagement(r, m.engagement.decay))
        for r in m.engagement.rules
    ]
    return PactWords(
        label=f"{pact.pact} v{pact.version}",
        description=pact.description,
        definitions={
            "Lead": "anyone who gave us their details, scored from the moment they are created.",
            "MQL": "a lead with " + (" and ".join(needs) or "no threshold") + ".",
            "SAL": pact.definitions.sal + ".",
            "SQL": pact.definitions.sql + ".",
        },
        rules=rules,
        thresholds=_thresholds(pact, m),
    )
