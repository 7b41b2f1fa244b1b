"""Back-test a pact: score leads as of past instants with only what was known then, against what came after.

At each snapshot T the scorer sees leads created by T, touches up to T and sales
feedback given by T, nothing later (a test changes the future and checks that no
snapshot score moves). Each lead still open at T (no opportunity yet) is one row;
its outcome is whether an opportunity opened in (T, T + horizon], and whether that
deal was won. A lead's *MQL moment* is the first snapshot at which the pact calls it
an MQL having not done so at the snapshot before; the funnel metrics follow those
moments.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd

from accord.errors import EvaluationError
from accord.evaluation.metrics import auc, gains, logistic_calibration, precision_recall, rate_by
from accord.evaluation.results import (
    BacktestMetrics,
    CalibrationRow,
    Funnel,
    GainsRow,
    Rate,
    VolumeRow,
    rows_of,
)
from accord.model.tables import FeedbackAction, Stage
from accord.pact.schema import Pact
from accord.scoring.batch import instant_literals, score_leads
from accord.scoring.run import inputs_as_of
from accord.stats import sigmoid
from accord.store.connection import Store

DAYS_PER_MONTH = 30.44


@dataclass(frozen=True)
class BacktestSpec:
    """Which instants to replay and how long to wait for the outcome."""

    start: datetime | None = None
    """First snapshot; default: 90 days after the first lead was created."""
    end: datetime | None = None
    """Last snapshot; default: the last instant whose whole horizon has been observed."""
    every_days: float = 30.0
    horizon_days: float = 90.0
    model: str = "default"
    capacity_per_month: float | None = None
    """MQLs sales can work in a month (reps x leads per rep), to compare volumes with."""

    def __post_init__(self) -> None:
        if self.every_days <= 0 or self.horizon_days <= 0:
            raise EvaluationError("the snapshot interval and the horizon must be positive numbers of days")


@dataclass
class History:
    """What happened to leads, read once: opportunities, stage changes and feedback."""

    leads: pd.DataFrame
    opportunities: pd.DataFrame
    stages: pd.DataFrame
    feedback: pd.DataFrame
    last_touch: datetime | None = None
    """The latest touchpoint, if any."""

    @classmethod
    def read(cls, store: Store) -> History:
        """Read the outcome tables of a store."""
        le = store.table("leads").select("id", "created_at", "source").to_pandas()
        op = store.table("opportunities")
        opps = op.filter(op.primary_lead_id.notnull()).select(
            lead_id=op.primary_lead_id, created_at=op.created_at, closed_at=op.closed_at, is_won=op.is_won
        )
        sc = store.table("stage_changes").select("lead_id", "to_stage", "changed_at").to_pandas()
        fb = store.table("feedback").select("lead_id", "given_at", "actor", "action", "reason").to_pandas()
        last_touch = store.table("touchpoints").occurred_at.max().execute()
        return cls(
            le,
            opps.to_pandas(),
            sc,
            fb,
            None if pd.isna(last_touch) else pd.Timestamp(last_touch).to_pydatetime(),
        )

    @property
    def activity_end(self) -> datetime:
        """The data's own last activity: a lead created, a touch, an opportunity opened or closed.

        Stage changes and feedback are left out: an MQL recorded or a verdict given today is a
        reaction to the data, not more of it, and would stretch a 2018 history to today.
        """
        latest = [pd.Timestamp(self.leads.created_at.max())]
        if self.last_touch is not None:
            latest.append(pd.Timestamp(self.last_touch))
        for col in ("created_at", "closed_at"):
            if not self.opportunities.empty and self.opportunities[col].notna().any():
                latest.append(pd.Timestamp(self.opportunities[col].max()))
        return max(latest).to_pydatetime()


@dataclass
class Backtest:
    """Snapshot rows with scores and outcomes, and the metrics computed from them."""

    pact: str
    spec: BacktestSpec
    rows: pd.DataFrame
    """snapshot, lead_id, score, fit, engagement, grade, band, is_mql, new_mql, converted, won,
    days_to_opportunity, days_to_won, accepted, sql."""
    snapshots: list[datetime]
    metrics: BacktestMetrics

    def to_dict(self) -> dict[str, Any]:
        """Metrics as plain JSON-ready values (NaN as null)."""
        import json

        out: dict[str, Any] = json.loads(self.metrics.model_dump_json())
        return out


MAX_SNAPSHOTS = 400
"""The most snapshots one back-test replays (daily over a year is 365)."""


def snapshot_instants(history: History, spec: BacktestSpec) -> list[datetime]:
    """The snapshot instants of a back-test (plus, first, a warm-up one before `start`)."""
    if history.leads.empty:
        raise EvaluationError("the store has no leads to back-test")
    first = pd.Timestamp(history.leads.created_at.min()).to_pydatetime()
    last_seen = history.activity_end
    start = spec.start or datetime.combine((first + timedelta(days=90)).date(), datetime.min.time())
    end = spec.end or last_seen - timedelta(days=spec.horizon_days)
    if end > last_seen - timedelta(days=spec.horizon_days):
        raise EvaluationError(
            f"the last snapshot {end:%Y-%m-%d} is less than the {spec.horizon_days:g}-day horizon before the "
            f"end of the history ({last_seen:%Y-%m-%d}): its outcomes are not known yet"
        )
    if end < start:
        raise EvaluationError(
            f"no snapshot fits: the window {start:%Y-%m-%d} to {end:%Y-%m-%d} is empty "
            f"(history runs {first:%Y-%m-%d} to {last_seen:%Y-%m-%d}, horizon {spec.horizon_days:g} days)"
        )
    step = timedelta(days=spec.every_days)
    count = int((end - start) / step) + 1 if step > timedelta(0) else MAX_SNAPSHOTS + 1
    if count > MAX_SNAPSHOTS:
        raise EvaluationError(
            f"a snapshot every {spec.every_days:g} days from {start:%Y-%m-%d} to {end:%Y-%m-%d} is {count:,} "
            f"snapshots; at most {MAX_SNAPSHOTS} (snapshot less often)"
        )
    out = [start - step]
    t = start
    while t <= end:
        out.append(t)
        t += step
    return out


def _outcomes(history: History, lead_ids: pd.Series, t: datetime, horizon: timedelta) -> pd.DataFrame:
    opps = history.opportunities
    later = opps[(opps.created_at > t) & (opps.created_at <= t + horizon)].sort_values("created_at")
    first = later.drop_duplicates("lead_id").set_index("lead_id")
    won = later[later.is_won.fillna(False).astype(bool)].sort_values("closed_at").drop_duplicates("lead_id")
    won = won.set_index("lead_id")
    fb = history.feedback
    acc = fb[(fb.action == FeedbackAction.ACCEPT.value) & (fb.given_at > t) & (fb.given_at <= t + horizon)]
    st = history.stages
    sql = st[(st.to_stage == Stage.SQL.value) & (st.changed_at > t) & (st.changed_at <= t + horizon)]
    ids = lead_ids.to_numpy()
    days = (first.created_at - t).dt.total_seconds() / 86_400
    won_days = (won.closed_at - t).dt.total_seconds() / 86_400
    # pandas' isin hashes; numpy's sorts object arrays (0.8 s a call on 100k leads).
    return pd.DataFrame(
        {
            "converted": lead_ids.isin(first.index).to_numpy(),
            "won": lead_ids.isin(won.index).to_numpy(),
            "days_to_opportunity": days.reindex(ids).to_numpy(),
            "days_to_won": won_days.reindex(ids).to_numpy(),
            "accepted": lead_ids.isin(acc.lead_id.unique()).to_numpy(),
            "sql": lead_ids.isin(sql.lead_id.unique()).to_numpy(),
        }
    )


Progress = Callable[[str, float], None]
"""Told (what is being done, the fraction done) as long work goes on."""


def _quiet(_step: str, _frac: float) -> None:
    return None


class SnapshotQuery:
    """A pact's scoring query for one instant after another, compiled by Ibis twice, not at every one.

    Ibis takes 0.4 s to compile the example pact's query (0.75 s for a learned pact of 180
    rules) and DuckDB 0.3 s to run it on 100k leads. The SQL of one instant differs from
    another's only in the literals `instant_literals` names (and in the names Ibis gives the
    pact's constant tables), so the first instant's SQL becomes a template, used once it gives
    for the second instant exactly what Ibis compiles, on the same constants.
    """

    def __init__(self, store: Store, pact: Pact, model: str) -> None:
        self.store, self.pact, self.model = store, pact, model
        self._first: tuple[datetime, ir.Table, str] | None = None
        self._template: str | None = None
        self._checked = False

    def scores(self, t: datetime) -> pd.DataFrame:
        """`score_leads` as of `t`, as a frame."""
        if self._template is not None and self._first is not None:
            return self._run(self._first[1], self._fill(self._template, t))
        expr = score_leads(self.pact, inputs_as_of(self.store, t), t, self.model)
        sql = str(self.store.con.compile(expr))
        if self._first is None:
            self._first = (t, expr, sql)
        elif not self._checked:
            self._checked = True
            t0, expr0, sql0 = self._first
            template = self._make(t0, sql0)
            same = _memtable_data(expr0) == _memtable_data(expr)
            if template is not None and same and self._fill(template, t) == _renamed(sql, sql0):
                self._template = template
        return self._run(expr, sql)

    def _run(self, expr: ir.Table, sql: str) -> pd.DataFrame:
        con = self.store.con
        con._run_pre_execute_hooks(expr)  # the pact's constant tables, which the SQL names
        out: pd.DataFrame = con.sql(sql, schema=expr.schema()).to_pandas()
        return out

    def _render(self, value: object) -> str | None:
        sql = str(self.store.con.compile(ibis.literal(value).name("v")))
        m = re.fullmatch(r"SELECT (.+) AS [`\"]?v[`\"]?\s*", sql, flags=re.DOTALL)
        return m.group(1) if m else None

    def _make(self, t: datetime, sql: str) -> str | None:
        rendered = [self._render(v) for v in instant_literals(self.pact, self.model, t)]
        if any(r is None for r in rendered) or "\x00" in sql:
            return None
        for k, r in sorted(enumerate(rendered), key=lambda kr: -len(kr[1] or "")):
            sql = sql.replace(str(r), f"\x00{k}\x00")
        return sql

    def _fill(self, template: str, t: datetime) -> str:
        for k, v in enumerate(instant_literals(self.pact, self.model, t)):
            template = template.replace(f"\x00{k}\x00", str(self._render(v)))
        return template


_MEMTABLE = re.compile(r"ibis_[a-z]+_memtable_[a-z0-9]+")


def _renamed(sql: str, like: str) -> str:
    """`sql` with its in-memory tables named as `like` names its own, in order of appearance."""
    mine = list(dict.fromkeys(_MEMTABLE.findall(sql)))
    theirs = list(dict.fromkeys(_MEMTABLE.findall(like)))
    if len(mine) != len(theirs):
        return sql
    names = dict(zip(mine, theirs, strict=True))
    return _MEMTABLE.sub(lambda m: names[m.group(0)], sql)


def _memtable_data(expr: ir.Table) -> list[str]:
    """What the expression's in-memory tables hold, whatever their names."""
    import ibis.expr.operations as ops

    return sorted(repr(op.data.to_frame().to_dict(orient="list")) for op in expr.op().find(ops.InMemoryTable))


