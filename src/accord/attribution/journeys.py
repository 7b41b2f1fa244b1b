"""Journeys: the touches before each conversion (and of every non-converting lead), on the engine.

Every attribution model reads one shape, a touch-level table with one row per touch
of a journey (see :data:`JOURNEY_COLUMNS`). It is built on the engine from the store
(:func:`journeys_from_store`) or from a file (:mod:`accord.attribution.inputs`), and
materialised once so that each model's query scans a small, ordered table.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, TypeVar

import ibis
import ibis.expr.types as ir

from accord.errors import AttributionError
from accord.model.fields import epoch_expr, float_literal, number_expr, property_expr
from accord.model.vocab import Conversion as Conversion
from accord.model.vocab import Stage
from accord.store.connection import Store

JOURNEY_COLUMNS: dict[str, str] = {
    "journey_id": "string",
    "pos": "int64",
    "n": "int64",
    "channel": "string",
    "next_channel": "string",
    "campaign": "string",
    "touch_type": "string",
    "team": "string",
    "age_days": "float64",
    "conv": "float64",
    "value": "float64",
    "nulls": "float64",
    "is_lead_created": "boolean",
    "is_opp_created": "boolean",
    "is_closed_won": "boolean",
}
"""The journey table: one row per touch. `pos` is 1..n in time order; `conv`, `value`
and `nulls` are the journey's conversions, conversion value and non-conversions
(repeated on each of its rows; an aggregated path row may stand for many journeys);
`next_channel` is the channel of the touch after (null for the last); `age_days` is
the time from the touch to the conversion (or to the end of a
non-converting journey); the `is_*` flags mark the touches that created the lead, the
opportunity and closed the deal (W-shaped and full-path models).

