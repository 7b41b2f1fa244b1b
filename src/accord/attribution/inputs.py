"""Journeys from files: ChannelAttribution's path format, touch-level files, the tutorial format.

A file is read by an in-process DuckDB (the loader's reader: sniffed CSV, Parquet,
JSON Lines, bad lines kept), checked row by row, and turned into the journey table
there. Rows that cannot be used are written with their reason to
`NAME.rejects.csv` beside the file; every other row is used.

- **paths**: `path, total_conversions[, total_conversion_value][, total_null]`, one
  row per distinct path (or per journey), channels joined by a separator (`>`).
- **touches**: `journey_id, occurred_at, channel[, converted][, value]` and optionally
  `campaign`, `touch_type`, `team`. A `converted` flag that is the same on every row
  of a journey is the journey's outcome; one that varies marks the converting touch:
  the journey ends with the first flagged touch.
- **tutorial**: `customer_id, time, interaction, conversion, conversion_value, channel`
  goes through the loader's `journeys` preset into a scratch store; each journey is
  cut at its first conversion row (which is the event, not a touch).
"""

from __future__ import annotations

import csv as csvlib
import dataclasses
import os
from pathlib import Path
from typing import Any, Literal, NamedTuple

import duckdb
import ibis
import pandas as pd
import pyarrow as pa

from accord.attribution.journeys import (
    JOURNEY_COLUMNS,
    PER_JOURNEY,
    SCRATCH,
    Conversion,
    Journeys,
    JourneySpec,
    journeys_from_store,
)
from accord.errors import AttributionError
from accord.model.fields import number_expr, property_expr
from accord.store.files import ROW, SourceFile, detect_format, read_source
from accord.store.mapping import CsvOptions
from accord.store.sql import ident, literal

FileKind = Literal["paths", "touches", "tutorial"]

_ALIASES: dict[str, tuple[str, ...]] = {
    "path": ("path", "paths", "channel_path"),
    "total_conversions": ("total_conversions", "conversions", "conv"),
    "total_conversion_value": ("total_conversion_value", "conversion_value", "value", "revenue"),
    "total_null": ("total_null", "null", "nulls", "total_nulls"),
    "journey_id": ("journey_id", "user_id", "lead_id", "customer_id", "visitor_id", "id"),
    "occurred_at": ("occurred_at", "time", "timestamp", "date", "event_time"),
    "channel": ("channel",),
    "converted": ("converted", "conversion", "is_conversion"),
    "value": ("value", "conversion_value", "revenue"),
    "campaign": ("campaign",),
    "touch_type": ("touch_type",),
    "team": ("team",),
}


def _find(columns: list[str], name: str) -> str | None:
    lower = {c.lower().strip(): c for c in columns}
    for alias in _ALIASES[name]:
        if alias in lower:
            return lower[alias]
    return None


def detect_kind(columns: list[str]) -> FileKind:
    """Which journey format a header is, or an error naming the formats."""
    lower = {c.lower().strip() for c in columns}
    if _find(columns, "path") and _find(columns, "total_conversions"):
        return "paths"
    if {"customer_id", "time", "interaction", "channel"} <= lower:
        return "tutorial"
    if _find(columns, "journey_id") and _find(columns, "occurred_at") and _find(columns, "channel"):
        return "touches"
    raise AttributionError(
        f"cannot tell the journey format from the columns {', '.join(columns)}: expected a path file "
        "(path, total_conversions[, total_conversion_value, total_null]), a touch file "
        "(journey_id, occurred_at, channel[, converted, value]) or the tutorial format "
        "(customer_id, time, interaction, conversion, conversion_value, channel)"
    )


def journeys_from_file(
    path: str | Path,
    *,
    sep: str = ">",
    kind: FileKind | None = None,
    spec: JourneySpec | None = None,
    rejects_path: str | Path | None = None,
) -> Journeys:
    """Read a journey file of any supported kind into an in-process DuckDB."""
    path = Path(path)
    fmt = detect_format(path, None)
    raw = duckdb.connect()
    raw.execute("SET TimeZone = 'UTC'")
    src = read_source(raw, path, fmt, CsvOptions())
    kind = kind or detect_kind(src.columns)
    if kind == "tutorial":
        raw.close()
        return _tutorial(path, spec)
    built = _build(raw, src, kind, sep, spec)
    out = _write_rejects(raw, src, path, rejects_path, built.rejected)
    journeys = _journeys(
        raw, kind, built, f"{path} ({kind})", built.rejected + len(src.bad_lines), str(out) if out else None
    )
    if journeys.totals["journeys"] == 0:
        journeys.close()
        if out is not None:
            why = f"every row was rejected; the reasons are in {out}"
        elif src.rows == 0:
            why = "the file has a header but no rows"
        else:
            why = "no row is left after the filters (touch types, channels, teams, as of)"
        raise AttributionError(f"{path}: no usable journey: {why}")
    return journeys


