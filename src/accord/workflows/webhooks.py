"""Events out: endpoints, the outbox, and the courier that delivers events by Standard Webhooks.

An event is a row of `outbox`, written in the transaction of the change that caused it (`emit`).
The courier, a thread of the serve process, fans each event out to the endpoints that take its
type (`deliveries`), posts it signed (`webhook-id`, `webhook-timestamp`, `webhook-signature`:
`v1,` and the base64 HMAC-SHA256 of `id.timestamp.body`), and retries on the spec's schedule.
Every attempt is logged (`delivery_attempts`). Delivery is at least once: a receiver tells a
duplicate by its `webhook-id`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import random
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel

from accord.errors import ConfigError, UnknownWebhookError
from accord.model.json_types import Instant
from accord.model.tables import ATTEMPTS, DELIVERIES, OUTBOX, WEBHOOKS
from accord.store.rows import Rows, Tx
from accord.store.sql import ident

EVENT_TYPES = (
    "lead.mql",
    "lead.score_changed",
    "lead.recycled",
    "lead.feedback",
    "pact.submitted",
    "pact.approved",
    "pact.activated",
    "job.finished",
    "endpoint.disabled",
)
SCHEDULE = (0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)
"""Seconds before each attempt after the one before (the Standard Webhooks schedule)."""
TIMEOUT_SECONDS = 15.0
ROTATION = timedelta(hours=24)
"""How long the secret before a rotation keeps signing beside the new one."""
GIVE_UP = timedelta(days=5)
"""An endpoint failing this long is disabled, and an `endpoint.disabled` event says so."""
HONOURED = (429, 502, 504)
"""Statuses whose `Retry-After` sets the next attempt."""


class Endpoint(BaseModel):
    """A receiver of events (its secret is shown only when made or rotated)."""

    id: str
    url: str
    events: list[str]
    description: str | None
    created_by: str | None
    created_at: Instant
    disabled_at: Instant | None
    disabled_reason: str | None


class NewSecret(Endpoint):
    """An endpoint with its signing secret: the only time the secret is shown."""

    secret: str


class Attempt(BaseModel):
    """One attempt to deliver one event."""

    id: str
    event_id: str
    event_type: str
    at: Instant
    status: int | None
    latency_ms: float | None
    response: str | None


class Replayed(BaseModel):
    """Events queued again for an endpoint."""

    endpoint_id: str
    queued: int


# ------------------------------------------------------------------------------ signing
def new_secret() -> str:
    """`whsec_` and 24 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """`v1,` and the base64 HMAC-SHA256 of `id.timestamp.body` with the secret's bytes."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def signatures(secrets_: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """Space-separated signatures, one per secret (two during a rotation)."""
    return " ".join(sign(s, msg_id, timestamp, body) for s in secrets_)


# ------------------------------------------------------------------------------ the URL guard
def _allowed(host: str, addresses: list[str], allow: Sequence[str]) -> bool:
    for entry in allow:
        if entry == host:
            return True
        try:
            net = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            continue
        if all(ipaddress.ip_address(a) in net for a in addresses):
            return True
    return False


def check_url(url: str, allow: Sequence[str] = ()) -> None:
    """Refuse a URL that is not http(s) or resolves to a loopback, private or link-local address.

    `allow` (host names, addresses or networks the admin set) lets such an address through.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"a webhook URL must be http or https with a host, not {url!r}")
    host = parts.hostname
    try:
        infos = socket.getaddrinfo(host, parts.port or (443 if parts.scheme == "https" else 80))
    except OSError as exc:
        raise ConfigError(f"the webhook host {host!r} does not resolve: {exc}") from exc
    addresses = sorted({str(i[4][0]) for i in infos})
    inner = [
        a
        for a in addresses
        if (ip := ipaddress.ip_address(a)).is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    ]
    if inner and not _allowed(host, addresses, allow):
        raise ConfigError(
            f"the webhook host {host!r} resolves to {', '.join(inner)}, an internal address: refused "
            "(an admin may allow it with ACCORD_WEBHOOK_ALLOW)"
        )


# ------------------------------------------------------------------------------ endpoints
def _endpoint(row: dict[str, Any]) -> Endpoint:
    return Endpoint.model_validate({**row, "events": json.loads(row["events"] or "[]")})


