"""Score a flat file (one row per lead: attributes and activity counts as columns), no store needed.

Fit rules read the column named like the field (`lead.seniority` -> `seniority`,
`account.employees` -> `employees` or `account_employees`, `lead.properties.budget`
-> `budget`), or the source column a mapping gives for it. Each engagement rule
reads a count column named like the rule id or one of its touch types
(`webinar`, `web_visit`, also with an `s` or `_count` suffix) and scores
points x min(count, cap): a count has no dates, so nothing decays. Accounts are
not rolled up (a flat file has no account membership to roll up).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import ibis
import ibis.expr.types as ir
import pyarrow as pa

from accord.errors import MappingError
from accord.model.fields import number_expr
from accord.pact.operators import OPERATORS
from accord.pact.schema import EngagementRule, FitRule, Pact
from accord.scoring.batch import band_expr, clamp_expr, grade_expr, mql_expr
from accord.store.files import detect_format, read_source
from accord.store.mapping import Mapping, load_mapping


@dataclass
class FlatScores:
    """Scores of a flat file, and which rules found no column to read."""

    table: pa.Table
    unresolved: list[str] = field(default_factory=list)
    """Rule ids whose field or count column is not in the file (they never fire)."""


def _lookup(columns: list[str]) -> dict[str, str]:
    return {c.lower(): c for c in columns}


def _fit_column(rule: FitRule, cols: dict[str, str], mapping: Mapping) -> str | None:
    if rule.property_key is not None:
        src = mapping.properties.get(rule.property_key)
        names = [src.source] if src and src.source else []
        names.append(rule.property_key)
    else:
        src = mapping.columns.get(rule.column) if rule.scope == "lead" else None
        names = [src.source] if src and src.source else []
        names += (
            [rule.column]
            if rule.scope == "lead"
            else [f"account_{rule.column}", f"account.{rule.column}", rule.column]
        )
    return next((cols[n.lower()] for n in names if n and n.lower() in cols), None)


def _count_column(rule: EngagementRule, cols: dict[str, str]) -> str | None:
    stems = [rule.id, rule.id.replace("-", "_"), *(rule.touch_type or [])]
    for stem in stems:
        for name in (stem, f"{stem}s", f"{stem}_count"):
            if name.lower() in cols:
                return cols[name.lower()]
    return None


def score_flat(
    pact: Pact, path: str | Path, mapping: Mapping | str | Path | None = None, model_name: str = "default"
) -> FlatScores:
    """Score every row of a flat leads file with a pact's model."""
    if not isinstance(mapping, Mapping):
        mapping = load_mapping(mapping, table="leads")
    model = pact.model(model_name)
    path = Path(path)
    local = duckdb.connect()
    try:
        src = read_source(local, path, detect_format(path, mapping.format), mapping.csv)
        data = local.execute("SELECT * FROM src").to_arrow_table()
    finally:
        local.close()
    cols = _lookup(src.columns)
    id_src = mapping.columns.get("id")
    id_col = next(
        (
            cols[n.lower()]
            for n in ([id_src.source] if id_src and id_src.source else []) + ["id"]
            if n and n.lower() in cols
        ),
        None,
    )
    if id_col is None:
        raise MappingError(
            f"{path}: no lead id column; name one with `columns: {{id: ...}}` in the mapping "
            f"(file columns: {', '.join(src.columns[:40])})"
        )
    con = ibis.duckdb.connect()
    t = con.create_table("flat", data)
    unresolved: list[str] = []
    fit: ir.FloatingValue = ibis.literal(0.0)
    for rule in model.fit.rules:
        col = _fit_column(rule, cols, mapping)
        if col is None:
            unresolved.append(rule.id)
            continue
        hit = OPERATORS[rule.op](rule.operand).expr(t[col])
        fit = fit + ibis.ifelse(hit, float(rule.points), 0.0)
    engagement: ir.FloatingValue = ibis.literal(0.0)
    for er in model.engagement.rules:
        col = _count_column(er, cols)
        if col is None:
            unresolved.append(er.id)
            continue
        count = number_expr(t[col]).fill_null(0.0)
        if er.cap is not None:
            count = ibis.least(count, float(er.cap.max))
        engagement = engagement + count * float(er.points)
    out = t.select(
        lead_id=t[id_col].cast("string"),
        score=clamp_expr(fit + engagement, model),
        fit=fit,
        engagement=engagement,
        grade=grade_expr(fit, model),
        band=band_expr(engagement, model),
    )
    out = out.mutate(stage=ibis.ifelse(mql_expr(pact, out.score, out.grade), "mql", "lead"))
    return FlatScores(out.to_pyarrow(), unresolved)
