"""Which pact a command uses, and pact changes recorded with their audit entry and event."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from accord.errors import NoActivePactError
from accord.pact import load_pact
from accord.pact.registry import PactVersion, active_pact
from accord.pact.schema import Pact
from accord.store.connection import Store
from accord.store.rows import Rows, Tx


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


Change = Callable[[Tx | None], PactVersion]
"""A registry call (submit, approve, activate) writing its row in the transaction it is given."""


def record(
    store: Store,
    rows: Rows,
    change: Change,
    *,
    actor: str,
    role: str | None,
    action: str,
    event: str,
    after: Callable[[PactVersion], dict[str, Any]],
    at: datetime | None = None,
) -> PactVersion:
    """The registry's row, its audit entry and its event in one transaction: no event without its change."""
    from accord.pact.registry import ensure_tables
    from accord.workflows.access import audit
    from accord.workflows.webhooks import emit

    ensure_tables(store)
    at = at or datetime.now(UTC).replace(tzinfo=None)
    with rows.tx() as t:
        v = change(t)
        audit(t, actor, role, action, v.label, None, after(v), at)
        data = {"pact": v.pact, "version": v.version, "content_hash": v.content_hash, "by": actor}
        emit(t, event, data | after(v), at)
    return v


def record_from_cli(
    store: Store,
    change: Change,
    *,
    actor: str,
    action: str,
    event: str,
    after: Callable[[PactVersion], dict[str, Any]],
) -> PactVersion:
    """`record` for a command: a running service's webhooks hear of it; Spark keeps no outbox."""
    if store.engine == "spark":
        return change(None)
    from accord.workflows.access import prepare

    rows = Rows(store, pool_size=1)
    try:
        prepare(rows)
        return record(store, rows, change, actor=actor, role=None, action=action, event=event, after=after)
    finally:
        rows.close()
