"""Rules that can never fire on a store's data.

A property key no lead carries, a field with no value, a touch type the store never saw.
"""

from __future__ import annotations

from dataclasses import dataclass

from accord.model.fields import property_expr
from accord.pact.schema import Pact
from accord.store.connection import Store


@dataclass(frozen=True)
class SilentRule:
    """A rule that fires for no lead, and why."""

    rule_id: str
    why: str


def silent_rules(store: Store, pact: Pact, model: str = "default") -> list[SilentRule]:
    """The rules of a model that no row of the store can satisfy, each with the reason.

    A store with no leads yet has nothing to judge by, and gets no warning.
    """
    m = pact.model(model)
    out: list[SilentRule] = []
    found: dict[str, dict[str, int]] = {}
    for scope, name in (("lead", "leads"), ("account", "accounts")):
        t = store.table(name)
        rules = [r for r in m.fit.rules if r.scope == scope]
        counts = {
            r.id: (property_expr(t.properties, r.property_key) if r.property_key else t[r.column])
            .notnull()
            .sum()
            for r in rules
        }
        found[scope] = t.aggregate(_rows=t.count(), **counts).to_pyarrow().to_pylist()[0]
    if not found["lead"]["_rows"]:
        return out
    for r in m.fit.rules:
        if not found[r.scope][r.id]:
            what = f"property {r.property_key!r}" if r.property_key else f"{r.field}"
            hint = " (a misspelt key?)" if r.property_key else ""
            out.append(SilentRule(r.id, f"no {r.scope} in the store has a value for {what}{hint}"))
    if m.engagement.rules:
        tp = store.table("touchpoints")
        kinds = ("touch_type", "channel", "team")
        combos = tp.select(*kinds).distinct().to_pyarrow().to_pylist()
        seen = {c: {row[c] for row in combos} for c in kinds}
        for er in m.engagement.rules if combos else []:
            for col in kinds:
                wanted = getattr(er, col) or []
                if wanted and not set(wanted) & seen[col]:
                    out.append(
                        SilentRule(er.id, f"no touch in the store has {col} {' or '.join(map(repr, wanted))}")
                    )
                    break
    return out
