"""Generator and load throughput for about 10M touchpoints, against reference paths.

Prints rows/s for: generating, writing Parquet, loading touchpoints through
`accord load` (map, convert, check, reject, upsert) into DuckDB, and, as the
reference in the same process on the same file, DuckDB's own bare
`CREATE TABLE AS SELECT * FROM read_parquet(...)` (no checks at all).
Also PostgreSQL: Accord's COPY path against Ibis' `create_table` from Arrow,
on 1M rows. Usage: python benchmarks/bench_generate_load.py [LEADS]
"""

from __future__ import annotations

import resource
import shutil
import sys
import time
import uuid
from pathlib import Path

import duckdb
import ibis
import pyarrow.parquet as pq

from accord.store import connect, load_file
from accord.synth import generate, write_generated

OUT = Path("bench-out")
PG = "postgresql://postgres@127.0.0.1:5432/test"


def timed(label: str, fn):  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - t


def main() -> None:
    leads = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir()
    rows = []
    gen, s_gen = timed("generate", lambda: generate(leads=leads, seed=1))
    n_tp = gen.tables["touchpoints"].num_rows
    rows.append(("generate (all tables, in memory)", n_tp, s_gen))
    t = time.perf_counter()
    write_generated(gen, OUT / "data")
    rows.append(("write Parquet (all tables)", n_tp, time.perf_counter() - t))
    del gen

    store = connect(f"duckdb://{OUT / 'accord.duckdb'}")
    for parent in ("accounts", "leads"):
        load_file(store, parent, OUT / "data" / f"{parent}.parquet")
    r, s_load = timed("load", lambda: load_file(store, "touchpoints", OUT / "data" / "touchpoints.parquet"))
    if r.loaded != n_tp:
        raise SystemExit(f"loaded {r.loaded} of {n_tp} touchpoints: {r.reasons}")
    rows.append(("accord load touchpoints -> DuckDB", n_tp, s_load))
    r2, s_reload = timed(
        "reload", lambda: load_file(store, "touchpoints", OUT / "data" / "touchpoints.parquet")
    )
    if r2.write.unchanged != n_tp:
        raise SystemExit(f"reload was not a no-op: {r2.write}")
    rows.append(("accord load again (all unchanged)", n_tp, s_reload))
    store.close()

    ref = duckdb.connect(str(OUT / "ref.duckdb"))
    path = OUT / "data" / "touchpoints.parquet"
    _, s_ref = timed("ref", lambda: ref.execute(f"CREATE TABLE t AS SELECT * FROM read_parquet('{path}')"))
    rows.append(("reference: bare DuckDB CTAS, no checks", n_tp, s_ref))
    ref.close()

    pg_rows = _postgres(path)

    print(f"\n{'step':<44}{'rows':>12}{'seconds':>10}{'rows/s':>14}")
    for label, n, s in rows + pg_rows:
        print(f"{label:<44}{n:>12,}{s:>10.2f}{n / s:>14,.0f}")
    print(f"\naccord load vs bare DuckDB read: {s_load / s_ref:.1f}x the time (map, checks, rejects, upsert)")
    if len(pg_rows) == 2:
        print(f"PostgreSQL COPY vs ibis create_table: {pg_rows[1][2] / pg_rows[0][2]:.1f}x faster")
    print(f"peak memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6:.2f} GB")


def _postgres(path: Path) -> list[tuple[str, int, float]]:
    try:
        store = connect(f"{PG}?schema=bench_{uuid.uuid4().hex[:8]}")
    except Exception as exc:
        print(f"PostgreSQL skipped: {exc}")
        return []
    data = pq.read_table(path).slice(0, 1_000_000)
    data = data.cast(
        __import__("accord.model", fromlist=["TABLES"]).TABLES["touchpoints"].schema.to_pyarrow()
    )
    try:
        _, s_copy = timed("copy", lambda: store.write_arrow("tp_copy", data))
        _, s_ibis = timed("ibis", lambda: store.con.create_table("tp_ibis", ibis.memtable(data)))
    finally:
        store.con.raw_sql(f'DROP SCHEMA "{store.parsed.schema}" CASCADE')
        store.close()
    return [
        ("PostgreSQL: Accord COPY path", data.num_rows, s_copy),
        ("PostgreSQL: reference ibis create_table", data.num_rows, s_ibis),
    ]


if __name__ == "__main__":
    main()
