"""Online scoring: one lead, in Python, with the batch engine's exact semantics.

`OnlineScorer.score(...)` scores a lead from its row, its account's row and
its touches; `LeadState.apply(touch)` adds one touch and rescores. Results
match :mod:`accord.scoring.batch` to 1e-9 (a property test holds them to it),
and carry the per-rule breakdown the explanations are built from.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from accord.model.fields import epoch_value, property_value
from accord.pact.operators import OPERATORS
from accord.pact.schema import Condition, Decay, EngagementRule, FitRule, Pact, ScoreModel, TouchCondition
from accord.scoring.batch import DAY, RESET_ACTIONS
from accord.stats import decay_rate


@dataclass(frozen=True, slots=True)
class Touch:
    """A touchpoint as the scorer sees it."""

    id: str
    occurred_at: datetime
    touch_type: str | None = None
    channel: str | None = None
    campaign: str | None = None
    team: str | None = None
    properties: str | None = None
    at_s: int = field(init=False, repr=False, compare=False)
    """`occurred_at` in epoch seconds, computed once (a touch is aged at every rescore)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "at_s", epoch_value(self.occurred_at))

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Touch:
        """From a `touchpoints` row."""
        return cls(
            row["id"],
            row["occurred_at"],
            row.get("touch_type"),
            row.get("channel"),
            row.get("campaign"),
            row.get("team"),
            row.get("properties"),
        )


@dataclass(frozen=True, slots=True)
class Feedback:
    """A sales verdict that matters for scoring: resets and manual adjustments."""

    given_at: datetime
    action: str
    points: float | None = None
    actor: str | None = None
    reason: str | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Feedback:
        """From a `feedback` row."""
        return cls(row["given_at"], row["action"], row.get("points"), row.get("actor"), row.get("reason"))

    @property
    def words(self) -> str:
        """`rejected by rep-7 on 2026-03-01 (no budget)`."""
        done = {"accept": "accepted", "reject": "rejected", "recycle": "recycled", "adjust": "adjusted"}
        what = done.get(self.action, self.action)
        if self.action == "adjust" and self.points is not None:
            what += f" {self.points:+g} points"
        by = f" by {self.actor}" if self.actor else ""
        why = f" ({self.reason})" if self.reason else ""
        return f"{what}{by} on {self.given_at:%Y-%m-%d}{why}"


@dataclass(frozen=True)
class Hit:
    """One touch counted (or capped) by one engagement rule."""

    rule_id: str
    touch_id: str
    occurred_at: datetime
    age_days: float
    base: float
    factor: float
    counted: bool

    @property
    def points(self) -> float:
        """Points after decay, zero when the cap left it out."""
        return self.base * self.factor if self.counted else 0.0


@dataclass(frozen=True)
class LeadScore:
    """A lead's score with every part that made it."""

    lead_id: str
    fit: float
    engagement: float
    adjustment: float
    person_score: float
    account_score: float | None
    score: float
    grade: str
    band: int
    is_mql: bool
    fit_rules: dict[str, float] = field(default_factory=dict)
    """Points from each fit rule (0 when it did not fire)."""
    hits: tuple[Hit, ...] = ()
    reset_at: datetime | None = None
    """When a recycle or rejection last restarted engagement (if the pact resets it)."""


Matched = list[list[Touch]]
"""Each engagement rule's counted touches, then the touches each `all:` rule's other conditions
match (`OnlineScorer.match`)."""


def _decay(decay: Decay, age_days: float) -> float:
    if decay.half_life_days is not None:
        return math.exp(age_days * decay_rate(decay.half_life_days))
    if decay.steps is not None:
        for days, factor in decay.steps:
            if age_days <= days:
                return float(factor)
        return 0.0
    return 1.0


def _matches(cond: TouchCondition, t: Touch) -> bool:
    for col in ("touch_type", "channel", "campaign", "team"):
        values = getattr(cond, col)
        if values and getattr(t, col) not in values:
            return False
    return all(property_value(t.properties, k) == v for k, v in (cond.property or {}).items())


def _near(rule: EngagementRule, found: list[Touch], context: list[list[Touch]]) -> list[Touch]:
    """The touches of `found` with, for each context condition, another touch within reach."""
    reach = rule.reach_seconds
    return [
        t
        for t in found
        if all(any(u.id != t.id and abs(u.at_s - t.at_s) <= reach for u in near) for near in context)
    ]


