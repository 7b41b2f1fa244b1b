"""The pact: the scoring agreement sales and marketing both sign, as typed models.

A pact holds one or more named score models (fit rules, engagement rules with
decay and caps, grades, bands, floors and ceilings, account roll-up), the
lifecycle definitions (what makes an MQL), which team owns each touch type,
the recycle policy, and the approvals that activate a version.
"""

from __future__ import annotations

import builtins
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_serializer, model_validator

from accord.model.tables import DEFAULT_TEAM_BY_TOUCH_TYPE, TABLES

GRADES = ("A", "B", "C", "D")
BANDS = (1, 2, 3, 4)
FIT_FIELD_TABLES = ("lead", "account")
"""A fit rule's field is `lead.<column>`, `account.<column>` or `<lead|account>.properties.<key>`."""


GradeKey = Literal["A", "B", "C"]
BandKey = Literal[1, 2, 3]
TeamKey = Literal["marketing", "sales"]


def _default_grades() -> dict[GradeKey, float]:
    return {"A": 60.0, "B": 40.0, "C": 20.0}


def _default_bands() -> dict[BandKey, float]:
    return {1: 60.0, 2: 30.0, 3: 10.0}


def _default_teams() -> dict[TeamKey, list[str]]:
    return {"sales": sorted(DEFAULT_TEAM_BY_TOUCH_TYPE)}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Decay(_Strict):
    """How a touch's points fade with age: exponential half-life, step windows, or none."""

    half_life_days: float | None = None
    """Points halve every this many days."""
    steps: list[tuple[float, float]] | None = None
    """[[days, factor], ...] ascending: a touch at most `days` old keeps `factor` of its
    points; older than the last step it counts 0."""

    @model_validator(mode="after")
    def _one_kind(self) -> Decay:
        if self.half_life_days is not None and self.steps is not None:
            raise ValueError("give either half_life_days or steps, not both")
        if self.half_life_days is not None and self.half_life_days <= 0:
            raise ValueError(f"half_life_days must be positive, got {self.half_life_days:g}")
        if self.steps is not None:
            if not self.steps:
                raise ValueError("steps needs at least one [days, factor] pair")
            days = [d for d, _ in self.steps]
            if days != sorted(days) or len(set(days)) != len(days) or days[0] <= 0:
                raise ValueError("steps must have positive, strictly ascending days")
            if any(not 0 <= f <= 1 for _, f in self.steps):
                raise ValueError("step factors must be between 0 and 1")
        return self


class Cap(_Strict):
    """At most `max` touches counted per rule in each window of `per_days` (most recent first)."""

    max: int = Field(gt=0)
    per_days: float = Field(gt=0)


class Condition(_Strict):
    """One test of a lead's or its account's field: `{field: lead.seniority, in: [vp, c_level]}`."""

    field: str
    op: str
    """Operator name (set from the one operator key the YAML condition carries)."""
    operand: Any = None

    @property
    def scope(self) -> str:
        """`lead` or `account`."""
        return self.field.split(".", 1)[0]

    @property
    def property_key(self) -> str | None:
        """The property name for `*.properties.<key>` fields."""
        parts = self.field.split(".", 2)
        return parts[2] if len(parts) == 3 and parts[1] == "properties" else None

    @property
    def column(self) -> str:
        """The canonical column (`properties` for property fields)."""
        return self.field.split(".")[1] if "." in self.field else self.field


