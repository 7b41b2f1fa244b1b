"""Real-time use cases: take rows, rescore the lead they touch, read a lead, its history, the queue.

What the service calls for every request. Rows go in by key in short transactions
(:mod:`accord.store.rows`); a lead is rescored with the active pact by the online
scorer, which gives the batch engine's score to 1e-9 for the same data and instant.
"""

from __future__ import annotations

import base64
import gc
import hashlib
import json
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel

from accord.errors import ConfigError, NoActivePactError, UnknownAccountError, UnknownLeadError
from accord.model.json_types import Instant
from accord.model.tables import (
    ACCOUNTS,
    AUDIT_LOG,
    FEEDBACK,
    LEAD_SCORES,
    LEADS,
    STAGE_CHANGES,
    TABLES,
    TOUCHPOINTS,
    TableSpec,
)
from accord.pact.schema import Pact
from accord.scoring.explain import explain
from accord.scoring.feedback import STAGE_FOR_ACTION, check_verdict
from accord.scoring.history import Point, changes, parts
from accord.scoring.online import Feedback, LeadScore, OnlineScorer, Touch
from accord.scoring.run import REQUALIFY_FROM
from accord.store import lead_state
from accord.store.items import Refused, check_item
from accord.store.rows import Rows, Tx
from accord.store.sql import ident
from accord.workflows.access import audit, audit_entry
from accord.workflows.resident import Resident, counted_types
from accord.workflows.webhooks import emit

LIVE_RUN = "live"
"""`run_id` of the scores the service writes as rows arrive (batch runs have their own ids)."""

MAX_ITEMS = 1000
"""The most items one ingest request takes."""

INGEST_TABLES = ("accounts", "leads", "touchpoints", "opportunities", "stage_changes", "spend")


_last_instant = datetime.min
_instant_lock = threading.Lock()


def now() -> datetime:
    """The current instant, naive UTC, to the microsecond the stores keep; never the same twice here.

    A real-time score is keyed by its instant: two requests of one process never share one.
    """
    global _last_instant
    t = datetime.now(UTC).replace(tzinfo=None)
    with _instant_lock:
        if t <= _last_instant:
            t = _last_instant + timedelta(microseconds=1)
        _last_instant = t
    return t


ACTIVE_TTL_SECONDS = 1.0
"""How long a process trusts the active pact it read (another worker may activate one)."""


_log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------- results
class LiveScore(BaseModel):
    """A lead's score right after a change, as the service answers it."""

    lead_id: str
    as_of: Instant
    score: float
    fit: float
    engagement: float
    adjustment: float
    grade: str
    band: int
    is_mql: bool
    stage: str
    became_mql: bool
    pact: str
    pact_version: int


class ItemResult(BaseModel):
    """One item of an ingest request: taken (and how), or refused with the field and the reason."""

    index: int
    id: str | None = None
    status: Literal["accepted", "rejected"]
    outcome: Literal["inserted", "updated", "unchanged"] | None = None
    field: str | None = None
    reason: str | None = None
    score: LiveScore | None = None


class Ingested(BaseModel):
    """What an ingest request did: counts that add up, and each item."""

    table: str
    received: int
    accepted: int
    rejected: int
    items: list[ItemResult]


class RuleLineOut(BaseModel):
    """One rule's contribution to a lead's score."""

    section: str
    rule_id: str
    description: str
    points_before: float
    points: float
    detail: str


class LeadView(BaseModel):
    """A lead as a rep sees it: score, grade, band, stage, every rule, the sentence."""

    lead_id: str
    account_id: str | None
    as_of: Instant
    score: float
    fit: float
    engagement: float
    adjustment: float
    account_score: float | None
    grade: str
    band: int
    is_mql: bool
    stage: str
    sentence: str
    rules: list[RuleLineOut]
    feedback: list[str]
    lead: dict[str, Any]
    pact: str
    pact_version: int


class MovedOut(BaseModel):
    """A rule's share of one change of score."""

    part: str
    section: str
    points: float


class ChangeOut(BaseModel):
    """The score at one instant and the rules that moved it since the one before."""

    as_of: Instant
    pact_version: int
    score: float
    change: float
    moved: list[MovedOut]


class LeadHistory(BaseModel):
    """Every change of a lead's stored score; the changes add up to `score`."""

    lead_id: str
    pact: str
    score: float
    changes: list[ChangeOut]


class QueueRow(BaseModel):
    """An MQL waiting for sales."""

    lead_id: str
    account_id: str | None
    owner: str | None
    score: float
    grade: str | None
    band: int | None
    fit: float | None
    engagement: float | None
    mql_at: Instant
    scored_at: Instant
    email: str | None
    job_title: str | None


class QueuePage(BaseModel):
    """A page of the MQL queue, highest score first; `next_cursor` fetches the next page."""

    items: list[QueueRow]
    next_cursor: str | None


class AccountPerson(BaseModel):
    """One of an account's people with their score."""

    lead_id: str
    score: float
    grade: str
    band: int
    engagement: float
    is_mql: bool


class AccountView(BaseModel):
    """An account: its row, its score and its people's."""

    account_id: str
    as_of: Instant
    account: dict[str, Any]
    account_fit: float | None
    account_score: float | None
    people: list[AccountPerson]


class Recorded(BaseModel):
    """A verdict recorded through the service, and the lead's score after it."""

    lead_id: str
    action: str
    from_stage: str
    to_stage: str | None
    score: LiveScore | None


class Erased(BaseModel):
    """What an erasure removed."""

    lead_hash: str
    rows: dict[str, int]


# ------------------------------------------------------------------------------- helpers
def _c(t: Tx, column: str, values: Sequence[Any]) -> str:
    """`column IN values` (with :func:`_p`'s parameters)."""
    return t.where_in(column, values)[0]


