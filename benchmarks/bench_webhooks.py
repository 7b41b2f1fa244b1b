"""Webhook delivery as a user times it: `accord serve` on the 100k demo store, MQLs made at 200/s.

Usage: python benchmarks/bench_webhooks.py [--rate 200] [--seconds 15]

Copies the demo store of `bench_dashboard.py` (building it if missing), starts `accord serve`
with an endpoint on a receiver in its own process, and has sales add 100 points to leads that
are not MQLs yet, at `--rate` requests a second (open loop): each makes a `lead.mql` event. The
receiver notes when each delivery arrives. Prints the requests' latency, the events delivered a
second, and the delay from the stage change (the event's `as_of`) to its arrival, against the
1 s p99 target.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _processes import ACCORD, accord, free_port
from bench_service import _Conn, _pct

OUT = Path("bench-out/webhooks")
DEMO = Path("bench-out/dashboard/demo-100000")


def _key(url: str, role: str) -> str:
    out = accord(["keys", "create", "--role", role, "--name", f"bench-{role}-{os.getpid()}", "--url", url])
    return next(w for w in out.split() if w.startswith("acc_"))


def _receiver(port: int, log: str) -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    out = open(log, "a", buffering=1)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            arrived = time.time()
            self.send_response(204)
            self.end_headers()
            event = json.loads(body)
            out.write(json.dumps([self.headers["webhook-id"], event["data"]["as_of"], arrived]) + "\n")

        def log_message(self, *_: Any) -> None:
            pass

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


async def _load(base: str, key: str, leads: list[str], rate: float, seconds: float) -> dict[str, float]:
    lat: list[float] = []
    errors = 0
    n = min(len(leads), int(rate * seconds))
    conns = [await _Conn.open(base) for _ in range(32)]
    queue: asyncio.Queue[tuple[int, float] | None] = asyncio.Queue()

    async def worker(c: _Conn) -> None:
        nonlocal errors
        while (item := await queue.get()) is not None:
            i, due = item
            body = {"action": "adjust", "points": 100, "reason": "bench"}
            status, _ = await c.request("POST", f"/v1/leads/{leads[i]}/feedback", key, body)
            lat.append(time.perf_counter() - due)
            errors += status != 200

    workers = [asyncio.create_task(worker(c)) for c in conns]
    start = time.perf_counter() + 0.5
    for i in range(n):
        due = start + i / rate
        if (wait := due - time.perf_counter()) > 0:
            await asyncio.sleep(wait)
        queue.put_nowait((i, due))
    for _ in conns:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    for c in conns:
        c.close()
    return _pct(lat) | {"requests": n, "errors": errors, "achieved": n / (time.perf_counter() - start)}


def main() -> None:
    import httpx

    p = argparse.ArgumentParser()
    p.add_argument("--rate", type=float, default=200.0)
    p.add_argument("--seconds", type=float, default=15.0)
    args = p.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    if not (DEMO / "accord.duckdb").exists():
        print(f"building the demo store in {DEMO}", flush=True)
        accord(["demo", str(DEMO), "--leads", "100000"])
    OUT.mkdir(parents=True, exist_ok=True)
    store = OUT / "accord.duckdb"
    for suffix in ("", ".wal"):
        Path(f"{store}{suffix}").unlink(missing_ok=True)
    shutil.copy(DEMO / "accord.duckdb", store)
    url = f"duckdb://{store}"
    from accord.store import connect
    from accord.store.rows import Rows

    with connect(url) as st:
        rows = Rows(st)
        leads = [
            r["lead_id"]
            for r in rows.query(
                "SELECT lead_id FROM (SELECT lead_id, grade, is_mql, row_number() OVER "
                "(PARTITION BY lead_id ORDER BY as_of DESC) AS rn FROM lead_scores) s "
                "WHERE rn = 1 AND NOT is_mql AND grade IN ('A', 'B', 'C') AND lead_id NOT IN "
                "(SELECT lead_id FROM stage_changes) ORDER BY lead_id LIMIT ?",
                [int(args.rate * args.seconds)],
            )
        ]
        rows.close()
    sales, admin = _key(url, "sales"), _key(url, "admin")
    port, hook_port = free_port(), free_port()
    log = OUT / "arrivals.jsonl"
    log.unlink(missing_ok=True)
    receiver = multiprocessing.Process(target=_receiver, args=(hook_port, str(log)), daemon=True)
    receiver.start()
    env = {**os.environ, "ACCORD_WEBHOOK_ALLOW": '["127.0.0.1"]', "ACCORD_RATE_PER_SECOND": "100000"}
    proc = subprocess.Popen(  # noqa: S603
        [ACCORD, "serve", "--url", url, "--port", str(port)], env=env, stdout=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                if httpx.get(base + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        made = httpx.post(
            base + "/v1/webhooks",
            json={"url": f"http://127.0.0.1:{hook_port}/in", "events": ["lead.mql"]},
            headers={"Authorization": f"Bearer {admin}"},
        )
        made.raise_for_status()
        t0 = time.time()
        load = asyncio.run(_load(base, sales, leads, args.rate, args.seconds))
        deadline = time.time() + 60
        while time.time() < deadline:
            arrived = [json.loads(x) for x in log.read_text().splitlines()] if log.exists() else []
            if len(arrived) >= load["requests"] - load["errors"]:
                break
            time.sleep(0.2)
        span = max(a[2] for a in arrived) - t0
        # `as_of` is the stage change's instant, naive UTC.
        delays = [a[2] - datetime.fromisoformat(a[1]).replace(tzinfo=UTC).timestamp() for a in arrived]
        d = _pct(delays)
        print(f"\n{'':34} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
        name = "feedback request (makes an MQL)"
        print(f"{name:34} {load['p50_ms']:>8.1f} {load['p99_ms']:>8.1f} {load['max_ms']:>8.1f}")
        print(f"{'stage change to delivery':34} {d['p50_ms']:>8.1f} {d['p99_ms']:>8.1f} {d['max_ms']:>8.1f}")
        print(
            f"\noffered {args.rate:.0f}/s, sent {load['achieved']:.0f}/s, {load['errors']:.0f} errors; "
            f"{len(arrived):,} lead.mql events delivered, {len(arrived) / span:.0f}/s; "
            f"p99 delay {d['p99_ms'] / 1000:.2f} s against the 1 s target ({d['p99_ms'] / 1000:.2f}x)"
        )
    finally:
        proc.terminate()
        proc.wait(30)
        receiver.terminate()


if __name__ == "__main__":
    main()
