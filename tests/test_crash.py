"""An acknowledged write survives SIGKILL: steady ingest, kill the server, restart, every acked id once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from service_kit import engine_url, fill, free_port, world

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

TOUCHES = 240
WORKERS = 4


def _start(url: str, port: int, log: Path, **extra: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "ACCORD_RATE_PER_SECOND": "100000", **extra}
    proc = subprocess.Popen(  # noqa: S603 - our own command
        [sys.executable, "-m", "accord.cli.main", "serve", "--url", url, "--port", str(port)],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            pytest.fail(f"the server exited: {log.read_text()[-2000:]}")
        time.sleep(0.1)
    proc.kill()
    pytest.fail("the server did not become ready")


@pytest.mark.parametrize("engine", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_every_acknowledged_touch_survives_a_kill(tmp_path: Path, engine: str) -> None:
    url = engine_url(engine, tmp_path)
    keys = fill(url, score=False)
    port = free_port()
    log = tmp_path / "server.log"
    leads = [r["id"] for r in world().tables["leads"].slice(0, 50).to_pylist()]
    acked: list[str] = []
    lock = threading.Lock()
    todo = iter(range(TOUCHES))
    proc = _start(url, port, log)

    def work() -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            for n in todo:
                tid = f"tp-crash-{n:04d}"
                body = {
                    "id": tid,
                    "lead_id": leads[n % len(leads)],
                    "occurred_at": "2026-11-20T10:00:00Z",
                    "channel": "web",
                    "touch_type": "web_visit",
                }
                while True:  # a client retries the same id until it is acknowledged
                    try:
                        r = client.post(
                            "/v1/touchpoints",
                            json=body,
                            headers={"Authorization": f"Bearer {keys['ingest']}"},
                        )
                        if r.status_code == 200:
                            with lock:
                                acked.append(tid)
                            break
                    except httpx.HTTPError:
                        pass
                    time.sleep(0.05)

    threads = [threading.Thread(target=work) for _ in range(WORKERS)]
    for t in threads:
        t.start()
    while len(acked) < TOUCHES // 3:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = len(acked)
    proc = _start(url, port, log)
    for t in threads:
        t.join(120)
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)
    assert killed_at < TOUCHES and len(acked) == TOUCHES
    from accord.store import connect
    from accord.store.rows import Rows

    with connect(url) as store:
        rows = Rows(store)
        stored = rows.query(
            "SELECT id, count(*) AS n FROM touchpoints WHERE id LIKE 'tp-crash-%' GROUP BY id"
        )
        rows.close()
    counts = {r["id"]: r["n"] for r in stored}
    assert set(counts) == set(acked) and set(counts.values()) == {1}


EVENTS = 60


@pytest.mark.parametrize("engine", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_every_event_is_delivered_after_a_kill(tmp_path: Path, engine: str) -> None:
    """Steady verdicts (each one event), SIGKILL, restart: every acknowledged one reaches the receiver."""
    import json
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    got: list[tuple[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
            with lock:
                got.append((self.headers["webhook-id"], body["data"]["reason"]))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    url = engine_url(engine, tmp_path)
    keys = fill(url)
    port = free_port()
    log = tmp_path / "server.log"
    env = {"ACCORD_WEBHOOK_ALLOW": '["127.0.0.1"]', "ACCORD_WEBHOOK_SCHEDULE": "[0, 0.2, 0.5, 1, 1, 1, 1, 1]"}
    leads = [r["id"] for r in world().tables["leads"].slice(0, 30).to_pylist()]
    lock = threading.Lock()
    acked: list[str] = []
    proc = _start(url, port, log, **env)
    made = httpx.post(
        f"http://127.0.0.1:{port}/v1/webhooks",
        json={"url": f"http://127.0.0.1:{receiver.server_address[1]}/in", "events": ["lead.feedback"]},
        headers={"Authorization": f"Bearer {keys['admin']}"},
    )
    assert made.status_code == 201, made.text
    todo = iter(range(EVENTS))

    def work() -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            for n in todo:
                tag = f"crash-{n:04d}"
                body = {"action": "adjust", "points": 1, "reason": tag}
                while True:  # retried until acknowledged (a lost answer may record the verdict twice)
                    try:
                        r = client.post(
                            f"/v1/leads/{leads[n % len(leads)]}/feedback",
                            json=body,
                            headers={"Authorization": f"Bearer {keys['sales']}"},
                        )
                        if r.status_code == 200:
                            with lock:
                                acked.append(tag)
                            break
                    except httpx.HTTPError:
                        pass
                    time.sleep(0.05)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    while len(acked) < EVENTS // 3:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = len(acked)
    proc = _start(url, port, log, **env)
    for t in threads:
        t.join(120)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with lock:
            delivered = {reason for _, reason in got}
        if delivered >= set(acked):
            break
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)
    receiver.shutdown()
    assert killed_at < EVENTS and len(acked) == EVENTS
    assert set(acked) <= delivered, sorted(set(acked) - delivered)[:5]
    # A duplicate is recognisable: the same webhook-id for the same verdict.
    ids = {}
    for msg_id, reason in got:
        assert ids.setdefault(msg_id, reason) == reason
