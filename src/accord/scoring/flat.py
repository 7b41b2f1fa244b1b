"""Score a flat file (one row per lead: attributes and activity counts as columns), no store needed.

The file loads through the same loader and mapping as the store (see
`accord.store.flat`), and fit, grades, bands, blending and the MQL line are the
batch scorer's own expressions, so a lead scores alike from a file and from the
store. Each engagement rule reads a count column named like the rule id or one
of its touch types (`webinar`, `web_visit`, also with an `s` or `_count`
suffix) and scores points x min(count, cap): a count has no dates, so nothing
decays. A file says nothing of who shares an account, so accounts are neither
rolled up nor blended into a lead's score.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from accord.model.fields import number_expr, property_expr
from accord.pact.schema import EngagementRule, FlatFile, Pact
from accord.scoring.batch import Inputs, finish_scores, score_accounts, score_people
from accord.scoring.reach import silent_rules
from accord.store.flat import FlatLeads, file_columns, leads_mapping, read_flat_leads
from accord.store.loader import LoadResult
from accord.store.mapping import Mapping

COUNT_PREFIX = "_count:"
"""Properties that carry a flat file's activity counts in its store in memory."""


@dataclass
class FlatScores:
    """Scores of a flat file, what its load rejected, and which rules found no column to read."""

    table: pa.Table
    load: LoadResult
    unresolved: list[str] = field(default_factory=list)
    """Rule ids whose field or count column is not in the file (they never fire)."""

    @property
    def mqls(self) -> int:
        """Leads of the file that meet the MQL definition."""
        return sum(1 for s in self.table["stage"].to_pylist() if s == "mql")


def count_column(rule: EngagementRule, columns: list[str]) -> str | None:
    """The file column that counts a rule's touches, if any."""
    cols = {c.lower(): c for c in columns}
    stems = [rule.id, rule.id.replace("-", "_"), *(rule.touch_type or [])]
    for stem in stems:
        for name in (stem, f"{stem}s", f"{stem}_count"):
            if name.lower() in cols:
                return cols[name.lower()]
    return None


def score_flat(
    pact: Pact,
    path: str | Path,
    mapping: Mapping | str | Path | None = None,
    model_name: str = "default",
    *,
    id_column: str | None = None,
    rejects_path: str | Path | None = None,
) -> FlatScores:
    """Score every row of a flat leads file with a pact's model."""
    model = pact.model(model_name)
    remembered = pact.flat_file or FlatFile()
    m = leads_mapping(mapping or remembered.mapping, id_column, remembered_id=remembered.id)
    path = Path(path)
    columns = file_columns(path, m)
    counts = {r.id: c for r in model.engagement.rules if (c := count_column(r, columns)) is not None}
    account_fields = sorted(
        {c.field.split(".", 1)[1] for r in model.fit.rules for c in r.tests if c.scope == "account"}
    )
    flat = read_flat_leads(
        path,
        m,
        account_fields=account_fields,
        float_properties={f"{COUNT_PREFIX}{rid}": col for rid, col in counts.items()},
        rejects_path=rejects_path,
        columns=columns,
    )
    try:
        return FlatScores(
            _score(pact, model_name, flat, counts), flat.leads, _unresolved(pact, model_name, flat, counts)
        )
    finally:
        flat.close()


def _score(pact: Pact, model_name: str, flat: FlatLeads, counts: dict[str, str]) -> pa.Table:
    model = pact.model(model_name)
    s = flat.store
    inputs = Inputs(s.table("leads"), s.table("accounts"), s.table("touchpoints"), s.table("feedback"))
    leads = inputs.leads
    engagement: ir.FloatingValue = ibis.literal(0.0)
    for rule in model.engagement.rules:
        if rule.id not in counts:
            continue
        n = number_expr(property_expr(leads.properties, f"{COUNT_PREFIX}{rule.id}")).fill_null(0.0)
        if rule.cap is not None:
            n = ibis.least(n, float(rule.cap.max))
        engagement = engagement + n * float(rule.points)
    per_lead = leads.select(lead_id=leads.id, engagement=engagement)
    now = datetime.now(UTC).replace(tzinfo=None)
    people = score_people(pact, inputs, now, model_name, engagement=per_lead)
    # A flat file says nothing of who shares an account: its leads get no account blend.
    alone = score_accounts(people.filter(ibis.literal(False)), model)
    scores, _ = finish_scores(people, pact, model_name, alone)
    out = scores.select(
        "lead_id",
        "score",
        "fit",
        "engagement",
        "grade",
        "band",
        stage=ibis.ifelse(scores.is_mql, "mql", "lead"),
    )
    return out.order_by("lead_id").to_pyarrow()


def _unresolved(pact: Pact, model_name: str, flat: FlatLeads, counts: dict[str, str]) -> list[str]:
    """Rules that read nothing in this file: no column, no property key, no count."""
    model = pact.model(model_name)
    silent = {s.rule_id for s in silent_rules(flat.store, pact, model_name)}
    return [r.id for r in model.fit.rules if r.id in silent] + [
        r.id for r in model.engagement.rules if r.id not in counts
    ]
