"""A scoring run: score every lead and account as of an instant, keep history, move MQLs.

Re-running the same instant changes nothing: scores are keyed by (lead or
account, pact version, model, instant), and a lead gets one MQL stage change
per crossing. Every run has an id; `revert_run` removes what one wrote.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from accord.errors import UnknownRunError
from accord.model.tables import ACCOUNT_SCORES, LEAD_SCORES, SCORING_RUNS, STAGE_CHANGES, TableSpec
from accord.pact.schema import Pact
from accord.scoring.batch import Inputs, finish_scores, score_accounts, score_people
from accord.store.connection import Store
from accord.store.writer import WriteResult, upsert_expr, would_upsert

REQUALIFY_FROM = ("lead", "recycled", "disqualified")
"""A lead whose latest stage is one of these may become an MQL (after the recycle wait, if recycled)."""
SCORE_TOLERANCE = 1e-6
"""Re-running an instant leaves stored scores alone unless they move by more than this: parallel
sums add floats in any order, so a recomputed score may differ in its last bits."""


@dataclass(frozen=True)
class RunResult:
    """What a scoring run wrote (or, dry, would write)."""

    run_id: str
    as_of: datetime
    model: str
    leads: WriteResult
    accounts: WriteResult
    new_mqls: int
    draft: bool = False
    """Scored with a pact that is not the store's active version."""
    dry_run: bool = False
    """Nothing was written: `leads`, `accounts` and `new_mqls` say what would have been."""
    mqls_recorded: bool = True
    """Whether new MQLs became stage changes (a draft records none unless asked)."""


def inputs_as_of(store: Store, as_of: datetime) -> Inputs:
    """The scoring inputs as they stood at `as_of`: nothing created, touched or said later."""
    leads = store.table("leads")
    tp = store.table("touchpoints")
    fb = store.table("feedback")
    return Inputs(
        leads.filter(leads.created_at <= as_of),
        store.table("accounts"),
        tp.filter(tp.occurred_at <= as_of),
        fb.filter(fb.given_at <= as_of),
    )


def _leads_by(store: Store, as_of: datetime) -> Inputs:
    """The scoring inputs with only the leads created by `as_of`.

    Touches and feedback after it are left out by the scorer itself (its window ends at `as_of`;
    adjustments and resets count up to it), so they need no filter of their own here.
    """
    leads = store.table("leads")
    i = inputs_from(store)
    latest = leads.created_at.max().execute()
    if latest is None or latest <= as_of:
        return i  # the usual run, scoring now: the filter would cost the engine a slower plan
    return Inputs(leads.filter(leads.created_at <= as_of), i.accounts, i.touchpoints, i.feedback)


def inputs_from(store: Store) -> Inputs:
    """The canonical tables of a store as scoring inputs (everything, whatever its date)."""
    return Inputs(
        store.table("leads"), store.table("accounts"), store.table("touchpoints"), store.table("feedback")
    )


def new_run_id(started: datetime) -> str:
    """A run id that sorts by time: `run-20260601T080000-3f2a9c`."""
    return f"run-{started:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"


def _stamp(t: ir.Table, pact: Pact, as_of: datetime, model: str, run_id: str) -> ir.Table:
    return t.mutate(
        model=ibis.literal(model),
        as_of=ibis.literal(as_of).cast("timestamp(6)"),
        pact=ibis.literal(pact.pact),
        pact_version=ibis.literal(pact.version).cast("int64"),
        run_id=ibis.literal(run_id),
    )


