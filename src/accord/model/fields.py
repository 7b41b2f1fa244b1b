"""Reading rule fields the same way in SQL (every engine) and in Python.

Properties are JSON text. Engines disagree on JSON functions (PostgreSQL and
Spark reject what Ibis emits for typed JSON access), so a property is read
with one regular expression that DuckDB, PostgreSQL, Spark and Python all
evaluate alike: a string value comes back as its text (escapes kept), a
number or boolean as its literal (`5000`, `true`), JSON null as missing.
Times are compared in whole epoch seconds, which every engine computes alike.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from typing import Any

import ibis
import ibis.expr.types as ir

NUMBER = r"^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$"
_NUMBER = re.compile(NUMBER)


def _pattern(key: str) -> str:
    return r'"' + re.escape(key) + r'"\s*:\s*(?:"((?:[^"\\]|\\.)*)"|([^,}\s]+))'


def property_expr(json_text: ir.StringValue, key: str) -> ir.StringValue:
    """The property `key` of a JSON object column, as text (null when absent or JSON null)."""
    pat = _pattern(key)
    quoted = json_text.re_extract(pat, 1)
    bare = json_text.re_extract(pat, 2)
    # Engines return '' (not null) for an unmatched group; a matched "" is empty text, also missing.
    value = ibis.ifelse(quoted == "", ibis.null("string"), quoted).coalesce(
        ibis.ifelse(bare == "", ibis.null("string"), bare)
    )
    return ibis.ifelse(value == "null", ibis.null("string"), value)


def property_equals_expr(json_text: ir.StringValue, key: str, value: str) -> ir.BooleanValue:
    """Whether property `key` equals `value`: `property_expr(json_text, key) == value`, cheaper.

    For plain text (no quote or backslash) the test is one regex, the key, a colon, then
    the value quoted or bare and ending there, run only where a substring test finds the
    value, and only on flat objects: a nested one could hold the key twice, where
    `property_expr` reads the first, so those rows keep the extracting test. A text that is
    exactly the one property (`{"page":"/pricing"}`) is equal without either.
    """
    exact = (property_expr(json_text, key) == value).fill_null(False)
    if '"' in value or "\\" in value or value == "null":
        return exact
    v = re.escape(value)
    one = json_text.re_search(r'"' + re.escape(key) + r'"\s*:\s*(?:"' + v + r'"|' + v + r"(?:[,}\s]|$))")
    flat = json_text.find("{", 1) == -1
    found = ibis.ifelse(
        json_text.contains(value).fill_null(False), ibis.ifelse(flat, one.fill_null(False), exact), False
    )
    if '"' in key or "\\" in key:
        return found
    # The commonest text, an object of this one property as a JSON writer prints it, needs no regex.
    alone = json.dumps({key: value}, separators=(",", ":"), ensure_ascii=False)
    return ibis.ifelse(json_text == alone, True, found)


def property_value(json_text: str | None, key: str) -> str | None:
    """Python twin of :func:`property_expr`."""
    if not json_text:
        return None
    m = re.search(_pattern(key), json_text)
    if m is None:
        return None
    value = m.group(1) if m.group(1) else (m.group(2) or None)
    return None if value in (None, "null") else value


def json_keys(text: str | None) -> list[str]:
    """The keys of a JSON object whose values are single strings or numbers."""
    try:
        data = json.loads(text) if text else None
    except (TypeError, ValueError):
        return []
    return [k for k, v in data.items() if isinstance(v, str | int | float)] if isinstance(data, dict) else []


def number_expr(value: ir.Value) -> ir.FloatingValue:
    """A value as float64: numbers as they are, text only when it looks like a number."""
    if value.type().is_numeric():
        return value.cast("float64")
    text = value.cast("string")
    return ibis.ifelse(text.re_search(NUMBER), text, ibis.null("string")).cast("float64")


def number_value(value: Any) -> float | None:
    """Python twin of :func:`number_expr`."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return None if isinstance(value, float) and math.isnan(value) else float(value)
    text = str(value)
    return float(text) if _NUMBER.match(text) else None


def epoch_expr(ts: ir.TimestampValue) -> ir.IntegerValue:
    """Whole seconds since 1970 (UTC) on every engine."""
    return ts.epoch_seconds().cast("float64").floor().cast("int64")


def epoch_value(ts: datetime) -> int:
    """Python twin of :func:`epoch_expr` (naive datetimes are UTC)."""
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return math.floor(ts.timestamp())


def float_literal(x: float) -> ir.FloatingValue:
    """A float64 constant that every engine types as double.

    Ibis writes a float literal bare (``20.0``), which PostgreSQL and Spark type as
    NUMERIC/DECIMAL and then sum as Decimal; casting its exact decimal text avoids that.
    """
    return ibis.literal(repr(float(x))).cast("float64")