class FitRule(_Strict):
    """Points for what a lead or its account is (explicit criteria).

    One condition (`field` and an operator), or a compound of several: `all:` (every one holds,
    "a VP at a fintech") or `any:` (at least one holds).
    """

    id: str
    description: str = ""
    field: str = ""
    points: float
    op: str = ""
    """Operator name (set from the one operator key the YAML rule carries)."""
    operand: Any = None
    conditions: tuple[Condition, ...] = ()
    """A compound rule's conditions (empty for a rule of one condition)."""
    combine: Literal["all", "any"] = "all"

    @model_validator(mode="after")
    def _one_or_compound(self) -> FitRule:
        if self.conditions and (self.field or self.op):
            raise ValueError("a compound rule (all: or any:) has no field or operator of its own")
        if not self.conditions and not self.field:
            raise ValueError("a fit rule needs a field and an operator, or all: / any: of conditions")
        if self.conditions and len(self.conditions) < 2:
            raise ValueError(f"{self.combine}: needs at least two conditions")
        return self

    @model_serializer(mode="wrap")
    def _dump(self, handler: Any) -> dict[str, Any]:
        out: dict[str, Any] = handler(self)
        if not self.conditions:  # what a rule of one condition always said: its content hash stays
            out.pop("conditions", None)
            out.pop("combine", None)
        return out

    @property
    def tests(self) -> tuple[Condition, ...]:
        """The rule's conditions (one for a simple rule)."""
        return self.conditions or (Condition(field=self.field, op=self.op, operand=self.operand),)

    @property
    def scope(self) -> str:
        """`account` when every condition reads the account (counted in its score), else `lead`."""
        return "account" if all(c.scope == "account" for c in self.tests) else "lead"


_TOUCH_FIELDS = ("touch_type", "channel", "campaign", "team", "property")


def _listify(v: Any) -> Any:
    """`touch_type: webinar` as `[webinar]`."""
    return [v] if isinstance(v, str) else v


class TouchCondition(_Strict):
    """What a touch must be: `{touch_type: web_visit, property: {page: /pricing}}`.

    Every given field must hold; a list holds when the touch's value is one of it.
    """

    touch_type: list[str] | None = None
    channel: list[str] | None = None
    campaign: list[str] | None = None
    team: list[str] | None = None
    property: dict[str, str] | None = None
    """Touch properties that must equal these values, e.g. {page: /pricing}."""

    _lists = field_validator("touch_type", "channel", "campaign", "team", mode="before")(_listify)

    @model_validator(mode="after")
    def _matches_something(self) -> TouchCondition:
        if not any(getattr(self, f) for f in _TOUCH_FIELDS):
            raise ValueError(f"needs at least one of {', '.join(_TOUCH_FIELDS)}")
        return self

    @model_serializer(mode="wrap")
    def _dump(self, handler: Any) -> dict[str, Any]:
        out: dict[str, Any] = handler(self)
        return {k: v for k, v in out.items() if v is not None}