def _validate_events(events: Sequence[str]) -> list[str]:
    unknown = [e for e in events if e not in EVENT_TYPES]
    if unknown:
        raise ConfigError(f"unknown event type {unknown[0]!r}; valid: {', '.join(EVENT_TYPES)}")
    return sorted(set(events))


def create(
    rows: Rows,
    url: str,
    events: Sequence[str],
    *,
    description: str | None,
    by: str,
    now: datetime,
    allow: Sequence[str] = (),
) -> NewSecret:
    """A new endpoint (`events` empty: every type) with its secret."""
    check_url(url, allow)
    endpoint_id, secret = "ep_" + uuid.uuid4().hex[:20], new_secret()
    row: dict[str, Any] = {
        "id": endpoint_id,
        "url": url,
        "events": json.dumps(_validate_events(events)),
        "description": description,
        "secret": secret,
        "created_by": by,
        "created_at": now,
    }
    with rows.tx() as t:
        t.insert(WEBHOOKS, [row])
    return NewSecret(**get(rows, endpoint_id).model_dump(), secret=secret)


def get(rows: Rows, endpoint_id: str) -> Endpoint:
    """An endpoint by id."""
    found = rows.query(f"SELECT * FROM {ident(WEBHOOKS.name)} WHERE id = ?", [endpoint_id])
    if not found:
        raise UnknownWebhookError(f"no webhook endpoint {endpoint_id!r}")
    return _endpoint(found[0])


def endpoints(rows: Rows) -> list[Endpoint]:
    """Every endpoint, oldest first."""
    return [_endpoint(r) for r in rows.query(f"SELECT * FROM {ident(WEBHOOKS.name)} ORDER BY created_at, id")]


def delete(rows: Rows, endpoint_id: str) -> Endpoint:
    """Remove an endpoint and its pending deliveries (its attempt log stays)."""
    gone = get(rows, endpoint_id)
    with rows.tx() as t:
        t.execute(f"DELETE FROM {ident(DELIVERIES.name)} WHERE endpoint_id = ?", [endpoint_id])
        t.execute(f"DELETE FROM {ident(WEBHOOKS.name)} WHERE id = ?", [endpoint_id])
    return gone


def rotate(rows: Rows, endpoint_id: str, now: datetime) -> NewSecret:
    """A new secret; the old one keeps signing beside it for 24 hours."""
    old = rows.query(f"SELECT secret FROM {ident(WEBHOOKS.name)} WHERE id = ?", [endpoint_id])
    if not old:
        raise UnknownWebhookError(f"no webhook endpoint {endpoint_id!r}")
    secret = new_secret()
    with rows.tx() as t:
        t.execute(
            f"UPDATE {ident(WEBHOOKS.name)} SET secret = ?, old_secret = ?, old_until = ? WHERE id = ?",
            [secret, old[0]["secret"], now + ROTATION, endpoint_id],
        )
    return NewSecret(**get(rows, endpoint_id).model_dump(), secret=secret)


def attempts(rows: Rows, endpoint_id: str, limit: int = 100) -> list[Attempt]:
    """The endpoint's latest attempts, newest first."""
    get(rows, endpoint_id)
    found = rows.query(
        f"SELECT a.id, a.event_id, o.type AS event_type, a.at, a.status, a.latency_ms, a.response "
        f"FROM {ident(ATTEMPTS.name)} a LEFT JOIN {ident(OUTBOX.name)} o ON o.id = a.event_id "
        'WHERE a.endpoint_id = ? ORDER BY a."at" DESC, a.id DESC LIMIT ?',
        [endpoint_id, limit],
    )
    return [Attempt.model_validate({**r, "event_type": r["event_type"] or "?"}) for r in found]


def replay(rows: Rows, endpoint_id: str, event_ids: Sequence[str], now: datetime) -> Replayed:
    """Send these events to the endpoint again (each is a new delivery, its `webhook-id` the same)."""
    get(rows, endpoint_id)
    known = (
        rows.query(
            f"SELECT id FROM {ident(OUTBOX.name)} WHERE id IN ({', '.join('?' for _ in event_ids)})",
            list(event_ids),
        )
        if event_ids
        else []
    )
    ids = [r["id"] for r in known]
    missing = sorted(set(event_ids) - set(ids))
    if missing:
        raise UnknownWebhookError(f"no event {missing[0]!r}")
    with rows.tx() as t:
        for event_id in ids:
            t.execute(
                f"DELETE FROM {ident(DELIVERIES.name)} WHERE event_id = ? AND endpoint_id = ?",
                [event_id, endpoint_id],
            )
        t.insert(DELIVERIES, [_pending(e, endpoint_id, now) for e in ids])
    _WAKE.set()  # the courier sends them now, not at its next poll
    return Replayed(endpoint_id=endpoint_id, queued=len(ids))


