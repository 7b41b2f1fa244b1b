"""What routes depend on: the service's state, the caller, and the permission a route needs."""

from __future__ import annotations

import base64
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from accord.service.settings import Settings
from accord.store.connection import Store
from accord.store.rows import Rows
from accord.workflows.access import Permission, Principal, Session, digest, session, verify
from accord.workflows.live import Live, now


@dataclass
class State:
    """One process's service: its store, row access, the real-time use cases."""

    settings: Settings
    store: Store
    rows: Rows
    live: Live
    heavy: threading.RLock = field(default_factory=threading.RLock)
    """Ibis work (pacts, attribution, evaluation) shares one connection: one at a time."""
    collect: Any = None
    keys: dict[str, tuple[Principal, float]] = field(default_factory=dict)
    """Keys verified lately, by their hash (a revocation elsewhere is seen within `KEY_TTL`)."""
    sessions: dict[str, tuple[Session, float]] = field(default_factory=dict)
    """Dashboard sessions seen lately, by their cookie's hash."""
    cache: dict[tuple[Any, ...], tuple[float, Any]] = field(default_factory=dict)
    """Computed reads (attribution, back-test) by their parameters, with when they were computed."""


def state(request: Request) -> State:
    """The process's service state."""
    found: State = request.app.state.accord
    return found


AppState = Annotated[State, Depends(state)]

_bearer = HTTPBearer(auto_error=False, description="An API key made with `accord keys create`.")


KEY_TTL = 2.0
"""Seconds a verified key is trusted without asking the store again."""


def _verified(s: State, key: str) -> Principal | None:
    h = digest(key)
    hit = s.keys.get(h)
    if hit is not None and time.monotonic() - hit[1] < KEY_TTL:
        return hit[0]
    who = verify(s.rows, key)
    if who is None:
        s.keys.pop(h, None)
        return None
    s.keys[h] = (who, time.monotonic())
    return who


COOKIE = "accord_session"
"""The dashboard's session cookie (HttpOnly, SameSite=Strict)."""
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def signed_in(s: State, token: str) -> Session | None:
    """The session behind a cookie (trusted for `KEY_TTL` seconds, like a key)."""
    h = digest(token)
    hit = s.sessions.get(h)
    if hit is not None and time.monotonic() - hit[1] < KEY_TTL:
        return hit[0]
    found = session(s.rows, token, now=now())
    if found is None:
        s.sessions.pop(h, None)
        return None
    s.sessions[h] = (found, time.monotonic())
    return found


def _from_cookie(request: Request, s: State) -> Principal | None:
    """The page's user, when the request carries a session cookie; writes need the CSRF token too."""
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    found = signed_in(s, token)
    if found is None:
        raise HTTPException(401, "the session ended: sign in again at /login")
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not secrets.compare_digest(sent.encode(), found.csrf.encode()):
            raise HTTPException(403, f"a write from the dashboard must carry its {CSRF_HEADER} header")
    return found.who


def caller(
    request: Request,
    s: AppState,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """Who is calling, from `Authorization: Bearer KEY` or the dashboard's session cookie."""
    if creds is None or not creds.credentials:
        who = _from_cookie(request, s)
        if who is not None:
            request.state.principal = who
            return who
        raise HTTPException(
            401, "send an API key: Authorization: Bearer KEY", headers={"WWW-Authenticate": "Bearer"}
        )
    who = _verified(s, creds.credentials)
    if who is None:
        raise HTTPException(401, "this API key is unknown or revoked", headers={"WWW-Authenticate": "Bearer"})
    request.state.principal = who
    return who


class Allow:
    """A route's permission check; the role walk test finds every route's through this class."""

    def __init__(self, permission: Permission) -> None:
        self.permission = permission

    def __call__(self, who: Annotated[Principal, Depends(caller)]) -> Principal:
        """The caller, if their role grants the permission; else 403."""
        if not who.may(self.permission):
            raise HTTPException(
                403, f"the {who.role} role may not do this (it needs {self.permission.value})"
            )
        return who


def allow(permission: Permission) -> Callable[..., Principal]:
    """`Depends(allow(Permission.X))` in a route's signature."""
    return Allow(permission)


def basic_ingest(request: Request, s: AppState) -> Principal:
    """The Segment convention: HTTP Basic with the write key (an ingest key) as user name."""
    header = request.headers.get("authorization", "")
    key = ""
    if header.lower().startswith("basic "):
        try:
            key = base64.b64decode(header[6:]).decode().split(":", 1)[0]
        except (ValueError, UnicodeDecodeError):
            key = ""
    elif header.lower().startswith("bearer "):
        key = header[7:].strip()
    who = _verified(s, key) if key else None
    if who is None:
        raise HTTPException(
            401,
            "send an ingest key as the Basic auth user name",
            headers={"WWW-Authenticate": 'Basic realm="accord"'},
        )
    if not who.may(Permission.INGEST):
        raise HTTPException(403, f"the {who.role} role may not do this (it needs ingest)")
    return who


Reader = Annotated[Principal, Depends(allow(Permission.READ))]
Ingester = Annotated[Principal, Depends(allow(Permission.INGEST))]
Seller = Annotated[Principal, Depends(allow(Permission.FEEDBACK))]
Submitter = Annotated[Principal, Depends(allow(Permission.PACT_SUBMIT))]
Approver = Annotated[Principal, Depends(allow(Permission.PACT_APPROVE))]
Activator = Annotated[Principal, Depends(allow(Permission.PACT_ACTIVATE))]
Admin = Annotated[Principal, Depends(allow(Permission.ADMIN))]
Hooker = Annotated[Principal, Depends(allow(Permission.WEBHOOKS))]
Collector = Annotated[Principal, Depends(basic_ingest)]
