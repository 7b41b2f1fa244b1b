"""Canonical tables and their schemas: the one place that names columns."""

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