def _p(t: Tx, values: Sequence[Any]) -> list[Any]:
    return t.where_in("_", values)[1]


def _json_ready(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    out = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items()}
    if isinstance(out.get("properties"), str):
        try:
            out["properties"] = json.loads(out["properties"])
        except ValueError:
            pass
    return out


def _same(a: dict[str, Any], b: dict[str, Any], spec: TableSpec) -> bool:
    for c in spec.columns:
        x, y = a.get(c.name), b.get(c.name)
        if c.type == "float" and x is not None and y is not None:
            if abs(float(x) - float(y)) > 1e-9:
                return False
        elif x != y:
            return False
    return True


def _key(spec: TableSpec, row: dict[str, Any]) -> str:
    return "|".join(str(row[k]) for k in spec.key)


def hash_id(value: str) -> str:
    """What the audit keeps of an erased id: its SHA-256, not the id."""
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()


@dataclass
class _People:
    """What scoring a set of leads needs, read in one go."""

    leads: dict[str, dict[str, Any]]
    """The leads asked for."""
    people: dict[str, dict[str, Any]]
    """Those leads and their colleagues (when accounts blend in)."""
    accounts: dict[str, dict[str, Any]]
    touches: dict[str, list[Touch]]
    feedback: dict[str, list[Feedback]]
    by_account: dict[str, list[str]]
    resident: Resident | None = None
    """Where they were read from, when from memory (which keeps their touches matched to rules)."""


_QUEUE = """
    WITH st AS (
        SELECT lead_id, to_stage, changed_at,
               row_number() OVER (PARTITION BY lead_id ORDER BY changed_at DESC, to_stage DESC) AS n
        FROM {stages}
    ),
    q AS (SELECT lead_id, changed_at AS mql_at FROM st WHERE n = 1 AND to_stage = 'mql'),
    sc AS (
        SELECT x.*, row_number() OVER (PARTITION BY x.lead_id ORDER BY x.as_of DESC) AS n
        FROM {scores} x JOIN q ON q.lead_id = x.lead_id
        WHERE x.pact = ? AND x.pact_version = ? AND x.model = ?
    )
    SELECT s.lead_id, l.account_id, {owner} AS owner, s.score, s.grade, s.band, s.fit,
           s.engagement, q.mql_at, s.as_of AS scored_at, l.email, l.job_title
    FROM sc s JOIN q ON q.lead_id = s.lead_id JOIN {leads} l ON l.id = s.lead_id
    WHERE s.n = 1 AND {where}
    ORDER BY s.score DESC, s.lead_id
    LIMIT ?
"""
"""The MQL queue in SQL: each MQL's latest stage and latest score by window."""

_QUEUE_PG = """
    SELECT s.lead_id, l.account_id, {owner} AS owner, s.score, s.grade, s.band, s.fit,
           s.engagement, st.changed_at AS mql_at, s.as_of AS scored_at, l.email, l.job_title
    FROM {score_state} s
    JOIN {stage_state} st ON st.lead_id = s.lead_id
    JOIN {leads} l ON l.id = s.lead_id
    WHERE s.pact = ? AND s.pact_version = ? AND s.model = ? AND s.stage = 'mql' AND {where}
    ORDER BY s.score DESC, s.lead_id
    LIMIT ?
"""
"""The same on PostgreSQL from the tables its triggers keep (`store/lead_state.py`): the MQLs'
latest scores, highest first, are one range of an index."""