A touch file's table stores neither `n` nor `age_days` but each touch's time, `at_s`
(seconds since the epoch): its sort per journey then computes no aggregate over the
journey (the build in 0.92-0.94x its time). Models read them through
:func:`with_journey_columns`, or count them in a round of their own, on the rows they keep.
It also shows its journey's outcome, `won` (its value if it converted, else null), from
which it computes `conv`, `value` and `nulls`."""

PER_JOURNEY = ("n", "age_days")
"""The columns :func:`with_journey_columns` adds where the table does not store them."""


TOTALS = frozenset({"journeys", "conversions", "value", "nulls", "touches"})
"""The keys of `Journeys.totals`."""
DAY_SECONDS = 86_400.0
T = TypeVar("T")


def with_journey_columns(t: ir.Table) -> ir.Table:
    """`t` with `n` and `age_days` (as in :data:`JOURNEY_COLUMNS`), from `at_s` where not stored.

    Counted on the rows of `t`, which must hold whole journeys (a filter on the
    journey's outcome does): a journey's touches are counted and its ages run from
    its latest touch, where a touch file's journey ends.
    """
    if "n" in t.columns:
        return t
    per = t.group_by("journey_id").agg(n=t.count(), _end=t.at_s.max())
    t = t.join(per, "journey_id")
    return t.mutate(age_days=(t._end - t.at_s) / DAY_SECONDS).drop("_end", "at_s")


@dataclass(frozen=True)
class JourneySpec:
    """How to cut journeys out of the store."""

    conversion: Conversion = Conversion.OPPORTUNITY
    per: Literal["lead", "account"] = "lead"
    """A journey per lead, or per account (all its people's touches)."""
    lookback_days: float | None = None
    """Only touches at most this many days before the conversion (or the end) count."""
    lookback_touches: int | None = None
    """Only the last this many touches count."""
    touch_types: tuple[str, ...] | None = None
    channels: tuple[str, ...] | None = None
    teams: tuple[str, ...] | None = None
    as_of: datetime | None = None
    """Ignore everything after this instant; default: the latest touch or conversion."""
    conversion_touch_type: str = "conversion"

    def __post_init__(self) -> None:
        if self.lookback_days is not None and not self.lookback_days > 0:
            raise AttributionError(f"lookback must be a positive number of days, got {self.lookback_days}")
        if self.lookback_touches is not None and self.lookback_touches < 1:
            raise AttributionError(f"lookback must be at least 1 touch, got {self.lookback_touches}")
        if self.per not in ("lead", "account"):
            raise AttributionError(f"journeys are per 'lead' or 'account', not {self.per!r}")


@dataclass
class Journeys:
    """A materialised journey table on an engine, with its totals."""

    con: Any
    """The Ibis backend holding the table."""
    name: str
    has_times: bool
    has_milestones: bool
    source: str
    """Where the journeys came from, for reports."""
    untouched_conversions: float = 0.0
    """Conversions with no touch in their window: no model can credit them to a channel."""
    untouched_value: float = 0.0
    repeat_conversions: float = 0.0
    """Later conversions of a journey the format ends at its first (the tutorial format)."""
    repeat_value: float = 0.0
    rejected: int = 0
    """Input rows refused (their reasons are in the rejects file)."""
    rejects_path: str | None = None
    counts: dict[str, float] = field(default_factory=dict)
    """Totals the builder counted: `journeys` and `touches` read where a row of the table
    stands for several journeys (a path file's identical paths share one row), all of
    them for a touch file; the rest are counted from the table."""
    ends_at_last_touch: bool = False
    """Every journey's latest touch has age 0: its ages count from its last touch (files),
    not from a conversion after it (the store)."""
    time_range: tuple[float, float] | None = None
    """The earliest and latest touch over the table (or a wider range), in seconds since the
    epoch, where the builder knew them (touch files)."""
    channel_names: list[str] | None = None
    """The distinct channels, sorted: from the builder where it knew them, else from the
    table the first time `channels` is read."""
    private: bool = False
    """The backend is this object's own in-process database (journeys from a file or a
    frame): closing closes it, and with it every table and view built there."""
    _memo: dict[Any, Any] = field(default_factory=dict, repr=False)

    def memo(self, key: Any, compute: Callable[[], T]) -> T:
        """A result computed once per journey table (the table does not change once built)."""
        if key not in self._memo:
            self._memo[key] = compute()
        result: T = self._memo[key]
        return result

    @property
    def table(self) -> ir.Table:
        """The journey table as an Ibis expression (read once: reading its schema is a query)."""
        return self.memo("table", lambda: self.con.table(self.name))

    def journey_level(self) -> ir.Table:
        """One row per journey: `journey_id, n, conv, value, nulls`."""
        t = with_journey_columns(self.table)
        return t.filter(t.pos == 1).select("journey_id", "n", "conv", "value", "nulls")

    @property
    def stores_per_journey(self) -> bool:
        """Whether the table stores `n` and `age_days` (else see :func:`with_journey_columns`)."""
        return "n" in self.table.columns

    @property
    def totals(self) -> dict[str, float]:
        """Journeys, touches, conversions, value and non-conversions."""

        def count() -> dict[str, float]:
            if TOTALS <= self.counts.keys():  # the builder counted them all
                return dict(self.counts)
            j = self.journey_level()
            row = j.aggregate(
                journeys=j.count(),
                conversions=j.conv.sum(),
                value=j.value.sum(),
                nulls=j.nulls.sum(),
                touches=j.n.sum(),
            ).to_pyarrow()
            out = {k: float(row[k][0].as_py() or 0.0) for k in row.column_names}
            return out | self.counts

        return self.memo("totals", count)

    @property
    def channels(self) -> list[str]:
        """Distinct channels, sorted."""
        if self.channel_names is None:  # the builder did not know them: ask the table, once
            names = self.table.select("channel").distinct().to_pyarrow()["channel"].to_pylist()
            self.channel_names = sorted(names)
        return self.channel_names

    def close(self) -> None:
        """Drop the materialised table (close the private database)."""
        try:
            if self.private:
                self.con.disconnect()
            else:
                self.con.drop_table(self.name, force=True)
        except Exception:  # noqa: S110 - best effort: the connection may already be closed
            pass

    def __enter__(self) -> Journeys:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


SCRATCH = "_accord_journeys"


# ------------------------------------------------------------------ the store


def _first_per_key(t: ir.Table, key: str, at: str, value: ir.Value | None) -> ir.Table:
    """The earliest row per key: `jid, conv_at, conv_value`."""
    ranked = t.mutate(
        _rn=ibis.row_number().over(ibis.window(group_by=t[key], order_by=[t[at]])),
        _v=value if value is not None else float_literal(0.0),
    )
    first = ranked.filter(ranked._rn == 0)
    return first.select(jid=first[key], conv_at=first[at], conv_value=first._v.cast("float64"))


def _conversions(store: Store, spec: JourneySpec) -> ir.Table:
    """`jid, conv_at, conv_value`: each journey's first conversion."""
    key = "lead_id" if spec.per == "lead" else "account_id"
    c = spec.conversion
    if c is Conversion.TOUCH:
        tp = store.table("touchpoints")
        tp = tp.filter(tp.touch_type == spec.conversion_touch_type)
        value = number_expr(property_expr(tp.properties, "conversion_value")).coalesce(
            number_expr(property_expr(tp.properties, "value")), float_literal(0.0)
        )
        return _first_per_key(tp, key, "occurred_at", value)
    if c is Conversion.LEAD_CREATED:
        leads = store.table("leads")
        leads = leads.select(lead_id=leads.id, account_id=leads.account_id, at=leads.created_at)
        return _first_per_key(leads, key, "at", None)
    if c in (Conversion.MQL, Conversion.SAL, Conversion.SQL):
        sc = store.table("stage_changes")
        sc = sc.filter(sc.to_stage == Stage(c.value).value)
        if key == "account_id":
            leads = store.table("leads")
            sc = sc.join(leads.select(lead_id=leads.id, account_id=leads.account_id), "lead_id")
        return _first_per_key(sc, key, "changed_at", None)
    opps = store.table("opportunities")
    opps = opps.mutate(lead_id=opps.primary_lead_id)
    if c is Conversion.OPPORTUNITY:
        return _first_per_key(opps, key, "created_at", opps.amount.coalesce(float_literal(0.0)))
    won = opps.filter(opps.is_won & opps.closed_at.notnull())
    return _first_per_key(won, key, "closed_at", won.amount.coalesce(float_literal(0.0)))


def _milestones(store: Store, spec: JourneySpec) -> ir.Table:
    """`jid, lc_at, oc_at, cw_at`: when the lead was created, its first opportunity opened and won."""
    key = "lead_id" if spec.per == "lead" else "account_id"
    leads = store.table("leads")
    lc = leads.select(lead_id=leads.id, account_id=leads.account_id, at=leads.created_at)
    lc = lc.group_by(jid=lc[key]).agg(lc_at=lc.at.min())
    opps = store.table("opportunities")
    opps = opps.mutate(lead_id=opps.primary_lead_id)
    oc = opps.group_by(jid=opps[key]).agg(
        oc_at=opps.created_at.min(),
        cw_at=ibis.ifelse(opps.is_won, opps.closed_at, ibis.null("timestamp")).min(),
    )
    return lc.outer_join(oc, "jid").select(
        jid=ibis.coalesce(lc.jid, oc.jid), lc_at=lc.lc_at, oc_at=oc.oc_at, cw_at=oc.cw_at
    )


def journey_expr(store: Store, spec: JourneySpec) -> tuple[ir.Table, ir.Table]:
    """The journey table expression and the conversions table, both on the store's engine."""
    tp = store.table("touchpoints")
    key = "lead_id" if spec.per == "lead" else "account_id"
    tp = tp.filter(tp[key].notnull())
    if spec.conversion is Conversion.TOUCH:
        tp = tp.filter(tp.touch_type != spec.conversion_touch_type)
    for col, allowed in (("touch_type", spec.touch_types), ("channel", spec.channels), ("team", spec.teams)):
        if allowed:
            tp = tp.filter(tp[col].isin(list(allowed)))
    as_of = spec.as_of
    conv = _conversions(store, spec)
    if as_of is None:
        # The latest thing the store knows: a deal can close after its last touch.
        latest = [tp.occurred_at.max().to_pyarrow().as_py(), conv.conv_at.max().to_pyarrow().as_py()]
        as_of = max((x for x in latest if x is not None), default=None)
    if as_of is not None:
        tp = tp.filter(tp.occurred_at <= as_of)
        conv = conv.filter(conv.conv_at <= as_of)
    end_default = ibis.literal(as_of, type="timestamp")
    ms = _milestones(store, spec)
    base = tp.mutate(jid=tp[key])
    conv_r = conv.rename(conv_jid="jid")
    ms_r = ms.rename(ms_jid="jid")
    t = base.left_join(conv_r, base.jid == conv_r.conv_jid).left_join(ms_r, base.jid == ms_r.ms_jid)
    t = t.mutate(_end=t.conv_at.coalesce(end_default))
    t = t.filter(t.occurred_at <= t._end)
    age_s = epoch_expr(t._end) - epoch_expr(t.occurred_at)
    t = t.mutate(_age_s=age_s)
    if spec.lookback_days is not None:
        t = t.filter(t._age_s <= math.floor(spec.lookback_days * DAY_SECONDS))
    if spec.lookback_touches is not None:
        recent = ibis.window(group_by=t.jid, order_by=[ibis.desc(t.occurred_at), ibis.desc(t.id)])
        t = t.mutate(_back=ibis.row_number().over(recent))
        t = t.filter(t._back < spec.lookback_touches)
    jw = ibis.window(group_by=t.jid)
    ordered = ibis.window(group_by=t.jid, order_by=[t.occurred_at, t.id])
    t = t.mutate(_pos=ibis.row_number().over(ordered))

    def last_before(at: ir.Value) -> ir.BooleanValue:
        pos_before = ibis.ifelse(t.occurred_at <= at, t._pos, ibis.null("int64")).max().over(jw)
        return (t._pos == pos_before).fill_null(False)

    converted = t.conv_at.notnull()
    one, zero = float_literal(1.0), float_literal(0.0)
    touches = t.select(
        journey_id=t.jid,
        pos=t._pos + 1,
        n=t.count().over(jw),
        channel=t.channel,
        next_channel=t.channel.lead().over(ordered),
        campaign=t.campaign,
        touch_type=t.touch_type,
        team=t.team,
        age_days=t._age_s.cast("float64") / DAY_SECONDS,
        conv=ibis.ifelse(converted, one, zero),
        value=ibis.ifelse(converted, t.conv_value.coalesce(zero), zero),
        nulls=ibis.ifelse(converted, zero, one),
        is_lead_created=last_before(t.lc_at),
        is_opp_created=last_before(t.oc_at),
        is_closed_won=last_before(t.cw_at),
    )
    return touches.select(*[touches[c].cast(typ).name(c) for c, typ in JOURNEY_COLUMNS.items()]), conv


def journeys_from_store(
    store: Store, spec: JourneySpec | None = None, *, name: str | None = None
) -> Journeys:
    """Build and materialise the journeys for `spec` on the store's engine (dropped on `close`).

    The table's name is new each time: the service attributes on several connections at once.
    """
    spec = spec or JourneySpec()
    name = name or f"{SCRATCH}_{uuid.uuid4().hex[:12]}"
    expr, conv = journey_expr(store, spec)
    store.con.create_table(name, expr, overwrite=True)
    journeys = Journeys(
        con=store.con,
        name=name,
        has_times=True,
        has_milestones=True,
        source=f"{store.describe()} ({spec.conversion.value} per {spec.per})",
    )
    all_conv = conv.aggregate(n=conv.count(), v=conv.conv_value.sum()).to_pyarrow()
    total = journeys.totals
    if total["journeys"] == 0:
        journeys.close()
        raise AttributionError(
            f"no journeys in {store.describe()}: no touchpoint matches"
            + (f" up to {spec.as_of:%Y-%m-%d %H:%M}" if spec.as_of else "")
            + (" the filters" if spec.touch_types or spec.channels or spec.teams else "")
            + " (load touchpoints first: accord load touchpoints FILE)"
        )
    journeys.untouched_conversions = float(all_conv["n"][0].as_py() or 0) - total["conversions"]
    journeys.untouched_value = float(all_conv["v"][0].as_py() or 0.0) - total["value"]
    return journeys