class Built(NamedTuple):
    """What a builder learned of the journeys, besides their table."""

    rejected: int
    counts: dict[str, float]
    """`Journeys.counts`."""
    time_range: tuple[float, float] | None = None
    channels: list[str] | None = None
    """The distinct channels, where the builder knew them without a query."""


def _journeys(
    raw: duckdb.DuckDBPyConnection,
    kind: FileKind,
    built: Built,
    source: str,
    rejected: int,
    rejects_path: str | None = None,
) -> Journeys:
    """The journeys a file or a frame built in `raw`, its own in-process database."""
    touches = kind == "touches"
    return Journeys(
        con=ibis.duckdb.from_connection(raw),
        name=SCRATCH,
        has_times=touches,
        ends_at_last_touch=touches,
        has_milestones=False,
        source=source,
        rejected=rejected,
        rejects_path=rejects_path,
        counts=built.counts,
        time_range=built.time_range,
        channel_names=built.channels,
        private=True,
    )


def _build(
    raw: duckdb.DuckDBPyConnection, src: SourceFile, kind: FileKind, sep: str, spec: JourneySpec | None
) -> Built:
    """Build the journey table of a path or touch source."""
    if kind == "paths":
        return Built(*_paths(raw, src, sep))
    return _touches(raw, src, spec or JourneySpec())


def _number(col: str | None, default: str) -> str:
    return f"TRY_CAST({ident(col)} AS DOUBLE)" if col else default


_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "FLOAT", "DOUBLE", "DECIMAL", "UBIGINT")


def _value(col: str | None, typ: str = "VARCHAR") -> str:
    if not col:
        return "CAST(0 AS DOUBLE)"
    if typ.upper().startswith(_NUMERIC):
        return f"coalesce(CAST({ident(col)} AS DOUBLE), 0.0)"
    text = f"trim(CAST({ident(col)} AS VARCHAR))"
    return f"CASE WHEN {text} IS NULL OR {text} = '' THEN 0.0 ELSE TRY_CAST({text} AS DOUBLE) END"


ROWS = f"{SCRATCH}_rows"
"""The journey table's stored columns; `SCRATCH` is a view over it that adds the constant ones."""
_CONSTANT_FLAGS = ("is_lead_created", "is_opp_created", "is_closed_won")


def _journey_view(
    raw: duckdb.DuckDBPyConnection,
    missing: tuple[str, ...],
    computed: dict[str, str] | None = None,
    per_journey: bool = True,
) -> None:
    """The journey table as a view over `ROWS`, with the `missing` columns null.

    Files have no milestones either. Constants in a view cost nothing; written out,
    every row pays for them. So do the `computed` columns (name: SQL over `ROWS`),
    which cost less to compute where they are read than to write. Without
    `per_journey`, `ROWS` has each touch's time (`at_s`) instead of its journey's
    touch count and its age (see :func:`~accord.attribution.journeys.with_journey_columns`),
    and its journey's outcome, `won`, which the view shows too: engines push a filter on a
    stored column into the scan (rule models 0.013 s faster on 1M journeys).
    """
    cols = [] if per_journey else ["at_s", "won"]
    for col, typ in JOURNEY_COLUMNS.items():
        if not per_journey and col in PER_JOURNEY:
            continue
        if col in _CONSTANT_FLAGS:
            cols.append(f"false AS {col}")
        elif computed and col in computed:
            cols.append(f"{computed[col]} AS {col}")
        elif col in missing:
            cols.append(f"CAST(NULL AS {'DOUBLE' if typ == 'float64' else 'VARCHAR'}) AS {col}")
        else:
            cols.append(col)
    raw.execute(f"CREATE OR REPLACE VIEW {SCRATCH} AS SELECT {', '.join(cols)} FROM {ROWS}")


