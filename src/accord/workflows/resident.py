"""What real-time scoring reads, kept in memory for a store only this process writes (DuckDB).

A DuckDB file is held by one process, so that process sees every write: it loads the leads,
accounts, stage history, verdicts and the touches inside the lookback window once, then
updates them as its own writes commit. A request then reads no rows to rescore a lead (a
DuckDB lookup by key costs about a millisecond; a request does several). PostgreSQL, served
by several workers, is read per request through its indexes instead.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import numpy as np

from accord.pact.schema import Pact
from accord.scoring.online import Feedback, Matched, OnlineScorer, Touch
from accord.store.rows import Rows
from accord.store.sql import ident

_TOUCH_COLS = ("id", "lead_id", "occurred_at", "touch_type", "channel", "campaign", "team", "properties")


def _owner(properties: Any) -> str | None:
    if not isinstance(properties, str) or '"owner"' not in properties:
        return None
    try:
        value = json.loads(properties).get("owner")
    except (ValueError, AttributeError):
        return None
    return None if value is None else str(value)


def _holds(sorted_hashes: np.ndarray, h: int) -> bool:
    at = int(np.searchsorted(sorted_hashes, h))
    return at < len(sorted_hashes) and int(sorted_hashes[at]) == h


def _hashes(ids: Sequence[str] | np.ndarray) -> np.ndarray:
    """64-bit hashes of ids (Python's own: they only need to agree within this process)."""
    return np.fromiter((hash(i) for i in ids), dtype=np.int64, count=len(ids))


def counted_types(pact: Pact) -> set[str] | None:
    """The touch types some engagement rule of `pact` can count, and its sales touch types.

    Sales' are kept for the sentence (when the lead last talked to sales); None when a rule takes
    any type.
    """
    out: set[str] = set(pact.teams.get("sales", []))
    for model in pact.models.values():
        for rule in model.engagement.rules:
            types = rule.touch_types
            if types is None:
                return None
            out |= types
    return out


class Resident:
    """Leads, accounts, stages, verdicts and recent touches of a store, in memory."""

    def __init__(
        self,
        rows: Rows,
        since: datetime,
        touch_types: Iterable[str] | None = None,
        scored_with: tuple[str, int, str] | None = None,
    ) -> None:
        self.since = since
        self.touch_types = set(touch_types) if touch_types is not None else None
        """Only touches of these types are kept (the ones some rule can count); None keeps all."""
        """Touches before this instant are not kept: instants scored must look back no further."""
        self.lock = threading.RLock()
        self.leads: dict[str, dict[str, Any]] = {}
        self.accounts: dict[str, dict[str, Any]] = {}
        self.members: dict[str, set[str]] = defaultdict(set)
        self.touches: dict[str, dict[str, Touch]] = defaultdict(dict)
        self.feedback: dict[str, list[Feedback]] = defaultdict(list)
        self.stages: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
        self.mqls: set[str] = set()
        """Leads whose latest stage is `mql`: the queue."""
        self.owners: dict[str, str | None] = {}
        self.scores: dict[str, dict[str, Any]] = {}
        """Each lead's latest stored score for `scored_with` (pact, version, model)."""
        self.scored_with = scored_with
        self._touch_ids = np.empty(0, dtype=np.int64)
        """Hashes of every touchpoint id in the store when loaded, sorted (16 MB for 2M)."""
        self._new_touch_ids: set[int] = set()
        self._matched: dict[str, tuple[OnlineScorer, Matched]] = {}
        """Each person's touches matched to the rules of a scorer: a rescore ages them, no more."""
        self._load(rows)

    def _arrow(self, rows: Rows, sql: str, params: Sequence[Any] = ()) -> Iterable[dict[str, Any]]:
        cur = rows.store.con.con.cursor()
        try:
            reader = _batches(cur.execute(sql, list(params)))
            for batch in reader:
                yield from batch.to_pylist()
        finally:
            cur.close()

    def _load(self, rows: Rows) -> None:
        for r in self._arrow(rows, f"SELECT * FROM {ident('accounts')}"):
            self.accounts[r["id"]] = r
        for r in self._arrow(rows, f"SELECT * FROM {ident('leads')}"):
            self.put_lead(r)
        cols = ", ".join(ident(c) for c in _TOUCH_COLS)
        cur = rows.store.con.con.cursor()
        try:
            sql = f"SELECT {cols} FROM {ident('touchpoints')} WHERE occurred_at >= ?"
            params: list[Any] = [self.since]
            if self.touch_types is not None:
                sql += f" AND touch_type IN ({', '.join('?' for _ in self.touch_types)})"
                params += sorted(self.touch_types)
            for batch in _batches(cur.execute(sql, params)):
                columns = [batch.column(c).to_pylist() for c in _TOUCH_COLS]
                for tid, lid, *rest in zip(*columns, strict=True):
                    self.touches[lid][tid] = Touch(tid, *rest)
        finally:
            cur.close()
        cur = rows.store.con.con.cursor()
        try:
            got = cur.execute(f"SELECT id FROM {ident('touchpoints')}").arrow()
            ids = (got.read_all() if hasattr(got, "read_all") else got).column("id")
            self._touch_ids = np.sort(_hashes(ids.to_pylist()))
        finally:
            cur.close()
        for r in self._arrow(rows, f"SELECT * FROM {ident('feedback')}"):
            self.feedback[r["lead_id"]].append(Feedback.from_row(r))
        for r in self._arrow(
            rows,
            f"SELECT lead_id, changed_at, to_stage FROM {ident('stage_changes')} "
            "ORDER BY changed_at, to_stage",
        ):
            self.stages[r["lead_id"]].append((r["changed_at"], r["to_stage"]))
        self.mqls = {lid for lid, entries in self.stages.items() if entries and entries[-1][1] == "mql"}
        if self.scored_with is not None:
            for r in self._arrow(
                rows,
                f"SELECT * FROM {ident('lead_scores')} WHERE pact = ? AND pact_version = ? AND model = ? "
                "QUALIFY row_number() OVER (PARTITION BY lead_id ORDER BY as_of DESC) = 1",
                list(self.scored_with),
            ):
                self.scores[r["lead_id"]] = r

    # ------------------------------------------------------------------ reads
    def covers(self, window_start: datetime, pact: Pact) -> bool:
        """Whether the touches kept reach back to `window_start` and hold every type `pact` counts."""
        if window_start < self.since:
            return False
        if self.touch_types is None:
            return True
        wanted = counted_types(pact)
        return wanted is not None and wanted <= self.touch_types

    def may_have_touches(self, ids: Sequence[str]) -> list[str]:
        """Of `ids`, the ones the store may hold (the others it surely does not: no need to look)."""
        kept = self._touch_ids
        with self.lock:
            return [i for i in ids if hash(i) in self._new_touch_ids or _holds(kept, hash(i))]

    def matched(self, lead_id: str, scorer: OnlineScorer) -> Matched:
        """The person's kept touches matched to `scorer`'s rules, from the last time if none changed."""
        with self.lock:
            found = self._matched.get(lead_id)
            if found is not None and found[0] is scorer:
                return found[1]
            m = scorer.match(self.touches.get(lead_id, {}).values())
            self._matched[lead_id] = (scorer, m)
            return m

    def stage(self, lead_id: str, at: datetime) -> tuple[str, datetime] | None:
        """The lead's latest stage at `at`, with when it was reached."""
        for changed_at, to_stage in reversed(self.stages.get(lead_id, ())):
            if changed_at <= at:
                return to_stage, changed_at
        return None

    # ------------------------------------------------------------------ writes, once committed
    def put_lead(self, row: dict[str, Any]) -> None:
        """A lead inserted or changed."""
        with self.lock:
            old = self.leads.get(row["id"])
            if old is not None and old["account_id"] is not None:
                self.members[old["account_id"]].discard(row["id"])
            self.leads[row["id"]] = dict(row)
            if row.get("account_id") is not None:
                self.members[row["account_id"]].add(row["id"])
            self.owners[row["id"]] = _owner(row.get("properties"))

    def absorb(
        self, table: str, rows: Sequence[dict[str, Any]], replaced: Sequence[dict[str, Any]] = ()
    ) -> None:
        """Rows of `table` a transaction of this process committed (`replaced`: the rows they replaced)."""
        with self.lock:
            if table == "touchpoints":
                for old in replaced:
                    self.touches.get(old["lead_id"], {}).pop(old["id"], None)
                    self._matched.pop(old["lead_id"], None)
                for r in rows:
                    self._matched.pop(r["lead_id"], None)
                self._new_touch_ids.update(hash(r["id"]) for r in rows)
            for r in rows:
                if table == "leads":
                    self.put_lead(r)
                elif table == "accounts":
                    self.accounts[r["id"]] = dict(r)
                elif table == "touchpoints":
                    kept = self.touch_types is None or r["touch_type"] in self.touch_types
                    if kept and r["occurred_at"] >= self.since:
                        self.touches[r["lead_id"]][r["id"]] = Touch.from_row(r)
                elif table == "feedback":
                    self.feedback[r["lead_id"]].append(Feedback.from_row(r))
                elif table == "stage_changes":
                    entries = self.stages[r["lead_id"]]
                    entries.append((r["changed_at"], r["to_stage"]))
                    entries.sort()
                    if entries[-1][1] == "mql":
                        self.mqls.add(r["lead_id"])
                    else:
                        self.mqls.discard(r["lead_id"])
                elif table == "lead_scores":
                    key = (r["pact"], r["pact_version"], r["model"])
                    latest = self.scores.get(r["lead_id"])
                    if key == self.scored_with and (latest is None or latest["as_of"] <= r["as_of"]):
                        self.scores[r["lead_id"]] = dict(r)

    def erase(self, lead_id: str) -> None:
        """Everything about a lead, gone."""
        with self.lock:
            old = self.leads.pop(lead_id, None)
            if old is not None and old["account_id"] is not None:
                self.members[old["account_id"]].discard(lead_id)
            for table in (self.touches, self.feedback, self.stages, self.scores, self.owners, self._matched):
                table.pop(lead_id, None)
            self.mqls.discard(lead_id)


def _batches(result: Any) -> Any:
    """Arrow record batches of a DuckDB result (`to_arrow_reader` since DuckDB 1.4)."""
    read = getattr(result, "to_arrow_reader", None) or result.fetch_record_batch
    return read(200_000)
