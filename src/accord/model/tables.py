"""The canonical tables: the one place in Accord that names columns.

Every table is a :class:`TableSpec`: its columns with a type, whether they are
required, the checks a loaded row must pass, the key that makes loading
idempotent, and the references to other tables. Loaders, the store and the
domain read these specs; nothing else spells a column name as a literal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import ibis
import ibis.expr.datatypes as dt

from accord.model.vocab import TABLE_NAMES
from accord.model.vocab import FeedbackAction as FeedbackAction
from accord.model.vocab import Stage as Stage
from accord.model.vocab import Team as Team

ColumnType = Literal["string", "int", "float", "bool", "timestamp", "json"]

_IBIS_TYPES: dict[ColumnType, dt.DataType] = {
    "string": dt.string,
    "int": dt.int64,
    "float": dt.float64,
    "bool": dt.boolean,
    "timestamp": dt.Timestamp(scale=6),
    # Free-form properties are a JSON object kept as text: it is the one
    # representation DuckDB, PostgreSQL and Spark all store and round-trip alike.
    "json": dt.string,
}


# Touch types Accord knows by name. Other values load too (the set is open);
# these are the ones the generator, presets and default team map use.
KNOWN_TOUCH_TYPES: tuple[str, ...] = (
    "web_visit",
    "email_open",
    "email_click",
    "form_fill",
    "content_download",
    "webinar",
    "event",
    "ad_impression",
    "ad_click",
    "social_engagement",
    "chat",
    "sales_email",
    "sales_call",
    "meeting",
    "demo",
    "proposal",
    "unsubscribe",
    "email_bounce",
    "conversion",
)

# Which team a touch type belongs to when a file does not say. The pact (a later
# layer) can override this; the loader needs a default to fill `team`.
DEFAULT_TEAM_BY_TOUCH_TYPE: dict[str, Team] = {
    "sales_email": Team.SALES,
    "sales_call": Team.SALES,
    "meeting": Team.SALES,
    "demo": Team.SALES,
    "proposal": Team.SALES,
}


@dataclass(frozen=True)
class Column:
    """One column of a canonical table."""

    name: str
    type: ColumnType
    description: str
    example: str | int | float | bool | None
    required: bool = False
    non_negative: bool = False
    allowed: tuple[str, ...] | None = None
    """A closed set of values (compared after lower-casing); None means open."""
    references: str | None = None
    """Name of the table whose `id` this column must match when not null."""
    compression: Literal["fsst", "dictionary"] | None = None
    """How DuckDB stores a text column Accord writes in bulk (ids: fsst; a few distinct labels:
    dictionary), the method it would pick anyway: named, it is not chosen again by trying every
    method on each write, a fifth of the time of writing a score history. Other engines ignore it."""

    @property
    def ibis_type(self) -> dt.DataType:
        """The Ibis type this column has in every engine."""
        return _IBIS_TYPES[self.type].copy(nullable=not self.required)


@dataclass(frozen=True)
class TableSpec:
    """A canonical table: its columns, key and description."""

    name: str
    description: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    """Columns that identify a row; loading the same key twice replaces, never duplicates."""
    order_checks: tuple[tuple[str, str], ...] = field(default=())
    """Pairs (earlier, later) of timestamp columns where later may not precede earlier."""
    order_repairs: tuple[tuple[str, str], ...] = field(default=())
    """Pairs (earlier, later) where a later value before the earlier one is a known export quirk: the
    row loads with the earlier set to the later, the original kept as the property `<earlier>_in_source`."""
    audit: tuple[str, ...] = field(default=())
    """Columns that say which run wrote a row, not what it holds: rewriting a row that differs
    only in these leaves the stored row alone."""

    @property
    def column_names(self) -> tuple[str, ...]:
        """Column names in canonical order."""
        return tuple(c.name for c in self.columns)

    @property
    def schema(self) -> ibis.Schema:
        """The Ibis schema of this table."""
        return ibis.schema({c.name: c.ibis_type for c in self.columns})

    @property
    def has_properties(self) -> bool:
        """Whether the table carries a free-form `properties` JSON column."""
        return "properties" in self.column_names

    def column(self, name: str) -> Column:
        """Return a column by name, or raise KeyError listing the valid names."""
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name!r}; columns: {', '.join(self.column_names)}")


_PROPERTIES = Column(
    "properties",
    "json",
    "Free-form typed attributes as a JSON object (custom fields, BANT answers, page url).",
    '{"budget": 50000, "timeline": "3-6 months"}',
)

ACCOUNTS = TableSpec(
    name="accounts",
    description="Companies leads belong to, with the firmographics fit rules test.",
    key=("id",),
    columns=(
        Column("id", "string", "Account id, unique.", "acc-000042", required=True),
        Column("name", "string", "Company name.", "Northwind Analytics"),
        Column("domain", "string", "Web domain, lower case.", "northwind.io"),
        Column("industry", "string", "Industry, lower snake case.", "fintech"),
        Column("employees", "int", "Head count.", 480, non_negative=True),
        Column(
            "annual_revenue",
            "float",
            "Annual revenue in the reporting currency.",
            7.2e7,
            non_negative=True,
        ),
        Column("country", "string", "Country (ISO 3166 alpha-2 or name as exported).", "US"),
        _PROPERTIES,
    ),
)

LEADS = TableSpec(
    name="leads",
    description="People: the unit sales works and scoring ranks.",
    key=("id",),
    columns=(
        Column("id", "string", "Lead id, unique.", "lead-0001234", required=True),
        Column(
            "account_id",
            "string",
            "Account the lead works for.",
            "acc-000042",
            references="accounts",
        ),
        Column("email", "string", "Email address, lower case.", "ana.diaz@northwind.io"),
        Column("job_title", "string", "Job title as given.", "VP Marketing"),
        Column("seniority", "string", "Seniority level.", "vp"),
        Column("department", "string", "Department.", "marketing"),
        Column("country", "string", "Country.", "US"),
        Column("source", "string", "Acquisition source (channel of the first touch).", "paid_search"),
        Column(
            "created_at",
            "timestamp",
            "When the lead was created (UTC).",
            "2025-03-04 09:12:00",
            required=True,
        ),
        _PROPERTIES,
    ),
)

TOUCHPOINTS = TableSpec(
    name="touchpoints",
    description="Every interaction of a lead with marketing or sales: scoring and attribution input.",
    key=("id",),
    columns=(
        Column("id", "string", "Touchpoint id, unique.", "tp-000000017", required=True),
        Column(
            "lead_id",
            "string",
            "Lead who touched.",
            "lead-0001234",
            required=True,
            references="leads",
        ),
        Column(
            "account_id",
            "string",
            "Account of the lead (filled from the lead when absent).",
            "acc-000042",
            references="accounts",
        ),
        Column(
            "occurred_at",
            "timestamp",
            "When it happened (UTC).",
            "2025-03-09 14:02:11",
            required=True,
        ),
        Column("channel", "string", "Marketing or sales channel.", "paid_search", required=True),
        Column("campaign", "string", "Campaign name.", "paid_search-2025Q1-brand"),
        Column("touch_type", "string", "Kind of interaction.", "ad_click", required=True),
        Column(
            "team",
            "string",
            "Team that owns the touch (filled from touch_type when absent).",
            "marketing",
            allowed=tuple(t.value for t in Team),
        ),
        Column("source_system", "string", "System the touch was exported from.", "hubspot"),
        Column("cost", "float", "Direct cost of the touch, if known.", 3.4, non_negative=True),
        _PROPERTIES,
    ),
)

OPPORTUNITIES = TableSpec(
    name="opportunities",
    description="Deals: the revenue outcome leads and touches are credited with.",
    key=("id",),
    # Deals migrated into a CRM after they closed carry the migration as their creation date.
    order_repairs=(("created_at", "closed_at"),),
    columns=(
        Column("id", "string", "Opportunity id, unique.", "opp-00007", required=True),
        Column("account_id", "string", "Account buying.", "acc-000042", references="accounts"),
        Column(
            "primary_lead_id",
            "string",
            "Lead the deal came from.",
            "lead-0001234",
            references="leads",
        ),
        Column(
            "created_at",
            "timestamp",
            "When the opportunity was opened (UTC).",
            "2025-04-01 10:00:00",
            required=True,
        ),
        Column("closed_at", "timestamp", "When it closed; empty while open.", "2025-06-20 16:30:00"),
        Column("stage", "string", "Pipeline stage as exported.", "closed_won"),
        Column("amount", "float", "Deal value.", 48000.0, non_negative=True),
        Column("is_won", "bool", "Whether it closed won.", True),
        _PROPERTIES,
    ),
)

_RUN_ID = Column(
    "run_id",
    "string",
    "The scoring run that wrote the row (`accord runs list`); empty for loaded rows.",
    "run-20260601T000000-3f2a",
)

STAGE_CHANGES = TableSpec(
    name="stage_changes",
    description="Every lifecycle move of a lead, with who made it and why.",
    key=("lead_id", "to_stage", "changed_at"),
    columns=(
        Column(
            "lead_id",
            "string",
            "Lead that moved.",
            "lead-0001234",
            required=True,
            references="leads",
        ),
        Column("from_stage", "string", "Stage before.", "mql", allowed=tuple(s.value for s in Stage)),
        Column(
            "to_stage",
            "string",
            "Stage after.",
            "sal",
            required=True,
            allowed=tuple(s.value for s in Stage),
        ),
        Column("changed_at", "timestamp", "When (UTC).", "2025-03-10 08:00:00", required=True),
        Column("actor", "string", "Who or what moved it.", "scoring:v3"),
        Column("reason", "string", "Why.", "score 72 >= MQL threshold 60"),
        _RUN_ID,
    ),
    audit=("run_id",),
)

FEEDBACK = TableSpec(
    name="feedback",
    description="Sales' verdicts on leads: the loop that keeps the pact honest.",
    key=("lead_id", "given_at", "action"),
    columns=(
        Column("lead_id", "string", "Lead judged.", "lead-0001234", required=True, references="leads"),
        Column("given_at", "timestamp", "When (UTC).", "2025-03-11 09:30:00", required=True),
        Column("actor", "string", "Salesperson.", "rep-07"),
        Column(
            "action",
            "string",
            "accept, reject, recycle or adjust.",
            "reject",
            required=True,
            allowed=tuple(a.value for a in FeedbackAction),
        ),
        Column("reason", "string", "Why, in sales' words.", "no budget this year"),
        Column("points", "float", "Score adjustment for `adjust` (may be negative).", -10.0),
    ),
)

SPEND = TableSpec(
    name="spend",
    description="Money spent per channel and campaign per period: ROI's denominator.",
    key=("channel", "campaign", "period_start", "period_end", "currency"),
    order_checks=(("period_start", "period_end"),),
    columns=(
        Column("channel", "string", "Channel.", "paid_search", required=True),
        Column(
            "campaign",
            "string",
            "Campaign, empty for channel-level spend.",
            "paid_search-2025Q1-brand",
        ),
        Column(
            "period_start",
            "timestamp",
            "Start of the period (UTC).",
            "2025-03-01 00:00:00",
            required=True,
        ),
        Column(
            "period_end",
            "timestamp",
            "End of the period (UTC).",
            "2025-03-31 23:59:59",
            required=True,
        ),
        Column("amount", "float", "Amount spent.", 12500.0, required=True, non_negative=True),
        Column("currency", "string", "ISO currency code.", "USD"),
    ),
)

TABLES: dict[str, TableSpec] = {
    t.name: t for t in (ACCOUNTS, LEADS, TOUCHPOINTS, OPPORTUNITIES, STAGE_CHANGES, FEEDBACK, SPEND)
}
"""Every canonical table by name, in load order (referenced tables first)."""
if tuple(TABLES) != TABLE_NAMES:  # pragma: no cover - a guard for whoever adds a table
    raise RuntimeError("accord.model.vocab.TABLE_NAMES must list the canonical tables in order")


def table_spec(name: str) -> TableSpec:
    """Return the spec of a canonical table, or raise listing the valid names."""
    from accord.errors import UnknownTableError

    try:
        return TABLES[name]
    except KeyError:
        raise UnknownTableError(f"unknown table {name!r}; canonical tables: {', '.join(TABLES)}") from None


# Columns every score history table has: which model, which instant, which pact.
_MODEL = Column(
    "model", "string", "Score model of the pact.", "default", required=True, compression="dictionary"
)
_AS_OF = Column("as_of", "timestamp", "The instant scored (UTC).", "2026-06-01 00:00:00", required=True)
_PACT_STAMP = (
    Column("pact", "string", "Pact name.", "demo-scoring", required=True, compression="dictionary"),
    Column("pact_version", "int", "Pact version.", 3, required=True),
    _RUN_ID,
)

LEAD_SCORES = TableSpec(
    name="lead_scores",
    description="Score history: each lead's score per pact version, model and instant.",
    key=("lead_id", "pact", "pact_version", "model", "as_of"),
    audit=("run_id",),
    columns=(
        Column("lead_id", "string", "Lead scored.", "lead-0001234", required=True, compression="fsst"),
        _MODEL,
        _AS_OF,
        Column("account_id", "string", "The lead's account.", "acc-000042", compression="fsst"),
        Column("fit", "float", "Points from fit rules.", 45.0),
        Column("engagement", "float", "Points from engagement rules after decay and caps.", 23.4),
        Column("adjustment", "float", "Sales' manual adjustments.", 0.0),
        Column("person_score", "float", "fit + engagement + adjustment within floor and ceiling.", 68.4),
        Column("account_score", "float", "The account's score, when it is blended in.", 51.0),
        Column("score", "float", "The lead's score.", 64.1),
        Column("grade", "string", "Fit grade A to D.", "A", compression="dictionary"),
        Column("band", "int", "Engagement band 1 (hot) to 4.", 2),
        Column("is_mql", "bool", "Meets the pact's MQL definition.", True),
        *_PACT_STAMP,
    ),
)

ACCOUNT_SCORES = TableSpec(
    name="account_scores",
    description="Account score history per pact version, model and instant.",
    key=("account_id", "pact", "pact_version", "model", "as_of"),
    audit=("run_id",),
    columns=(
        Column("account_id", "string", "Account scored.", "acc-000042", required=True, compression="fsst"),
        _MODEL,
        _AS_OF,
        Column("account_fit", "float", "Points from account fit rules.", 25.0),
        Column("account_engagement", "float", "Roll-up of its people's engagement.", 41.5),
        Column("account_score", "float", "Fit + engagement within floor and ceiling.", 66.5),
        Column("leads", "int", "People of the account.", 4),
        *_PACT_STAMP,
    ),
)

SCORING_RUNS = TableSpec(
    name="scoring_runs",
    description="Every scoring run: what it scored with, what it wrote, and whether it was reverted.",
    key=("run_id",),
    columns=(
        Column("run_id", "string", "The run's id.", "run-20260601T000000-3f2a", required=True),
        Column("started_at", "timestamp", "When it ran (UTC).", "2026-06-01 08:00:00", required=True),
        _AS_OF,
        _MODEL,
        *_PACT_STAMP[:2],
        Column(
            "content_hash",
            "string",
            "Content hash of the pact scored with (`pact_versions`).",
            "sha256:9c1f...",
        ),
        Column("draft", "bool", "Scored with a pact that is not the active version.", False),
        Column("leads", "int", "Lead scores written (new or changed).", 8000),
        Column("accounts", "int", "Account scores written (new or changed).", 1200),
        Column("new_mqls", "int", "MQL stage changes recorded.", 41),
        Column("reverted_at", "timestamp", "When `accord runs revert` undid it.", None),
    ),
)

_PACT_REF = (
    Column("pact", "string", "Pact name.", "demo-scoring", required=True),
    Column("version", "int", "Pact version.", 3, required=True),
    Column(
        "content_hash",
        "string",
        "Hash of what the pact says (approvals aside).",
        "sha256:9c1f...",
        required=True,
    ),
)

_VIA = Column("via", "string", "Through what: `cli`, or the service's key name.", "cli")

PACT_VERSIONS = TableSpec(
    name="pact_versions",
    description="Every pact version submitted, with its YAML: what the teams can approve.",
    key=("content_hash",),
    columns=(
        *_PACT_REF,
        Column("submitted_at", "timestamp", "When (UTC).", "2026-10-01 09:00:00", required=True),
        Column("author", "string", "Who submitted it.", "head-of-demand-gen"),
        _VIA,
        Column("yaml", "string", "The pact as submitted.", "pact: demo-scoring ...", required=True),
    ),
)

PACT_APPROVALS = TableSpec(
    name="pact_approvals",
    description="Approvals: a team's signature on one pact content.",
    key=("content_hash", "team", "approved_by"),
    columns=(
        *_PACT_REF,
        Column(
            "team", "string", "marketing or sales.", "sales", required=True, allowed=("marketing", "sales")
        ),
        Column("approved_by", "string", "Who signed.", "head-of-sales", required=True),
        Column("approved_at", "timestamp", "When (UTC).", "2026-10-02 17:00:00", required=True),
        _VIA,
        Column("comment", "string", "What they said.", "agreed in the Q3 review"),
    ),
)

PACT_ACTIVATIONS = TableSpec(
    name="pact_activations",
    description="Which pact version was made the active one, when and by whom (the latest is in force).",
    key=("activated_at", "content_hash"),
    columns=(
        *_PACT_REF,
        Column("activated_at", "timestamp", "When (UTC).", "2026-10-03 08:00:00", required=True),
        Column("activated_by", "string", "Who activated it.", "revops"),
        _VIA,
    ),
)

DERIVED_TABLES: dict[str, TableSpec] = {
    t.name: t
    for t in (LEAD_SCORES, ACCOUNT_SCORES, SCORING_RUNS, PACT_VERSIONS, PACT_APPROVALS, PACT_ACTIVATIONS)
}
"""Tables Accord writes (never loaded from files)."""


# ------------------------------------------------------------------ the service's own tables
_AT = Column("created_at", "timestamp", "When (UTC).", "2026-11-30 09:00:00", required=True)

API_KEYS = TableSpec(
    name="api_keys",
    description="The service's API keys: a name, a role, and a SHA-256 of the key (never the key).",
    key=("name",),
    columns=(
        Column("name", "string", "Who or what holds the key.", "crm-sync", required=True),
        Column(
            "role",
            "string",
            "admin, marketing, sales, viewer or ingest.",
            "ingest",
            required=True,
            allowed=("admin", "marketing", "sales", "viewer", "ingest"),
        ),
        Column("key_hash", "string", "SHA-256 of the key, hex.", "9f86d0...", required=True),
        Column(
            "prefix", "string", "The key's first characters, to tell keys apart.", "acc_k3Xa", required=True
        ),
        _AT,
        Column("revoked_at", "timestamp", "When it was revoked; empty while valid.", None),
    ),
)

AUDIT_LOG = TableSpec(
    name="audit_log",
    description="Every write through the service: who, what, when, and the row before and after.",
    key=("id",),
    columns=(
        Column("id", "string", "Entry id.", "aud-5c2f...", required=True),
        Column("at", "timestamp", "When (UTC).", "2026-11-30 09:00:01", required=True),
        Column("actor", "string", "Key name that wrote.", "crm-sync", required=True),
        Column("role", "string", "Its role.", "ingest"),
        Column("action", "string", "What was done.", "touchpoints.upsert", required=True),
        Column("target", "string", "What it was done to (erasures keep a hash, not the id).", "tp-0001"),
        Column("before", "json", "The row before, as JSON.", None),
        Column("after", "json", "The row after, as JSON.", '{"id": "tp-0001"}'),
    ),
)

IDEMPOTENCY_KEYS = TableSpec(
    name="idempotency_keys",
    description="Responses kept for `Idempotency-Key` retries, per API key.",
    key=("scope", "idem_key"),
    columns=(
        Column("scope", "string", "SHA-256 of the API key that sent it.", "9f86d0...", required=True),
        Column("idem_key", "string", "The client's Idempotency-Key.", "7d1c-...", required=True),
        Column("fingerprint", "string", "SHA-256 of method, path and body.", "a1b2...", required=True),
        Column("state", "string", "in_progress or done.", "done", required=True),
        Column("status", "int", "Response status.", 200),
        Column("content_type", "string", "Response media type.", "application/json"),
        Column("body", "string", "Response body.", '{"accepted": 1}'),
        _AT,
    ),
)

JOBS = TableSpec(
    name="jobs",
    description="Background jobs the service runs (the rescore after an activation) and their progress.",
    key=("id",),
    columns=(
        Column("id", "string", "Job id.", "job-4f1e...", required=True),
        Column("kind", "string", "What it does.", "rescore", required=True),
        Column("state", "string", "queued, running, done or failed.", "running", required=True),
        Column("progress", "float", "Share done, 0 to 1.", 0.5),
        Column("message", "string", "What it is doing, or why it failed.", "scoring 100,000 leads"),
        Column("created_by", "string", "Key name that started it.", "revops"),
        _AT,
        Column("finished_at", "timestamp", "When it ended (UTC).", None),
        Column("result", "json", "What it produced.", '{"run_id": "run-..."}'),
    ),
)

INGEST_MESSAGES = TableSpec(
    name="ingest_messages",
    description="Message ids already taken from the event collection routes (Segment `messageId`).",
    key=("message_id",),
    columns=(
        Column("message_id", "string", "The sender's message id.", "ajs-next-1690...", required=True),
        Column("kind", "string", "track, page, identify or group.", "track", required=True),
        Column("received_at", "timestamp", "When (UTC).", "2026-11-30 09:00:01", required=True),
    ),
)

SESSIONS = TableSpec(
    name="sessions",
    description="Dashboard sign-ins: a cookie's hash, the API key it stands for, and its CSRF token.",
    key=("token_hash",),
    columns=(
        Column("token_hash", "string", "SHA-256 of the session cookie, hex.", "4b22...", required=True),
        Column("key_hash", "string", "SHA-256 of the API key signed in with.", "9f86d0...", required=True),
        Column("csrf", "string", "The token every write from the pages carries.", "Zq1...", required=True),
        _AT,
        Column("expires_at", "timestamp", "When it ends (UTC).", "2026-12-01 09:00:00", required=True),
    ),
)

INSIGHTS = TableSpec(
    name="insights",
    description="Results the dashboard shows that take seconds to compute (the review, attribution).",
    key=("key",),
    columns=(
        Column("key", "string", "What it is, with its parameters.", "credit:won:all:channel", required=True),
        Column("basis", "string", "The active pact's content hash it was computed with.", "sha256:..."),
        _AT,
        Column("seconds", "float", "How long it took to compute.", 14.2),
        Column("body", "json", "The typed result as JSON.", "{}"),
    ),
)

WEBHOOKS = TableSpec(
    name="webhooks",
    description="Endpoints that receive events, signed by the Standard Webhooks scheme.",
    key=("id",),
    columns=(
        Column("id", "string", "Endpoint id.", "ep_2x9...", required=True),
        Column("url", "string", "Where events are posted.", "https://crm.example/hooks", required=True),
        Column("events", "json", "Event types it receives (empty: all).", '["lead.mql"]', required=True),
        Column("description", "string", "What it is for.", "HubSpot workflow trigger"),
        Column("secret", "string", "Signing secret, `whsec_` and base64.", "whsec_MfKQ...", required=True),
        Column("old_secret", "string", "The secret before the last rotation.", None),
        Column("old_until", "timestamp", "Until when the old secret also signs (UTC).", None),
        Column("created_by", "string", "Key name that made it.", "revops"),
        _AT,
        Column("failing_since", "timestamp", "First failure of the current run of failures.", None),
        Column("disabled_at", "timestamp", "When it was disabled; empty while active.", None),
        Column("disabled_reason", "string", "Why it was disabled.", "410 Gone"),
    ),
)

OUTBOX = TableSpec(
    name="outbox",
    description="Events, written in the transaction of the change that caused them, before delivery.",
    key=("id",),
    columns=(
        Column("id", "string", "Event id (the `webhook-id`).", "msg_2x9...", required=True),
        Column("type", "string", "Event type.", "lead.mql", required=True),
        Column("at", "timestamp", "When it happened (UTC).", "2026-11-30 09:00:00", required=True),
        Column("data", "json", "The event's data object.", '{"lead_id": "lead-1"}', required=True),
        Column("fanned_out", "bool", "Whether deliveries were made for it.", False, required=True),
    ),
)

DELIVERIES = TableSpec(
    name="deliveries",
    description="One event to one endpoint: its state and when the next attempt is due.",
    key=("event_id", "endpoint_id"),
    columns=(
        Column("event_id", "string", "Event.", "msg_2x9...", required=True),
        Column("endpoint_id", "string", "Endpoint.", "ep_2x9...", required=True),
        Column("state", "string", "pending, delivered or failed.", "pending", required=True),
        Column("attempts", "int", "Attempts made.", 1, required=True),
        Column("next_at", "timestamp", "When the next attempt is due (UTC).", "2026-11-30 09:00:05"),
        Column("claimed_until", "timestamp", "A courier is sending it until then (UTC).", None),
        Column("last_status", "int", "HTTP status of the last attempt.", 503),
        _AT,
        Column("delivered_at", "timestamp", "When a 2xx came back.", None),
    ),
)

ATTEMPTS = TableSpec(
    name="delivery_attempts",
    description="Every attempt to deliver an event: status, latency and what the receiver said.",
    key=("id",),
    columns=(
        Column("id", "string", "Attempt id.", "att_2x9...", required=True),
        Column("event_id", "string", "Event.", "msg_2x9...", required=True),
        Column("endpoint_id", "string", "Endpoint.", "ep_2x9...", required=True),
        Column("at", "timestamp", "When it was sent (UTC).", "2026-11-30 09:00:00", required=True),
        Column("status", "int", "HTTP status; empty when no answer came.", 200),
        Column("latency_ms", "float", "Milliseconds to the answer.", 41.0),
        Column("response", "string", "The first 500 characters of the answer, or the error.", "ok"),
    ),
)

SERVICE_TABLES: dict[str, TableSpec] = {
    t.name: t
    for t in (
        API_KEYS,
        AUDIT_LOG,
        IDEMPOTENCY_KEYS,
        JOBS,
        INGEST_MESSAGES,
        SESSIONS,
        INSIGHTS,
        WEBHOOKS,
        OUTBOX,
        DELIVERIES,
        ATTEMPTS,
    )
}
"""Tables the service keeps (keys, audit, idempotency, jobs, message ids, sessions, insights, and
the webhooks' endpoints, outbox, deliveries and attempts)."""
