"""One JSON object checked as the loader checks a file row: convert, require, range, set, order.

The service takes rows one by one (`POST /v1/touchpoints`); the loader takes files. Both refuse
the same things with the same words, and name the column at fault. References to other tables
are checked by the caller, which holds the transaction.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from accord.model.tables import DEFAULT_TEAM_BY_TOUCH_TYPE, Column, TableSpec

MAX_TEXT = 10_000
"""The longest text a column takes through the service (a free-form properties object: ten times that)."""

_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f"}


@dataclass(frozen=True)
class Refusal:
    """Why an item was refused: the field at fault and the reason, in the loader's words."""

    field: str
    reason: str


class Refused(Exception):
    """An item that cannot be taken."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.refusal = Refusal(field, reason)


def _text(value: Any, col: Column) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise Refused(col.name, f"expected text, got {type(value).__name__}")
    text = str(value).strip()
    if len(text) > MAX_TEXT:
        raise Refused(col.name, f"longer than {MAX_TEXT} characters")
    if col.allowed is not None or col.name == "touch_type":
        text = text.lower().replace(" ", "_")
    elif col.name in {"email", "domain"}:
        text = text.lower()
    return text


def parse_timestamp(value: Any, field: str = "timestamp") -> datetime:
    """An ISO 8601 instant (or a date) as naive UTC; an offset is converted, no offset means UTC."""
    if isinstance(value, datetime):
        ts = value
    elif isinstance(value, date):
        ts = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        text = value.strip()
        try:
            ts = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
        except ValueError:
            raise Refused(field, f"cannot read {value[:60]!r} as a timestamp (ISO 8601)") from None
    else:
        raise Refused(field, f"expected an ISO 8601 timestamp, got {type(value).__name__}")
    if ts.tzinfo is not None:
        ts = ts.astimezone(UTC).replace(tzinfo=None)
    if not 1900 <= ts.year <= 2200:
        raise Refused(field, f"timestamp {value!s:.40} is outside 1900-2200")
    return ts


def _convert(value: Any, col: Column) -> Any:
    if col.type == "string":
        return _text(value, col) or None
    if col.type == "timestamp":
        return parse_timestamp(value, col.name)
    if col.type == "json":
        obj = value
        if isinstance(value, str):
            try:
                obj = json.loads(value)
            except ValueError:
                raise Refused(col.name, "is not valid JSON") from None
        if not isinstance(obj, dict):
            raise Refused(col.name, "must be a JSON object")
        text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
        if len(text) > 10 * MAX_TEXT:
            raise Refused(col.name, f"longer than {10 * MAX_TEXT} characters")
        return text
    if col.type == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str | int) and str(value).strip().lower() in _TRUE | _FALSE:
            return str(value).strip().lower() in _TRUE
        raise Refused(col.name, f"cannot read {str(value)[:60]!r} as true or false")
    number: float
    if isinstance(value, bool):
        raise Refused(col.name, "expected a number, got true or false")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip().replace(",", ""))
        except ValueError:
            raise Refused(col.name, f"cannot read {value[:60]!r} as a number") from None
    else:
        raise Refused(col.name, f"expected a number, got {type(value).__name__}")
    if not math.isfinite(number):
        raise Refused(col.name, "must be a finite number")
    if col.type == "int":
        if number != int(number) or abs(number) > 2**63 - 1:
            raise Refused(col.name, f"cannot read {value!r} as a whole number")
        return int(number)
    return number


def check_item(spec: TableSpec, item: Any) -> dict[str, Any]:
    """`item` as a row of `spec`'s table, or :class:`Refused` naming the field and the reason.

    Fields the table does not have go into its free-form `properties` when it has them.
    """
    if not isinstance(item, dict):
        raise Refused("(item)", f"expected a JSON object, got {type(item).__name__}")
    names = set(spec.column_names)
    extra = {k: v for k, v in item.items() if k not in names}
    if extra and not spec.has_properties:
        raise Refused(
            sorted(extra)[0], f"{spec.name} has no such field; fields: {', '.join(spec.column_names)}"
        )
    row: dict[str, Any] = {}
    for col in spec.columns:
        value = item.get(col.name)
        row[col.name] = None if value is None or value == "" else _convert(value, col)
    if extra:
        props = json.loads(row["properties"]) if row.get("properties") else {}
        props.update({k: v for k, v in extra.items() if k not in props})
        row["properties"] = _convert(props, spec.column("properties"))
    if spec.name == "touchpoints" and row.get("team") is None and row.get("touch_type"):
        team = DEFAULT_TEAM_BY_TOUCH_TYPE.get(row["touch_type"])
        row["team"] = team.value if team is not None else "marketing"
    for col in spec.columns:
        value = row[col.name]
        if value is None:
            if col.required:
                raise Refused(col.name, "missing required value")
            continue
        if col.non_negative and value < 0:
            raise Refused(col.name, f"negative value {value} (must be 0 or more)")
        if col.allowed is not None and value not in col.allowed:
            raise Refused(col.name, f"'{value}' is not one of: {', '.join(col.allowed)}")
    for early, late in spec.order_checks:
        if row.get(early) is not None and row.get(late) is not None and row[late] < row[early]:
            raise Refused(late, f"{late} {row[late]} is before {early} {row[early]}")
    for early, late in spec.order_repairs:
        if row.get(early) is not None and row.get(late) is not None and row[late] < row[early]:
            props = json.loads(row["properties"]) if row.get("properties") else {}
            props[f"{early}_in_source"] = row[early].strftime("%Y-%m-%dT%H:%M:%S")
            row["properties"] = _convert(props, spec.column("properties"))
            row[early] = row[late]
    return row