def score_snapshots(
    store: Store,
    pact: Pact,
    spec: BacktestSpec,
    history: History | None = None,
    progress: Progress | None = None,
) -> tuple[pd.DataFrame, list[datetime]]:
    """One row per open lead and snapshot: its score then and what happened after."""
    tick = progress or _quiet
    history = history or History.read(store)
    instants = snapshot_instants(history, spec)
    horizon = timedelta(days=spec.horizon_days)
    opps = history.opportunities
    frames = []
    previous_mql: set[str] = set()
    query = SnapshotQuery(store, pact, spec.model)
    for i, t in enumerate(instants):
        tick(f"{pact.pact} v{pact.version} as of {t:%Y-%m-%d}", i / len(instants))
        # in lead order: engines return rows in any order, and what is learned from them must not move
        scores = query.scores(t).sort_values("lead_id", kind="stable")
        converted_before = set(opps.loc[opps.created_at <= t, "lead_id"])
        scores = scores[~scores.lead_id.isin(converted_before)].reset_index(drop=True)
        mql_now = set(scores.lead_id[scores.is_mql.astype(bool)])
        scores["new_mql"] = scores.lead_id.isin(mql_now - previous_mql)
        previous_mql = mql_now
        if i == 0:
            continue  # the warm-up snapshot only tells which MQLs are not new at the first one
        out = _outcomes(history, scores.lead_id, t, horizon)
        frames.append(pd.concat([scores.assign(snapshot=t), out], axis=1))
    rows = pd.concat(frames, ignore_index=True)
    rows["is_mql"] = rows.is_mql.astype(bool)
    return rows, instants[1:]