def run_scoring(
    store: Store,
    pact: Pact,
    as_of: datetime,
    model: str = "default",
    *,
    draft: bool = False,
    record_mqls: bool | None = None,
    dry_run: bool = False,
) -> RunResult:
    """Score, write `lead_scores` and `account_scores`, and record new MQLs in `stage_changes`.

    Only leads created by `as_of` are scored. A `draft` (a pact that is not the active version)
    records no MQL stage changes unless `record_mqls`; a `dry_run` writes nothing and says what
    it would write. Every run that writes is kept in `scoring_runs`, and `revert_run` undoes it.
    """
    started = datetime.now(UTC).replace(tzinfo=None)
    run_id = new_run_id(started)
    record = (not draft) if record_mqls is None else record_mqls
    # Fit and engagement are the expensive part: compute them once for leads and accounts.
    # Account scores feed both histories and every lead's blend: materialise them once too.
    scratch, scratch_accounts = "_accord_people", "_accord_accounts"
    people = store.scratch(scratch, score_people(pact, _leads_by(store, as_of), as_of, model))
    try:
        accounts = store.scratch(scratch_accounts, score_accounts(people, pact.model(model)))
        lead_rows, account_rows = _rows(pact, as_of, model, run_id, people, accounts)
        if dry_run:
            return _dry_run(store, pact, as_of, model, run_id, lead_rows, account_rows, draft, record)
        leads = _write_history(store, LEAD_SCORES, lead_rows, pact, model, as_of)
        accounts_written = _write_history(store, ACCOUNT_SCORES, account_rows, pact, model, as_of)
    finally:
        store.drop_table(scratch)
        store.drop_table(scratch_accounts)
    new_mqls = 0
    if record:
        stored = store.table("lead_scores")
        new_mqls = upsert_expr(
            store,
            STAGE_CHANGES,
            _mql_changes(store, pact, _run_rows(stored, pact, model, as_of), as_of, run_id),
        ).inserted
    result = RunResult(run_id, as_of, model, leads, accounts_written, new_mqls, draft, False, record)
    _log_run(store, pact, result, started)
    return result


def _rows(
    pact: Pact, as_of: datetime, model: str, run_id: str, people: ir.Table, accounts: ir.Table
) -> tuple[ir.Table, ir.Table]:
    lead_scores, account_scores = finish_scores(people, pact, model, accounts)
    lead_rows = _stamp(lead_scores, pact, as_of, model, run_id).mutate(band=lead_scores.band.cast("int64"))
    account_rows = _stamp(account_scores, pact, as_of, model, run_id).mutate(
        leads=account_scores.leads.cast("int64")
    )
    return lead_rows, account_rows


def _run_rows(t: ir.Table, pact: Pact, model: str, as_of: datetime) -> ir.Table:
    """The rows of a score history that belong to one (pact version, model, instant)."""
    return t.filter(
        (t.pact == pact.pact) & (t.pact_version == pact.version) & (t.model == model) & (t.as_of == as_of)
    )


def _write_history(
    store: Store, spec: TableSpec, rows: ir.Table, pact: Pact, model: str, as_of: datetime
) -> WriteResult:
    """Upsert a run's rows; a first run for this (pact version, model, instant) is a plain insert."""
    t = store.table(spec.name)
    if int(_run_rows(t, pact, model, as_of).count().execute()) == 0:
        store.con.insert(spec.name, rows.select(*spec.column_names))
        n = int(_run_rows(store.table(spec.name), pact, model, as_of).count().execute())
        return WriteResult(n, 0, 0)
    return upsert_expr(store, spec, rows, float_tolerance=SCORE_TOLERANCE)


def _dry_run(
    store: Store,
    pact: Pact,
    as_of: datetime,
    model: str,
    run_id: str,
    lead_rows: ir.Table,
    account_rows: ir.Table,
    draft: bool,
    record: bool,
) -> RunResult:
    """What a run would write: new and changed scores, and the MQLs it would record."""
    scratch = "_accord_dry_leads"
    leads = store.scratch(scratch, lead_rows.select(*LEAD_SCORES.column_names))
    try:
        lead_change = would_upsert(store, LEAD_SCORES, leads, float_tolerance=SCORE_TOLERANCE)
        account_change = would_upsert(store, ACCOUNT_SCORES, account_rows, float_tolerance=SCORE_TOLERANCE)
        mqls = int(_mql_changes(store, pact, leads, as_of, run_id).count().execute()) if record else 0
    finally:
        store.drop_table(scratch)
    return RunResult(run_id, as_of, model, lead_change, account_change, mqls, draft, True, record)


def _log_run(store: Store, pact: Pact, r: RunResult, started: datetime) -> None:
    row = {
        "run_id": r.run_id,
        "started_at": started,
        "as_of": r.as_of,
        "model": r.model,
        "pact": pact.pact,
        "pact_version": pact.version,
        "content_hash": pact.content_hash,
        "draft": r.draft,
        "leads": r.leads.inserted + r.leads.updated,
        "accounts": r.accounts.inserted + r.accounts.updated,
        "new_mqls": r.new_mqls,
        "reverted_at": None,
    }
    store.write_arrow(
        SCORING_RUNS.name,
        pa.Table.from_pylist([row], schema=SCORING_RUNS.schema.to_pyarrow()),
        schema=SCORING_RUNS.schema,
        append=True,
    )


