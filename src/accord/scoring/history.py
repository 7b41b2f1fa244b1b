"""A lead's score history as changes, each split into the rules that moved it.

A score is the sum of its parts: each fit rule, each engagement rule (after decay
and caps), sales' adjustments, what the floor and ceiling cut, and what blending in
the account added. Between two instants the change of each part says which rule
moved the score; a change the rules do not explain (data that arrived late, a
different pact version) is its own part, so the changes always add up to the score.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from accord.pact.schema import Pact
from accord.scoring.online import LeadScore

BOUNDS = "floor-ceiling"
ACCOUNT = "account-blend"
ADJUSTMENT = "sales-adjustment"
UNEXPLAINED = "unexplained"
"""The part of a stored change that recomputing with the rules does not give (late data, rounding)."""


def parts(pact: Pact, model_name: str, s: LeadScore) -> dict[str, tuple[str, float]]:
    """Each part of a score, by id: (section, points); they add up to `s.score`."""
    out: dict[str, tuple[str, float]] = {rid: ("fit", p) for rid, p in s.fit_rules.items()}
    for rule in pact.model(model_name).engagement.rules:
        out[rule.id] = ("engagement", sum(h.points for h in s.hits if h.rule_id == rule.id))
    out[ADJUSTMENT] = ("adjustment", s.adjustment)
    out[BOUNDS] = ("bounds", s.person_score - (s.fit + s.engagement + s.adjustment))
    out[ACCOUNT] = ("account", s.score - s.person_score)
    return out


@dataclass(frozen=True)
class Moved:
    """One part's change between two instants."""

    part: str
    section: str
    points: float


@dataclass(frozen=True)
class Change:
    """The score at one instant and what moved it since the one before."""

    as_of: datetime
    pact_version: int
    score: float
    change: float
    moved: tuple[Moved, ...]


@dataclass(frozen=True)
class Point:
    """A stored score with its recomputed parts (None when the pact version is gone)."""

    as_of: datetime
    pact_version: int
    score: float
    parts: dict[str, tuple[str, float]] | None


def changes(points: Sequence[Point], *, tolerance: float = 1e-9) -> list[Change]:
    """The instants where the score changed, oldest first, starting from zero."""
    out: list[Change] = []
    prev_score = 0.0
    prev_parts: dict[str, tuple[str, float]] = {}
    for p in sorted(points, key=lambda p: p.as_of):
        delta = p.score - prev_score
        if out and abs(delta) <= tolerance:
            prev_parts = p.parts if p.parts is not None else prev_parts
            continue
        if p.parts is None:
            out.append(Change(p.as_of, p.pact_version, p.score, delta, (Moved(UNEXPLAINED, "other", delta),)))
            prev_score, prev_parts = p.score, {}
            continue
        now = p.parts
        moved = []
        for key in dict.fromkeys([*prev_parts, *now]):
            section = (now.get(key) or prev_parts[key])[0]
            d = now.get(key, (section, 0.0))[1] - prev_parts.get(key, (section, 0.0))[1]
            if abs(d) > tolerance:
                moved.append(Moved(key, section, d))
        rest = delta - sum(m.points for m in moved)
        if abs(rest) > 1e-6:
            moved.append(Moved(UNEXPLAINED, "other", rest))
        moved.sort(key=lambda m: -abs(m.points))
        out.append(Change(p.as_of, p.pact_version, p.score, delta, tuple(moved)))
        prev_score, prev_parts = p.score, now
    return out