class Live:
    """The real-time use cases on one store, shared by every request of a process."""

    def __init__(self, rows: Rows, model: str = "default") -> None:
        self.rows = rows
        self.model = model
        self._pacts: dict[str, Pact] = {}
        self._scorers: dict[int, OnlineScorer] = {}
        self._lock = threading.Lock()
        self.resident: Resident | None = None
        self._active: tuple[Pact, float] | None = None
        rows.on_abort = self._writes_rolled_back

    def keep_resident(self) -> None:
        """Keep what scoring reads in memory (only for a store no other process writes: DuckDB)."""
        types: set[str] | None = None
        scored_with: tuple[str, int, str] | None = None
        try:
            self.forget_active()
            pact = self.active()
            days = max(m.engagement.lookback_days for m in pact.models.values())
            types = counted_types(pact)
            scored_with = (pact.pact, pact.version, self.model)
        except NoActivePactError:
            days = 365.0
        # A month's margin: the window's start moves on while the process runs.
        # Writes wait while it loads, so none lands between the read and the swap.
        with self.rows.write_lock:
            self.resident = Resident(self.rows, now() - timedelta(days=days + 30), types, scored_with)
        # Millions of long-lived objects: a full garbage collection walking them stalled requests
        # for hundreds of milliseconds. Frozen, the collector leaves them alone.
        gc.collect()
        gc.freeze()

    def _scorer(self, pact: Pact) -> OnlineScorer:
        """One scorer per pact version and process (what the memory's matched touches are keyed by)."""
        with self._lock:
            found = self._scorers.get(id(pact))
            if found is None or found.pact is not pact:
                found = self._scorers[id(pact)] = OnlineScorer(pact, self.model)
            return found

    # ----------------------------------------------------------------- the pact in force
    def active(self, t: Tx | None = None) -> Pact:
        """The active pact: read again after an activation here, and at least every second."""
        cached = self._active
        if cached is not None and time.monotonic() - cached[1] < ACTIVE_TTL_SECONDS:
            return cached[0]
        pact = self._read_active(t)
        self._active = (pact, time.monotonic())
        return pact

    def forget_active(self) -> None:
        """Read the active pact again on the next request (this process just activated one)."""
        self._active = None

    def _read_active(self, t: Tx | None) -> Pact:
        sql = (
            f"SELECT content_hash FROM {ident('pact_activations')} "
            "ORDER BY activated_at DESC, content_hash DESC LIMIT 1"
        )
        row = t.one(sql) if t is not None else next(iter(self.rows.query(sql)), None)
        if row is None:
            raise NoActivePactError(
                "no pact is active: submit one, have marketing and sales approve it, and activate it"
            )
        return self.pact(row["content_hash"], t)

    def pact(self, content_hash: str, t: Tx | None = None) -> Pact:
        """A pact version by content hash, parsed once per process."""
        with self._lock:
            found = self._pacts.get(content_hash)
        if found is not None:
            return found
        from accord.pact.io import parse_pact

        sql = f"SELECT yaml FROM {ident('pact_versions')} WHERE content_hash = ?"
        row = (
            t.one(sql, [content_hash]) if t is not None else next(iter(self.rows.query(sql, [content_hash])))
        )
        if row is None:
            raise NoActivePactError(f"pact content {content_hash} is not in the store")
        pact = parse_pact(row["yaml"], f"pact {content_hash[:15]} in the store")
        with self._lock:
            self._pacts[content_hash] = pact
        return pact

    # ----------------------------------------------------------------- reading people
    def _people(
        self, t: Tx, pact: Pact, lead_ids: Sequence[str], as_of: datetime, *, memory: bool = False
    ) -> _People:
        """The leads, their accounts, and (when accounts blend in) their colleagues, with touches.

        With `memory`, from what the process keeps (only the touches rules can count: enough to
        score, not to explain).
        """
        model = pact.model(self.model)
        res = self.resident
        if (
            memory
            and res is not None
            and res.covers(as_of - timedelta(days=model.engagement.lookback_days), pact)
        ):
            return self._people_in_memory(res, pact, lead_ids, as_of)
        leads = {
            r["id"]: r
            for r in t.query(f"SELECT * FROM {ident('leads')} WHERE {_c(t, 'id', lead_ids)}", _p(t, lead_ids))
        }
        if not leads:
            return _People({}, {}, {}, {}, {}, {})
        account_ids = sorted({r["account_id"] for r in leads.values() if r["account_id"] is not None})
        people = dict(leads)
        if account_ids and model.account.weight > 0:
            for r in t.query(
                f"SELECT * FROM {ident('leads')} WHERE {_c(t, 'account_id', account_ids)} "
                "AND created_at <= ?",
                [*_p(t, account_ids), as_of],
            ):
                people.setdefault(r["id"], r)
        accounts = (
            {
                r["id"]: r
                for r in t.query(
                    f"SELECT * FROM {ident('accounts')} WHERE {_c(t, 'id', account_ids)}", _p(t, account_ids)
                )
            }
            if account_ids
            else {}
        )
        ids = list(people)
        since = as_of - timedelta(days=model.engagement.lookback_days)
        touches: dict[str, list[Touch]] = defaultdict(list)
        for r in t.query(
            "SELECT id, lead_id, occurred_at, touch_type, channel, campaign, team, properties "
            f"FROM {ident('touchpoints')} WHERE {_c(t, 'lead_id', ids)} "
            "AND occurred_at <= ? AND occurred_at >= ?",
            [*_p(t, ids), as_of, since],
        ):
            touches[r["lead_id"]].append(Touch.from_row(r))
        feedback: dict[str, list[Feedback]] = defaultdict(list)
        for r in t.query(f"SELECT * FROM {ident('feedback')} WHERE {_c(t, 'lead_id', ids)}", _p(t, ids)):
            feedback[r["lead_id"]].append(Feedback.from_row(r))
        by_account: dict[str, list[str]] = defaultdict(list)
        for pid, p in people.items():
            if p["account_id"] is not None:
                by_account[p["account_id"]].append(pid)
        return _People(leads, people, accounts, touches, feedback, by_account)

    def _people_in_memory(
        self, res: Resident, pact: Pact, lead_ids: Sequence[str], as_of: datetime
    ) -> _People:
        blend = pact.model(self.model).account.weight > 0
        with res.lock:
            leads = {i: res.leads[i] for i in lead_ids if i in res.leads}
            people = dict(leads)
            account_ids = {r["account_id"] for r in leads.values() if r["account_id"] is not None}
            if blend:
                for a in account_ids:
                    for pid in res.members.get(a, ()):
                        p = res.leads[pid]
                        if pid not in people and p["created_at"] <= as_of:
                            people[pid] = p
            accounts = {a: res.accounts[a] for a in account_ids if a in res.accounts}
            touches = {
                pid: [x for x in res.touches.get(pid, {}).values() if x.occurred_at <= as_of]
                for pid in people
            }
            feedback = {pid: list(res.feedback.get(pid, ())) for pid in people}
        by_account: dict[str, list[str]] = defaultdict(list)
        for pid, p in people.items():
            if p["account_id"] is not None:
                by_account[p["account_id"]].append(pid)
        return _People(leads, people, accounts, touches, feedback, by_account, res)

    # ----------------------------------------------------------------- rescoring
    def _stages(self, t: Tx, lead_ids: Sequence[str], at: datetime) -> dict[str, tuple[str, datetime]]:
        out: dict[str, tuple[str, datetime]] = {}
        if self.resident is not None:
            for lid in lead_ids:
                found = self.resident.stage(lid, at)
                if found is not None:
                    out[lid] = found
            return out
        for r in t.query(
            f"SELECT lead_id, to_stage, changed_at FROM {ident('stage_changes')} "
            f"WHERE {_c(t, 'lead_id', lead_ids)} AND changed_at <= ? ORDER BY changed_at, to_stage",
            [*_p(t, lead_ids), at],
        ):
            out[r["lead_id"]] = (r["to_stage"], r["changed_at"])
        return out

    def rescore(
        self, t: Tx, lead_ids: Sequence[str], as_of: datetime, pact: Pact | None = None
    ) -> dict[str, LiveScore]:
        """Rescore leads as of `as_of`, write their scores, and record the ones that become MQLs."""
        ids = sorted(set(lead_ids))
        if not ids:
            return {}
        pact = pact or self.active(t)
        ppl = self._people(t, pact, ids, as_of, memory=True)
        # As a batch run: only leads created by the instant are scored.
        ids = [i for i in ids if i in ppl.leads and ppl.leads[i]["created_at"] <= as_of]
        scores = self._score_with_colleagues(pact, ppl, ids, as_of)
        stages = self._stages(t, list(scores), as_of)
        wait = timedelta(days=pact.recycle.min_days_before_mql)
        score_rows, stage_rows, out = [], [], {}
        for lid, s in scores.items():
            last = stages.get(lid)
            became = s.is_mql and (
                last is None or last[0] == "lead" or (last[0] in REQUALIFY_FROM and last[1] <= as_of - wait)
            )
            score_rows.append(
                {
                    "lead_id": lid,
                    "model": self.model,
                    "as_of": as_of,
                    "account_id": ppl.leads[lid]["account_id"],
                    "fit": s.fit,
                    "engagement": s.engagement,
                    "adjustment": s.adjustment,
                    "person_score": s.person_score,
                    "account_score": s.account_score,
                    "score": s.score,
                    "grade": s.grade,
                    "band": s.band,
                    "is_mql": s.is_mql,
                    "pact": pact.pact,
                    "pact_version": pact.version,
                    "run_id": LIVE_RUN,
                }
            )
            if became:
                stage_rows.append(
                    {
                        "lead_id": lid,
                        "from_stage": last[0] if last else "lead",
                        "to_stage": "mql",
                        "changed_at": as_of,
                        "actor": f"accord:{pact.pact}@v{pact.version}",
                        "reason": f"met the MQL definition of {pact.pact} v{pact.version}",
                        "run_id": LIVE_RUN,
                    }
                )
            out[lid] = LiveScore(
                lead_id=lid,
                as_of=as_of,
                score=s.score,
                fit=s.fit,
                engagement=s.engagement,
                adjustment=s.adjustment,
                grade=s.grade,
                band=s.band,
                is_mql=s.is_mql,
                stage="mql" if became else (last[0] if last else "lead"),
                became_mql=became,
                pact=pact.pact,
                pact_version=pact.version,
            )
        key = (
            f"pact = ? AND pact_version = ? AND model = ? AND as_of = ? AND {_c(t, 'lead_id', list(scores))}"
        )
        if scores and self.resident is None:  # another worker may have scored this lead at this instant
            t.execute(
                f"DELETE FROM {ident('lead_scores')} WHERE {key}",
                [pact.pact, pact.version, self.model, as_of, *_p(t, list(scores))],
            )
        before = self._latest_scores(t, list(scores), pact)
        t.append(LEAD_SCORES, score_rows)
        t.append(STAGE_CHANGES, stage_rows)
        new = [lid for lid, s in out.items() if s.became_mql]
        said = self._sentences_of(pact, ppl, scores, new, as_of)
        self._score_events(t, pact, out, before, as_of, said)
        if self.resident is not None:
            self.resident.absorb("stage_changes", stage_rows)
            self.resident.absorb("lead_scores", score_rows)
        return out

    def _latest_scores(self, t: Tx, lead_ids: list[str], pact: Pact) -> dict[str, tuple[str, int]]:
        """Each lead's grade and band as last stored with this pact, before a rescore writes."""
        res = self.resident
        if res is not None and res.scored_with == (pact.pact, pact.version, self.model):
            with res.lock:
                return {
                    i: (res.scores[i]["grade"], res.scores[i]["band"]) for i in lead_ids if i in res.scores
                }
        if not lead_ids:
            return {}
        found = t.query(
            f"SELECT lead_id, grade, band, as_of FROM {ident('lead_scores')} "
            f"WHERE {_c(t, 'lead_id', lead_ids)} AND pact = ? AND pact_version = ? AND model = ? "
            "ORDER BY lead_id, as_of",
            [*_p(t, lead_ids), pact.pact, pact.version, self.model],
        )
        return {r["lead_id"]: (r["grade"], r["band"]) for r in found}

    def _score_events(
        self,
        t: Tx,
        pact: Pact,
        scored: dict[str, LiveScore],
        before: dict[str, tuple[str, int]],
        at: datetime,
        said: dict[str, str],
    ) -> None:
        """`lead.mql` for each new MQL (with its sentence); `lead.score_changed` when grade or band moved."""
        for lid, s in scored.items():
            base = {
                "lead_id": lid,
                "score": round(s.score, 4),
                "grade": s.grade,
                "band": s.band,
                "pact": pact.pact,
                "pact_version": pact.version,
                "as_of": at,
            }
            if s.became_mql:
                emit(t, "lead.mql", base | {"sentence": said.get(lid, "")}, at)
            old = before.get(lid)
            if old is not None and old != (s.grade, s.band):
                emit(t, "lead.score_changed", base | {"grade_before": old[0], "band_before": old[1]}, at)

    def _sentences_of(
        self, pact: Pact, ppl: _People, scored: dict[str, LeadScore], lead_ids: list[str], at: datetime
    ) -> dict[str, str]:
        """The sentences of leads just scored, from what scored them (nothing read again)."""
        out = {}
        for lid in lead_ids:
            lead = ppl.leads[lid]
            account = ppl.accounts.get(lead["account_id"]) if lead["account_id"] else None
            touches, verdicts = ppl.touches.get(lid, []), ppl.feedback.get(lid, [])
            out[lid] = explain(pact, scored[lid], lead, account, touches, at, self.model, verdicts).sentence
        return out

    def _score_with_colleagues(
        self, pact: Pact, ppl: _People, ids: list[str], as_of: datetime
    ) -> dict[str, LeadScore]:
        scorer = self._scorer(pact)
        blend = pact.model(self.model).account.weight > 0
        res = ppl.resident
        engagement = {
            pid: scorer.engagement(
                ppl.touches.get(pid, []),
                as_of,
                ppl.feedback.get(pid, []),
                res.matched(pid, scorer) if res is not None else None,
            )
            for pid, p in ppl.people.items()
            if blend and p["account_id"] is not None
        }
        out = {}
        for lid in ids:
            lead = ppl.leads.get(lid)
            if lead is None:
                continue
            acc = lead["account_id"]
            colleagues = (
                [engagement[p] for p in ppl.by_account.get(acc, []) if p != lid] if blend and acc else []
            )
            out[lid] = scorer.score(
                lead,
                ppl.accounts.get(acc),
                ppl.touches.get(lid, []),
                as_of,
                ppl.feedback.get(lid, []),
                colleagues,
            )
        return out

    # ----------------------------------------------------------------- ingest
    def ingest(self, table: str, items: Sequence[Any], actor: str, role: str | None = None) -> Ingested:
        """Take rows for `table`: each checked as the loader checks a file row, idempotent by key.

        Refused items write nothing; the accepted ones commit together, with an audit entry each
        and, for leads and touchpoints (and an account's people), the rescored lead.
        """
        if table not in INGEST_TABLES:
            raise ConfigError(f"unknown table {table!r}; valid: {', '.join(INGEST_TABLES)}")
        if len(items) > MAX_ITEMS:
            raise ConfigError(f"at most {MAX_ITEMS} items per request, got {len(items)}")
        spec = TABLES[table]
        results: list[ItemResult] = []
        rows: list[tuple[int, dict[str, Any]]] = []
        seen: dict[str, int] = {}
        for i, item in enumerate(items):
            try:
                row = check_item(spec, item)
            except Refused as r:
                rid = item.get("id") if isinstance(item, dict) and isinstance(item.get("id"), str) else None
                results.append(
                    ItemResult(
                        index=i, id=rid, status="rejected", field=r.refusal.field, reason=r.refusal.reason
                    )
                )
                continue
            k = _key(spec, row)
            if k in seen:
                results.append(
                    ItemResult(
                        index=i,
                        id=row.get("id"),
                        status="rejected",
                        field=spec.key[0],
                        reason=f"same key as item {seen[k]} of this request",
                    )
                )
                continue
            seen[k] = i
            rows.append((i, row))
        as_of = now()
        with self.rows.tx() as t:
            accepted = self._check_references(t, spec, rows, results)
            outcomes, changed, replaced = self._upsert(t, spec, accepted, actor, role, as_of)
            if self.resident is not None:
                self.resident.absorb(spec.name, changed, replaced)
            scores: dict[str, LiveScore] = {}
            rescore = self._to_rescore(t, spec, [r for _, r in accepted])
            if rescore:
                try:
                    scores = self.rescore(t, rescore, as_of)
                except NoActivePactError:
                    scores = {}
        for (i, row), outcome in zip(accepted, outcomes, strict=True):
            lead = row.get("lead_id") if spec.name != "leads" else row.get("id")
            results.append(
                ItemResult(
                    index=i,
                    id=row.get("id") if "id" in spec.column_names else _key(spec, row),
                    status="accepted",
                    outcome=outcome,
                    score=scores.get(lead) if lead else None,
                )
            )
        results.sort(key=lambda r: r.index)
        n_ok = sum(r.status == "accepted" for r in results)
        return Ingested(
            table=table, received=len(items), accepted=n_ok, rejected=len(items) - n_ok, items=results
        )

    def _writes_rolled_back(self) -> None:
        """The memory follows writes as they are made: rolled back, it is void."""
        if self.resident is not None:
            self.resident = None  # reads go to the store until it is loaded again
            threading.Thread(target=self._reload, daemon=True).start()

    def _reload(self) -> None:
        """Load the memory again in the background; until it is, reads go to the store."""
        try:
            self.keep_resident()
        except Exception as e:  # a store closed under it (shutdown) or unreachable: stay on the store
            _log.warning("the in-memory copy of the store was not reloaded (%s); reading the store", e)

    def _check_references(
        self, t: Tx, spec: TableSpec, rows: list[tuple[int, dict[str, Any]]], results: list[ItemResult]
    ) -> list[tuple[int, dict[str, Any]]]:
        refs = [c for c in spec.columns if c.references]
        if not refs or not rows:
            return rows
        known: dict[str, dict[str, Any]] = {}
        res = self.resident
        for parent in {c.references for c in refs if c.references}:
            if res is not None:
                known[parent] = res.leads if parent == "leads" else res.accounts
                continue
            wanted = sorted(
                {r[c.name] for _, r in rows for c in refs if c.references == parent and r[c.name]}
            )
            cols = "id, account_id" if parent == "leads" else "id"
            found: dict[str, Any] = {}
            for chunk in range(0, len(wanted), 500):
                part = wanted[chunk : chunk + 500]
                for rec in t.query(
                    f"SELECT {cols} FROM {ident(parent)} WHERE {_c(t, 'id', part)}", _p(t, part)
                ):
                    found[rec["id"]] = rec
            known[parent] = found
        kept = []
        for i, row in rows:
            bad = next(
                (c for c in refs if row[c.name] is not None and row[c.name] not in known[str(c.references)]),
                None,
            )
            if bad is not None:
                results.append(
                    ItemResult(
                        index=i,
                        id=row.get("id"),
                        status="rejected",
                        field=bad.name,
                        reason=f"no {bad.references[:-1] if bad.references else ''} {row[bad.name]!r}: "
                        f"send it to /v1/{bad.references} first",
                    )
                )
                continue
            if "account_id" in row and row.get("account_id") is None and "leads" in known:
                lead_col = "lead_id" if "lead_id" in row else "primary_lead_id"
                lead = known["leads"].get(str(row.get(lead_col)))
                if lead is not None:
                    row["account_id"] = lead["account_id"]
            kept.append((i, row))
        return kept

    def _upsert(
        self,
        t: Tx,
        spec: TableSpec,
        rows: list[tuple[int, dict[str, Any]]],
        actor: str,
        role: str | None,
        at: datetime,
    ) -> tuple[list[Literal["inserted", "updated", "unchanged"]], list[dict[str, Any]], list[dict[str, Any]]]:
        """Write rows by key: what each did, the rows written, and the stored rows they replaced."""
        if not rows:
            return [], [], []
        stored: dict[str, dict[str, Any]] = {}
        if spec.key == ("id",):
            ids = self._may_be_stored(spec, [r["id"] for _, r in rows])
            for chunk in range(0, len(ids), 500):
                part = ids[chunk : chunk + 500]
                for found in t.query(
                    f"SELECT * FROM {ident(spec.name)} WHERE {_c(t, 'id', part)}", _p(t, part)
                ):
                    stored[found["id"]] = found
        else:
            where = " AND ".join(f"{ident(k)} = ?" for k in spec.key)
            for _, r in rows:
                rec = t.one(f"SELECT * FROM {ident(spec.name)} WHERE {where}", [r[k] for k in spec.key])
                if rec is not None:
                    stored[_key(spec, rec)] = rec
        outcomes: list[Literal["inserted", "updated", "unchanged"]] = []
        changed, replaced, audit = [], [], []
        for _, r in rows:
            before = stored.get(_key(spec, r))
            if before is not None and _same(before, r, spec):
                outcomes.append("unchanged")
                continue
            if before is not None:
                t.delete_key(spec, r)
            outcomes.append("inserted" if before is None else "updated")
            changed.append(r)
            if before is not None:
                replaced.append(before)
            what = f"{spec.name}.{'insert' if before is None else 'update'}"
            audit.append(audit_entry(actor, role, what, _key(spec, r), before, r, at))
        t.append(spec, changed)
        t.append(AUDIT_LOG, audit)
        return outcomes, changed, replaced

    def _may_be_stored(self, spec: TableSpec, ids: list[str]) -> list[str]:
        """The ids a table may already hold: all of them, unless the memory knows better."""
        res = self.resident
        if res is None:
            return ids
        if spec is LEADS:
            return [i for i in ids if i in res.leads]
        if spec is ACCOUNTS:
            return [i for i in ids if i in res.accounts]
        if spec is TOUCHPOINTS:
            return res.may_have_touches(ids)
        return ids

    def _to_rescore(self, t: Tx, spec: TableSpec, rows: list[dict[str, Any]]) -> list[str]:
        if spec is LEADS:
            return [r["id"] for r in rows]
        if spec is TOUCHPOINTS:
            return [r["lead_id"] for r in rows]
        if spec is ACCOUNTS and rows:
            ids = [r["id"] for r in rows]
            return [
                r["id"]
                for r in t.query(
                    f"SELECT id FROM {ident('leads')} WHERE {_c(t, 'account_id', ids)}", _p(t, ids)
                )
            ]
        return []

    # ----------------------------------------------------------------- reads
    def lead(self, lead_id: str, as_of: datetime | None = None) -> LeadView:
        """A lead scored now (or at `as_of`) with the active pact, rule by rule, with its stage."""
        as_of = as_of or now()
        with self.rows.tx(write=False) as t:
            pact = self.active(t)
            ppl = self._people(t, pact, [lead_id], as_of)
            if lead_id not in ppl.leads:
                raise UnknownLeadError(f"no lead {lead_id!r}")
            s = self._score_with_colleagues(pact, ppl, [lead_id], as_of)[lead_id]
            stage = self._stages(t, [lead_id], as_of).get(lead_id, ("lead", as_of))[0]
        lead = ppl.leads[lead_id]
        account = ppl.accounts.get(lead["account_id"]) if lead["account_id"] else None
        e = explain(
            pact,
            s,
            lead,
            account,
            ppl.touches.get(lead_id, []),
            as_of,
            self.model,
            ppl.feedback.get(lead_id, []),
        )
        return LeadView(
            lead_id=lead_id,
            account_id=lead["account_id"],
            as_of=as_of,
            score=s.score,
            fit=s.fit,
            engagement=s.engagement,
            adjustment=s.adjustment,
            account_score=s.account_score,
            grade=s.grade,
            band=s.band,
            is_mql=s.is_mql,
            stage=stage,
            sentence=e.sentence,
            rules=[RuleLineOut.model_validate(x, from_attributes=True) for x in e.lines],
            feedback=[f.words for f in e.feedback],
            lead=_json_ready(lead) or {},
            pact=pact.pact,
            pact_version=pact.version,
        )

    def sentences(self, lead_ids: Sequence[str], as_of: datetime | None = None) -> dict[str, str]:
        """Each lead's one-line sentence now (or at `as_of`), scored together in one read."""
        if not lead_ids:
            return {}
        at = as_of or now()
        with self.rows.tx(write=False) as t:
            pact = self.active(t)
            ppl = self._people(t, pact, list(lead_ids), at)
            found = [i for i in lead_ids if i in ppl.leads]
            return self._sentences_of(pact, ppl, self._score_with_colleagues(pact, ppl, found, at), found, at)

    def history(self, lead_id: str) -> LeadHistory:
        """Every change of the lead's stored score (active pact's name, every version), rule by rule."""
        with self.rows.tx(write=False) as t:
            pact = self.active(t)
            if t.one(f"SELECT id FROM {ident('leads')} WHERE id = ?", [lead_id]) is None:
                raise UnknownLeadError(f"no lead {lead_id!r}")
            stored = t.query(
                f"SELECT as_of, pact_version, score FROM {ident('lead_scores')} "
                "WHERE lead_id = ? AND pact = ? AND model = ? ORDER BY as_of, pact_version",
                [lead_id, pact.pact, self.model],
            )
            hashes = {
                r["version"]: r["content_hash"]
                for r in t.query(
                    f"SELECT version, content_hash FROM {ident('pact_versions')} WHERE pact = ?", [pact.pact]
                )
            }
            points = []
            for r in stored:
                h = hashes.get(r["pact_version"])
                version = self.pact(h, t) if h else None
                computed = None
                if version is not None:
                    ppl = self._people(t, version, [lead_id], r["as_of"])
                    if lead_id in ppl.leads:
                        s = self._score_with_colleagues(version, ppl, [lead_id], r["as_of"])[lead_id]
                        computed = parts(version, self.model, s)
                points.append(Point(r["as_of"], r["pact_version"], r["score"], computed))
        found = changes(points)
        return LeadHistory(
            lead_id=lead_id,
            pact=pact.pact,
            score=found[-1].score if found else 0.0,
            changes=[
                ChangeOut(
                    as_of=c.as_of,
                    pact_version=c.pact_version,
                    score=c.score,
                    change=c.change,
                    moved=[MovedOut(part=m.part, section=m.section, points=m.points) for m in c.moved],
                )
                for c in found
            ],
        )

    def queue(
        self,
        *,
        owner: str | None = None,
        grade: str | None = None,
        band: int | None = None,
        account: str | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> QueuePage:
        """Leads whose stage is MQL, by their latest score (active pact), highest first, a page at a time."""
        after: tuple[float, str] | None = None
        if cursor:
            try:
                s, lid = json.loads(base64.urlsafe_b64decode(cursor.encode()).decode())
                after = (float(s), str(lid))
            except (ValueError, TypeError) as exc:
                raise ConfigError("cursor is not one this service gave out") from exc
        res = self.resident
        if res is not None:
            pact = self.active()
            if res.scored_with == (pact.pact, pact.version, self.model):
                return self._queue_in_memory(res, owner, grade, band, account, after, limit)
        owner_sql = (
            "json_extract_string(l.properties, '$.owner')"
            if self.rows.engine == "duckdb"
            else "(l.properties::json ->> 'owner')"
        )
        if self.rows.engine == "postgres":
            lead_state.ensure(self.rows)  # a batch load that replaced a table took the triggers with it
        with self.rows.tx(write=False) as t:
            pact = self.active(t)
            where: list[str] = ["1 = 1"]
            params: list[Any] = []
            if owner is not None:
                where.append(f"{owner_sql} = ?")
                params.append(owner)
            if grade is not None:
                where.append("s.grade = ?")
                params.append(grade)
            if band is not None:
                where.append("s.band = ?")
                params.append(band)
            if account is not None:
                where.append("l.account_id = ?")
                params.append(account)
            if after is not None:
                where.append("(s.score < ? OR (s.score = ? AND s.lead_id > ?))")
                params += [after[0], after[0], after[1]]
            sql = (_QUEUE_PG if self.rows.engine == "postgres" else _QUEUE).format(
                stages=ident("stage_changes"),
                scores=ident("lead_scores"),
                leads=ident("leads"),
                owner=owner_sql,
                where=" AND ".join(where),
                score_state=ident(lead_state.SCORE),
                stage_state=ident(lead_state.STAGE),
            )
            rows = t.query(sql, [pact.pact, pact.version, self.model, *params, limit + 1])
        return self._page(rows, limit)

    @staticmethod
    def _page(rows: list[dict[str, Any]], limit: int) -> QueuePage:
        more = len(rows) > limit
        rows = rows[:limit]
        nxt = None
        if more and rows:
            last = rows[-1]
            nxt = base64.urlsafe_b64encode(json.dumps([last["score"], last["lead_id"]]).encode()).decode()
        return QueuePage(items=[QueueRow.model_validate(r) for r in rows], next_cursor=nxt)

    def _queue_in_memory(
        self,
        res: Resident,
        owner: str | None,
        grade: str | None,
        band: int | None,
        account: str | None,
        after: tuple[float, str] | None,
        limit: int,
    ) -> QueuePage:
        """The queue from what the process keeps: the same rows, order and pages as the SQL."""
        picked = []
        with res.lock:
            for lid in res.mqls:
                s = res.scores.get(lid)
                lead = res.leads.get(lid)
                if s is None or lead is None:
                    continue
                if (grade is not None and s["grade"] != grade) or (band is not None and s["band"] != band):
                    continue
                if account is not None and lead["account_id"] != account:
                    continue
                if owner is not None and res.owners.get(lid) != owner:
                    continue
                if after is not None and not (
                    s["score"] < after[0] or (s["score"] == after[0] and lid > after[1])
                ):
                    continue
                picked.append((s, lead, res.stages[lid][-1][0]))
        picked.sort(key=lambda x: (-x[0]["score"], x[0]["lead_id"]))
        rows = [
            {
                "lead_id": s["lead_id"],
                "account_id": lead["account_id"],
                "owner": res.owners.get(s["lead_id"]),
                "score": s["score"],
                "grade": s["grade"],
                "band": s["band"],
                "fit": s["fit"],
                "engagement": s["engagement"],
                "mql_at": mql_at,
                "scored_at": s["as_of"],
                "email": lead.get("email"),
                "job_title": lead.get("job_title"),
            }
            for s, lead, mql_at in picked[: limit + 1]
        ]
        return self._page(rows, limit)

    def account(self, account_id: str, as_of: datetime | None = None) -> AccountView:
        """An account scored now with the active pact, with each of its people."""
        as_of = as_of or now()
        with self.rows.tx(write=False) as t:
            pact = self.active(t)
            acc = t.one(f"SELECT * FROM {ident('accounts')} WHERE id = ?", [account_id])
            if acc is None:
                raise UnknownAccountError(f"no account {account_id!r}")
            ids = [
                r["id"]
                for r in t.query(
                    f"SELECT id FROM {ident('leads')} WHERE account_id = ? AND created_at <= ?",
                    [account_id, as_of],
                )
            ]
            scores: dict[str, LeadScore] = {}
            if ids:
                ppl = self._people(t, pact, ids, as_of)
                scores = self._score_with_colleagues(pact, ppl, ids, as_of)
        scorer = OnlineScorer(pact, self.model)
        model = pact.model(self.model)
        fired = scorer.fit_rules({}, acc)
        acc_fit = sum(fired[r.id] for r in model.fit.rules if r.scope == "account")
        acc_score = scorer.account_score(acc_fit, [s.engagement for s in scores.values()]) if scores else None
        people = sorted(scores.values(), key=lambda s: (-s.score, s.lead_id))
        return AccountView(
            account_id=account_id,
            as_of=as_of,
            account=_json_ready(acc) or {},
            account_fit=acc_fit,
            account_score=acc_score,
            people=[AccountPerson.model_validate(s, from_attributes=True) for s in people],
        )

    # ----------------------------------------------------------------- writes by people
    def feedback(
        self,
        lead_id: str,
        action: str,
        *,
        actor: str,
        role: str | None = None,
        reason: str | None = None,
        points: float | None = None,
    ) -> Recorded:
        """Record sales' verdict (reason from the pact's list), move the stage, rescore the lead."""
        at = now()
        with self.rows.tx() as t:
            pact = self.active(t)
            check_verdict(action, reason, points, pact.recycle.reasons)
            if t.one(f"SELECT id FROM {ident('leads')} WHERE id = ?", [lead_id]) is None:
                raise UnknownLeadError(f"no lead {lead_id!r}")
            row = {
                "lead_id": lead_id,
                "given_at": at,
                "actor": actor,
                "action": action,
                "reason": reason,
                "points": points,
            }
            t.insert(FEEDBACK, [row])
            from_stage = self._stages(t, [lead_id], at).get(lead_id, ("lead", at))[0]
            to_stage = STAGE_FOR_ACTION.get(action)
            moved = []
            if to_stage is not None:
                moved.append(
                    {
                        "lead_id": lead_id,
                        "from_stage": from_stage,
                        "to_stage": to_stage,
                        "changed_at": at,
                        "actor": actor,
                        "reason": reason or action,
                        "run_id": None,
                    }
                )
                t.insert(STAGE_CHANGES, moved)
            if self.resident is not None:
                self.resident.absorb("feedback", [row])
                self.resident.absorb("stage_changes", moved)
            after = row | {"stage": to_stage or from_stage}
            audit(t, actor, role, f"feedback.{action}", lead_id, {"stage": from_stage}, after, at)
            verdict = {k: row[k] for k in ("lead_id", "action", "reason", "points", "actor")}
            emit(t, "lead.feedback", verdict | {"from_stage": from_stage, "to_stage": to_stage}, at)
            if to_stage == "recycled":
                emit(t, "lead.recycled", {"lead_id": lead_id, "reason": reason, "actor": actor}, at)
            score = self.rescore(t, [lead_id], at, pact).get(lead_id)
        return Recorded(lead_id=lead_id, action=action, from_stage=from_stage, to_stage=to_stage, score=score)

    def erase(self, lead_id: str, *, actor: str, role: str | None = None) -> Erased:
        """Remove a lead and everything about them; the audit keeps only a hash of the id."""
        counts: dict[str, int] = {}
        with self.rows.tx() as t:
            if t.one(f"SELECT id FROM {ident('leads')} WHERE id = ?", [lead_id]) is None:
                raise UnknownLeadError(f"no lead {lead_id!r}")
            if self.resident is not None:
                self.resident.erase(lead_id)
            for table, col in (
                ("touchpoints", "lead_id"),
                ("feedback", "lead_id"),
                ("lead_scores", "lead_id"),
                ("stage_changes", "lead_id"),
                ("leads", "id"),
            ):
                (n,) = t.one(
                    f"SELECT count(*) AS n FROM {ident(table)} WHERE {ident(col)} = ?", [lead_id]
                ).values()  # type: ignore[union-attr]
                t.execute(f"DELETE FROM {ident(table)} WHERE {ident(col)} = ?", [lead_id])
                counts[table] = int(n)
            t.execute(
                f"UPDATE {ident('opportunities')} SET primary_lead_id = NULL WHERE primary_lead_id = ?",
                [lead_id],
            )
            # Earlier audit entries about the lead (its row, touches, verdicts) keep the hash, not the data.
            h = hash_id(lead_id)
            t.execute(
                f'UPDATE {ident("audit_log")} SET target = ?, "before" = NULL, "after" = NULL '
                "WHERE target = ?",
                [h, lead_id],
            )
            t.execute(
                f'UPDATE {ident("audit_log")} SET "before" = NULL, "after" = NULL '
                'WHERE strpos("after", ?) > 0 OR strpos("before", ?) > 0',
                [json.dumps(lead_id), json.dumps(lead_id)],
            )
            audit(t, actor, role, "leads.erase", h, None, dict(counts), now())
        return Erased(lead_hash=h, rows=counts)
