"""What changed between two pact versions: rules added, removed and changed, thresholds moved."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from accord.pact.schema import Pact, ScoreModel


@dataclass
class PactDiff:
    """The changes from an old pact to a new one, as readable lines."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    thresholds: list[str] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        """True when the two pacts score alike."""
        return not (self.added or self.removed or self.changed or self.thresholds)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    return "none" if v is None else str(v)


def _changes(before: dict[str, Any], after: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for k in sorted(set(before) | set(after)):
        a, b = before.get(k), after.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _changes(a, b, f"{prefix}{k}.")
        elif a != b:
            out.append(f"{prefix}{k} {_fmt(a)} -> {_fmt(b)}")
    return out


def diff_pacts(old: Pact, new: Pact) -> PactDiff:
    """Compare two pacts rule by rule and threshold by threshold."""
    d = PactDiff()
    for name in sorted(set(old.models) | set(new.models)):
        if name not in new.models:
            d.removed.append(f"model {name}")
            continue
        if name not in old.models:
            d.added.append(f"model {name}")
            continue
        _diff_model(name, old.models[name], new.models[name], d)
    d.thresholds += [
        f"definitions.{c}" for c in _changes(old.definitions.model_dump(), new.definitions.model_dump())
    ]
    d.thresholds += [f"recycle.{c}" for c in _changes(old.recycle.model_dump(), new.recycle.model_dump())]
    d.changed += [f"teams.{c}" for c in _changes(old.teams, new.teams)]  # type: ignore[arg-type]
    return d


def _as_written(rule: dict[str, Any]) -> dict[str, Any]:
    """A rule's dump with its conditions under `all` or `any`, as the YAML says them."""
    if "conditions" in rule:
        rule[rule.pop("combine")] = [
            {k: v for k, v in c.items() if v is not None} for c in rule.pop("conditions")
        ]
    return rule


def _diff_model(name: str, old: ScoreModel, new: ScoreModel, d: PactDiff) -> None:
    for section in ("fit", "engagement"):
        o = {r.id: _as_written(r.model_dump()) for r in getattr(old, section).rules}
        n = {r.id: _as_written(r.model_dump()) for r in getattr(new, section).rules}
        for rid in n.keys() - o.keys():
            d.added.append(f"{name}.{section} rule {rid} ({_fmt(n[rid]['points'])} points)")
        for rid in o.keys() - n.keys():
            d.removed.append(f"{name}.{section} rule {rid} ({_fmt(o[rid]['points'])} points)")
        for rid in sorted(o.keys() & n.keys()):
            d.changed += [f"{name}.{section} rule {rid}: {c}" for c in _changes(o[rid], n[rid])]
    before = {
        "grades": old.fit.grades,
        "bands": old.engagement.bands,
        "total": old.total.model_dump(),
        "account": old.account.model_dump(),
        "decay": old.engagement.decay.model_dump(),
        "lookback_days": old.engagement.lookback_days,
    }
    after = {
        "grades": new.fit.grades,
        "bands": new.engagement.bands,
        "total": new.total.model_dump(),
        "account": new.account.model_dump(),
        "decay": new.engagement.decay.model_dump(),
        "lookback_days": new.engagement.lookback_days,
    }
    d.thresholds += [f"{name}.{c}" for c in _changes(before, after)]
    d.added.sort()
    d.removed.sort()