class EngagementRule(_Strict):
    """Points for what a lead does (implicit criteria), matched on its touchpoints.

    One touch condition (the rule's own touch_type, channel, ... fields), or a compound:
    `any:` of several (a touch meeting one of them counts), or `all:` with `within_days`
    ("a pricing page visit within 7 days of a webinar"): a touch meeting the first condition
    counts when, for each other condition, another touch of the lead meets it at most
    `within_days` before or after, both inside the lookback window (and after a reset).
    Decay and caps apply to the first condition's touches, as to a simple rule's.
    """

    id: str
    description: str = ""
    points: float
    touch_type: list[str] | None = None
    channel: list[str] | None = None
    campaign: list[str] | None = None
    team: list[str] | None = None
    property: dict[str, str] | None = None
    """Touch properties that must equal these values, e.g. {page: /pricing}."""
    decay: Decay | None = None
    """Overrides the engagement section's default decay."""
    cap: Cap | None = None
    conditions: tuple[TouchCondition, ...] = ()
    """A compound rule's conditions (empty for a rule of one condition)."""
    combine: Literal["all", "any"] = "all"
    within_days: float | None = None
    """For `all:`: how far (either side) the other conditions' touches may be from the first's."""

    _lists = field_validator("touch_type", "channel", "campaign", "team", mode="before")(_listify)

    @model_validator(mode="after")
    def _matches_something(self) -> EngagementRule:
        own = any(getattr(self, f) for f in _TOUCH_FIELDS)
        if self.conditions:
            if own:
                raise ValueError(
                    f"a compound rule (all: or any:) has no {', '.join(_TOUCH_FIELDS)} of its own; "
                    "put them in its conditions"
                )
            if len(self.conditions) < 2:
                raise ValueError(f"{self.combine}: needs at least two conditions")
            if self.combine == "all" and self.within_days is None:
                raise ValueError(
                    "all: needs within_days (how close the touches must be); for one touch that meets "
                    "several conditions, give them in one condition"
                )
            if self.combine == "any" and self.within_days is not None:
                raise ValueError("within_days only applies to all:")
        elif not own:
            raise ValueError(
                f"needs at least one of {', '.join(_TOUCH_FIELDS)}, or all: / any: of conditions"
            )
        elif self.within_days is not None:
            raise ValueError("within_days only applies to all: of conditions")
        if self.within_days is not None and not self.within_days > 0:
            raise ValueError(f"within_days must be positive, got {self.within_days:g}")
        return self

    @model_serializer(mode="wrap")
    def _dump(self, handler: Any) -> dict[str, Any]:
        out: dict[str, Any] = handler(self)
        if not self.conditions:  # what a simple rule always said: its content hash stays
            for k in ("conditions", "combine", "within_days"):
                out.pop(k, None)
        return out

    @builtins.property  # the class's own `property` is a field
    def tests(self) -> tuple[TouchCondition, ...]:
        """The rule's touch conditions (one for a simple rule); for `all:` the first is the one counted."""
        if self.conditions:
            return self.conditions
        return (TouchCondition(**{f: getattr(self, f) for f in _TOUCH_FIELDS}),)

    @builtins.property
    def reach_seconds(self) -> int:
        """`within_days` in whole seconds (0 for a rule without it)."""
        return round(float(self.within_days or 0) * 86_400)

    @builtins.property
    def counted(self) -> tuple[TouchCondition, ...]:
        """The conditions a counted touch meets one of (all of the rule's but `all:`'s context)."""
        return self.tests[:1] if self.conditions and self.combine == "all" else self.tests

    @builtins.property
    def context(self) -> tuple[TouchCondition, ...]:
        """For `all:`: the conditions another touch nearby must meet (one touch each)."""
        return self.tests[1:] if self.conditions and self.combine == "all" else ()

    @builtins.property
    def touch_types(self) -> frozenset[str] | None:
        """Every touch type a touch the rule reads may have; None when a condition takes any type."""
        out: set[str] = set()
        for c in self.tests:
            if not c.touch_type:
                return None
            out |= set(c.touch_type)
        return frozenset(out)


class Fit(_Strict):
    """Explicit criteria and the grade thresholds on their sum."""

    rules: list[FitRule] = Field(default_factory=list)
    grades: dict[GradeKey, float] = Field(default_factory=_default_grades)
    """Minimum fit for each grade; below C is D."""

    @model_validator(mode="after")
    def _descending(self) -> Fit:
        g = self.grades
        if set(g) != {"A", "B", "C"}:
            raise ValueError("grades needs thresholds for A, B and C (below C is D)")
        if not g["A"] >= g["B"] >= g["C"]:
            raise ValueError(f"grade thresholds must not increase from A to C, got {g}")
        return self


class Engagement(_Strict):
    """Implicit criteria, their default decay, and the band thresholds on their sum."""

    rules: list[EngagementRule] = Field(default_factory=list)
    decay: Decay = Field(default_factory=Decay)
    bands: dict[BandKey, float] = Field(default_factory=_default_bands)
    """Minimum engagement for bands 1 to 3; below band 3 is 4."""
    lookback_days: float = Field(default=365, gt=0)
    """Touches older than this are ignored."""

    @model_validator(mode="after")
    def _descending(self) -> Engagement:
        b = self.bands
        if set(b) != {1, 2, 3}:
            raise ValueError("bands needs thresholds for 1, 2 and 3 (below 3 is 4)")
        if not b[1] >= b[2] >= b[3]:
            raise ValueError(f"band thresholds must not increase from 1 to 3, got {b}")
        return self


class Bounds(_Strict):
    """Floor and ceiling on a lead's total score."""

    floor: float | None = None
    ceiling: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Bounds:
        if self.floor is not None and self.ceiling is not None and self.floor > self.ceiling:
            raise ValueError(f"floor {self.floor:g} is above ceiling {self.ceiling:g}")
        return self


