"""Idempotent writes: rows replace stored rows with the same key, never duplicate them."""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import pyarrow as pa

from accord.model.tables import TableSpec
from accord.store.connection import Store
from accord.store.sql import ident


@dataclass(frozen=True)
class WriteResult:
    """What an upsert did."""

    inserted: int
    updated: int
    unchanged: int

    @property
    def total(self) -> int:
        """Rows written or confirmed: inserted + updated + unchanged."""
        return self.inserted + self.updated + self.unchanged


def _key_predicates(spec: TableSpec, s: ibis.Table, t: ibis.Table) -> list[ibis.expr.types.BooleanValue]:
    preds = []
    for k in spec.key:
        # Nullable key parts (spend.campaign) match null to null.
        preds.append(s[k] == t[k] if spec.column(k).required else s[k].identical_to(t[k]))
    return preds


def _target_is_empty(store: Store, spec: TableSpec) -> bool:
    store.ensure_table(spec)
    return int(store.table(spec.name).count().execute()) == 0


def upsert(
    store: Store, spec: TableSpec, data: pa.Table | pa.RecordBatchReader, rows: int | None = None
) -> WriteResult:
    """Write `data` (already valid, one row per key; `rows` of them) into `spec`'s table by key.

    New keys are inserted; keys already stored with identical values are left
    alone; keys stored with different values are replaced. Writing the same
    rows twice therefore changes nothing.
    """
    n = data.num_rows if isinstance(data, pa.Table) else int(rows or 0)
    if n == 0:
        return WriteResult(0, 0, 0)
    if _target_is_empty(store, spec):
        store.write_arrow(spec.name, data, schema=spec.schema, append=True)
        return WriteResult(n, 0, 0)
    stage = f"_accord_stage_{spec.name}"
    store.write_arrow(stage, data, schema=spec.schema)
    return merge_stage(store, spec, stage, n)


def upsert_sql(store: Store, spec: TableSpec, select: str, rows: int) -> WriteResult:
    """As :func:`upsert`, for rows given by a SELECT that the store's own DuckDB can run."""
    if rows == 0:
        return WriteResult(0, 0, 0)
    con = store.con.con
    if _target_is_empty(store, spec):
        con.execute(f"INSERT INTO {ident(spec.name)} {select}")
        return WriteResult(rows, 0, 0)
    stage = f"_accord_stage_{spec.name}"
    con.execute(f"CREATE OR REPLACE TABLE {ident(stage)} AS {select}")
    return merge_stage(store, spec, stage, rows)


def upsert_expr(store: Store, spec: TableSpec, expr: ibis.Table) -> WriteResult:
    """As :func:`upsert`, for rows given by an Ibis expression on the store (computed in the engine)."""
    stage = f"_accord_stage_{spec.name}"
    store.con.create_table(stage, expr.select(*spec.column_names), overwrite=True)
    n = int(store.con.table(stage).count().execute())
    if n == 0:
        store.drop_table(stage)
        return WriteResult(0, 0, 0)
    store.ensure_table(spec)
    return merge_stage(store, spec, stage, n)


def merge_stage(store: Store, spec: TableSpec, stage: str, n: int) -> WriteResult:
    """Merge the `n` rows of table `stage` into `spec`'s table by key, then drop `stage`."""
    try:
        s, t = store.con.table(stage), store.table(spec.name)
        key = _key_predicates(spec, s, t)
        matched = int(s.semi_join(t, key).count().execute())
        if matched == 0:
            store.con.insert(spec.name, s)
            return WriteResult(n, 0, 0)
        rest = [c for c in spec.column_names if c not in spec.key]
        same = int(s.semi_join(t, key + [s[c].identical_to(t[c]) for c in rest]).count().execute())
        if same < matched:
            store.delete_keys(spec.name, stage, spec.key)
            store.con.insert(spec.name, store.con.table(stage))
        elif matched < n:
            t = store.table(spec.name)
            store.con.insert(spec.name, s.anti_join(t, _key_predicates(spec, s, t)))
        return WriteResult(n - matched, matched - same, same)
    finally:
        store.drop_table(stage)
