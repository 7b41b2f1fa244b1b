"""A scoring run: score every lead and account as of an instant, keep history, move MQLs.

Re-running the same instant changes nothing: scores are keyed by (lead or
account, model, instant), and a lead gets one MQL stage change per crossing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import ibis
import ibis.expr.types as ir

from accord.model.tables import ACCOUNT_SCORES, LEAD_SCORES, STAGE_CHANGES, TableSpec
from accord.pact.schema import Pact
from accord.scoring.batch import Inputs, finish_scores, score_accounts, score_people
from accord.store.connection import Store
from accord.store.writer import WriteResult, upsert_expr

REQUALIFY_FROM = ("lead", "recycled", "disqualified")
"""A lead whose latest stage is one of these may become an MQL (after the recycle wait, if recycled)."""
SCORE_TOLERANCE = 1e-6
"""Re-running an instant leaves stored scores alone unless they move by more than this: parallel
sums add floats in any order, so a recomputed score may differ in its last bits."""


@dataclass(frozen=True)
class RunResult:
    """What a scoring run wrote."""

    as_of: datetime
    model: str
    leads: WriteResult
    accounts: WriteResult
    new_mqls: int


def inputs_from(store: Store) -> Inputs:
    """The canonical tables of a store as scoring inputs."""
    return Inputs(
        store.table("leads"), store.table("accounts"), store.table("touchpoints"), store.table("feedback")
    )


def _stamp(t: ir.Table, pact: Pact, as_of: datetime, model: str) -> ir.Table:
    return t.mutate(
        model=ibis.literal(model),
        as_of=ibis.literal(as_of).cast("timestamp(6)"),
        pact=ibis.literal(pact.pact),
        pact_version=ibis.literal(pact.version).cast("int64"),
    )


def run_scoring(store: Store, pact: Pact, as_of: datetime, model: str = "default") -> RunResult:
    """Score, write `lead_scores` and `account_scores`, and record new MQLs in `stage_changes`."""
    # Fit and engagement are the expensive part: compute them once for leads and accounts.
    # Account scores feed both histories and every lead's blend: materialise them once too.
    scratch, scratch_accounts = "_accord_people", "_accord_accounts"
    people = store.scratch(scratch, score_people(pact, inputs_from(store), as_of, model))
    try:
        accounts = store.scratch(scratch_accounts, score_accounts(people, pact.model(model)))
        return _write_run(store, pact, as_of, model, people, accounts)
    finally:
        store.drop_table(scratch)
        store.drop_table(scratch_accounts)


def _write_run(
    store: Store, pact: Pact, as_of: datetime, model: str, people: ir.Table, accounts: ir.Table
) -> RunResult:
    lead_scores, account_scores = finish_scores(people, pact, model, accounts)
    lead_scores = _stamp(lead_scores, pact, as_of, model).mutate(band=lead_scores.band.cast("int64"))
    leads = _write_history(store, LEAD_SCORES, lead_scores, model, as_of)
    accounts = _write_history(
        store,
        ACCOUNT_SCORES,
        _stamp(account_scores, pact, as_of, model).mutate(leads=account_scores.leads.cast("int64")),
        model,
        as_of,
    )
    stored = store.table("lead_scores")
    mine = stored.filter((stored.model == model) & (stored.as_of == as_of))
    new_mqls = _record_mqls(store, pact, mine, as_of)
    return RunResult(as_of, model, leads, accounts, new_mqls)


def _write_history(store: Store, spec: TableSpec, rows: ir.Table, model: str, as_of: datetime) -> WriteResult:
    """Upsert a run's rows; a first run for this (model, instant) is a plain insert, with no key checks."""
    t = store.table(spec.name)
    if int(t.filter((t.model == model) & (t.as_of == as_of)).count().execute()) == 0:
        store.con.insert(spec.name, rows.select(*spec.column_names))
        n = int(t.filter((t.model == model) & (t.as_of == as_of)).count().execute())
        return WriteResult(n, 0, 0)
    return upsert_expr(store, spec, rows, float_tolerance=SCORE_TOLERANCE)


def _record_mqls(store: Store, pact: Pact, scores: ir.Table, as_of: datetime) -> int:
    """Add an `mql` stage change for each lead that meets the definition and may (re)qualify."""
    sc = store.table("stage_changes")
    cand = scores.filter(scores.is_mql)
    # Only the MQL candidates' stage histories are ranked, not every lead's.
    past = sc.filter(sc.changed_at <= as_of).semi_join(cand.select("lead_id"), "lead_id")
    latest = past.mutate(
        _n=ibis.row_number().over(
            group_by=past.lead_id, order_by=[past.changed_at.desc(), past.to_stage.desc()]
        )
    )
    latest = latest.filter(latest._n == 0).select(
        "lead_id", last_stage=latest.to_stage, last_at=latest.changed_at
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
    rows = eligible.select(
        lead_id=eligible.lead_id,
        from_stage=eligible.last_stage.fill_null("lead"),
        to_stage=ibis.literal("mql"),
        changed_at=ibis.literal(as_of).cast("timestamp(6)"),
        actor=ibis.literal(f"accord:{pact.pact}@v{pact.version}"),
        reason=ibis.literal(why),
    )
    return upsert_expr(store, STAGE_CHANGES, rows).inserted