def backtest(
    store: Store,
    pact: Pact,
    spec: BacktestSpec | None = None,
    history: History | None = None,
    progress: Progress | None = None,
) -> Backtest:
    """Replay `pact` over history and measure it."""
    spec = spec or BacktestSpec()
    history = history or History.read(store)
    rows, instants = score_snapshots(store, pact, spec, history, progress)
    metrics = measure_on(history, rows, instants, spec)
    return Backtest(f"{pact.pact} v{pact.version}", spec, rows, instants, metrics)


def measure_on(
    history: History, rows: pd.DataFrame, instants: list[datetime], spec: BacktestSpec
) -> BacktestMetrics:
    """`measure`, with what the history says: stages it never records, snapshots left out."""
    m = measure(rows, instants, spec)
    return m.model_copy(
        update={
            "left_out": left_out_note(history, spec, instants),
            "funnel": _unknown_stages(m.funnel, history),
        }
    )


def _unknown_stages(funnel: Funnel, history: History) -> Funnel:
    """A stage the store records nothing of is unknown (NaN), not a rate of 0."""
    nan = float("nan")
    unknown: dict[str, float] = {}
    if not (history.feedback.action == FeedbackAction.ACCEPT.value).any():
        unknown["mql_to_sal"] = nan
    if not (history.stages.to_stage == Stage.SQL.value).any():
        unknown["mql_to_sql"] = nan
    if history.opportunities.empty:
        unknown |= {"mql_to_opportunity": nan, "mql_to_won": nan}
    elif not history.opportunities.is_won.fillna(False).astype(bool).any():
        unknown["mql_to_won"] = nan
    return funnel.model_copy(update=unknown)