# ------------------------------------------------------------------------------ the outbox
_WAKE = threading.Event()


def emit(t: Tx, kind: str, data: dict[str, Any], at: datetime) -> str:
    """Add an event to the outbox inside the caller's transaction; its id."""
    event_id = "msg_" + uuid.uuid4().hex
    t.append(
        OUTBOX,
        [
            {
                "id": event_id,
                "type": kind,
                "at": at,
                "data": json.dumps(data, default=str),
                "fanned_out": False,
            }
        ],
    )
    _WAKE.set()
    return event_id


def _pending(event_id: str, endpoint_id: str, now: datetime) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "endpoint_id": endpoint_id,
        "state": "pending",
        "attempts": 0,
        "next_at": now,
        "created_at": now,
    }


def body_of(event_id: str, kind: str, at: datetime, data: dict[str, Any]) -> bytes:
    """The JSON an endpoint receives: `type`, `timestamp`, `data` (the id travels in `webhook-id`)."""
    return json.dumps(
        {"id": event_id, "type": kind, "timestamp": at.isoformat() + "Z", "data": data}, separators=(",", ":")
    ).encode()


class Courier:
    """Fans events out and delivers them, in a thread of the serve process."""

    def __init__(
        self,
        rows: Rows,
        now: Callable[[], datetime],
        *,
        schedule: Sequence[float] = SCHEDULE,
        allow: Sequence[str] = (),
        timeout: float = TIMEOUT_SECONDS,
        senders: int = 8,
        poll: float = 0.5,
    ) -> None:
        self.rows = rows
        self.now = now
        self.schedule = tuple(schedule)
        self.allow = tuple(allow)
        self.timeout = timeout
        self.poll = poll
        self._pool = ThreadPoolExecutor(senders, thread_name_prefix="courier")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client: Any = None

    # -------------------------------------------------------------------------- the loop
    def start(self, *, sole: bool = False) -> None:
        """Run in a daemon thread until `stop`.

        `sole`: no other process delivers from this store (DuckDB), so the claims a killed process
        left are released at once instead of when they expire.
        """
        import httpx

        if sole:
            with self.rows.tx() as t:
                t.execute(f"UPDATE {ident(DELIVERIES.name)} SET claimed_until = NULL")

        self._client = httpx.Client(timeout=self.timeout, follow_redirects=False)
        self._thread = threading.Thread(target=self._loop, name="courier", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Finish the attempts in flight and stop."""
        self._stop.set()
        _WAKE.set()
        if self._thread is not None:
            self._thread.join(self.timeout + 5)
        self._pool.shutdown(wait=True)
        if self._client is not None:
            self._client.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.run_once()
            except Exception:
                busy = 0
                time.sleep(self.poll)
            if not busy:
                _WAKE.wait(self.poll)
                _WAKE.clear()

    def run_once(self) -> int:
        """Fan out new events and make the attempts that are due; how many were made."""
        self.fan_out()
        due = self._claim()
        if not due:
            return 0
        results = list(self._pool.map(self._deliver, due))
        with self.rows.tx() as t:  # one commit for the round's attempts
            for r in results:
                self._record(t, *r)
        return len(due)

    # -------------------------------------------------------------------------- fan-out
    def fan_out(self, limit: int = 1000) -> int:
        """Deliveries for each new event to each active endpoint that takes its type."""
        lock = " FOR UPDATE SKIP LOCKED" if self.rows.engine == "postgres" else ""
        with self.rows.tx() as t:
            events = t.query(
                f'SELECT id, type, "at" FROM {ident(OUTBOX.name)} WHERE NOT fanned_out '
                f'ORDER BY "at", id LIMIT ?{lock}',
                [limit],
            )
            if not events:
                return 0
            active = [
                (r["id"], set(json.loads(r["events"] or "[]")), r["created_at"])
                for r in t.query(
                    f"SELECT id, events, created_at FROM {ident(WEBHOOKS.name)} WHERE disabled_at IS NULL"
                )
            ]
            now = self.now()
            made = [
                _pending(e["id"], ep, now)
                for e in events
                for ep, kinds, since in active
                if (not kinds or e["type"] in kinds) and since <= e["at"]
            ]
            if made:
                t.insert(DELIVERIES, made)
            ids = [e["id"] for e in events]
            marks = ", ".join("?" for _ in ids)
            t.execute(f"UPDATE {ident(OUTBOX.name)} SET fanned_out = TRUE WHERE id IN ({marks})", ids)
        return len(made)

    # -------------------------------------------------------------------------- attempts
    def _claim(self, limit: int = 200) -> list[dict[str, Any]]:
        """Due deliveries, leased for a minute so that no other worker sends them meanwhile."""
        now = self.now()
        lock = " FOR UPDATE OF d SKIP LOCKED" if self.rows.engine == "postgres" else ""
        with self.rows.tx() as t:
            due = t.query(
                'SELECT d.event_id, d.endpoint_id, d.attempts, o.type, o."at", o.data, w.url, w.secret, '
                f"w.old_secret, w.old_until, w.failing_since FROM {ident(DELIVERIES.name)} d "
                f"JOIN {ident(OUTBOX.name)} o ON o.id = d.event_id "
                f"JOIN {ident(WEBHOOKS.name)} w ON w.id = d.endpoint_id "
                "WHERE d.state = 'pending' AND d.next_at <= ? AND w.disabled_at IS NULL "
                "AND (d.claimed_until IS NULL OR d.claimed_until < ?) "
                f"ORDER BY d.next_at LIMIT ?{lock}",
                [now, now, limit],
            )
            if due:
                lease = now + timedelta(seconds=self.timeout + 5)
                pairs = ", ".join("(?, ?)" for _ in due)
                t.execute(
                    f"UPDATE {ident(DELIVERIES.name)} SET claimed_until = ? "
                    f"WHERE (event_id, endpoint_id) IN ({pairs})",
                    [lease, *(x for d in due for x in (d["event_id"], d["endpoint_id"]))],
                )
        return due

    def _deliver(self, d: dict[str, Any]) -> tuple[Any, ...]:
        import httpx

        at = self.now()
        data = json.loads(d["data"]) if isinstance(d["data"], str) else d["data"]
        body = body_of(d["event_id"], d["type"], d["at"], data)
        keys = [d["secret"]] + (
            [d["old_secret"]] if d["old_secret"] and d["old_until"] and d["old_until"] > at else []
        )
        stamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "user-agent": "Accord-Webhooks/1",
            "webhook-id": d["event_id"],
            "webhook-timestamp": str(stamp),
            "webhook-signature": signatures(keys, d["event_id"], stamp, body),
        }
        status: int | None = None
        said: str | None = None
        retry_after: float | None = None
        t0 = time.perf_counter()
        try:
            check_url(d["url"], self.allow)  # again at send time: DNS may have changed since
            r = self._client.post(d["url"], content=body, headers=headers)
            status, said = r.status_code, r.text[:500]
            retry_after = (
                _seconds(str(r.headers.get("retry-after") or ""), at) if status in HONOURED else None
            )
        except ConfigError as exc:
            said = str(exc)[:500]
        except httpx.HTTPError as exc:
            said = f"{type(exc).__name__}: {exc}"[:500]
        latency = (time.perf_counter() - t0) * 1000
        return d, at, status, latency, said, retry_after

    def _record(
        self,
        t: Tx,
        d: dict[str, Any],
        at: datetime,
        status: int | None,
        latency: float,
        said: str | None,
        retry_after: float | None,
    ) -> None:
        tried = int(d["attempts"]) + 1
        key = [d["event_id"], d["endpoint_id"]]
        deliveries, hooks = ident(DELIVERIES.name), ident(WEBHOOKS.name)

        def give_up(t: Tx) -> None:
            t.execute(
                f"UPDATE {deliveries} SET state = 'failed', attempts = ?, last_status = ?, "
                "next_at = NULL, claimed_until = NULL WHERE event_id = ? AND endpoint_id = ?",
                [tried, status, *key],
            )

        t.append(
            ATTEMPTS,
            [
                {
                    "id": "att_" + uuid.uuid4().hex,
                    "event_id": d["event_id"],
                    "endpoint_id": d["endpoint_id"],
                    "at": at,
                    "status": status,
                    "latency_ms": round(latency, 2),
                    "response": said,
                }
            ],
        )
        if status is not None and 200 <= status < 300:
            t.execute(
                f"UPDATE {deliveries} SET state = 'delivered', attempts = ?, last_status = ?, "
                "delivered_at = ?, next_at = NULL, claimed_until = NULL "
                "WHERE event_id = ? AND endpoint_id = ?",
                [tried, status, at, *key],
            )
            if d["failing_since"] is not None:
                t.execute(f"UPDATE {hooks} SET failing_since = NULL WHERE id = ?", [d["endpoint_id"]])
            return
        if status == 410:
            give_up(t)
            self._disable(
                t, d["endpoint_id"], d["url"], "410 Gone: the receiver asked for no more events", at
            )
            return
        since = d["failing_since"] or at
        if since == at:
            t.execute(f"UPDATE {hooks} SET failing_since = ? WHERE id = ?", [at, d["endpoint_id"]])
        if at - since >= GIVE_UP:
            give_up(t)
            self._disable(t, d["endpoint_id"], d["url"], f"failing since {since:%Y-%m-%d %H:%M} UTC", at)
            return
        if tried >= len(self.schedule):
            give_up(t)
            return
        wait = self.schedule[tried] * random.uniform(0.9, 1.1)  # noqa: S311 - jitter, not secrecy
        if retry_after is not None:
            wait = max(wait, retry_after)
        t.execute(
            f"UPDATE {deliveries} SET attempts = ?, last_status = ?, next_at = ?, claimed_until = NULL "
            "WHERE event_id = ? AND endpoint_id = ?",
            [tried, status, at + timedelta(seconds=wait), *key],
        )

    def _disable(self, t: Tx, endpoint_id: str, url: str, why: str, at: datetime) -> None:
        t.execute(
            f"UPDATE {ident(WEBHOOKS.name)} SET disabled_at = ?, disabled_reason = ? WHERE id = ?",
            [at, why, endpoint_id],
        )
        t.execute(
            f"UPDATE {ident(DELIVERIES.name)} SET state = 'failed', next_at = NULL "
            "WHERE endpoint_id = ? AND state = 'pending'",
            [endpoint_id],
        )
        emit(t, "endpoint.disabled", {"endpoint_id": endpoint_id, "url": url, "reason": why}, at)


def _seconds(value: str | None, at: datetime) -> float | None:
    """`Retry-After` as seconds: a number, or an HTTP date."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when.replace(tzinfo=None) - at).total_seconds())


# ------------------------------------------------------------------------------ what events carry
class LeadMql(BaseModel):
    """`lead.mql`: a lead met the MQL definition (the sentence says why, for the rep)."""

    lead_id: str
    score: float
    grade: str
    band: int
    sentence: str
    pact: str
    pact_version: int
    as_of: Instant


class LeadScoreChanged(BaseModel):
    """`lead.score_changed`: a lead's grade or engagement band moved."""

    lead_id: str
    score: float
    grade: str
    band: int
    grade_before: str
    band_before: int
    pact: str
    pact_version: int
    as_of: Instant


class LeadFeedback(BaseModel):
    """`lead.feedback`: sales' verdict on a lead and the stage it moved the lead to."""

    lead_id: str
    action: str
    reason: str | None
    points: float | None
    actor: str
    from_stage: str
    to_stage: str | None


class LeadRecycled(BaseModel):
    """`lead.recycled`: sales sent a lead back to marketing."""

    lead_id: str
    reason: str | None
    actor: str


class PactEvent(BaseModel):
    """`pact.submitted`, `pact.approved` (with `team`), `pact.activated`."""

    pact: str
    version: int
    content_hash: str
    by: str
    team: str | None = None


class JobFinished(BaseModel):
    """`job.finished`: a background job (a rescore, a recomputed review) ended."""

    job_id: str
    kind: str
    state: str
    message: str


class EndpointDisabled(BaseModel):
    """`endpoint.disabled`: an endpoint answered 410 or failed for five days."""

    endpoint_id: str
    url: str
    reason: str


EVENT_DATA: dict[str, type[BaseModel]] = {
    "lead.mql": LeadMql,
    "lead.score_changed": LeadScoreChanged,
    "lead.recycled": LeadRecycled,
    "lead.feedback": LeadFeedback,
    "pact.submitted": PactEvent,
    "pact.approved": PactEvent,
    "pact.activated": PactEvent,
    "job.finished": JobFinished,
    "endpoint.disabled": EndpointDisabled,
}
"""Each event type's `data` object (documented in the OpenAPI spec's `webhooks`)."""
