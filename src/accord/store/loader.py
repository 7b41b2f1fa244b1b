"""Load a file into a canonical table: map, convert, check, keep rejects, upsert by key.

Every row either loads or lands in the rejects file with its location, the
column and the reason. Nothing is dropped silently, and loading the same file
again changes nothing.
"""

from __future__ import annotations

import csv
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from accord.errors import BadFileError
from accord.model.tables import TABLES, table_spec
from accord.store.connection import Store
from accord.store.files import ROW, SourceFile, detect_format, read_source
from accord.store.mapping import Mapping, load_mapping
from accord.store.plan import Plan, drop_scratch
from accord.store.sql import ident
from accord.store.writer import WriteResult

LOADS_TABLE = "accord_loads"
"""Audit table: one row per load, with its counts and rejects file."""


@dataclass
class LoadResult:
    """What a load did, for the CLI to print and tests to check."""

    table: str
    path: Path
    rows_read: int
    write: WriteResult
    rejected: int
    rejects_path: Path | None
    reasons: Counter[str] = field(default_factory=Counter)
    created_parents: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    warnings: Counter[str] = field(default_factory=Counter)
    """Rows that loaded with a repair, by what was repaired."""
    encoding: str = "utf-8"
    """The text encoding the file was read with."""

    @property
    def loaded(self) -> int:
        """Rows that passed every check (inserted, updated or already there)."""
        return self.write.total


def load_file(
    store: Store,
    table: str,
    path: str | Path,
    mapping: Mapping | str | Path | None = None,
    *,
    rejects_path: str | Path | None = None,
) -> LoadResult:
    """Load `path` into canonical `table` through `mapping` (a Mapping, YAML path or preset name)."""
    started = time.perf_counter()
    spec = table_spec(table)
    if not isinstance(mapping, Mapping):
        mapping = load_mapping(mapping, table=table)
    else:
        mapping.check_against(table)
    path = Path(path)
    fmt = detect_format(path, mapping.format)
    # On a DuckDB store the file is parsed in the store's own connection (temp
    # tables), so valid rows move by one INSERT; other engines get Arrow batches.
    shared = store.engine == "duckdb"
    local = store.con.con if shared else duckdb.connect()
    try:
        local.execute("SET TimeZone = 'UTC'")
        src = read_source(local, path, fmt, mapping.csv)
        if src.rows == 0:
            raise BadFileError(f"{path} has a header but no data rows")
        plan = Plan(spec, mapping, src, local, shared=shared)
        plan.convert()
        created = plan.resolve_references(store)
        plan.check_rows()
        rejects, reasons = plan.rejects()
        out = _write_rejects(path, rejects_path, src, rejects, local)
        write = plan.write(store)
    finally:
        drop_scratch(local)
        if not shared:
            local.close()
    result = LoadResult(
        table=table,
        path=path,
        rows_read=src.rows + len(src.bad_lines),
        write=write,
        rejected=len(rejects) + len(src.bad_lines),
        rejects_path=out,
        reasons=reasons,
        created_parents=created,
        seconds=time.perf_counter() - started,
        warnings=plan.warnings,
        encoding=src.encoding,
    )
    _log_load(store, result)
    return result


# ----------------------------------------------------------------------- outputs
def _write_rejects(
    path: Path,
    requested: str | Path | None,
    src: SourceFile,
    rejects: list[tuple[int, str, str]],
    con: duckdb.DuckDBPyConnection,
) -> Path | None:
    default = path.with_name(path.name.split(".")[0] + ".rejects.csv")
    out = Path(requested) if requested else default
    if not rejects and not src.bad_lines:
        if requested is None and out.exists():
            out.unlink(missing_ok=True)  # a stale rejects file from an earlier load would mislead
        return None
    if not _writable(out.parent):
        out = Path.cwd() / out.name
    raw: dict[int, tuple[Any, ...]] = {}
    if rejects:
        con.execute(f"CREATE OR REPLACE TEMP TABLE rej_rows AS SELECT DISTINCT {ROW} FROM rej")
        cols = ", ".join(f"CAST({ident(c)} AS VARCHAR)" for c in src.columns)
        for rec in con.execute(
            f"SELECT {ROW}, {cols} FROM src WHERE {ROW} IN (SELECT {ROW} FROM rej_rows)"
        ).fetchall():
            raw[int(rec[0])] = rec[1:]
    with out.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["location", "column", "reason", *src.columns])
        for line, text, why in src.bad_lines:
            w.writerow([f"line {line}", "", f"unparsable line: {why}", text])
        for row, col, why in rejects:
            w.writerow([src.location(row), col, why, *raw.get(row, ())])
    return out


def _writable(folder: Path) -> bool:
    import os

    return folder.exists() and os.access(folder, os.W_OK)


_LOADS_SCHEMA = pa.schema(
    [
        ("load_id", pa.string()),
        ("loaded_at", pa.timestamp("us")),
        ("table_name", pa.string()),
        ("file", pa.string()),
        ("rows_read", pa.int64()),
        ("inserted", pa.int64()),
        ("updated", pa.int64()),
        ("unchanged", pa.int64()),
        ("rejected", pa.int64()),
        ("rejects_file", pa.string()),
        ("seconds", pa.float64()),
    ]
)


def _log_load(store: Store, r: LoadResult) -> None:
    row = pa.table(
        {
            "load_id": [uuid.uuid4().hex],
            "loaded_at": pa.array([datetime.now(UTC).replace(tzinfo=None)], pa.timestamp("us")),
            "table_name": [r.table],
            "file": [str(r.path.resolve())],
            "rows_read": [r.rows_read],
            "inserted": [r.write.inserted],
            "updated": [r.write.updated],
            "unchanged": [r.write.unchanged],
            "rejected": [r.rejected + 0],
            "rejects_file": [str(r.rejects_path) if r.rejects_path else None],
            "seconds": [r.seconds],
        },
        schema=_LOADS_SCHEMA,
    )
    store.write_arrow(LOADS_TABLE, row, append=True)


def load_folder(
    store: Store,
    folder: str | Path,
    *,
    on_table: Callable[[str, LoadResult], None] | None = None,
) -> dict[str, LoadResult]:
    """Load every `<table>.parquet|csv|jsonl` in `folder` into its canonical table, parents first."""
    base = Path(folder)
    results: dict[str, LoadResult] = {}
    for name in TABLES:
        for ext in ("parquet", "csv", "jsonl"):
            path = base / f"{name}.{ext}"
            if path.exists():
                results[name] = load_file(store, name, path)
                if on_table is not None:
                    on_table(name, results[name])
                break
    if not results:
        raise BadFileError(
            f"{base} has no table files: expected names like accounts.parquet, leads.csv, touchpoints.jsonl"
        )
    return results