def _paths(raw: duckdb.DuckDBPyConnection, src: SourceFile, sep: str) -> tuple[int, dict[str, float]]:
    """Build the journey table from a path file; the rejected rows and the journeys and touches read."""
    if not sep:
        raise AttributionError("the path separator cannot be empty")
    cols = {
        k: _find(src.columns, k)
        for k in ("path", "total_conversions", "total_conversion_value", "total_null")
    }
    conv, value, nulls = (
        _number(cols["total_conversions"], "0.0"),
        _number(cols["total_conversion_value"], "0.0"),
        _number(cols["total_null"], "0.0"),
    )
    p = ident(cols["path"] or "path")
    # Views: the number checks run inside the one statement that groups the rows; the
    # path check (the first reason) runs on distinct paths, or on every row only when
    # there are rejects to write. A path has a channel when something other than
    # separators and spaces is left, the same test as splitting, trimming and dropping
    # empty tokens.
    raw.execute(
        f"""CREATE OR REPLACE TEMP VIEW numbers AS
        SELECT {ROW}, path, conv, value, nulls,
          CASE
            WHEN conv IS NULL THEN 'total_conversions is not a number'
            WHEN conv < 0 THEN 'total_conversions is negative'
            WHEN value IS NULL THEN 'total_conversion_value is not a number'
            WHEN nulls IS NULL THEN 'total_null is not a number'
            WHEN nulls < 0 THEN 'total_null is negative'
            WHEN conv + nulls = 0 THEN 'path has no conversions and no nulls'
            WHEN conv = 0 AND value <> 0 THEN 'total_conversion_value without conversions'
          END AS reason
        FROM (SELECT {ROW}, coalesce(CAST({p} AS VARCHAR), '') AS path,
                {conv} AS conv, coalesce({value}, 0.0) AS value, coalesce({nulls}, 0.0) AS nulls
              FROM src)"""
    )
    raw.execute(
        f"""CREATE OR REPLACE TEMP VIEW checked AS
        SELECT {ROW}, CASE WHEN trim(replace(path, {literal(sep)}, '')) = '' THEN 'path has no channel'
                          ELSE reason END AS reason
        FROM numbers"""
    )
    # Rows with the same path text are one row of the journey table standing for all of
    # them (every model reads a path row with its totals): the channels are split once
    # per distinct path, and the models scan distinct paths instead of journeys.
    raw.execute(
        f"""CREATE OR REPLACE TEMP TABLE grouped AS
        SELECT path, reason IS NULL AS ok, CAST(min({ROW}) AS VARCHAR) AS journey_id,
               count(*) AS journeys, sum(conv) AS conv, sum(value) AS value, sum(nulls) AS nulls
        FROM numbers GROUP BY path, ok"""
    )
    raw.execute(
        f"""CREATE OR REPLACE TABLE {ROWS} AS
        SELECT journey_id,
               CAST(generate_subscripts(toks, 1) AS BIGINT) AS pos,
               CAST(len(toks) AS BIGINT) AS n,
               unnest(toks) AS channel,
               unnest(list_concat(toks[2:], [NULL])) AS next_channel,
               CAST(conv AS DOUBLE) AS conv, CAST(value AS DOUBLE) AS value,
               CAST(nulls AS DOUBLE) AS nulls
        FROM (SELECT *, list_filter(list_transform(string_split(path, {literal(sep)}), x -> trim(x)),
                                    x -> x <> '') AS toks
              FROM grouped WHERE ok)
        WHERE len(toks) > 0"""
    )
    _journey_view(raw, ("campaign", "touch_type", "team", "age_days"))
    # Rejected: rows with a bad number, and rows whose path has no channel (not in the table).
    counts = raw.execute(
        f"""SELECT (SELECT sum(journeys) FROM grouped WHERE NOT ok),
                   sum(g.journeys) FILTER (WHERE j.n IS NULL),
                   sum(g.journeys) FILTER (WHERE j.n IS NOT NULL), sum(g.journeys * j.n)
            FROM (SELECT journey_id, journeys FROM grouped WHERE ok) g
            LEFT JOIN (SELECT journey_id, n FROM {SCRATCH} WHERE pos = 1) j USING (journey_id)"""
    ).fetchone()
    bad, no_channel, journeys, touches = (float(x or 0) for x in counts or (0, 0, 0, 0))
    return int(bad + no_channel), {"journeys": journeys, "touches": touches}


