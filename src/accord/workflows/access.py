"""Who may do what through the service: API keys with roles, and the audit log of every write.

Roles are data (:data:`ROLES`): each grants a set of permissions, and every route names
the one it needs. Keys are random, shown once, and stored only as a SHA-256.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel

from accord.errors import ConfigError, ConflictError
from accord.model.json_types import Instant
from accord.model.tables import API_KEYS, AUDIT_LOG, SERVICE_TABLES, SESSIONS
from accord.store.rows import Conflict, Rows
from accord.store.sql import ident


class Permission(StrEnum):
    """What a route needs."""

    READ = "read"
    INGEST = "ingest"
    FEEDBACK = "feedback"
    PACT_SUBMIT = "pact:submit"
    PACT_APPROVE = "pact:approve"
    PACT_ACTIVATE = "pact:activate"
    WEBHOOKS = "webhooks"
    ADMIN = "admin"


ROLES: dict[str, frozenset[Permission]] = {
    "admin": frozenset(Permission),
    "marketing": frozenset(
        {
            Permission.READ,
            Permission.PACT_SUBMIT,
            Permission.PACT_APPROVE,
            Permission.PACT_ACTIVATE,
            Permission.WEBHOOKS,
        }
    ),
    "sales": frozenset(
        {Permission.READ, Permission.FEEDBACK, Permission.PACT_APPROVE, Permission.PACT_ACTIVATE}
    ),
    "viewer": frozenset({Permission.READ}),
    "ingest": frozenset({Permission.INGEST}),
}
"""Each role's permissions: admin all; marketing pacts and webhooks; sales feedback; viewer reads;
ingest rows."""

TEAM_OF_ROLE = {"marketing": "marketing", "sales": "sales"}
"""The team whose approval a role's key gives."""

PREFIX = "acc_"


class KeyRow(BaseModel):
    """A key as `accord keys list` shows it (never the key itself)."""

    name: str
    role: str
    prefix: str
    created_at: Instant
    revoked_at: Instant | None


class NewKey(BaseModel):
    """A key just made: the only time it is shown."""

    name: str
    role: str
    key: str


class Principal(BaseModel):
    """Who a request is: the key's name and role."""

    name: str
    role: str

    def may(self, permission: Permission) -> bool:
        """Whether the role grants `permission`."""
        return permission in ROLES.get(self.role, frozenset())


def digest(key: str) -> str:
    """SHA-256 of a key, hex (keys are 256 random bits: a slow hash would add nothing)."""
    return hashlib.sha256(key.encode()).hexdigest()


def prepare(rows: Rows) -> None:
    """Create the service's own tables."""
    rows.ensure(list(SERVICE_TABLES.values()), primary_keys=True)


def create_key(rows: Rows, name: str, role: str, *, now: datetime, by: str = "cli") -> NewKey:
    """A new key for `name` with `role`; refused if `name` holds a valid key already."""
    if role not in ROLES:
        raise ConfigError(f"unknown role {role!r}; valid: {', '.join(ROLES)}")
    if not name.strip() or len(name) > 100:
        raise ConfigError("a key needs a name of 1 to 100 characters (who or what holds it)")
    prepare(rows)
    key = PREFIX + secrets.token_urlsafe(32)
    with rows.tx() as t:
        old = t.one(f"SELECT revoked_at FROM {ident(API_KEYS.name)} WHERE name = ?", [name])
        if old is not None and old["revoked_at"] is None:
            raise ConflictError(f"a key named {name!r} exists; revoke it first (`accord keys revoke {name}`)")
        if old is not None:
            t.execute(f"DELETE FROM {ident(API_KEYS.name)} WHERE name = ?", [name])
        try:
            t.insert(
                API_KEYS,
                [
                    {
                        "name": name,
                        "role": role,
                        "key_hash": digest(key),
                        "prefix": key[:8],
                        "created_at": now,
                        "revoked_at": None,
                    }
                ],
            )
        except Conflict as exc:
            raise ConflictError(f"a key named {name!r} was just made by someone else") from exc
        audit(t, by, "admin", "keys.create", name, None, {"name": name, "role": role}, now)
    return NewKey(name=name, role=role, key=key)


def list_keys(rows: Rows) -> list[KeyRow]:
    """Every key, newest first."""
    prepare(rows)
    return [
        KeyRow.model_validate(r)
        for r in rows.query(
            f"SELECT name, role, prefix, created_at, revoked_at FROM {ident(API_KEYS.name)} "
            "ORDER BY created_at DESC, name"
        )
    ]


def revoke_key(rows: Rows, name: str, *, now: datetime, by: str = "cli") -> KeyRow:
    """Revoke the key `name` (from its next request on)."""
    from accord.errors import UnknownKeyError

    prepare(rows)
    with rows.tx() as t:
        row = t.one(
            f"SELECT name, role, prefix, created_at, revoked_at FROM {ident(API_KEYS.name)} WHERE name = ?",
            [name],
        )
        if row is None:
            raise UnknownKeyError(f"no key named {name!r}; `accord keys list` shows them")
        if row["revoked_at"] is None:
            t.execute(f"UPDATE {ident(API_KEYS.name)} SET revoked_at = ? WHERE name = ?", [now, name])
            audit(
                t, by, None, "keys.revoke", name, {"revoked_at": None}, {"revoked_at": now.isoformat()}, now
            )
            row["revoked_at"] = now
    return KeyRow.model_validate(row)


