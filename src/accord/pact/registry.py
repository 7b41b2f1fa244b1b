"""Pact versions in the store: submitted, approved by each team, activated.

An approval signs one content (its hash): a pact whose rules change after an
approval is another content that needs new approvals. Activation needs both
marketing's and sales' approval of the very content activated; the latest
activation is the pact in force. Who acts comes as `by` (a name) and `via`
(`cli`, or the service key that authenticated the request).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Literal

import pyarrow as pa
from pydantic import BaseModel

from accord.errors import ActivationRefused, PactError, PactRefError
from accord.model.json_types import Instant
from accord.model.tables import PACT_ACTIVATIONS, PACT_APPROVALS, PACT_VERSIONS, TableSpec
from accord.pact.io import parse_pact
from accord.pact.schema import Approval, Pact
from accord.store.connection import Store
from accord.store.rows import Tx

TEAMS: tuple[Literal["marketing", "sales"], ...] = ("marketing", "sales")


class Signature(BaseModel):
    """One team's approval of one pact content."""

    team: Literal["marketing", "sales"]
    by: str
    at: Instant
    via: str | None = None
    comment: str | None = None


class PactVersion(BaseModel):
    """A submitted pact version: its content, who submitted it, and who approved it."""

    pact: str
    version: int
    content_hash: str
    submitted_at: Instant
    author: str | None
    via: str | None
    yaml: str
    approvals: list[Signature]
    active: bool = False

    @property
    def label(self) -> str:
        """`demo-scoring v3 (sha256:9c1f2a3b)`."""
        return f"{self.pact} v{self.version} ({self.content_hash[:15]})"

    @property
    def missing(self) -> list[str]:
        """The teams that have not approved this content."""
        signed = {a.team for a in self.approvals}
        return [t for t in TEAMS if t not in signed]

    def to_pact(self) -> Pact:
        """The pact, its `approvals:` filled from what the store recorded."""
        pact = parse_pact(self.yaml, f"{self.pact} v{self.version} in the store")
        signed = [Approval(team=a.team, by=a.by, at=a.at.date()) for a in self.approvals]
        return pact.model_copy(update={"approvals": signed})


class PactEvent(BaseModel):
    """One line of a pact's history."""

    at: Instant
    what: Literal["submitted", "approved", "activated"]
    pact: str
    version: int
    content_hash: str
    by: str | None
    team: str | None = None
    via: str | None = None


class PactStatus(BaseModel):
    """The version in force and the ones waiting for approval."""

    active: PactVersion | None
    activated_at: Instant | None
    activated_by: str | None
    pending: list[PactVersion]


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _append(store: Store, spec: TableSpec, row: dict[str, Any], tx: Tx | None) -> None:
    store.table(spec.name)  # created (or brought up to its spec) first
    if tx is not None:
        tx.insert(spec, [row])
        return
    store.write_arrow(
        spec.name,
        pa.Table.from_pylist([row], schema=spec.schema.to_pyarrow()),
        schema=spec.schema,
        append=True,
    )


def ensure_tables(store: Store) -> None:
    """Create the registry's tables, before a transaction that writes them opens.

    DuckDB's catalog is versioned: a table made after a transaction began is not there for it.
    """
    for spec in (PACT_VERSIONS, PACT_APPROVALS, PACT_ACTIVATIONS):
        store.table(spec.name)


def _rows(store: Store, spec: TableSpec) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = store.table(spec.name).to_pyarrow().to_pylist()
    return rows


def versions(store: Store) -> list[PactVersion]:
    """Every submitted version with its approvals, oldest first; the active one marked."""
    return _versions(store, _active_row(store))