def _touches(raw: duckdb.DuckDBPyConnection, src: SourceFile, spec: JourneySpec) -> Built:
    """Build the journey table from a touch file."""
    f = {k: _find(src.columns, k) for k in _ALIASES}
    if f["value"] == f["converted"]:
        f["value"] = None
    ts_col = ident(f["occurred_at"] or "")
    typed = "TIMESTAMP" in src.types.get(f["occurred_at"] or "", "VARCHAR").upper()
    occurred = f"CAST({ts_col} AS TIMESTAMP)" if typed else f"TRY_CAST({ts_col} AS TIMESTAMP)"
    flag = f["converted"]
    yes, no = "('1', 'true', 't', 'yes', 'y', '1.0')", "('0', 'false', 'f', 'no', 'n', '0.0', '')"
    # The flag is 0 or 1 as a one-byte integer: it rides through the sort per journey.
    if flag is None:
        flag_expr = "CAST(0 AS TINYINT)"
    elif src.types.get(flag, "VARCHAR").upper() in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "BOOLEAN"):
        as_int = f"CAST({ident(flag)} AS INTEGER)"
        # A Parquet file's statistics answer its range at once (1 ms for 3.6M touches); when
        # every flag is 0, 1 or missing, no touch needs the check (the build in 0.92x its time).
        span = raw.execute(f"SELECT min({ident(flag)}), max({ident(flag)}) FROM src").fetchone()
        lo, hi = span or (None, None)
        if (lo is None or lo >= 0) and (hi is None or hi <= 1):
            flag_expr = f"CAST(coalesce({as_int}, 0) AS TINYINT)"
        else:
            flag_expr = (
                f"CASE WHEN {ident(flag)} IS NULL THEN CAST(0 AS TINYINT) "
                f"WHEN {as_int} IN (0, 1) THEN CAST({as_int} AS TINYINT) END"
            )
    else:
        text = f"lower(trim(CAST({ident(flag)} AS VARCHAR)))"
        flag_expr = (
            f"CASE WHEN {text} IN {yes} THEN CAST(1 AS TINYINT) "
            f"WHEN {text} IN {no} OR {ident(flag)} IS NULL THEN CAST(0 AS TINYINT) END"
        )
    opt = {
        k: (f"CAST({ident(f[k] or '')} AS VARCHAR)" if f[k] else "CAST(NULL AS VARCHAR)")
        for k in ("campaign", "touch_type", "team")
    }
    channel_text, channel_stored, names = _channels(raw, ident(f["channel"] or ""))
    # A view: the checks run once, inside the statement that builds the journeys.
    raw.execute(
        f"""CREATE OR REPLACE TEMP VIEW checked AS
        SELECT *, CASE
            -- blank: empty or spaces only; such a text sorts before '!', so trim only those
            WHEN jid IS NULL OR (jid < '!' AND trim(jid) = '') THEN 'journey id is missing'
            WHEN ts IS NULL THEN 'occurred_at is missing or not a timestamp'
            WHEN channel IS NULL OR channel = '' THEN 'channel is missing'
            WHEN flag IS NULL THEN 'converted is not a yes/no flag'
            WHEN val IS NULL THEN 'value is not a number'
          END AS reason
        FROM (SELECT {ROW}, CAST({ident(f["journey_id"] or "")} AS VARCHAR) AS jid, {occurred} AS ts,
                {channel_text} AS channel, {flag_expr} AS flag,
                {_value(f["value"], src.types.get(f["value"] or "", "VARCHAR"))} AS val,
                {opt["campaign"]} AS campaign, {opt["touch_type"]} AS touch_type, {opt["team"]} AS team
              FROM src)"""
    )
    keep = ["reason IS NULL"]
    for col, allowed in (("touch_type", spec.touch_types), ("channel", spec.channels), ("team", spec.teams)):
        if allowed:
            keep.append(f"{col} IN ({', '.join(literal(a) for a in allowed)})")
    if spec.as_of is not None:
        keep.append(f"ts <= TIMESTAMP {literal(spec.as_of.isoformat(sep=' '))}")
    where = " AND ".join(keep)
    kept = f"(SELECT * REPLACE ({channel_stored} AS channel) FROM checked WHERE {where})"
    absent = tuple(k for k in ("campaign", "touch_type", "team") if not f[k])
    stored = "".join(f"{k}, " for k in ("campaign", "touch_type", "team") if f[k])
    tail = f"channel, {stored} epoch(ts) AS at_s"
    # A journey's outcome is one stored column, `won`: its value if it converted, else null.
    # Its conversions, value and non-conversions are computed from it where read; its touch
    # count and each touch's age are not stored either (see `with_journey_columns`).
    computed = {
        "conv": "CAST(won IS NOT NULL AS DOUBLE)",
        "value": "coalesce(won, 0.0)",
        "nulls": "CAST(won IS NULL AS DOUBLE)",
    }
    if spec.lookback_days is None and spec.lookback_touches is None:
        # One window pass in the usual case, where every touch of a journey carries its
        # outcome: the same flag and, when converted, the same value. Each touch then rides
        # through the sort as one number, `v` (its value if flagged, else null), and the last
        # touch's `v` is the journey's `won` (the last value of an ordered window costs less
        # than an aggregate over the partition). A touch whose `v` differs from its journey's
        # is written with a negative `pos` (where a flag column would cost its write): any
        # such touch (a flag that marks the converting touch, a value on one touch only) sends
        # the file to the general pass.
        raw.execute(
            f"""CREATE OR REPLACE TABLE {ROWS} AS
            SELECT journey_id, CASE WHEN v IS NOT DISTINCT FROM won THEN pos ELSE -pos END AS pos,
                   next_channel, {tail}, CAST(won AS DOUBLE) AS won
            FROM (SELECT jid AS journey_id, row_number() OVER w AS pos,
                    lead(channel) OVER w AS next_channel,
                    channel, campaign, touch_type, team, ts, v, last_value(v) OVER wf AS won
                  FROM (SELECT *, CASE WHEN flag = 1 THEN val END AS v FROM {kept})
                  WINDOW w AS (PARTITION BY jid ORDER BY ts, {ROW}),
                         wf AS (PARTITION BY jid ORDER BY ts, {ROW}
                                ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING))"""
        )
        mixed, counts, times = _touch_counts(raw, ts_col if typed else None)
        if not mixed:
            _journey_view(raw, absent, computed, per_journey=False)
            if len(keep) == 1:  # no filter: every row not in the table was rejected
                bad = src.rows - int(counts["touches"])
                # none was: the table has every name the file has
                return Built(bad, counts, times, None if bad else names)
            (bad,) = raw.execute("SELECT count(*) FROM checked WHERE reason IS NOT NULL").fetchone() or (0,)
            return Built(int(bad), counts, times)
    window = ["ts <= end_ts"]
    if spec.lookback_days is not None:
        window.append(f"epoch(end_ts) - epoch(ts) <= {float(spec.lookback_days) * 86400.0}")
    recent = (
        f"QUALIFY row_number() OVER (PARTITION BY jid ORDER BY ts DESC, {ROW} DESC) "
        f"<= {spec.lookback_touches}"
        if spec.lookback_touches
        else ""
    )
    # A flag constant over a journey is its outcome; a varying flag marks the converting touch.
    raw.execute(
        f"""CREATE OR REPLACE TABLE {ROWS} AS
        WITH per AS (
          SELECT *,
            CASE WHEN min(flag) OVER j = max(flag) OVER j THEN max(ts) OVER j
                 ELSE min(CASE WHEN flag = 1 THEN ts END) OVER j END AS end_ts,
            max(flag) OVER j AS conv,
            max(CASE WHEN flag = 1 THEN val ELSE 0 END) OVER j AS jvalue
          FROM {kept}
          WINDOW j AS (PARTITION BY jid)),
        cut AS (SELECT * FROM per WHERE {" AND ".join(window)} {recent})
        SELECT jid AS journey_id,
               row_number() OVER (PARTITION BY jid ORDER BY ts, {ROW}) AS pos,
               lead(channel) OVER (PARTITION BY jid ORDER BY ts, {ROW}) AS next_channel,
               {tail}, CAST(CASE WHEN conv = 1 THEN jvalue END AS DOUBLE) AS won
        FROM cut"""
    )
    _journey_view(raw, absent, computed, per_journey=False)
    (bad,) = raw.execute("SELECT count(*) FROM checked WHERE reason IS NOT NULL").fetchone() or (0,)
    _, counts, times = _touch_counts(raw, ts_col if typed else None)
    return Built(int(bad), counts, times)


