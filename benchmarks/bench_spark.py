"""Spark on one machine against DuckDB, as whole `accord` processes on the same generated store.

Usage: python benchmarks/bench_spark.py [--leads N] [--memory 8g]   (default 1M leads, ~10M touchpoints)

For each engine, in a fresh store: `accord load all` of the generated folder, the example pact
signed by both teams, `accord score`, `accord explain` of one lead and `accord attribute
--compare` (every model, opportunities per lead). Each figure is one new process, wall time from
exec to exit, JVM start included on Spark (`spark://local[2]`, its catalog kept in the
warehouse). Spark runs twice: each command with its own Spark, then every command in a warm
server (`accord spark start`, whose own start is timed apart). The engines' scores are compared
lead by lead (to 1e-6) so the figures are of the same work.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).parent))
from _processes import accord

OUT = Path("bench-out/spark").resolve()
PACT = Path(__file__).resolve().parents[1] / "examples" / "pact.yaml"


def timed(args: list[str], url: str) -> float:
    t = time.perf_counter()
    accord([*args, "--url", url])
    return time.perf_counter() - t


def run(url: str, data: Path, as_of: str, work: Path) -> dict[str, float]:
    """Every step on one store; seconds per step."""
    out = {"load all": timed(["load", "all", str(data)], url)}
    accord(["pact", "submit", str(PACT), "--by", "bench", "--url", url])
    out["pact approve"] = timed(["pact", "approve", "1", "--team", "marketing", "--by", "bench"], url)
    accord(["pact", "approve", "1", "--team", "sales", "--by", "bench", "--url", url])
    accord(["pact", "activate", "1", "--by", "bench", "--url", url])
    out["score"] = timed(["score", "--as-of", as_of], url)
    lead = pq.read_table(data / "leads.parquet", columns=["id"]).column(0)[0].as_py()
    out["explain"] = timed(["explain", lead, "--as-of", as_of], url)
    credit = ["attribute", "--compare", "--conversion", "opportunity", "--as-of", as_of]
    out["attribute --compare"] = timed([*credit, "--output", "json", "--to", str(work / "credit.json")], url)
    accord(["scores", "export", "--output", str(work / "scores.parquet"), "--url", url])
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--leads", type=int, default=1_000_000)
    ap.add_argument("--memory", default="8g", help="Spark driver memory")
    a = ap.parse_args()
    data = OUT / f"data-{a.leads}"
    if not (data / "touchpoints.parquet").exists():
        t = time.perf_counter()
        accord(["generate", "--leads", str(a.leads), "--seed", "1", "--out", str(data)])
        print(f"generated {a.leads:,} leads in {time.perf_counter() - t:.0f} s")
    touches = pq.read_metadata(data / "touchpoints.parquet").num_rows
    last = pq.read_table(data / "touchpoints.parquet", columns=["occurred_at"]).column(0).to_pandas().max()
    as_of = (datetime.combine(last.date(), datetime.min.time()) + timedelta(days=1)).isoformat()
    results: dict[str, dict[str, float]] = {}

    def folder(engine: str) -> Path:
        return OUT / engine.replace(" ", "-")

    for engine in ("duckdb", "spark", "spark warm"):
        work = folder(engine)
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        url = (
            f"duckdb://{work / 'accord.duckdb'}"
            if engine == "duckdb"
            else f"spark://local[2]?warehouse={work / 'warehouse'}&memory={a.memory}"
        )
        if engine == "spark warm":
            started = timed(["spark", "start"], url)
            try:
                results[engine] = run(url, data, as_of, work)
            finally:
                accord(["spark", "stop", "--url", url])
            print(f"warm server started in {started:.1f} s (once, before its commands)")
        else:
            results[engine] = run(url, data, as_of, work)
    duck = pd.read_parquet(OUT / "duckdb" / "scores.parquet").sort_values("lead_id", ignore_index=True)
    print(f"\n{a.leads:,} leads, {touches:,} touchpoints; 2 cores; every figure one new process")
    head = f"{'step':<22}{'DuckDB s':>10}{'Spark local[2] s':>18}{'ratio':>8}"
    print(f"{head}{'warm server s':>15}{'ratio':>8}")
    for step in results["duckdb"]:
        d, s, w = (results[e][step] for e in ("duckdb", "spark", "spark warm"))
        print(f"{step:<22}{d:>10.1f}{s:>18.1f}{s / d:>7.1f}x{w:>15.1f}{w / d:>7.1f}x")
    for engine in ("spark", "spark warm"):
        spark = pd.read_parquet(folder(engine) / "scores.parquet")
        spark = spark.sort_values("lead_id", ignore_index=True)
        same = duck.lead_id.equals(spark.lead_id) and (duck.score - spark.score).abs().max() <= 1e-6
        print(f"{engine}: scores equal DuckDB's lead by lead (1e-6): {same} ({len(duck):,} leads)")


if __name__ == "__main__":
    main()