def _versions(store: Store, active: dict[str, Any] | None) -> list[PactVersion]:
    signed: dict[str, list[Signature]] = {}
    for a in sorted(_rows(store, PACT_APPROVALS), key=lambda r: r["approved_at"]):
        signed.setdefault(str(a["content_hash"]), []).append(
            Signature(
                team=a["team"],
                by=str(a["approved_by"]),
                at=a["approved_at"],
                via=a["via"],
                comment=a["comment"],
            )
        )
    out = [
        PactVersion(
            pact=str(r["pact"]),
            version=int(r["version"]),
            content_hash=str(r["content_hash"]),
            submitted_at=r["submitted_at"],
            author=r["author"],
            via=r["via"],
            yaml=str(r["yaml"]),
            approvals=signed.get(str(r["content_hash"]), []),
            active=active is not None and active["content_hash"] == r["content_hash"],
        )
        for r in _rows(store, PACT_VERSIONS)
    ]
    return sorted(out, key=lambda v: (v.submitted_at, v.content_hash))


def _active_row(store: Store) -> dict[str, Any] | None:
    rows = _rows(store, PACT_ACTIVATIONS)
    return max(rows, key=lambda r: (r["activated_at"], str(r["content_hash"]))) if rows else None


def submit(
    store: Store,
    yaml_text: str,
    *,
    by: str | None,
    via: str = "cli",
    where: str = "<pact>",
    tx: Tx | None = None,
) -> PactVersion:
    """Record a pact version (validated first); submitting the same content again changes nothing.

    With `tx` the row is written in that transaction (the service's, beside its audit entry and event).
    """
    pact = parse_pact(yaml_text, where)
    digest = pact.content_hash
    for v in versions(store):
        if v.content_hash == digest:
            return v
    row = {
        "pact": pact.pact,
        "version": pact.version,
        "content_hash": digest,
        "submitted_at": _now(),
        "author": by,
        "via": via,
        "yaml": yaml_text,
    }
    _append(store, PACT_VERSIONS, row, tx)
    return PactVersion(**row, approvals=[])


def resolve(store: Store, ref: str) -> PactVersion:
    """The version `ref` names: `3`, `v3`, `NAME@3`, `NAME v3`, or a content hash (or its start).

    A version number that was submitted with several contents means the latest of them.
    """
    all_versions = versions(store)
    if not all_versions:
        raise PactRefError("no pact has been submitted to this store yet: `accord pact submit FILE`")
    text = ref.strip()
    name, _, number = text.replace(" v", "@").rpartition("@")
    number = number.removeprefix("v")
    if number.isascii() and number.isdigit():  # `str.isdigit` also takes '¹', which int() refuses
        found = [v for v in all_versions if v.version == int(number) and (not name or v.pact == name)]
    else:
        digest = text if text.startswith("sha256:") else f"sha256:{text}"
        found = [v for v in all_versions if v.content_hash.startswith(digest)] if len(text) >= 6 else []
        if len({v.content_hash for v in found}) > 1:
            raise PactRefError(f"{ref!r} starts more than one content hash; give more of it")
    if not found:
        known = ", ".join(f"{v.pact} v{v.version}" for v in all_versions[-5:])
        raise PactRefError(
            f"no submitted pact version {ref!r}; the latest: {known} (see `accord pact history`)"
        )
    return found[-1]


def approve(
    store: Store,
    ref: str,
    team: str,
    *,
    by: str,
    via: str = "cli",
    comment: str | None = None,
    tx: Tx | None = None,
) -> PactVersion:
    """Record `team`'s approval of version `ref`'s content; approving again changes nothing."""
    if team not in TEAMS:
        raise PactError(f"--team must be marketing or sales, not {team!r}")
    if not by.strip():
        raise PactError("an approval needs who gives it: --by NAME")
    v = resolve(store, ref)
    if any(a.team == team and a.by == by for a in v.approvals):
        return v
    signature = Signature(team=team, by=by, at=_now(), via=via, comment=comment)
    _append(
        store,
        PACT_APPROVALS,
        {
            "pact": v.pact,
            "version": v.version,
            "content_hash": v.content_hash,
            "team": team,
            "approved_by": by,
            "approved_at": signature.at,
            "via": via,
            "comment": comment,
        },
        tx,
    )
    return v.model_copy(update={"approvals": [*v.approvals, signature]})