def _touch_counts(
    raw: duckdb.DuckDBPyConnection, typed_ts: str | None
) -> tuple[bool, dict[str, float], tuple[float, float] | None]:
    """Whether a touch's outcome differs from its journey's, `Journeys.totals` and `time_range`.

    A touch whose outcome differs has a negative `pos`: the scan of the table just written
    reads only first touches and those (the filter on `pos` runs in the scan: 0.011 s, not
    0.021 s). The time range is the source column's where it is a timestamp (a Parquet
    file's statistics answer that in 1 ms, not 0.012 s): as wide as the table's or wider,
    which is what time decay needs of it.
    """
    first = "FILTER (WHERE pos = 1)"
    if typed_ts is None:
        times = f"(SELECT min(at_s) FROM {ROWS}), (SELECT max(at_s) FROM {ROWS})"
    else:
        times = f"(SELECT epoch(min({typed_ts})) FROM src), (SELECT epoch(max({typed_ts})) FROM src)"
    row = raw.execute(
        f"""SELECT coalesce(bool_or(pos < 0), false), count(*) {first}, count(won) {first},
                   coalesce(sum(won) {first}, 0), (SELECT count(*) FROM {ROWS}), {times}
            FROM {ROWS} WHERE pos <= 1"""
    ).fetchone()
    mixed, journeys, conversions, value, touches, earliest, latest = row or (False, 0, 0, 0, 0, None, None)
    counts = {
        "journeys": float(journeys),
        "conversions": float(conversions),
        "value": float(value),
        "nulls": float(journeys) - float(conversions),
        "touches": float(touches),
    }
    span = None if earliest is None or latest is None else (float(earliest), float(latest))
    return bool(mixed), counts, span