class AccountScoring(_Strict):
    """How people's engagement rolls up to their account, and how much it weighs in a lead's score."""

    rollup: Literal["sum", "max", "top_k"] = "top_k"
    k: int = Field(default=3, gt=0)
    weights: list[float] | None = None
    """For top_k: the weight of the most engaged person, the next, ... (k is then their count)."""

    @model_validator(mode="after")
    def _weights(self) -> AccountScoring:
        if self.weights is not None:
            if not self.weights or any(w < 0 for w in self.weights):
                raise ValueError("weights needs at least one non-negative number")
            if self.rollup != "top_k":
                raise ValueError("weights only apply to rollup: top_k")
        return self

    @property
    def rank_weights(self) -> list[float]:
        """Weight of each rank kept by top_k."""
        return list(self.weights) if self.weights is not None else [1.0] * self.k

    weight: float = Field(default=0.0, ge=0, le=1)
    """A lead's score = (1 - weight) * person score + weight * account score."""


class ScoreModel(_Strict):
    """One named score model: fit + engagement, bounded, optionally blended with the account."""

    fit: Fit = Field(default_factory=Fit)
    engagement: Engagement = Field(default_factory=Engagement)
    total: Bounds = Field(default_factory=Bounds)
    account: AccountScoring = Field(default_factory=AccountScoring)


class Threshold(_Strict):
    """A lifecycle definition: minimum score and/or allowed grades."""

    min_score: float | None = None
    grades: list[Literal["A", "B", "C", "D"]] | None = None
    model: str = "default"


class Definitions(_Strict):
    """What each lifecycle stage means, in the words both teams signed."""

    mql: Threshold
    sal: str = "sales accepted the MQL"
    sql: str = "sales qualified an opportunity"


class Recycle(_Strict):
    """What a sales rejection or recycle does to a lead."""

    reset_engagement: bool = True
    """Count only touches after the recycle."""
    min_days_before_mql: float = Field(default=30, ge=0)
    """A recycled lead cannot become an MQL again before this many days."""
    reasons: list[str] | None = None
    """The reasons sales may give for a rejection or a recycle; none listed means any words."""


class Approval(_Strict):
    """A signature: who approved this version for which team, and when."""

    team: Literal["marketing", "sales"]
    by: str
    at: date


class FlatFile(_Strict):
    """How a flat leads export of the shape this pact was learned from is read."""

    id: str | None = None
    """The lead id column: scoring a file of the same shape needs no `--id`."""
    mapping: str | None = None
    """The mapping (file or preset) the export was read with, if any."""


class Pact(_Strict):
    """The whole agreement."""

    pact: str
    """Name of the agreement."""
    version: int = Field(ge=1)
    description: str = ""
    teams: dict[TeamKey, list[str]] = Field(default_factory=_default_teams)
    """Touch types owned by each team; anything unlisted is marketing's."""
    models: dict[str, ScoreModel]
    definitions: Definitions
    recycle: Recycle = Field(default_factory=Recycle)
    approvals: list[Approval] = Field(default_factory=list)
    flat_file: FlatFile | None = None
    """Set by `accord learn --leads`: how the export it learned from is read."""

    @property
    def is_approved(self) -> bool:
        """Activation needs a signature from each side."""
        return {a.team for a in self.approvals} == {"marketing", "sales"}

    @property
    def content_hash(self) -> str:
        """`sha256:<hex>` of what the pact says, approvals left out: what an approval signs."""
        import hashlib
        import json

        body = self.model_dump(mode="json", exclude={"approvals"})
        text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()

    def model(self, name: str = "default") -> ScoreModel:
        """A score model by name, or KeyError listing the names."""
        try:
            return self.models[name]
        except KeyError:
            from accord.errors import UnknownModelError

            raise UnknownModelError(f"no score model {name!r}; models: {', '.join(self.models)}") from None


def fit_field_columns(scope: str) -> tuple[str, ...]:
    """Columns a fit rule may test for `lead` or `account`."""
    return TABLES["leads" if scope == "lead" else "accounts"].column_names