def verify(rows: Rows, key: str) -> Principal | None:
    """The holder of `key`, or None if it is unknown or revoked."""
    if not key.startswith(PREFIX):
        return None
    row = next(
        iter(
            rows.query(
                f"SELECT name, role FROM {ident(API_KEYS.name)} WHERE key_hash = ? AND revoked_at IS NULL",
                [digest(key)],
            )
        ),
        None,
    )
    return Principal(name=row["name"], role=row["role"]) if row else None


def audit(
    t: Any,
    actor: str,
    role: str | None,
    action: str,
    target: str | None,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    at: datetime,
) -> None:
    """Add one entry to the audit log inside the caller's transaction."""
    t.append(AUDIT_LOG, [audit_entry(actor, role, action, target, before, after, at)])


def audit_entry(
    actor: str,
    role: str | None,
    action: str,
    target: str | None,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    at: datetime,
) -> dict[str, Any]:
    """An `audit_log` row (the rows before and after as JSON), for callers that write many at once."""

    def dumps(row: dict[str, Any] | None) -> str | None:
        return None if row is None else json.dumps(row, sort_keys=True, default=_iso)

    return {
        "id": uuid.uuid4().hex,
        "at": at,
        "actor": actor,
        "role": role,
        "action": action,
        "target": target,
        "before": dumps(before),
        "after": dumps(after),
    }


def _iso(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


class AuditEntry(BaseModel):
    """One write: who, what, when, before and after."""

    id: str
    at: Instant
    actor: str
    role: str | None
    action: str
    target: str | None
    before: Any
    after: Any


def audit_log(
    rows: Rows,
    *,
    actor: str | None = None,
    action: str | None = None,
    limit: int = 100,
    before: datetime | None = None,
) -> list[AuditEntry]:
    """The latest audit entries, newest first, filtered by actor or action prefix."""
    where: list[str] = ["1 = 1"]
    params: list[Any] = []
    if actor is not None:
        where.append("actor = ?")
        params.append(actor)
    if action is not None:
        where.append("strpos(action, ?) = 1")
        params.append(action)
    if before is not None:
        where.append('"at" < ?')
        params.append(before)
    out = []
    for r in rows.query(
        f'SELECT * FROM {ident(AUDIT_LOG.name)} WHERE {" AND ".join(where)} ORDER BY "at" DESC, id LIMIT ?',
        [*params, limit],
    ):
        for side in ("before", "after"):
            r[side] = json.loads(r[side]) if r[side] else None
        out.append(AuditEntry.model_validate(r))
    return out


# ------------------------------------------------------------------------------- sessions
SESSION_HOURS = 12.0
"""How long a dashboard sign-in lasts."""


class Session(BaseModel):
    """A signed-in dashboard user: who, the CSRF token their writes carry, and when it ends."""

    who: Principal
    csrf: str
    expires_at: Instant


def sign_in(rows: Rows, key: str, *, now: datetime) -> tuple[str, Session] | None:
    """A new session (its cookie token and what it grants) for a valid key; None for a bad key."""
    who = verify(rows, key)
    if who is None:
        return None
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    ends = now + timedelta(hours=SESSION_HOURS)
    with rows.tx() as t:
        t.execute(f"DELETE FROM {ident(SESSIONS.name)} WHERE expires_at < ?", [now])
        t.insert(
            SESSIONS,
            [
                {
                    "token_hash": digest(token),
                    "key_hash": digest(key),
                    "csrf": csrf,
                    "created_at": now,
                    "expires_at": ends,
                }
            ],
        )
        audit(t, who.name, who.role, "sessions.sign_in", who.name, None, {"expires_at": ends}, now)
    return token, Session(who=who, csrf=csrf, expires_at=ends)


def session(rows: Rows, token: str, *, now: datetime) -> Session | None:
    """The session a cookie stands for, while it lasts and its key is not revoked."""
    row = rows.query(
        f"SELECT k.name, k.role, s.csrf, s.expires_at FROM {ident(SESSIONS.name)} s "
        f"JOIN {ident(API_KEYS.name)} k ON k.key_hash = s.key_hash "
        "WHERE s.token_hash = ? AND s.expires_at > ? AND k.revoked_at IS NULL",
        [digest(token), now],
    )
    if not row:
        return None
    r = row[0]
    return Session(who=Principal(name=r["name"], role=r["role"]), csrf=r["csrf"], expires_at=r["expires_at"])


def sign_out(rows: Rows, token: str, *, now: datetime) -> None:
    """End the session (the cookie is worthless after)."""
    found = session(rows, token, now=now)
    with rows.tx() as t:
        t.execute(f"DELETE FROM {ident(SESSIONS.name)} WHERE token_hash = ?", [digest(token)])
        if found is not None:
            audit(t, found.who.name, found.who.role, "sessions.sign_out", found.who.name, None, None, now)
