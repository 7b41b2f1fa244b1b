"""The dashboard as a user times it: `accord serve` on the 100k-lead demo store, pages in Chromium.

Usage: python benchmarks/bench_dashboard.py [--leads 100000] [--runs 5]

Builds the demo store once (`accord demo --leads N`, kept in bench-out/dashboard/), starts
`accord serve` as its own process, signs in through the login page in Debian's Chromium
(Playwright), and loads every page `--runs` times. For each page it prints the server's time
(its `Server-Timing` header, and the time to the first byte as the browser saw it), the time to
the load event, and the time until every chart is drawn, next to the targets: 300 ms on the
server, 1 s to the load event.
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
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _processes import ACCORD, accord, free_port

OUT = Path("bench-out/dashboard")
SERVER_TARGET_MS = 300.0
LOAD_TARGET_MS = 1000.0


def _wait(base: str, proc: subprocess.Popen[Any]) -> float:
    import httpx

    t = time.perf_counter()
    while True:
        if proc.poll() is not None:
            raise SystemExit("accord serve stopped before it answered")
        try:
            if httpx.get(base + "/readyz", timeout=2).status_code == 200:
                return time.perf_counter() - t
        except httpx.HTTPError:
            pass
        time.sleep(0.1)


TIMING = """() => {
  const n = performance.getEntriesByType('navigation')[0];
  return {ttfb: n.responseStart - n.requestStart, load: n.loadEventEnd - n.startTime};
}"""


def _visit(page: Any, url: str) -> dict[str, float]:
    server: list[float] = []

    def seen(r: Any) -> None:
        if r.url == url:
            for part in (r.headers.get("server-timing") or "").split(","):
                if part.strip().startswith("app;dur="):
                    server.append(float(part.split("=", 1)[1]))

    page.on("response", seen)
    t = time.perf_counter()
    page.goto(url, wait_until="load")
    page.wait_for_function(
        "document.querySelectorAll('.chart[data-spec]').length === "
        "document.querySelectorAll('.chart[data-drawn]').length",
        timeout=30_000,
    )
    drawn = (time.perf_counter() - t) * 1000
    page.remove_listener("response", seen)
    nav = page.evaluate(TIMING)
    return {
        "server": server[0] if server else float("nan"),
        "ttfb": nav["ttfb"],
        "load": nav["load"],
        "drawn": drawn,
    }


def main() -> None:
    from playwright.sync_api import sync_playwright

    from accord.report.render import CHROMIUM_FLAGS

    p = argparse.ArgumentParser()
    p.add_argument("--leads", type=int, default=100_000)
    p.add_argument("--runs", type=int, default=5)
    args = p.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    demo = OUT / f"demo-{args.leads}"
    if not (demo / "accord.duckdb").exists():
        print(f"building the demo store ({args.leads:,} leads) in {demo}", flush=True)
        subprocess.run(["rm", "-rf", str(demo)], check=True)  # noqa: S603, S607
        accord(["demo", str(demo), "--leads", str(args.leads)])
    url = f"duckdb://{demo / 'accord.duckdb'}"
    name = f"bench-{os.getpid()}"
    key = next(
        w
        for w in accord(["keys", "create", "--role", "sales", "--name", name, "--url", url]).split()
        if w.startswith("acc_")
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(  # noqa: S603
        [ACCORD, "serve", "--url", url, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        ready = _wait(base, proc)
        print(f"accord serve answered /readyz {ready:.1f} s after it started")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=list(CHROMIUM_FLAGS))
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(base + "/login")
            page.get_by_label("API key").fill(key)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(base + "/")
            lead = page.evaluate("() => fetch('/v1/mql-queue?limit=1').then(r => r.json())")["items"][0][
                "lead_id"
            ]
            paths = ["/", "/queue", f"/leads/{lead}", "/scores", "/attribution", "/pact", "/feedback"]
            print(
                f"\n{'page':22} {'server ms':>10} {'ttfb ms':>8} {'load ms':>8} {'charts ms':>10}"
                f" {'server/300':>11} {'load/1000':>10} {'first visit: load ms':>21}"
                f"   (medians of {args.runs}; max server, max load)"
            )
            cookies = page.context.cookies()
            for path in paths:
                fresh = browser.new_context(viewport={"width": 1280, "height": 900})
                fresh.add_cookies(cookies)  # signed in, nothing cached: a first visit
                cold = _visit(fresh.new_page(), base + path)
                fresh.close()
                runs = [_visit(page, base + path) for _ in range(args.runs)]
                med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
                top_server = max(r["server"] for r in runs)
                top_load = max(r["load"] for r in runs)
                label = "/leads/{id}" if path.startswith("/leads/") else path
                print(
                    f"{label:22} {med['server']:>10.0f} {med['ttfb']:>8.0f} {med['load']:>8.0f}"
                    f" {med['drawn']:>10.0f} {med['server'] / SERVER_TARGET_MS:>10.2f}x"
                    f" {med['load'] / LOAD_TARGET_MS:>9.2f}x {cold['load']:>21.0f}"
                    f"   ({top_server:.0f}; {top_load:.0f})"
                )
            browser.close()
    finally:
        proc.terminate()
        proc.wait(10)
        accord(["keys", "revoke", name, "--url", url])


if __name__ == "__main__":
    main()
