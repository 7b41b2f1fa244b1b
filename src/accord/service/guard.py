"""What every request passes before a route: the rate limit, the body size, and `Idempotency-Key`.

One ASGI middleware, since all three read the raw request: the key from the `Authorization`
header, the body as bytes. `Idempotency-Key` follows the IETF httpapi draft: the same key and
body replay the stored answer; the same key with another body is 422; one still running is 409.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import timedelta
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from accord.model.tables import IDEMPOTENCY_KEYS
from accord.service.problems import problem
from accord.store.rows import Conflict, Rows
from accord.store.sql import ident
from accord.workflows.live import now

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

STALE = timedelta(seconds=60)
"""A request marked in progress for longer than this was lost with its process; a retry takes it over."""


class Buckets:
    """A token bucket per caller: `rate` per second, bursts of twice that."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, 2 * rate)
        self._state: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, who: str) -> float:
        """0 when the request may go, else the seconds until it may."""
        t = time.monotonic()
        with self._lock:
            tokens, last = self._state.get(who, (self.capacity, t))
            tokens = min(self.capacity, tokens + (t - last) * self.rate)
            if tokens >= 1:
                self._state[who] = (tokens - 1, t)
                return 0.0
            self._state[who] = (tokens, t)
            return (1 - tokens) / self.rate


async def _send_problem(
    scope: Scope, receive: Receive, send: Send, status: int, title: str, detail: str, **extra: Any
) -> None:
    await problem(status, title, detail, **extra)(scope, receive, send)


class Guard:
    """Rate limit, body limit and idempotent retries in front of the app."""

    def __init__(self, app: App, *, rows: Callable[[], Rows | None], max_body: int, rate: float) -> None:
        self.app = app
        self.rows = rows
        self.max_body = max_body
        self.buckets = Buckets(rate)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse what is over a limit, replay what was answered, pass the rest on."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode().lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        who = hashlib.sha256(headers.get("authorization", "").encode()).hexdigest()
        path = scope.get("path", "")
        if path not in ("/healthz", "/readyz"):
            wait = self.buckets.take(
                who if headers.get("authorization") else f"ip:{(scope.get('client') or ('?',))[0]}"
            )
            if wait > 0:
                await problem(
                    429,
                    "Too many requests",
                    f"this key is over {self.buckets.rate:g} requests per second; retry after the pause",
                    headers={"Retry-After": str(max(1, math.ceil(wait)))},
                )(scope, receive, send)
                return
        if scope["method"] not in ("POST", "PUT", "PATCH", "DELETE"):
            await self.app(scope, receive, send)
            return
        declared = headers.get("content-length")
        sized = declared is not None and declared.isascii() and declared.isdigit()
        if sized and int(str(declared)) > self.max_body:
            await _send_problem(
                scope, receive, send, 413, "Too large", f"the body is over {self.max_body:,} bytes"
            )
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                await _send_problem(
                    scope, receive, send, 413, "Too large", f"the body is over {self.max_body:,} bytes"
                )
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if headers.get("content-encoding", "").lower() == "gzip":  # Segment's and RudderStack's clients
            plain = _gunzip(body, self.max_body)
            if plain is None:
                why = f"the body is not gzip or is over {self.max_body:,} bytes unpacked"
                await _send_problem(scope, receive, send, 413, "Too large", why)
                return
            body = plain
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        idem = headers.get("idempotency-key")
        rows = self.rows()
        if not idem or rows is None or scope["method"] != "POST":
            await self.app(scope, replay, send)
            return
        if len(idem) > 255:
            await _send_problem(
                scope, receive, send, 422, "Invalid request", "Idempotency-Key is longer than 255 characters"
            )
            return
        fingerprint = hashlib.sha256(
            scope["method"].encode() + b" " + path.encode() + b"\n" + body
        ).hexdigest()
        state = await run_in_threadpool(_claim, rows, who, idem, fingerprint)
        if state == "mismatch":
            await _send_problem(
                scope,
                receive,
                send,
                422,
                "Idempotency-Key reused",
                "this Idempotency-Key was used with another request body",
            )
            return
        if state == "busy":
            await _send_problem(
                scope,
                receive,
                send,
                409,
                "Request in progress",
                "a request with this Idempotency-Key is still running",
            )
            return
        if isinstance(state, tuple):
            status, ctype, stored = state
            replayed = Response(stored, status, {"Idempotent-Replayed": "true"}, media_type=ctype)
            await replayed(scope, receive, send)
            return
        captured: dict[str, Any] = {"status": 500, "type": "application/json", "body": []}

        async def keep(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                for k, v in message.get("headers", []):
                    if k.lower() == b"content-type":
                        captured["type"] = v.decode("latin-1")
            elif message["type"] == "http.response.body":
                captured["body"].append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, replay, keep)
        finally:
            status = int(captured["status"])
            stored_body = b"".join(captured["body"])
            # A server error is not an answer worth replaying: the key is freed for a retry.
            await run_in_threadpool(_finish, rows, who, idem, status, captured["type"], stored_body)


def _gunzip(data: bytes, limit: int) -> bytes | None:
    import zlib

    try:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out = d.decompress(data, limit + 1)
    except zlib.error:
        return None
    return out if len(out) <= limit and not d.unconsumed_tail else None


def _claim(rows: Rows, scope: str, key: str, fingerprint: str) -> str | tuple[int, str, bytes]:
    table = ident(IDEMPOTENCY_KEYS.name)
    for _ in range(3):
        with rows.tx() as t:
            row = t.one(f"SELECT * FROM {table} WHERE scope = ? AND idem_key = ?", [scope, key])
            if row is None:
                try:
                    t.insert(
                        IDEMPOTENCY_KEYS,
                        [
                            {
                                "scope": scope,
                                "idem_key": key,
                                "fingerprint": fingerprint,
                                "state": "in_progress",
                                "created_at": now(),
                            }
                        ],
                    )
                except Conflict:
                    continue
                return "claimed"
            if row["fingerprint"] != fingerprint:
                return "mismatch"
            if row["state"] == "done":
                return int(row["status"]), str(row["content_type"]), str(row["body"]).encode()
            if now() - row["created_at"] < STALE:
                return "busy"
            t.execute(
                f"UPDATE {table} SET created_at = ? WHERE scope = ? AND idem_key = ?", [now(), scope, key]
            )
            return "claimed"
    return "busy"


def _finish(rows: Rows, scope: str, key: str, status: int, ctype: str, body: bytes) -> None:
    table = ident(IDEMPOTENCY_KEYS.name)
    with rows.tx() as t:
        if status >= 500:
            t.execute(f"DELETE FROM {table} WHERE scope = ? AND idem_key = ?", [scope, key])
            return
        t.execute(
            f"UPDATE {table} SET state = 'done', status = ?, content_type = ?, body = ? "
            "WHERE scope = ? AND idem_key = ?",
            [status, ctype, body.decode("utf-8", "replace"), scope, key],
        )


def release_idempotency(rows: Rows) -> None:
    """Forget requests left in progress by a process that stopped (a retry runs them at once)."""
    with rows.tx() as t:
        t.execute(f"DELETE FROM {ident(IDEMPOTENCY_KEYS.name)} WHERE state = 'in_progress'")
