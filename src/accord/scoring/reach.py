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
    """The rules of a model that no row of the store can satisfy, each with the reason."""
    m = pact.model(model)
    out: list[SilentRule] = []
    tables = {"lead": store.table("leads"), "account": store.table("accounts")}
    for scope, t in tables.items():
        rules = [r for r in m.fit.rules if r.scope == scope]
        if not rules:
            continue
        counts = {
            r.id: (property_expr(t.properties, r.property_key) if r.property_key else t[r.column])
            .notnull()
            .sum()
            for r in rules
        }
        row = t.aggregate(_rows=t.count(), **counts).to_pyarrow().to_pylist()[0]
        if not row["_rows"]:
            continue
        for r in rules:
            if not row[r.id]:
                what = f"property {r.property_key!r}" if r.property_key else f"{r.field}"
                hint = " (a misspelt key?)" if r.property_key else ""
                out.append(SilentRule(r.id, f"no {scope} in the store has a value for {what}{hint}"))
    tp = store.table("touchpoints")
    if m.engagement.rules and int(tp.count().execute()):
        seen = {
            c: set(tp.select(v=tp[c]).distinct().v.to_pyarrow().to_pylist())
            for c in ("touch_type", "channel", "team")
        }
        for er in m.engagement.rules:
            for col in ("touch_type", "channel", "team"):
                wanted = getattr(er, col) or []
                if wanted and not set(wanted) & seen[col]:
                    out.append(
                        SilentRule(er.id, f"no touch in the store has {col} {' or '.join(map(repr, wanted))}")
                    )
                    break
    return out
