"""Scoring use cases: score the store, explain a lead, record feedback, list and revert runs, export."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from accord.errors import ConfigError
from accord.model.json_types import Instant
from accord.scoring.explain import Explanation
from accord.scoring.feedback import Recorded, record_feedback
from accord.scoring.lookup import explain_lead
from accord.scoring.reach import SilentRule, silent_rules
from accord.scoring.report import top_mqls
from accord.scoring.run import Reverted, RunResult, list_runs, revert_run, run_scoring
from accord.store.connection import Store
from accord.workflows.pacts import ChosenPact, choose_pact


class TopMql(BaseModel):
    """One of the highest-scoring MQLs of a run, with its one-line explanation."""

    lead_id: str
    score: float
    sentence: str


class Scored(BaseModel):
    """A scoring run of the store and its top MQLs."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    chosen: ChosenPact
    run: RunResult
    top: list[TopMql]
    silent: list[SilentRule] = []
    """Rules that can never fire on this store's data (an unknown property key, an unseen touch type)."""


def score_store(
    store: Store,
    pact_file: Path | str | None,
    as_of: datetime,
    *,
    model: str = "default",
    top: int = 10,
    dry_run: bool = False,
    record_draft_mqls: bool = False,
) -> Scored:
    """Score every lead and account with the active pact (or a draft), keeping history and MQLs."""
    chosen = choose_pact(store, pact_file)
    chosen.pact.model(model)  # an unknown model is refused before any work
    run = run_scoring(
        store,
        chosen.pact,
        as_of,
        model,
        draft=chosen.draft,
        record_mqls=(not chosen.draft) or record_draft_mqls,
        dry_run=dry_run,
    )
    rows = [] if dry_run else top_mqls(store, chosen.pact, as_of, model, top)
    return Scored(
        chosen=chosen,
        run=run,
        top=[TopMql(lead_id=i, score=s, sentence=t) for i, s, t in rows],
        silent=silent_rules(store, chosen.pact, model),
    )


class Explained(BaseModel):
    """One lead's score, rule by rule, with the pact it was scored with."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    chosen: ChosenPact
    explanation: Explanation


def explain(
    store: Store, lead_id: str, pact_file: Path | str | None, as_of: datetime, model: str = "default"
) -> Explained:
    """Explain a lead's score with the active pact (or a draft)."""
    chosen = choose_pact(store, pact_file)
    chosen.pact.model(model)
    return Explained(chosen=chosen, explanation=explain_lead(store, chosen.pact, lead_id, as_of, model))


def feedback(
    store: Store,
    lead_id: str,
    action: str,
    *,
    actor: str,
    reason: str | None = None,
    points: float | None = None,
    at: datetime | None = None,
) -> Recorded:
    """Record sales' verdict on a lead; a reason must be one of the active pact's, when it lists them."""
    from accord.pact.registry import active_pact

    pact = active_pact(store)
    reasons = pact.recycle.reasons if pact is not None else None
    return record_feedback(
        store, lead_id, action, actor=actor, reason=reason, points=points, at=at, reasons=reasons
    )


class RunRow(BaseModel):
    """One scoring run as `accord runs list` shows it."""

    run_id: str
    started_at: Instant
    as_of: Instant
    model: str
    pact: str
    pact_version: int
    draft: bool | None
    leads: int | None
    accounts: int | None
    new_mqls: int | None
    reverted_at: Instant | None


def runs(store: Store, limit: int | None = 20) -> list[RunRow]:
    """The latest scoring runs, newest first."""
    return [RunRow.model_validate(r) for r in list_runs(store, limit)]


def revert(store: Store, run_id: str) -> Reverted:
    """Undo a scoring run: its scores and the MQL stage changes it recorded."""
    return revert_run(store, run_id)


class Exported(BaseModel):
    """What `accord scores export` wrote."""

    path: Path
    rows: int
    as_of: Instant | None
    pact: str
    pact_version: int
    crm: str | None = None
    left_out: int = 0
    """Leads a CRM keyed by email could not take: they have no email."""


def export_scores(
    store: Store,
    output: Path,
    *,
    pact_file: Path | str | None = None,
    model: str = "default",
    mql_only: bool = False,
    fmt: Literal["csv", "parquet"] | None = None,
    to: str | None = None,
) -> Exported:
    """Write each lead's latest stored score (of the active pact, or a draft) to CSV or Parquet.

    With `to` (hubspot, salesforce or marketo), the file is that CRM's import format instead.
    """
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from accord.scoring.crm import FORMATS

    if to is not None and to not in FORMATS:
        raise ConfigError(f"--to must be one of {', '.join(FORMATS)}, not {to!r}")
    chosen = choose_pact(store, pact_file)
    kind = fmt or ("parquet" if output.suffix == ".parquet" else "csv")
    if kind not in ("csv", "parquet"):
        raise ConfigError(f"--format must be csv or parquet, not {kind!r}")
    p = chosen.pact
    ls = store.table("lead_scores")
    mine = ls.filter((ls.pact == p.pact) & (ls.pact_version == p.version) & (ls.model == model))
    latest = mine.as_of.max().execute()
    if latest is None:
        raise ConfigError(
            f"no scores of {chosen.label} model {model!r} in the store yet: run `accord score` first"
        )
    rows = mine.filter(mine.as_of == latest)
    if mql_only:
        rows = rows.filter(rows.is_mql)
    if to is not None:
        return _export_for_crm(store, rows, FORMATS[to], output, latest, p.pact, p.version)
    cols = ["lead_id", "account_id", "score", "fit", "engagement", "adjustment", "grade", "band", "is_mql"]
    table = rows.order_by([rows.score.desc(), rows.lead_id]).select(*cols, "as_of", "pact", "pact_version")
    data = table.to_pyarrow()
    output.parent.mkdir(parents=True, exist_ok=True)
    if kind == "parquet":
        pq.write_table(data, output)
    else:
        pacsv.write_csv(data, output)
    return Exported(path=output, rows=data.num_rows, as_of=latest, pact=p.pact, pact_version=p.version)


def _export_for_crm(
    store: Store, scores: Any, fmt: Any, output: Path, latest: datetime, pact: str, version: int
) -> Exported:
    """Scores joined to each lead's email and latest stage, written in the CRM's import format."""
    import ibis

    from accord.scoring.crm import write_crm_file
    from accord.scoring.run import latest_stages

    leads = store.table("leads").select("id", "email")
    current = latest_stages(store.table("stage_changes"), latest)
    stage = current.select(stage_lead=current.lead_id, stage=current.stage)
    joined = scores.join(leads, scores.lead_id == leads.id).left_join(
        stage, scores.lead_id == stage.stage_lead
    )
    picked = joined.select("id", "email", "score", "grade", "band", "is_mql", "as_of", "stage").order_by(
        [ibis.desc("score"), "id"]
    )
    rows = picked.to_pyarrow().to_pylist()
    written, left_out = write_crm_file(rows, fmt, output)
    return Exported(
        path=output,
        rows=written,
        as_of=latest,
        pact=pact,
        pact_version=version,
        crm=fmt.name,
        left_out=left_out,
    )
