"""Generator and load throughput for about 10M touchpoints, against reference paths.

Each step runs in its own process, so its peak memory is its own. Printed:
generating the funnel; writing Parquet; `accord load` of the touchpoints into
DuckDB (map, convert, check, reject, upsert) and the same again (all rows
unchanged), against the reference on the same file: DuckDB's own bare
`CREATE TABLE AS SELECT * FROM read_parquet(...)` with no checks at all.
PostgreSQL: Accord's COPY path against Ibis' `create_table`, on 1M rows.

Usage: python benchmarks/bench_generate_load.py [LEADS]   (default 1,000,000 ~ 10.3M touchpoints)
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

OUT = Path("bench-out")
PG = "postgresql://postgres@127.0.0.1:5432/test"


def step(name: str, leads: int) -> dict[str, float]:
    """Run one step in this process; return rows, seconds and peak memory."""
    import duckdb
    import ibis
    import pyarrow.parquet as pq

    from accord.model import TABLES
    from accord.store import connect, load_file
    from accord.synth import generate, write_generated

    tp_path = OUT / "data" / "touchpoints.parquet"
    t = time.perf_counter()
    if name == "generate":
        gen = generate(leads=leads, seed=1)
        rows = gen.tables["touchpoints"].num_rows
        seconds = time.perf_counter() - t
        write_generated(gen, OUT / "data")
        rows_write, seconds_write = rows, time.perf_counter() - t - seconds
        return {"rows": rows, "seconds": seconds, "write_rows": rows_write, "write_seconds": seconds_write}
    if name in {"load", "reload"}:
        store = connect(f"duckdb://{OUT / 'accord.duckdb'}")
        if name == "load":
            for parent in ("accounts", "leads"):
                load_file(store, parent, OUT / "data" / f"{parent}.parquet")
            t = time.perf_counter()
        r = load_file(store, "touchpoints", tp_path)
        seconds = time.perf_counter() - t
        expected = r.write.inserted if name == "load" else r.write.unchanged
        if r.rejected or expected != r.rows_read:
            raise SystemExit(f"{name}: unexpected result {r.write} rejected={r.rejected}")
        return {"rows": r.rows_read, "seconds": seconds}
    if name == "reference":
        con = duckdb.connect(str(OUT / f"ref-{uuid.uuid4().hex[:6]}.duckdb"))
        con.execute(f"CREATE TABLE t AS SELECT * FROM read_parquet('{tp_path}')")
        (rows,) = con.execute("SELECT count(*) FROM t").fetchone() or (0,)
        return {"rows": rows, "seconds": time.perf_counter() - t}
    if name in {"pg_copy", "pg_ibis"}:
        data = pq.read_table(tp_path).slice(0, 1_000_000).cast(TABLES["touchpoints"].schema.to_pyarrow())
        store = connect(f"{PG}?schema=bench_{uuid.uuid4().hex[:8]}")
        try:
            t = time.perf_counter()
            if name == "pg_copy":
                store.write_arrow("tp", data)
            else:
                store.con.create_table("tp", ibis.memtable(data))
            return {"rows": data.num_rows, "seconds": time.perf_counter() - t}
        finally:
            store.con.raw_sql(f'DROP SCHEMA "{store.parsed.schema}" CASCADE')
            store.close()
    raise SystemExit(f"unknown step {name}")


def run(name: str, leads: int) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--step", name, str(leads)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)  # noqa: S603 - our own script
    if out.returncode != 0:
        print(f"{name} failed:\n{out.stderr[-2000:]}")
        return {}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    leads = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir()
    results = {
        name: run(name, leads) for name in ("generate", "load", "reload", "reference", "pg_copy", "pg_ibis")
    }
    g = results["generate"]
    lines = [
        (
            "generate (all seven tables, in memory)",
            g.get("rows", 0),
            g.get("seconds", 0),
            g.get("peak_gb", 0),
        ),
        (
            "write Parquet (all tables)",
            g.get("write_rows", 0),
            g.get("write_seconds", 0),
            g.get("peak_gb", 0),
        ),
    ]
    labels = {
        "load": "accord load touchpoints -> DuckDB",
        "reload": "accord load again (all unchanged)",
        "reference": "reference: bare DuckDB CTAS, no checks",
        "pg_copy": "PostgreSQL: Accord COPY path",
        "pg_ibis": "PostgreSQL: reference ibis create_table",
    }
    for key, label in labels.items():
        r = results[key]
        if r:
            lines.append((label, r["rows"], r["seconds"], r["peak_gb"]))
    print(f"\n{'step (each in its own process)':<42}{'rows':>12}{'seconds':>9}{'rows/s':>13}{'peak GB':>9}")
    for label, n, s, gb in lines:
        print(f"{label:<42}{int(n):>12,}{s:>9.2f}{n / s if s else 0:>13,.0f}{gb:>9.2f}")
    if results["load"] and results["reference"]:
        ratio = results["load"]["seconds"] / results["reference"]["seconds"]
        print(f"\naccord load / bare DuckDB read: {ratio:.1f}x the time (mapping, checks, rejects, upsert)")
    if results["pg_copy"] and results["pg_ibis"]:
        speedup = results["pg_ibis"]["seconds"] / results["pg_copy"]["seconds"]
        print(f"PostgreSQL COPY vs ibis create_table: {speedup:.1f}x faster")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--step":
        result = step(sys.argv[2], int(sys.argv[3]))
        result["peak_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
        print(json.dumps(result))
    else:
        main()