def activate(
    store: Store, ref: str, *, by: str | None, via: str = "cli", tx: Tx | None = None
) -> PactVersion:
    """Make version `ref` the pact in force; refused unless marketing and sales approved its content."""
    v = resolve(store, ref)
    if v.missing:
        who = " and ".join(v.missing)
        signed = "; ".join(f"{a.team}: {a.by} on {a.at:%Y-%m-%d}" for a in v.approvals)
        raise ActivationRefused(
            f"cannot activate {v.label}: {who} {'has' if len(v.missing) == 1 else 'have'} not approved it"
            + (f" (approved so far by {signed})" if signed else "")
            + f"; run `accord pact approve {v.pact}@{v.version} --team {v.missing[0]} --by NAME`"
        )
    if v.active:
        return v
    _append(
        store,
        PACT_ACTIVATIONS,
        {
            "pact": v.pact,
            "version": v.version,
            "content_hash": v.content_hash,
            "activated_at": _now(),
            "activated_by": by,
            "via": via,
        },
        tx,
    )
    return v.model_copy(update={"active": True})


def status(store: Store) -> PactStatus:
    """The active version, when and by whom it was activated, and what waits for approval."""
    row = _active_row(store)
    all_versions = _versions(store, row)
    active = next((v for v in all_versions if v.active), None)
    pending = [
        v
        for v in all_versions
        if not v.active and v.submitted_at >= (row["activated_at"] if row else datetime.min)
    ]
    return PactStatus(
        active=active,
        activated_at=row["activated_at"] if row else None,
        activated_by=row["activated_by"] if row else None,
        pending=pending,
    )


def history(store: Store) -> list[PactEvent]:
    """Every submission, approval and activation, oldest first."""
    events = [
        PactEvent(
            at=v.submitted_at,
            what="submitted",
            pact=v.pact,
            version=v.version,
            content_hash=v.content_hash,
            by=v.author,
            via=v.via,
        )
        for v in versions(store)
    ]
    events += _events(store, PACT_APPROVALS, "approved", "approved_at", "approved_by")
    events += _events(store, PACT_ACTIVATIONS, "activated", "activated_at", "activated_by")
    order = {"submitted": 0, "approved": 1, "activated": 2}
    return sorted(events, key=lambda e: (e.at, order[e.what]))


def _events(
    store: Store, spec: TableSpec, what: Literal["approved", "activated"], at: str, by: str
) -> list[PactEvent]:
    return [
        PactEvent(
            at=r[at],
            what=what,
            pact=str(r["pact"]),
            version=int(r["version"]),
            content_hash=str(r["content_hash"]),
            by=r[by],
            team=r.get("team"),
            via=r["via"],
        )
        for r in _rows(store, spec)
    ]


def active_pact(store: Store) -> Pact | None:
    """The pact in force, with the approvals the store recorded; None before any activation."""
    v = next((v for v in versions(store) if v.active), None)
    return v.to_pact() if v else None


def export_yaml(v: PactVersion) -> str:
    """The version's YAML as submitted, its `approvals:` list replaced by what the store recorded."""
    lines = v.yaml.splitlines()
    out: list[str] = []
    skipping = False
    for line in lines:
        top = bool(line) and not line[0].isspace() and not line.startswith("#")
        if top:
            skipping = line.startswith("approvals:")
        if not skipping:
            out.append(line)
    while out and not out[-1].strip():
        out.pop()
    signed = [
        f"  - {{team: {a.team}, by: {json.dumps(a.by)}, at: {a.at:%Y-%m-%d}}}"
        for a in sorted(v.approvals, key=lambda a: a.at)
    ]
    block = ["", f"# Approvals of {v.content_hash}, as recorded in the store (an export, not signatures)."]
    block += ["approvals:", *signed] if signed else ["approvals: []"]
    return "\n".join(out + block) + "\n"