CHANNEL_ENUM = "_accord_channel"
ENUM_LIMIT = 65_535
"""Most channel names stored as an ENUM (two bytes a touch); more stay text."""


def _channels(raw: duckdb.DuckDBPyConnection, column: str) -> tuple[str, str, list[str] | None]:
    """How the source's channel `column` is read: as text, then as what the table stores.

    Also the names it has (trimmed, not empty), where they are an ENUM.

    The names are read distinct first (a Parquet column's dictionary makes that cheap:
    0.01 s for 3.6M touches), which tells whether any needs trimming; when none does,
    no touch is trimmed (0.04 s). A journey table's channels are few names repeated on
    millions of touches: stored as an ENUM of every name, each is a small integer through
    the sort per journey, in the table, and in every model's grouping and comparison
    (engines compare an ENUM with text as text). On the 1M-journey touch file the rule
    models then run in 0.74x and Markov in 0.55x their time, for the same build.
    """
    raw.execute(f"CREATE OR REPLACE TEMP TABLE _accord_names AS SELECT DISTINCT {column} AS name FROM src")
    trimmed = (
        "(SELECT CAST(name AS VARCHAR) AS name, trim(CAST(name AS VARCHAR)) AS channel FROM _accord_names)"
    )
    (padded,) = raw.execute(
        f"SELECT coalesce(bool_or(name <> channel), false) FROM {trimmed}"
    ).fetchone() or (True,)
    text = f"trim(CAST({column} AS VARCHAR))" if padded else f"CAST({column} AS VARCHAR)"
    raw.execute(f"DROP TYPE IF EXISTS {CHANNEL_ENUM}")
    raw.execute(
        f"""CREATE TYPE {CHANNEL_ENUM} AS ENUM (
              SELECT DISTINCT channel FROM {trimmed}
              WHERE channel IS NOT NULL AND channel <> '' ORDER BY 1)"""
    )
    raw.execute("DROP TABLE _accord_names")
    (names,) = raw.execute(f"SELECT enum_range(NULL::{CHANNEL_ENUM})").fetchone() or ([],)
    if 0 < len(names) <= ENUM_LIMIT:
        return text, f"CAST(channel AS {CHANNEL_ENUM})", sorted(names)
    raw.execute(f"DROP TYPE {CHANNEL_ENUM}")
    return text, "channel", None


