"""Rules that can never fire on a store's data.

A property key no lead carries, a field with no value, a touch type the store never saw.
"""

from __future__ import annotations

from dataclasses import dataclass

from accord.model.fields import property_expr
from accord.pact.schema import Condition, Pact
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
    tests = [(f"{r.id}__{j}", r, c) for r in m.fit.rules for j, c in enumerate(r.tests)]
    for scope, name in (("lead", "leads"), ("account", "accounts")):
        t = store.table(name)
        counts = {
            key: (property_expr(t.properties, c.property_key) if c.property_key else t[c.column])
            .notnull()
            .sum()
            for key, _, c in tests
            if c.scope == scope
        }
        found[scope] = t.aggregate(_rows=t.count(), **counts).to_pyarrow().to_pylist()[0]
    if not found["lead"]["_rows"]:
        return out
    empty: dict[str, list[Condition]] = {}
    for key, r, c in tests:
        if not found[c.scope][key]:
            empty.setdefault(r.id, []).append(c)
    for r in m.fit.rules:
        # An `all:` rule needs every field, an `any:` rule one of them.
        silent = empty.get(r.id, [])
        if not silent or (r.combine == "any" and len(silent) < len(r.tests)):
            continue
        c = silent[0]
        what = f"property {c.property_key!r}" if c.property_key else f"{c.field}"
        hint = " (a misspelt key?)" if c.property_key else ""
        out.append(SilentRule(r.id, f"no {c.scope} in the store has a value for {what}{hint}"))
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
