"""Webhooks: endpoints, signatures a `standardwebhooks` receiver verifies, retries, disabling, replay, SSRF.

A served DuckDB store (and PostgreSQL) posts to a receiver on loopback (allowed through
`webhook_allow`), with a retry schedule of tenths of a second.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from standardwebhooks import Webhook

from service_kit import Served, drop_schema, engine_url, served, world

SCHEDULE = [0.0, 0.2, 0.4, 0.6]


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        return json.loads(self.body)


@dataclass
class Receiver:
    """An HTTP receiver on loopback: records every request, answers from `script` per path, else 200."""

    url: str
    got: list[Received] = field(default_factory=list)
    script: dict[str, list[tuple[int, dict[str, str]]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait(self, pred: Callable[[list[Received]], bool], timeout: float = 15.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                seen = list(self.got)
            if pred(seen):
                return seen
            time.sleep(0.05)
        raise AssertionError(
            f"the receiver did not get what was expected; it got {[r.event['type'] for r in seen]}"
        )

    def of(self, path: str, kind: str | None = None) -> list[Received]:
        with self.lock:
            return [r for r in self.got if r.path == path and (kind is None or r.event["type"] == kind)]


@pytest.fixture(scope="module")
def receiver(svc: Served) -> Iterator[Receiver]:
    """One receiver per served store (the stores share lead ids)."""
    holder: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            rec = holder["r"]
            with rec.lock:
                rec.got.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                queue = rec.script.get(self.path) or []
                status, headers = queue.pop(0) if queue else (200, {})
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder["r"] = Receiver(f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield holder["r"]
    server.shutdown()


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)], scope="module")
def svc(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    url = engine_url(request.param, tmp_path_factory.mktemp("hooks"))
    with served(url, webhook_allow=["127.0.0.1"], webhook_schedule=SCHEDULE) as s:
        yield s


def _endpoint(svc: Served, receiver: Receiver, path: str, events: list[str] | None = None) -> dict[str, Any]:
    r = svc.client.post(
        "/v1/webhooks",
        json={"url": receiver.url + path, "events": events or [], "description": path},
        headers=svc.auth("marketing"),
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


def _verified(rec: Received, secret: str) -> dict[str, Any]:
    """What `standardwebhooks` makes of a delivery: it raises unless a signature matches."""
    return dict(Webhook(secret).verify(rec.body, rec.headers))


def _mql(svc: Served) -> str:
    """Touch leads with sales meetings until one becomes an MQL; its id."""
    leads = world().tables["leads"].to_pandas()
    queued = {r.lead_id for r in svc.state.live.queue(limit=500).items}
    now = datetime.utcnow().replace(microsecond=0)
    n = 0
    for lead in leads.id:
        if lead in queued:
            continue
        view = svc.state.live.lead(lead)
        if view.grade == "D" or view.score < 35 or view.stage != "lead":
            continue
        for _ in range(4):
            n += 1
            touch = {
                "id": f"tp-hook-{n}",
                "lead_id": lead,
                "occurred_at": now.isoformat(),
                "channel": "web",
                "touch_type": "demo",
            }
            r = svc.client.post("/v1/touchpoints", json=touch, headers=svc.auth("ingest"))
            assert r.status_code == 200, r.text
            if r.json()["became_mql"]:
                return str(lead)
    raise AssertionError("no lead became an MQL")


def test_an_endpoint_gets_a_secret_and_internal_urls_are_refused(svc: Served, receiver: Receiver) -> None:
    made = _endpoint(svc, receiver, "/made", ["lead.mql"])
    assert made["secret"].startswith("whsec_") and made["events"] == ["lead.mql"]
    listed = svc.client.get("/v1/webhooks", headers=svc.auth("admin")).json()
    assert made["id"] in {e["id"] for e in listed} and all("secret" not in e for e in listed)
    for url in (
        "http://10.0.0.5/x",
        "http://169.254.169.254/latest",
        "http://[::1]:9/x",
        "http://192.168.1.2/",
    ):
        r = svc.client.post("/v1/webhooks", json={"url": url}, headers=svc.auth("marketing"))
        assert r.status_code == 422 and "internal address" in r.json()["detail"], (url, r.text)
    bad = svc.client.post(
        "/v1/webhooks", json={"url": receiver.url, "events": ["lead.nope"]}, headers=svc.auth("admin")
    )
    assert bad.status_code == 422 and "unknown event type 'lead.nope'" in bad.json()["detail"]
    assert (
        svc.client.post("/v1/webhooks", json={"url": receiver.url}, headers=svc.auth("sales")).status_code
        == 403
    )
    gone = svc.client.delete(f"/v1/webhooks/{made['id']}", headers=svc.auth("marketing"))
    assert gone.status_code == 200
    assert made["id"] not in {
        e["id"] for e in svc.client.get("/v1/webhooks", headers=svc.auth("admin")).json()
    }


def test_an_mql_is_delivered_signed_and_verified(svc: Served, receiver: Receiver) -> None:
    ep = _endpoint(svc, receiver, "/mql", ["lead.mql"])
    lead = _mql(svc)
    got = receiver.wait(
        lambda seen: any(r.path == "/mql" and r.event["data"]["lead_id"] == lead for r in seen)
    )
    rec = next(r for r in got if r.path == "/mql" and r.event["data"]["lead_id"] == lead)
    payload = _verified(rec, ep["secret"])
    assert payload["type"] == "lead.mql" and rec.headers["webhook-id"] == payload["id"]
    data = payload["data"]
    from accord.workflows.webhooks import EVENT_DATA

    assert EVENT_DATA["lead.mql"].model_validate(data)  # what the OpenAPI spec documents
    spec = svc.client.get("/openapi.json").json()
    assert set(spec["webhooks"]) == set(EVENT_DATA)
    view = svc.state.live.lead(lead)
    assert data["pact"] == view.pact and data["pact_version"] == view.pact_version
    assert data["sentence"].startswith(f"{data['grade']}{data['band']} MQL (")
    # Written from what the process keeps, it is the sentence the lead page gives for that instant.
    at = datetime.fromisoformat(data["as_of"].removesuffix("Z"))
    assert data["sentence"] == svc.state.live.sentences([lead], at)[lead]
    stored = svc.rows("SELECT type, data FROM outbox WHERE id = ?", [payload["id"]])
    assert stored and stored[0]["type"] == "lead.mql"
    from standardwebhooks.webhooks import WebhookVerificationError

    with pytest.raises(WebhookVerificationError):  # another secret does not verify
        Webhook("whsec_" + "A" * 32).verify(rec.body, rec.headers)


def test_failures_are_retried_on_the_schedule_and_logged(svc: Served, receiver: Receiver) -> None:
    receiver.script["/flaky"] = [(500, {}), (503, {})]
    ep = _endpoint(svc, receiver, "/flaky", ["lead.feedback"])
    lead = svc.state.live.queue(limit=1).items[0].lead_id
    r = svc.client.post(f"/v1/leads/{lead}/feedback", json={"action": "accept"}, headers=svc.auth("sales"))
    assert r.status_code == 200
    receiver.wait(lambda seen: len([x for x in seen if x.path == "/flaky"]) >= 3)
    tries = receiver.of("/flaky")
    from accord.workflows.webhooks import EVENT_DATA

    said = EVENT_DATA["lead.feedback"].model_validate(tries[0].event["data"])
    assert (said.lead_id, said.action, said.to_stage, said.actor) == (lead, "accept", "sal", "sales-key")  # type: ignore[attr-defined]
    assert len({t.headers["webhook-id"] for t in tries}) == 1  # one event, tried three times
    assert tries[0].event["data"] == {
        **tries[0].event["data"],
        "lead_id": lead,
        "action": "accept",
        "to_stage": "sal",
    }
    stamps = [int(t.headers["webhook-timestamp"]) for t in tries]
    assert stamps == sorted(stamps)
    time.sleep(0.3)
    log = svc.client.get(f"/v1/webhooks/{ep['id']}/attempts", headers=svc.auth("marketing")).json()
    assert [a["status"] for a in reversed(log)] == [500, 503, 200]
    assert all(a["latency_ms"] >= 0 and a["event_type"] == "lead.feedback" for a in log)
    (row,) = svc.rows("SELECT state, attempts FROM deliveries WHERE endpoint_id = ?", [ep["id"]])
    assert row == {"state": "delivered", "attempts": 3}


def test_retry_after_is_honoured(svc: Served, receiver: Receiver) -> None:
    receiver.script["/busy"] = [(429, {"Retry-After": "1"})]
    _endpoint(svc, receiver, "/busy", ["lead.feedback"])
    lead = svc.state.live.queue(limit=1).items[0].lead_id
    svc.client.post(f"/v1/leads/{lead}/feedback", json={"action": "accept"}, headers=svc.auth("sales"))
    receiver.wait(lambda seen: len([x for x in seen if x.path == "/busy"]) >= 2)
    first, second = receiver.of("/busy")[:2]
    # The schedule says 0.2 s; the receiver asked for 1 s.
    assert int(second.headers["webhook-timestamp"]) - int(first.headers["webhook-timestamp"]) >= 1


def test_410_disables_the_endpoint_and_an_event_says_so(svc: Served, receiver: Receiver) -> None:
    watcher = _endpoint(svc, receiver, "/watch", ["endpoint.disabled"])
    receiver.script["/gone"] = [(410, {})]
    gone = _endpoint(svc, receiver, "/gone", ["lead.feedback"])
    lead = svc.state.live.queue(limit=1).items[0].lead_id
    svc.client.post(f"/v1/leads/{lead}/feedback", json={"action": "accept"}, headers=svc.auth("sales"))
    got = receiver.wait(lambda seen: any(r.path == "/watch" for r in seen))
    said = _verified(next(r for r in got if r.path == "/watch"), watcher["secret"])
    assert said["data"]["endpoint_id"] == gone["id"] and "410" in said["data"]["reason"]
    listed = {e["id"]: e for e in svc.client.get("/v1/webhooks", headers=svc.auth("admin")).json()}
    assert listed[gone["id"]]["disabled_at"] is not None
    time.sleep(0.5)
    assert len(receiver.of("/gone")) == 1  # no retry after 410


def test_a_rotated_secret_signs_beside_the_old_one(svc: Served, receiver: Receiver) -> None:
    ep = _endpoint(svc, receiver, "/rotate", ["pact.submitted"])
    new = svc.client.post(f"/v1/webhooks/{ep['id']}/rotate", headers=svc.auth("marketing")).json()
    assert new["secret"] != ep["secret"]
    from accord.demo import demo_pact_text

    text = (
        demo_pact_text().replace("\nversion: 1\n", "\nversion: 7\n").replace("min_score: 60", "min_score: 61")
    )
    r = svc.client.post(
        "/v1/pacts", content=text, headers={**svc.auth("marketing"), "content-type": "application/yaml"}
    )
    assert r.status_code == 201, r.text
    receiver.wait(lambda seen: any(x.path == "/rotate" for x in seen))
    rec = receiver.of("/rotate")[0]
    assert len(rec.headers["webhook-signature"].split()) == 2
    for secret in (ep["secret"], new["secret"]):
        assert _verified(rec, secret)["data"]["version"] == 7


def test_replay_sends_chosen_events_again(svc: Served, receiver: Receiver) -> None:
    ep = _endpoint(svc, receiver, "/replay", ["lead.feedback"])
    lead = svc.state.live.queue(limit=1).items[0].lead_id
    svc.client.post(f"/v1/leads/{lead}/feedback", json={"action": "accept"}, headers=svc.auth("sales"))
    first = receiver.wait(lambda seen: any(x.path == "/replay" for x in seen))
    event_id = next(x for x in first if x.path == "/replay").headers["webhook-id"]
    r = svc.client.post(
        f"/v1/webhooks/{ep['id']}/replay", json={"event_ids": [event_id]}, headers=svc.auth("admin")
    )
    assert r.status_code == 202 and r.json()["queued"] == 1
    receiver.wait(lambda seen: len([x for x in seen if x.path == "/replay"]) >= 2)
    assert [x.headers["webhook-id"] for x in receiver.of("/replay")] == [event_id, event_id]
    unknown = svc.client.post(
        f"/v1/webhooks/{ep['id']}/replay", json={"event_ids": ["msg_nope"]}, headers=svc.auth("admin")
    )
    assert unknown.status_code == 404


def test_signatures_match_the_spec_by_hand() -> None:
    import base64
    import hashlib
    import hmac

    from accord.workflows.webhooks import sign

    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # noqa: S105 - the spec's published example
    body = b'{"test": 2432232314}'
    # The Standard Webhooks reference example.
    assert sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body) == (
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, b"msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330." + body, hashlib.sha256).digest()
    assert (
        sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
        == "v1," + base64.b64encode(mac).decode()
    )


def test_retry_after_reads_seconds_and_dates() -> None:
    from accord.workflows.webhooks import _seconds

    at = datetime(2026, 11, 30, 9, 0, 0)
    assert _seconds("120", at) == 120.0
    assert _seconds("Mon, 30 Nov 2026 09:00:30 GMT", at) == 30.0
    assert _seconds("soon", at) is None and _seconds(None, at) is None
    assert _seconds("Mon, 30 Nov 2026 08:00:00 GMT", at) == 0.0  # a date already past: at once


def test_an_endpoint_failing_for_five_days_is_disabled(svc: Served, receiver: Receiver) -> None:
    watcher = _endpoint(svc, receiver, "/watch5", ["endpoint.disabled"])
    receiver.script["/down"] = [(503, {})] * 3
    down = _endpoint(svc, receiver, "/down", ["lead.feedback"])
    with svc.state.rows.tx() as t:  # it has been failing since six days ago
        t.execute(
            "UPDATE webhooks SET failing_since = ? WHERE id = ?",
            [datetime.utcnow() - timedelta(days=6), down["id"]],
        )
    lead = svc.state.live.queue(limit=1).items[0].lead_id
    svc.client.post(f"/v1/leads/{lead}/feedback", json={"action": "accept"}, headers=svc.auth("sales"))
    got = receiver.wait(lambda seen: any(r.path == "/watch5" for r in seen))
    said = _verified(next(r for r in got if r.path == "/watch5"), watcher["secret"])
    assert said["data"]["endpoint_id"] == down["id"] and said["data"]["reason"].startswith("failing since")
    assert len(receiver.of("/down")) == 1
    (row,) = svc.rows("SELECT state FROM deliveries WHERE endpoint_id = ?", [down["id"]])
    assert row["state"] == "failed"


def test_pact_events_follow_the_lifecycle_in_order(svc: Served, receiver: Receiver) -> None:
    ep = _endpoint(svc, receiver, "/pacts", ["pact.submitted", "pact.approved", "pact.activated"])
    from accord.demo import demo_pact_text

    text = (
        demo_pact_text().replace("\nversion: 1\n", "\nversion: 9\n").replace("min_score: 60", "min_score: 62")
    )
    r = svc.client.post(
        "/v1/pacts", content=text, headers={**svc.auth("marketing"), "content-type": "application/yaml"}
    )
    assert r.status_code == 201, r.text
    digest = r.json()["content_hash"]
    for role in ("marketing", "sales"):
        assert svc.client.post(f"/v1/pacts/{digest}/approve", headers=svc.auth(role)).status_code == 200
    assert svc.client.post(f"/v1/pacts/{digest}/activate", headers=svc.auth("admin")).status_code == 202
    got = receiver.wait(lambda seen: len([x for x in seen if x.path == "/pacts"]) >= 4)
    # Deliveries run in parallel and may arrive in any order (the spec promises none): the
    # events' own timestamps carry the order of the changes.
    said = sorted(
        (_verified(x, ep["secret"]) for x in got if x.path == "/pacts"), key=lambda e: e["timestamp"]
    )
    assert [(e["type"], e["data"].get("team")) for e in said] == [
        ("pact.submitted", None),
        ("pact.approved", "marketing"),
        ("pact.approved", "sales"),
        ("pact.activated", None),
    ]
    assert {e["data"]["version"] for e in said} == {9} and {e["data"]["content_hash"] for e in said} == {
        digest
    }


@pytest.mark.parametrize("engine", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_pact_change_and_its_event_commit_together(
    engine: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI writes the event too; when the event cannot be written, the approval is not kept either."""
    from typer.testing import CliRunner

    from accord.cli.main import app
    from accord.demo import demo_pact_text
    from accord.pact import registry
    from accord.store import connect
    from accord.store.rows import Rows
    from accord.workflows import pacts

    url = engine_url(engine, tmp_path)
    pact = tmp_path / "pact.yaml"
    pact.write_text(demo_pact_text())
    cli = CliRunner()
    for args in (
        ["pact", "submit", str(pact), "--by", "ana"],
        ["pact", "approve", "1", "--team", "marketing", "--by", "ana"],
    ):
        done = cli.invoke(app, [*args, "--url", url])
        assert done.exit_code == 0, done.output
    with connect(url) as store:
        rows = Rows(store, pool_size=1)
        try:
            events = rows.query('SELECT type, data FROM outbox ORDER BY "at"')
            assert [e["type"] for e in events] == ["pact.submitted", "pact.approved"]
            assert json.loads(events[1]["data"])["team"] == "marketing"
            actions = [a["action"] for a in rows.query('SELECT action FROM audit_log ORDER BY "at"')]
            assert actions == ["pacts.submit", "pacts.approve.marketing"]

            def broken(*_: Any) -> str:
                raise RuntimeError("the outbox is unavailable")

            monkeypatch.setattr(pacts, "emit", broken)
            with pytest.raises(RuntimeError):
                pacts.approve_pact(store, "1", "sales", by="bo", role="sales", rows=rows)
            assert registry.resolve(store, "1").missing == ["sales"]
            assert len(rows.query("SELECT id FROM outbox")) == 2
        finally:
            rows.close()
    if engine == "postgres":
        drop_schema(url)
