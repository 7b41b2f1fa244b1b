"""`accord report` as a user times it: a whole process on the demo store, against the 30 s and 5 MB targets.

Usage: python benchmarks/bench_report.py [--leads 100000] [--runs 2]

Builds the demo store once (`accord demo --leads N`, kept in bench-out/report/), then runs
`accord report` on it as new processes: with the demo's learned pact as the draft (what `accord
demo` writes), and with no draft. Prints seconds and sizes next to the targets.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

OUT = Path("bench-out/report")
ACCORD = str(Path(sys.executable).with_name("accord"))


def _run(args: list[str]) -> float:
    t = time.perf_counter()
    done = subprocess.run([ACCORD, *args], capture_output=True, text=True, check=False)  # noqa: S603
    seconds = time.perf_counter() - t
    if done.returncode != 0:
        raise SystemExit(f"accord {' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return seconds


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--leads", type=int, default=100_000)
    p.add_argument("--runs", type=int, default=2)
    args = p.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    demo = OUT / f"demo-{args.leads}"
    if not (demo / "accord.duckdb").exists():
        print(f"building the demo store ({args.leads:,} leads) in {demo}", flush=True)
        subprocess.run(["rm", "-rf", str(demo)], check=True)  # noqa: S603, S607
        _run(["demo", str(demo), "--leads", str(args.leads)])
    url = f"duckdb://{demo / 'accord.duckdb'}"
    cases = {
        "with the learned draft": ["--draft", str(demo / "pact.learned.yaml")],
        "no draft": [],
    }
    print(f"\n{'case':28} {'seconds (median)':>18} {'target':>8} {'ratio':>7} {'size':>9} {'target':>8}")
    for name, extra in cases.items():
        out = OUT / f"review-{name.replace(' ', '-')}.html"
        times = [
            _run(["report", "--url", url, "--capacity", "150", "--out", str(out), *extra])
            for _ in range(args.runs)
        ]
        sec = statistics.median(times)
        size = out.stat().st_size / 1e6
        print(f"{name:28} {sec:>18.1f} {'30 s':>8} {sec / 30:>6.2f}x {size:>7.2f}MB {'5 MB':>8}")


if __name__ == "__main__":
    main()
