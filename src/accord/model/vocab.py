"""Vocabularies and table names, importable without the engines (the CLI starts with them)."""

from __future__ import annotations

from enum import StrEnum

TABLE_NAMES: tuple[str, ...] = (
    "accounts",
    "leads",
    "touchpoints",
    "opportunities",
    "stage_changes",
    "feedback",
    "spend",
)
"""The canonical tables in load order (their specs: `accord.model.tables.TABLES`)."""


class Stage(StrEnum):
    """Lifecycle stages a lead moves through."""

    LEAD = "lead"
    MQL = "mql"
    SAL = "sal"
    SQL = "sql"
    OPPORTUNITY = "opportunity"
    CUSTOMER = "customer"
    RECYCLED = "recycled"
    DISQUALIFIED = "disqualified"


class Team(StrEnum):
    """Which side of the house a touch belongs to."""

    MARKETING = "marketing"
    SALES = "sales"


class FeedbackAction(StrEnum):
    """What a salesperson can do with a lead."""

    ACCEPT = "accept"
    REJECT = "reject"
    RECYCLE = "recycle"
    ADJUST = "adjust"


class Conversion(StrEnum):
    """What counts as a conversion when journeys come from the store."""

    TOUCH = "touch"
    """The first touch of the conversion touch type (default `conversion`), e.g. a tutorial file."""
    LEAD_CREATED = "lead_created"
    MQL = "mql"
    SAL = "sal"
    SQL = "sql"
    OPPORTUNITY = "opportunity"
    WON = "won"
    """Closed-won, worth the deal amount (revenue attribution)."""
