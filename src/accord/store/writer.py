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


def _stage_name(spec: TableSpec) -> str:
    return f"_accord_stage_{spec.name}"


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
    stage = _stage_name(spec)
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
    stage = _stage_name(spec)
    store.scratch(stage, store.con.sql(select))
    return merge_stage(store, spec, stage, rows)


def upsert_expr(
    store: Store, spec: TableSpec, expr: ibis.Table, *, float_tolerance: float = 0.0
) -> WriteResult:
    """As :func:`upsert`, for rows given by an Ibis expression on the store (computed in the engine).

    With `float_tolerance`, float values that differ by no more than it count as unchanged (for
    computed scores, whose parallel sums may differ in the last bits from run to run).
    """
    stage = _stage_name(spec)
    n = int(store.scratch(stage, expr.select(*spec.column_names)).count().execute())
    if n == 0:
        store.drop_table(stage)
        return WriteResult(0, 0, 0)
    store.ensure_table(spec)
    return merge_stage(store, spec, stage, n, float_tolerance=float_tolerance)


def _same(
    spec: TableSpec, a: ibis.ir.Value, b: ibis.ir.Value, column: str, tolerance: float
) -> ibis.ir.BooleanValue:
    if tolerance > 0 and spec.column(column).type == "float":
        return ((a - b).abs() <= tolerance).fill_null(False) | a.identical_to(b)
    return a.identical_to(b)


def _match(
    store: Store, spec: TableSpec, s: ibis.Table, float_tolerance: float
) -> tuple[ibis.Table, list[ibis.ir.BooleanValue], ibis.Table, ibis.ir.BooleanValue]:
    """The stored table, the key condition, the rows of `s` joined to theirs, and whether each is the same."""
    t = store.table(spec.name).select(**{f"__t_{c}": c for c in spec.column_names})
    on = [
        s[k] == t[f"__t_{k}"] if spec.column(k).required else s[k].identical_to(t[f"__t_{k}"])
        for k in spec.key
    ]
    joined = s.inner_join(t, on)
    rest = [c for c in spec.column_names if c not in spec.key and c not in spec.audit]
    same_row = ibis.and_(*[_same(spec, joined[c], joined[f"__t_{c}"], c, float_tolerance) for c in rest])
    return t, on, joined, same_row


def _count(joined: ibis.Table, same_row: ibis.ir.BooleanValue) -> tuple[int, int]:
    (counts,) = (
        joined.aggregate(matched=joined.count(), same=same_row.ifelse(1, 0).sum().fill_null(0))
        .to_pyarrow()
        .to_pylist()
    )
    return int(counts["matched"]), int(counts["same"] or 0)


def would_upsert(
    store: Store, spec: TableSpec, rows: ibis.Table, *, float_tolerance: float = 0.0
) -> WriteResult:
    """What :func:`upsert_expr` of `rows` would do, counted the same way, writing nothing."""
    store.ensure_table(spec)
    s = rows.select(*spec.column_names)
    _, _, joined, same_row = _match(store, spec, s, float_tolerance)
    matched, same = _count(joined, same_row)
    n = int(s.count().execute())
    return WriteResult(n - matched, matched - same, same)


def merge_stage(
    store: Store, spec: TableSpec, stage: str, n: int, *, float_tolerance: float = 0.0
) -> WriteResult:
    """Merge the `n` rows of table `stage` into `spec`'s table by key, then drop `stage`.

    The stage is joined to the table on the key alone (a hash join on every engine);
    whether a matched row changed is decided per row after the join.
    """
    try:
        s = store.con.table(stage)
        t, on, joined, same_row = _match(store, spec, s, float_tolerance)
        matched, same = _count(joined, same_row)
        if matched == 0:
            store.con.insert(spec.name, s)
            return WriteResult(n, 0, 0)
        if same < matched:
            # Rewrite only the rows that changed (and add the new ones); unchanged rows stay as stored.
            changed = f"{stage}_changed"
            rows = ibis.union(
                joined.filter(~same_row).select(*spec.column_names), s.anti_join(t, on), distinct=False
            )
            changed_rows = store.scratch(changed, rows)
            try:
                store.delete_keys(spec.name, changed, spec.key)
                store.con.insert(spec.name, changed_rows)
            finally:
                store.drop_table(changed)
        elif matched < n:
            store.con.insert(spec.name, s.anti_join(t, on))
        return WriteResult(n - matched, matched - same, same)
    finally:
        store.drop_table(stage)
