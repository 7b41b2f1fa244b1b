"""Why a lead scores what it does: every rule that fired, before and after decay and caps, in words.

`explain(...)` turns an online :class:`LeadScore` into rule lines, the top
positive and negative factors, and one sentence a salesperson can read, e.g.
"A2: VP Marketing at a 500-person fintech; visited the pricing page 2x, last
yesterday; no conversation with sales yet".
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from accord.pact.schema import Pact
from accord.pact.words import engagement_words
from accord.scoring.online import Feedback, Hit, LeadScore, Touch

SALES_TEAM = "sales"


@dataclass(frozen=True)
class RuleLine:
    """One rule's contribution to a lead's score."""

    section: str
    """fit, engagement or adjustment."""
    rule_id: str
    description: str
    points_before: float
    """Points before decay and caps (for fit: the rule's points)."""
    points: float
    """Points counted in the score."""
    detail: str = ""


@dataclass(frozen=True)
class Explanation:
    """A lead's score, rule by rule, with one plain sentence."""

    score: LeadScore
    lines: tuple[RuleLine, ...]
    top_positive: tuple[RuleLine, ...]
    top_negative: tuple[RuleLine, ...]
    sentence: str
    facts: dict[str, Any] = field(default_factory=dict)
    feedback: tuple[Feedback, ...] = ()
    """Sales' verdicts on the lead up to the instant, oldest first."""


def _ago(as_of: datetime, when: datetime) -> str:
    days = (as_of - when).total_seconds() / 86_400
    if days < 1:
        return "today"
    if days < 2:
        return "yesterday"
    if days < 14:
        return f"{int(days)} days ago"
    if days < 60:
        return f"{int(days // 7)} weeks ago"
    return f"{int(days // 30)} months ago"


def _engagement_lines(pact: Pact, model_name: str, hits: Sequence[Hit], as_of: datetime) -> list[RuleLine]:
    model = pact.model(model_name)
    by_rule: dict[str, list[Hit]] = defaultdict(list)
    for h in hits:
        by_rule[h.rule_id].append(h)
    lines = []
    for rule in model.engagement.rules:
        rh = by_rule.get(rule.id)
        if not rh:
            continue
        counted = [h for h in rh if h.counted]
        latest = max(h.occurred_at for h in rh)
        detail = f"{len(rh)}x, last {_ago(as_of, latest)}"
        if len(counted) < len(rh):
            detail += f"; {len(rh) - len(counted)} over the cap of {rule.cap.max if rule.cap else 0}"
        lines.append(
            RuleLine(
                "engagement",
                rule.id,
                rule.description
                or (engagement_words(rule) if rule.conditions else rule.id.replace("-", " ")),
                sum(h.base for h in rh),
                sum(h.points for h in rh),
                detail,
            )
        )
    return lines


def explain(
    pact: Pact,
    score: LeadScore,
    lead: Mapping[str, Any],
    account: Mapping[str, Any] | None,
    touches: Sequence[Touch],
    as_of: datetime,
    model_name: str = "default",
    feedback: Sequence[Feedback] = (),
) -> Explanation:
    """Explain an online score of `lead` (with its `account`, `touches` and sales' verdicts) as of `as_of`."""
    model = pact.model(model_name)
    lines = [
        RuleLine(
            "fit",
            r.id,
            r.description or f" {r.combine} ".join(_condition(c.field, c.op, c.operand) for c in r.tests),
            float(r.points),
            score.fit_rules[r.id],
            f" {r.combine} ".join(f"{c.field} {c.op} {c.operand}" for c in r.tests),
        )
        for r in model.fit.rules
        if score.fit_rules.get(r.id)
    ]
    lines += _engagement_lines(pact, model_name, score.hits, as_of)
    if score.adjustment:
        lines.append(
            RuleLine(
                "adjustment", "sales-adjustment", "adjusted by sales", score.adjustment, score.adjustment
            )
        )
    positive = tuple(sorted((x for x in lines if x.points > 0), key=lambda x: -x.points)[:3])
    negative = tuple(sorted((x for x in lines if x.points < 0), key=lambda x: x.points)[:3])
    verdicts = tuple(sorted((v for v in feedback if v.given_at <= as_of), key=lambda v: v.given_at))
    sentence = _sentence(pact, score, lead, account, touches, as_of, lines, negative, verdicts)
    return Explanation(score, tuple(lines), positive, negative, sentence, feedback=verdicts)


def _condition(field: str, op: str, operand: Any) -> str:
    """A fit rule's test in words: `source paid_search or organic_search`."""
    name = field.split(".")[-1].replace("_", " ")
    if op in ("in", "email_domain_in") and isinstance(operand, list):
        return f"{name} {' or '.join(map(str, operand))}"
    if op == "equals":
        return f"{name} {operand}"
    if op == "between" and isinstance(operand, list):
        lo, hi = operand
        return f"{name} {lo if lo is not None else ''}-{hi if hi is not None else ''}".rstrip("-")
    return f"{name} {op.replace('_', ' ')} {operand}"


def _persona(lead: Mapping[str, Any], account: Mapping[str, Any] | None) -> str:
    who = lead.get("job_title") or (str(lead.get("seniority") or "").replace("_", "-"))
    if not account:
        return str(who)
    size = account.get("employees")
    industry = account.get("industry")
    at = " ".join(x for x in (f"{int(size):,}-person" if size else "", str(industry or "company")) if x)
    return f"{who} at a {at}"


def _sentence(
    pact: Pact,
    score: LeadScore,
    lead: Mapping[str, Any],
    account: Mapping[str, Any] | None,
    touches: Sequence[Touch],
    as_of: datetime,
    lines: Sequence[RuleLine],
    negative: Sequence[RuleLine],
    verdicts: Sequence[Feedback] = (),
) -> str:
    # Who the lead is; where the data says nothing of role or company, the fit rules that counted.
    persona = _persona(lead, account)
    fits = sorted((x for x in lines if x.section == "fit" and x.points > 0), key=lambda x: -x.points)[:2]
    fit_words = ", ".join(f"{x.description} ({x.points:+g})" for x in fits)
    parts = [persona or (f"fits {fit_words}" if fit_words else "no fit rule counted")]
    doing = sorted((x for x in lines if x.section == "engagement" and x.points > 0), key=lambda x: -x.points)[
        :2
    ]
    parts += [f"{x.description[0].lower()}{x.description[1:]} {x.detail.split(';')[0]}" for x in doing]
    if not doing:
        parts.append("no recent engagement")
    sales_types = set(pact.teams.get("sales", []))
    sales = [
        t for t in touches if t.occurred_at <= as_of and (t.team == SALES_TEAM or t.touch_type in sales_types)
    ]
    if sales:
        parts.append(f"last talked to sales {_ago(as_of, max(t.occurred_at for t in sales))}")
    else:
        parts.append("no conversation with sales yet")
    if score.reset_at is not None:
        reset = next((v for v in reversed(verdicts) if v.given_at == score.reset_at), None)
        what = {"reject": "rejection"}.get(reset.action, reset.action) if reset else "recycle"
        parts.append(f"engagement counted since the {what} of {score.reset_at:%Y-%m-%d}")
    elif verdicts:
        parts.append(f"sales: {verdicts[-1].words}")
    neg = [x for x in negative if x.section == "engagement"]
    if neg:
        parts.append("but " + neg[0].description[0].lower() + neg[0].description[1:])
    head = f"{score.grade}{score.band}{' MQL' if score.is_mql else ''} ({score.score:.0f})"
    return f"{head}: " + "; ".join(parts)