def latest_stages(stage_changes: ir.Table, as_of: datetime) -> ir.Table:
    """Each lead's stage at `as_of`: `lead_id`, `stage`, `changed_at`.

    Its latest change, by time, then by stage name (as every reader of stages orders them).
    """
    past = stage_changes.filter(stage_changes.changed_at <= as_of)
    ranked = past.mutate(
        _n=ibis.row_number().over(
            group_by=past.lead_id, order_by=[past.changed_at.desc(), past.to_stage.desc()]
        )
    )
    return ranked.filter(ranked._n == 0).select("lead_id", "changed_at", stage=ranked.to_stage)


def _mql_changes(store: Store, pact: Pact, scores: ir.Table, as_of: datetime, run_id: str) -> ir.Table:
    """An `mql` stage change for each lead that meets the definition and may (re)qualify."""
    sc = store.table("stage_changes")
    cand = scores.filter(scores.is_mql)
    # Only the MQL candidates' stage histories are ranked, not every lead's.
    latest = latest_stages(sc.semi_join(cand.select("lead_id"), "lead_id"), as_of).select(
        "lead_id", last_stage="stage", last_at="changed_at"
    )
    wait = timedelta(days=pact.recycle.min_days_before_mql)
    cand = cand.left_join(latest, cand.lead_id == latest.lead_id).select(
        cand.lead_id, latest.last_stage, latest.last_at
    )
    eligible = cand.filter(
        cand.last_stage.isnull()
        | (cand.last_stage == "lead")
        | (cand.last_stage.isin([s for s in REQUALIFY_FROM if s != "lead"]) & (cand.last_at <= as_of - wait))
    )
    why = f"met the MQL definition of {pact.pact} v{pact.version}"
    return eligible.select(
        lead_id=eligible.lead_id,
        from_stage=eligible.last_stage.fill_null("lead"),
        to_stage=ibis.literal("mql"),
        changed_at=ibis.literal(as_of).cast("timestamp(6)"),
        actor=ibis.literal(f"accord:{pact.pact}@v{pact.version}"),
        reason=ibis.literal(why),
        run_id=ibis.literal(run_id),
    )


def list_runs(store: Store, limit: int | None = None) -> list[dict[str, object]]:
    """The scoring runs of a store, newest first."""
    t = store.table(SCORING_RUNS.name).order_by(ibis.desc("started_at"), ibis.desc("run_id"))
    rows: list[dict[str, object]] = (t.limit(limit) if limit else t).to_pyarrow().to_pylist()
    return rows


@dataclass(frozen=True)
class Reverted:
    """What reverting a run removed."""

    run_id: str
    lead_scores: int
    account_scores: int
    stage_changes: int


def revert_run(store: Store, run_id: str) -> Reverted:
    """Remove the scores and MQL stage changes a run wrote, and mark it reverted.

    Scores an earlier run wrote at the same key are not the run's (a re-run leaves them
    alone), so they stay.
    """
    runs = store.table(SCORING_RUNS.name)
    found = runs.filter(runs.run_id == run_id).to_pyarrow().to_pylist()
    if not found:
        recent = ", ".join(str(r["run_id"]) for r in list_runs(store, 5)) or "none yet"
        raise UnknownRunError(f"no scoring run {run_id!r}; the latest: {recent} (see `accord runs list`)")
    if found[0]["reverted_at"] is not None:
        raise UnknownRunError(
            f"run {run_id!r} was already reverted at {found[0]['reverted_at']:%Y-%m-%d %H:%M}"
        )
    removed = []
    for spec in (LEAD_SCORES, ACCOUNT_SCORES, STAGE_CHANGES):
        t = store.table(spec.name)
        n = int(t.filter(t.run_id == run_id).count().execute())
        if n:
            _delete_run(store, spec.name, run_id)
        removed.append(n)
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    row = found[0] | {"reverted_at": now}
    _delete_run(store, SCORING_RUNS.name, run_id)
    store.write_arrow(
        SCORING_RUNS.name,
        pa.Table.from_pylist([row], schema=SCORING_RUNS.schema.to_pyarrow()),
        schema=SCORING_RUNS.schema,
        append=True,
    )
    return Reverted(run_id, *removed)


def _delete_run(store: Store, table: str, run_id: str) -> None:
    keys = "_accord_revert"
    store.write_arrow(keys, pa.table({"run_id": [run_id]}))
    try:
        store.delete_keys(table, keys, ("run_id",))
    finally:
        store.drop_table(keys)