class OnlineScorer:
    """Scores single leads against one score model of a pact."""

    def __init__(self, pact: Pact, model_name: str = "default") -> None:
        self.pact = pact
        self.model_name = model_name
        self.model: ScoreModel = pact.model(model_name)
        self._fit_tests = [
            (r, [(c, OPERATORS[c.op](c.operand).test) for c in r.tests]) for r in self.model.fit.rules
        ]
        # A slot per rule (the touches it counts), then one per context condition of an `all:` rule.
        rules = self.model.engagement.rules
        self._slots: list[tuple[TouchCondition, ...]] = [r.counted for r in rules]
        self._context: list[list[int]] = []
        for r in rules:
            self._context.append(list(range(len(self._slots), len(self._slots) + len(r.context))))
            self._slots += [(c,) for c in r.context]
        # Most conditions name touch types: a touch is only tested against the slots that could take it.
        self._any_type = [i for i, conds in enumerate(self._slots) if any(not c.touch_type for c in conds)]
        self._by_type: dict[str, list[int]] = defaultdict(list)
        for i, conds in enumerate(self._slots):
            if i not in self._any_type:
                for tt in sorted({tt for c in conds for tt in c.touch_type or ()}):
                    self._by_type[tt].append(i)

    def _candidates(self, touch_type: str | None) -> list[int]:
        typed = self._by_type.get(touch_type or "", [])
        return sorted(typed + self._any_type) if self._any_type and typed else (typed or self._any_type)

    # -- parts ------------------------------------------------------------------
    def fit_rules(self, lead: Mapping[str, Any], account: Mapping[str, Any] | None) -> dict[str, float]:
        """Points from each fit rule."""
        out = {}
        for rule, test in self._fit_tests:
            out[rule.id] = float(rule.points) if self._fires(rule, test, lead, account) else 0.0
        return out

    @staticmethod
    def _fires(
        rule: FitRule,
        tests: list[tuple[Condition, Any]],
        lead: Mapping[str, Any],
        account: Mapping[str, Any] | None,
    ) -> bool:
        held = (OnlineScorer._holds(c, test, lead, account) for c, test in tests)
        return any(held) if rule.combine == "any" else all(held)

    @staticmethod
    def _holds(c: Condition, test: Any, lead: Mapping[str, Any], account: Mapping[str, Any] | None) -> bool:
        row = lead if c.scope == "lead" else (account or {})
        value = row.get(c.column)
        if c.property_key is not None:
            value = property_value(value, c.property_key)
        return bool(test(value))

    def engagement(
        self,
        touches: Iterable[Touch],
        as_of: datetime,
        feedback: Iterable[Feedback] = (),
        matched: Matched | None = None,
    ) -> float:
        """Engagement alone (what a colleague adds to an account's roll-up), as `score` computes it.

        `matched` is `match(touches)` kept from an earlier call: the touches are then not read.
        """
        resets = [f.given_at for f in feedback if f.given_at <= as_of and f.action in RESET_ACTIONS]
        reset_at = max(resets) if resets and self.pact.recycle.reset_engagement else None
        per_slot = matched if matched is not None else self.match(touches)
        eng = self.model.engagement
        now = epoch_value(as_of)
        longest = eng.lookback_days * DAY

        def window(found: list[Touch]) -> list[Touch]:
            # A kept match may come after `as_of` (within its second, `at_s` cannot tell).
            return [
                t
                for t in found
                if 0 <= now - t.at_s <= longest
                and (now != t.at_s or t.occurred_at <= as_of)
                and (reset_at is None or t.occurred_at > reset_at)
            ]

        # The sum `hits` makes, in its order, without building a Hit per match.
        total = 0.0
        for i, rule in enumerate(eng.rules):
            found = per_slot[i]
            if not found:
                continue
            found = window(found)
            if rule.context:
                found = _near(rule, found, [window(per_slot[k]) for k in self._context[i]])
            ages = [(t, (now - t.at_s) / DAY) for t in found]
            decay = rule.decay if rule.decay is not None else eng.decay
            counted = self._counted(rule, ages)
            base = float(rule.points)
            for i, (_, age) in enumerate(ages):
                if counted is None or counted.get(i, True):
                    total += base * _decay(decay, age)
        return total

    def match(self, touches: Iterable[Touch]) -> Matched:
        """Each slot's touches, in the touches' order.

        Matching does not depend on time; whether an `all:` rule's touch has its others near
        enough does, and is left to the instant.
        """
        per_slot: Matched = [[] for _ in self._slots]
        for t in touches:
            for i in self._candidates(t.touch_type):
                if any(_matches(c, t) for c in self._slots[i]):
                    per_slot[i].append(t)
        return per_slot

    @staticmethod
    def _counted(rule: EngagementRule, matched: Sequence[tuple[Touch, float]]) -> dict[int, bool] | None:
        """Which matches a capped rule counts: the latest `max` in each cap window; None: no cap."""
        if rule.cap is None:
            return None
        counted: dict[int, bool] = {}
        buckets: dict[int, list[int]] = defaultdict(list)
        for i, (_, age) in enumerate(matched):
            buckets[math.floor(age / rule.cap.per_days)].append(i)
        for members in buckets.values():
            members.sort(key=lambda i: (matched[i][0].occurred_at, matched[i][0].id), reverse=True)
            for rank, i in enumerate(members):
                counted[i] = rank < rule.cap.max
        return counted

    def hits(self, touches: Iterable[Touch], as_of: datetime, reset_at: datetime | None = None) -> list[Hit]:
        """Every (touch, rule) match in the window with its decay and whether its cap counts it."""
        eng = self.model.engagement
        now = epoch_value(as_of)
        longest = eng.lookback_days * DAY
        window = [
            t
            for t in touches
            if 0 <= now - t.at_s <= longest and (reset_at is None or t.occurred_at > reset_at)
        ]
        out: list[Hit] = []
        per_slot = self.match(window)
        for i, rule in enumerate(eng.rules):
            found = per_slot[i]
            if rule.context:
                found = _near(rule, found, [per_slot[k] for k in self._context[i]])
            decay = rule.decay if rule.decay is not None else eng.decay
            matched = [(t, (now - t.at_s) / DAY) for t in found]
            counted = self._counted(rule, matched) or {}
            for i, (t, age) in enumerate(matched):
                out.append(
                    Hit(
                        rule.id,
                        t.id,
                        t.occurred_at,
                        age,
                        float(rule.points),
                        _decay(decay, age),
                        counted.get(i, True),
                    )
                )
        return out

    def _clamp(self, x: float) -> float:
        lo, hi = self.model.total.floor, self.model.total.ceiling
        if lo is not None:
            x = max(x, lo)
        if hi is not None:
            x = min(x, hi)
        return x

    def account_score(self, account_fit: float, engagements: Sequence[float]) -> float:
        """An account's score from its fit and its people's engagement."""
        roll = self.model.account
        if roll.rollup == "sum":
            eng = sum(engagements)
        elif roll.rollup == "max":
            eng = max(engagements, default=0.0)
        else:
            top = sorted(engagements, reverse=True)
            eng = sum(w * e for w, e in zip(roll.rank_weights, top, strict=False))
        return self._clamp(account_fit + eng)

    # -- the whole score ----------------------------------------------------------
    def score(
        self,
        lead: Mapping[str, Any],
        account: Mapping[str, Any] | None,
        touches: Iterable[Touch],
        as_of: datetime,
        feedback: Iterable[Feedback] = (),
        colleagues_engagement: Sequence[float] = (),
    ) -> LeadScore:
        """Score one lead as of `as_of`; `colleagues_engagement` is that of the account's other people."""
        fb = [f for f in feedback if f.given_at <= as_of]
        resets = [f.given_at for f in fb if f.action in RESET_ACTIONS]
        reset_at = max(resets) if resets and self.pact.recycle.reset_engagement else None
        adjustment = sum((f.points or 0.0) for f in fb if f.action == "adjust")
        fit_rules = self.fit_rules(lead, account)
        fit = sum(fit_rules.values())
        hits = self.hits(touches, as_of, reset_at)
        engagement = sum(h.points for h in hits)
        person = self._clamp(fit + engagement + adjustment)
        acc_score: float | None = None
        score = person
        w = self.model.account.weight
        if w > 0 and lead.get("account_id") is not None:
            acc_fit = sum(fit_rules[r.id] for r in self.model.fit.rules if r.scope == "account")
            acc_score = self.account_score(acc_fit, [engagement, *colleagues_engagement])
            score = self._clamp((1 - w) * person + w * acc_score)
        g, b = self.model.fit.grades, self.model.engagement.bands
        grade = "A" if fit >= g["A"] else "B" if fit >= g["B"] else "C" if fit >= g["C"] else "D"
        band = 1 if engagement >= b[1] else 2 if engagement >= b[2] else 3 if engagement >= b[3] else 4
        mql = self.pact.definitions.mql
        is_mql = (mql.min_score is None or score >= mql.min_score) and (
            mql.grades is None or grade in mql.grades
        )
        return LeadScore(
            str(lead["id"]),
            fit,
            engagement,
            adjustment,
            person,
            acc_score,
            score,
            grade,
            band,
            is_mql,
            fit_rules,
            tuple(hits),
            reset_at,
        )


@dataclass
class LeadState:
    """A lead kept in memory for real-time scoring: add a touch, get the new score."""

    scorer: OnlineScorer
    lead: Mapping[str, Any]
    account: Mapping[str, Any] | None = None
    touches: list[Touch] = field(default_factory=list)
    feedback: list[Feedback] = field(default_factory=list)
    colleagues_engagement: Sequence[float] = ()

    def apply(self, touch: Touch, as_of: datetime | None = None) -> LeadScore:
        """Add one touch and rescore as of `as_of` (default: the touch's time)."""
        self.touches.append(touch)
        return self.score(as_of or touch.occurred_at)

    def score(self, as_of: datetime) -> LeadScore:
        """The lead's score as of `as_of`."""
        return self.scorer.score(
            self.lead, self.account, self.touches, as_of, self.feedback, self.colleagues_engagement
        )