def left_out_note(history: History, spec: BacktestSpec, instants: list[datetime]) -> str | None:
    """Why no snapshot comes later: its outcome horizon has not been observed yet."""
    if spec.end is not None or not instants:
        return None
    last_seen = history.activity_end
    unseen = int((last_seen - instants[-1]).total_seconds() // (spec.every_days * 86_400))
    if unseen <= 0:
        return None
    return (
        f"{unseen} later snapshot{'s' if unseen > 1 else ''} left out: the {spec.horizon_days:g}-day outcome "
        f"horizon after {instants[-1]:%Y-%m-%d} runs past the last activity in the store "
        f"({last_seen:%Y-%m-%d}), so outcomes are not known yet"
    )


def measure(rows: pd.DataFrame, instants: list[datetime], spec: BacktestSpec) -> BacktestMetrics:
    """Every back-test metric from snapshot rows."""
    y = rows.converted.to_numpy()
    precision, recall = precision_recall(rows.is_mql.to_numpy(), y)
    grade_band = rate_by(rows[["grade", "band"]].astype(str), y)
    mqls = rows[rows.new_mql]
    months = len(instants) * spec.every_days / DAYS_PER_MONTH
    per_snapshot = mqls.groupby("snapshot").size().reindex(instants, fill_value=0)
    per_month = per_snapshot * (DAYS_PER_MONTH / spec.every_days)
    volume = pd.DataFrame(
        {"snapshot": instants, "new_mqls": per_snapshot.to_numpy(), "per_month": per_month.to_numpy()}
    )
    if spec.capacity_per_month is not None:
        volume["over_capacity"] = volume.per_month > spec.capacity_per_month
    funnel = Funnel(
        new_mqls=len(mqls),
        mqls_per_month=len(mqls) / months if months else float("nan"),
        capacity_per_month=spec.capacity_per_month,
        mql_to_sal=_mean(mqls.accepted),
        mql_to_sql=_mean(mqls.sql),
        mql_to_opportunity=_mean(mqls.converted),
        mql_to_won=_mean(mqls.won),
        median_days_mql_to_opportunity=_median(mqls.days_to_opportunity),
        median_days_mql_to_won=_median(mqls.days_to_won),
    )
    return BacktestMetrics(
        snapshots=len(instants),
        rows=len(rows),
        leads=int(rows.lead_id.nunique()),
        conversion_rate=float(y.mean()) if len(y) else float("nan"),
        auc=auc(rows.score.to_numpy(), y),
        precision_at_mql=precision,
        recall_at_mql=recall,
        mql_share=float(rows.is_mql.mean()) if len(rows) else float("nan"),
        by_band=rows_of(rate_by(rows.band.astype(str), y), Rate),
        by_grade=rows_of(rate_by(rows.grade.astype(str), y), Rate),
        grade_band=rows_of(grade_band, Rate),
        gains=rows_of(gains(rows.score.to_numpy(), y), GainsRow),
        funnel=funnel,
        volume=rows_of(volume, VolumeRow),
        calibration=rows_of(calibration(rows, instants), CalibrationRow),
    )


def _mean(s: pd.Series) -> float:
    return float(s.astype(float).mean()) if len(s) else float("nan")


def _median(s: pd.Series) -> float:
    s = s.dropna()
    return float(s.median()) if len(s) else float("nan")


def calibration(rows: pd.DataFrame, instants: list[datetime]) -> pd.DataFrame:
    """Predicted against observed conversion per band, honestly.

    A logistic curve of score is fitted on the earlier half of the snapshots and
    measured on the later half.
    """
    if len(instants) < 2:
        return pd.DataFrame(columns=["band", "leads", "predicted", "observed"])
    cut = instants[len(instants) // 2]
    train, test = rows[rows.snapshot < cut], rows[rows.snapshot >= cut]
    if train.converted.nunique() < 2 or test.empty:
        return pd.DataFrame(columns=["band", "leads", "predicted", "observed"])
    a, b = logistic_calibration(train.score.to_numpy(), train.converted.to_numpy())
    p = sigmoid(a + b * test.score.to_numpy())
    df = pd.DataFrame({"band": test.band.astype(str), "p": p, "y": test.converted.astype(float)})
    out = df.groupby("band").agg(leads=("y", "size"), predicted=("p", "mean"), observed=("y", "mean"))
    return out.reset_index()
