"""Which pact a command uses, and pact changes recorded with their audit entry and event."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from accord.errors import NoActivePactError
from accord.pact import load_pact, registry
from accord.pact.registry import PactVersion, active_pact
from accord.pact.schema import Pact
from accord.store.connection import Store
from accord.store.rows import Rows, Tx
from accord.workflows.access import audit, prepare
from accord.workflows.webhooks import emit


class ChosenPact(BaseModel):
    """The pact a command runs with, and whether it is a draft (not the store's active version)."""

    model_config = ConfigDict(frozen=True)

    pact: Pact
    draft: bool
    source: str
    """`the store's active version`, or the file it was read from."""

    @property
    def label(self) -> str:
        """`demo-scoring v2 (active)` or `demo-scoring v3 (draft from pact.next.yaml)`."""
        p = self.pact
        return f"{p.pact} v{p.version} " + (f"(draft from {self.source})" if self.draft else "(active)")


def choose_pact(store: Store, file: Path | str | None) -> ChosenPact:
    """The active version when no file is given; else the file, a draft unless it is the active content."""
    active = active_pact(store)
    if file is None:
        if active is None:
            raise NoActivePactError(
                f"{store.describe()} has no active pact: submit one (`accord pact submit FILE`), have "
                "marketing and sales approve it, activate it, or give --pact FILE to use a draft"
            )
        return ChosenPact(pact=active, draft=False, source="the store's active version")
    pact = load_pact(file)
    is_active = active is not None and active.content_hash == pact.content_hash
    return ChosenPact(pact=active if is_active and active else pact, draft=not is_active, source=str(file))


class PactDiffView(BaseModel):
    """What a version changes against the active one, line by line."""

    version: str
    against: str | None
    added: list[str]
    removed: list[str]
    changed: list[str]
    thresholds: list[str]


def diff_with_active(store: Store, ref: str) -> PactDiffView:
    """Version `ref` against the pact in force (everything is added when none is)."""
    from accord.pact import diff_pacts
    from accord.pact.registry import resolve

    v = resolve(store, ref)
    new = v.to_pact()
    active = active_pact(store)
    if active is None:
        return PactDiffView(
            version=v.label,
            against=None,
            added=[f"model {m}" for m in new.models],
            removed=[],
            changed=[],
            thresholds=[],
        )
    d = diff_pacts(active, new)
    return PactDiffView(
        version=v.label,
        against=f"{active.pact} v{active.version} ({active.content_hash[:15]})",
        added=d.added,
        removed=d.removed,
        changed=d.changed,
        thresholds=d.thresholds,
    )


def submit_pact(
    store: Store,
    text: str,
    *,
    by: str | None,
    role: str | None = None,
    via: str = "cli",
    where: str = "<pact>",
    rows: Rows | None = None,
) -> PactVersion:
    """Submit a draft: its version row, audit entry and `pact.submitted` event in one transaction."""
    return _record(
        store,
        rows,
        lambda t: registry.submit(store, text, by=by, via=via, where=where, tx=t),
        actor=by or via,
        role=role,
        action="pacts.submit",
        event="pact.submitted",
        after=lambda v: {"content_hash": v.content_hash},
    )


def approve_pact(
    store: Store,
    ref: str,
    team: str,
    *,
    by: str,
    role: str | None = None,
    via: str = "cli",
    comment: str | None = None,
    rows: Rows | None = None,
) -> PactVersion:
    """Approve for one team: the approval, audit entry and `pact.approved` event in one transaction."""
    return _record(
        store,
        rows,
        lambda t: registry.approve(store, ref, team, by=by, via=via, comment=comment, tx=t),
        actor=by,
        role=role,
        action=f"pacts.approve.{team}",
        event="pact.approved",
        after=lambda _: {"team": team},
    )


def activate_pact(
    store: Store,
    ref: str,
    *,
    by: str | None,
    role: str | None = None,
    via: str = "cli",
    rows: Rows | None = None,
) -> PactVersion:
    """Put a version in force: the activation, audit entry and `pact.activated` event in one transaction."""
    return _record(
        store,
        rows,
        lambda t: registry.activate(store, ref, by=by, via=via, tx=t),
        actor=by or via,
        role=role,
        action="pacts.activate",
        event="pact.activated",
        after=lambda v: {"content_hash": v.content_hash},
    )


def _record(
    store: Store,
    rows: Rows | None,
    change: Callable[[Tx | None], PactVersion],
    *,
    actor: str,
    role: str | None,
    action: str,
    event: str,
    after: Callable[[PactVersion], dict[str, Any]],
) -> PactVersion:
    """The registry's row, its audit entry and its event in one transaction: no event without its change.

    Without `rows` (a command) the store's own are opened, so a running service's webhooks hear of
    it too; Spark keeps no outbox.
    """
    if rows is None:
        if store.engine == "spark":
            return change(None)
        own = Rows(store, pool_size=1)
        try:
            prepare(own)
            return _record(
                store, own, change, actor=actor, role=role, action=action, event=event, after=after
            )
        finally:
            own.close()
    registry.ensure_tables(store)
    at = datetime.now(UTC).replace(tzinfo=None)
    with rows.tx() as t:
        v = change(t)
        said = after(v)
        audit(t, actor, role, action, v.label, None, said, at)
        data = {"pact": v.pact, "version": v.version, "content_hash": v.content_hash, "by": actor}
        emit(t, event, data | said, at)
    return v
