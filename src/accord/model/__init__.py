"""Canonical tables and their schemas: the one place that names columns and vocabularies.

`accord.model.vocab` holds the vocabularies and table names with no heavy import (the CLI reads
them to start quickly); `accord.model.tables` the table specs, loaded on first use from here.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "DEFAULT_TEAM_BY_TOUCH_TYPE",
    "DERIVED_TABLES",
    "KNOWN_TOUCH_TYPES",
    "TABLES",
    "Column",
    "FeedbackAction",
    "Stage",
    "TableSpec",
    "Team",
    "table_spec",
]

if TYPE_CHECKING:
    from accord.model.tables import (
        DEFAULT_TEAM_BY_TOUCH_TYPE,
        DERIVED_TABLES,
        KNOWN_TOUCH_TYPES,
        TABLES,
        Column,
        FeedbackAction,
        Stage,
        TableSpec,
        Team,
        table_spec,
    )


def __getattr__(name: str) -> Any:
    if name in __all__:
        value = getattr(importlib.import_module("accord.model.tables"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'accord.model' has no attribute {name!r}")
