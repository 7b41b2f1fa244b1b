"""Quoting for the few SQL statements Accord writes by hand (everything else is Ibis)."""

from __future__ import annotations

from typing import Any


def ident(name: str) -> str:
    """A double-quoted SQL identifier, safe for any column name a file may carry."""
    return '"' + name.replace('"', '""') + '"'


def literal(value: Any) -> str:
    """A SQL literal for a scalar from YAML or a spec (None, bool, number or text)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"