def _write_rejects(
    raw: duckdb.DuckDBPyConnection, src: SourceFile, path: Path, requested: str | Path | None, count: int
) -> Path | None:
    rows = (
        []
        if count == 0
        else raw.execute(
            f"SELECT c.{ROW}, c.reason, {', '.join(f'CAST(s.{ident(c)} AS VARCHAR)' for c in src.columns)} "
            f"FROM checked c JOIN src s USING ({ROW}) WHERE c.reason IS NOT NULL ORDER BY c.{ROW}"
        ).fetchall()
    )
    out = Path(requested) if requested else path.with_name(path.name.split(".")[0] + ".rejects.csv")
    if not rows and not src.bad_lines:
        if requested is None and out.exists():
            out.unlink(missing_ok=True)
        return None
    if requested is None and not os.access(out.parent, os.W_OK):
        out = Path.cwd() / out.name
    with out.open("w", newline="", encoding="utf-8") as fh:
        w = csvlib.writer(fh)
        w.writerow(["location", "reason", *src.columns])
        for line, text, why in src.bad_lines:
            w.writerow([f"line {line}", f"unparsable line: {why}", text])
        for row in rows:
            w.writerow([src.location(int(row[0])), row[1], *row[2:]])
    return out


def _tutorial(path: Path, spec: JourneySpec | None) -> Journeys:
    from accord.store import connect, load_file

    store = connect("duckdb://:memory:")
    result = load_file(store, "touchpoints", path, "journeys")
    tutorial_spec = dataclasses.replace(
        spec or JourneySpec(), conversion=Conversion.TOUCH, per="lead", conversion_touch_type="conversion"
    )
    journeys = journeys_from_store(store, tutorial_spec)
    journeys.has_milestones = False
    journeys.private = True  # its scratch store is ours alone
    journeys.source = f"{path} (tutorial format, cut at each customer's first conversion)"
    journeys.rejected = result.rejected
    journeys.rejects_path = str(result.rejects_path) if result.rejects_path else None
    journeys.repeat_conversions, journeys.repeat_value = _repeat_conversions(store)
    return journeys


def _repeat_conversions(store: Any) -> tuple[float, float]:
    """Conversions after each customer's first (and their value): the tutorial format credits none."""
    tp = store.table("touchpoints")
    conv = tp.filter(tp.touch_type == "conversion")
    value = number_expr(property_expr(conv.properties, "conversion_value")).fill_null(0.0)
    ranked = conv.mutate(
        _v=value, _n=ibis.row_number().over(group_by=conv.lead_id, order_by=[conv.occurred_at, conv.id])
    )
    later = ranked.filter(ranked._n > 0)
    row = later.aggregate(n=later.count(), v=later._v.sum()).to_pyarrow().to_pylist()[0]
    return float(row["n"] or 0), float(row["v"] or 0.0)


def journeys_from_frame(
    frame: pd.DataFrame | pa.Table,
    *,
    kind: Literal["paths", "touches"] | None = None,
    sep: str = ">",
    spec: JourneySpec | None = None,
) -> Journeys:
    """Journeys from an in-memory table in the path or touch format (the Python API's way in).

    Unusable rows are counted in `rejected` (a file's are also written to a rejects file).
    """
    table = frame if isinstance(frame, pa.Table) else _arrow(frame)
    raw = duckdb.connect()
    raw.execute("SET TimeZone = 'UTC'")
    raw.register("frame_in", table)
    raw.execute(f"CREATE TEMP TABLE src AS SELECT row_number() OVER () AS {ROW}, * FROM frame_in")
    raw.unregister("frame_in")
    columns = list(table.column_names)
    types = {str(r[0]): str(r[1]) for r in raw.execute("DESCRIBE src").fetchall() if r[0] != ROW}
    src = SourceFile(Path("<table>"), "parquet", columns, types, table.num_rows)
    kind = kind or _frame_kind(columns)
    built = _build(raw, src, kind, sep, spec)
    return _journeys(raw, kind, built, f"in-memory table ({kind})", built.rejected)


def _arrow(frame: pd.DataFrame) -> pa.Table:
    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        # Mixed-type columns (a number and a typo) go in as text and are checked row by row.
        text = frame.copy()
        for col in text.select_dtypes(include="object").columns:
            text[col] = text[col].map(lambda v: None if v is None or v != v else str(v))
        return pa.Table.from_pandas(text, preserve_index=False)


def _frame_kind(columns: list[str]) -> Literal["paths", "touches"]:
    kind = detect_kind(columns)
    if kind == "tutorial":
        raise AttributionError("the tutorial format is read from a file (journeys_from_file)")
    return kind
