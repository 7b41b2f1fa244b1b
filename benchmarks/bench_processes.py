"""Whole processes, as a user times them: the CLI's start, `accord attribute` against a Python process
running ChannelAttribution, and `accord score` on a 1M-lead store.

Usage: python benchmarks/bench_processes.py [--leads N] [--journeys N]

Every figure is the median of 3 runs of a new process (wall time, from exec to exit), next to
the target it is held to:
- `accord --help` and `accord score --help`: at most 0.3 s;
- `accord attribute PATHS -m markov` on ChannelAttribution's 1M-journey path file: at most
  0.5x a Python process that reads the same file with pandas and runs ChannelAttribution's
  `markov_model` (its defaults);
- `accord score` on the generated store with 1M leads: at least 5M touchpoints/s. Each run
  scores a fresh copy of the store (the example pact active); the in-process split (imports,
  scoring and history writes, the top-10 explanations) comes from a run with the same code.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

OUT = Path("bench-out/processes")
BIN = Path(sys.executable).parent
ACCORD = str(BIN / "accord")
REPEAT = 3


def wall(cmd: list[str], *, before: object = None, **kw: object) -> float:
    """Median wall time of `cmd` as a new process over REPEAT runs (`before()` runs untimed first)."""
    times = []
    for _ in range(REPEAT):
        if callable(before):
            before()
        t = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True, check=False, **kw)  # noqa: S603 - our commands
        times.append(time.perf_counter() - t)
        if out.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stderr[-2000:]}")
    return statistics.median(times)


def startup() -> list[tuple[str, float, str]]:
    rows = []
    for args in (["--help"], ["score", "--help"], ["attribute", "--help"], ["pact", "status", "--help"]):
        s = wall([ACCORD, *args])
        rows.append((f"accord {' '.join(args)}", s, f"{s / 0.3:.2f}x of the 0.3 s target"))
    return rows


CA_SCRIPT = """
import sys, pandas as pd, ChannelAttribution as ca
paths = pd.read_parquet(sys.argv[1])
ca.markov_model(paths, "path", "total_conversions", var_value="total_conversion_value",
                var_null="total_null", verbose=False)
"""


def attribution(n: int) -> list[tuple[str, float, str]]:
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_attribution import make_journeys

    _, paths = make_journeys(n)
    path_file = OUT / "paths.parquet"
    paths.to_parquet(path_file, index=False)
    accord = wall(
        [ACCORD, "attribute", str(path_file), "-m", "markov", "--output", "csv", "--to", str(OUT / "m.csv")]
    )
    rows = [(f"accord attribute PATHS -m markov ({n:,} journeys)", accord, "")]
    try:
        import ChannelAttribution  # noqa: F401
    except ImportError:
        rows.append(("ChannelAttribution: not installed (make install)", float("nan"), ""))
        return rows
    ca = wall([sys.executable, "-c", CA_SCRIPT, str(path_file)])
    rows.append(("python + pandas + ChannelAttribution markov_model", ca, ""))
    rows[0] = (rows[0][0], accord, f"{accord / ca:.2f}x ChannelAttribution's process (target <= 0.5x)")
    return rows


def prepare_store(leads: int) -> tuple[Path, datetime, int]:
    from accord.demo import sign_demo_pact
    from accord.store import connect, load_folder
    from accord.synth import generate, write_generated

    folder = OUT / f"store-{leads}"
    store_file = folder / "accord.duckdb"
    meta = folder / "meta.json"
    if meta.exists():
        m = json.loads(meta.read_text())
        return store_file, datetime.fromisoformat(m["as_of"]), int(m["touchpoints"])
    shutil.rmtree(folder, ignore_errors=True)
    gen = generate(leads=leads, seed=5)
    write_generated(gen, folder / "data")
    del gen
    with connect(f"duckdb://{store_file}") as store:
        load_folder(store, folder / "data")
        sign_demo_pact(store)
        tp = store.table("touchpoints")
        n = int(tp.count().execute())
        last = tp.occurred_at.max().execute()
    shutil.rmtree(folder / "data")
    as_of = datetime.combine(last.date(), datetime.min.time())
    meta.write_text(json.dumps({"as_of": as_of.isoformat(), "touchpoints": n}))
    return store_file, as_of, n


SPLIT_SCRIPT = """
import sys, time, json
from datetime import datetime
t0 = time.perf_counter()
from accord.store import connect
from accord.workflows.pacts import choose_pact
from accord.scoring.run import run_scoring
from accord.scoring.report import top_mqls
t1 = time.perf_counter()
with connect(sys.argv[1]) as store:
    chosen = choose_pact(store, None)
    t2 = time.perf_counter()
    run_scoring(store, chosen.pact, datetime.fromisoformat(sys.argv[2]))
    t3 = time.perf_counter()
    top_mqls(store, chosen.pact, datetime.fromisoformat(sys.argv[2]), n=10)
    t4 = time.perf_counter()
parts = {"imports": t1 - t0, "pact": t2 - t1, "scoring and writes": t3 - t2, "top-10 explanations": t4 - t3}
print(json.dumps(parts))
"""


def scoring(leads: int) -> list[tuple[str, float, str]]:
    store_file, as_of, n = prepare_store(leads)
    copy = store_file.with_name("run.duckdb")

    def fresh() -> None:
        shutil.copyfile(store_file, copy)
        copy.with_name("run.duckdb.wal").unlink(missing_ok=True)

    url = f"duckdb://{copy}"
    s = wall([ACCORD, "score", "--as-of", as_of.isoformat(), "--url", url], before=fresh)
    rows = [
        (
            f"accord score ({leads:,} leads, {n:,} touchpoints)",
            s,
            f"{n / s / 1e6:.2f}M touchpoints/s ({n / s / 5e6:.2f}x the 5M/s target)",
        )
    ]
    fresh()
    out = subprocess.run(  # noqa: S603 - our own script
        [sys.executable, "-c", SPLIT_SCRIPT, url, as_of.isoformat()],
        capture_output=True,
        text=True,
        check=True,
    )
    for part, seconds in json.loads(out.stdout.strip().splitlines()[-1]).items():
        rows.append((f"  of which {part} (in process)", seconds, ""))
    copy.unlink(missing_ok=True)
    return rows


def main() -> None:
    leads = int(sys.argv[sys.argv.index("--leads") + 1]) if "--leads" in sys.argv else 1_000_000
    journeys = int(sys.argv[sys.argv.index("--journeys") + 1]) if "--journeys" in sys.argv else 1_000_000
    OUT.mkdir(parents=True, exist_ok=True)
    rows = startup() + attribution(journeys) + scoring(leads)
    print(f"\n{'whole process (median of 3)':<62}{'seconds':>9}  against")
    for label, seconds, note in rows:
        print(f"{label:<62}{seconds:>9.2f}  {note}")
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_scoring import CHECK_USUAL, machine_check

    check = machine_check()["seconds"]
    usual = f"{check / CHECK_USUAL:.2f}x its usual {CHECK_USUAL} s"
    print(f"machine check: {check:.3f} s, {usual} (above 1: a slow spell)")


if __name__ == "__main__":
    main()
