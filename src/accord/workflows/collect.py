"""Event collection in the Segment Tracking API format: identify, group, track, page, batch.

A site or backend instrumented with Segment, RudderStack or Jitsu sends here by changing
the host. `identify` upserts a lead from its traits, `group` an account (and puts the user
in it), `track` and `page` become touchpoints. Ids are derived from `messageId`, so a
message sent twice is taken once. Which event becomes which touch type, and how the UTM
`context.campaign` becomes a channel, is :class:`CollectConfig` (defaults below).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from accord.model.tables import INGEST_MESSAGES
from accord.store.items import Refused, parse_timestamp
from accord.store.rows import Conflict
from accord.store.sql import ident
from accord.workflows.live import Live, now

DEFAULT_EVENTS: dict[str, str] = {
    "Form Submitted": "form_fill",
    "Signed Up": "form_fill",
    "Demo Requested": "demo",
    "Meeting Booked": "meeting",
    "Webinar Registered": "webinar",
    "Webinar Attended": "webinar",
    "Content Downloaded": "content_download",
    "Whitepaper Downloaded": "content_download",
    "Email Opened": "email_open",
    "Email Link Clicked": "email_click",
    "Email Clicked": "email_click",
    "Ad Clicked": "ad_click",
    "Chat Started": "chat",
    "Unsubscribed": "unsubscribe",
    "Email Bounced": "email_bounce",
}
"""Segment's spec event names (B2B SaaS and email specs) to Accord touch types."""


class ChannelRule(BaseModel):
    """A channel for messages whose UTM medium (and source, if given) is one of these."""

    channel: str
    medium: list[str] = Field(default_factory=list)
    source: list[str] = Field(default_factory=list)


DEFAULT_CHANNELS = [
    ChannelRule(
        channel="paid_social",
        medium=["cpc", "ppc", "paid", "paidsocial", "paid_social"],
        source=["facebook", "linkedin", "twitter", "x", "instagram", "reddit", "tiktok"],
    ),
    ChannelRule(channel="paid_search", medium=["cpc", "ppc", "paid", "paidsearch", "paid_search", "sem"]),
    ChannelRule(channel="display", medium=["display", "banner", "cpm"]),
    ChannelRule(channel="email", medium=["email", "newsletter"]),
    ChannelRule(channel="organic_social", medium=["social", "social-network", "sm"]),
    ChannelRule(channel="referral", medium=["referral"]),
    ChannelRule(channel="event", medium=["event", "events", "conference"]),
]
"""UTM medium/source to channel, first match wins; without UTM: the referrer decides."""

SEARCH_ENGINES = ("google.", "bing.", "duckduckgo.", "yahoo.", "baidu.", "yandex.", "ecosia.")

TRAITS_TO_LEAD = {
    "email": "email",
    "title": "job_title",
    "seniority": "seniority",
    "department": "department",
}
TRAITS_TO_ACCOUNT = {"name": "name", "industry": "industry", "employees": "employees", "website": "domain"}


class CollectConfig(BaseModel):
    """How Segment messages become Accord rows."""

    events: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_EVENTS))
    """Event name to touch type; an event not listed becomes its name in snake case."""
    page_touch_type: str = "web_visit"
    channels: list[ChannelRule] = Field(default_factory=lambda: list(DEFAULT_CHANNELS))
    unknown_user: Literal["create", "reject"] = "create"
    """A track or page for a userId never identified: create the lead, or refuse the message."""
    anonymous: Literal["skip", "reject"] = "skip"
    """A message with only an anonymousId (no lead yet): skipped (counted), or refused."""

    @classmethod
    def read(cls, path: Path | None) -> CollectConfig:
        """The defaults, overridden by a YAML file."""
        if path is None:
            return cls()
        import yaml

        return cls.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")) or {})

    def channel(self, message: dict[str, Any]) -> str:
        """The channel of a message from its UTM campaign, else its referrer."""
        ctx = _obj(message.get("context"))
        utm = _obj(ctx.get("campaign"))
        medium = str(utm.get("medium") or "").lower()
        source = str(utm.get("source") or "").lower()
        if medium:
            for rule in self.channels:
                if medium in rule.medium and (not rule.source or source in rule.source):
                    return rule.channel
            return re.sub(r"[^a-z0-9]+", "_", medium).strip("_") or "other"
        page = _obj(ctx.get("page"))
        props = _obj(message.get("properties"))
        referrer = str(page.get("referrer") or props.get("referrer") or "").lower()
        if not referrer:
            return "direct"
        if any(e in referrer for e in SEARCH_ENGINES):
            return "organic_search"
        return "referral"

    def touch_type(self, event: str) -> str:
        """The touch type of a track event."""
        return self.events.get(event) or re.sub(r"[^a-z0-9]+", "_", event.lower()).strip("_") or "event"


class Collected(BaseModel):
    """What a collection request did; the counts add up to the messages received."""

    success: bool = True
    received: int
    accepted: int
    duplicates: int
    skipped: int
    rejected: list[dict[str, Any]]


def _rows_in(
    live: Live, table: str, column: str, values: list[str], columns: str = "*"
) -> list[dict[str, Any]]:
    """The rows of `table` whose `column` is one of `values`."""
    if not values:
        return []
    with live.rows.tx(write=False) as t:
        where, params = t.where_in(column, values)
        return t.query(f"SELECT {columns} FROM {ident(table)} WHERE {where}", params)


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _user(m: dict[str, Any]) -> str | None:
    uid = m.get("userId")
    return str(uid) if isinstance(uid, str | int) and str(uid) else None


def _when(m: dict[str, Any]) -> Any:
    return m.get("timestamp") or m.get("originalTimestamp") or m.get("sentAt") or now()


def collect(
    live: Live, config: CollectConfig, messages: Sequence[Any], actor: str, role: str | None
) -> Collected:
    """Take Segment messages: accounts first, then leads, then touches, each deduplicated by messageId."""
    rejected: list[dict[str, Any]] = []
    skipped = duplicates = 0
    fresh: list[tuple[int, dict[str, Any]]] = []
    ids = [str(m.get("messageId")) for m in messages if isinstance(m, dict) and m.get("messageId")]
    seen = {r["message_id"] for r in _rows_in(live, INGEST_MESSAGES.name, "message_id", ids, "message_id")}
    in_request: set[str] = set()
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            rejected.append({"index": i, "field": "(message)", "reason": "expected a JSON object"})
            continue
        mid = m.get("messageId")
        if not isinstance(mid, str) or not mid or len(mid) > 200:
            rejected.append({"index": i, "field": "messageId", "reason": "missing (it makes retries safe)"})
            continue
        if mid in seen or mid in in_request:
            duplicates += 1
            continue
        in_request.add(mid)
        fresh.append((i, m))
    accounts: list[tuple[int, dict[str, Any]]] = []
    leads: list[tuple[int, dict[str, Any]]] = []
    touches: list[tuple[int, dict[str, Any]]] = []
    taken: list[tuple[str, str]] = []
    for i, m in fresh:
        kind = str(m.get("type") or "")
        try:
            if kind == "identify":
                leads.append((i, _lead_from(m)))
            elif kind == "group":
                accounts.append((i, _account_from(m)))
                if _user(m):
                    leads.append(
                        (
                            i,
                            {
                                "id": _user(m),
                                "account_id": str(m["groupId"]),
                                "_merge": True,
                                "_at": _when(m),
                            },
                        )
                    )
            elif kind in ("track", "page", "screen"):
                user = _user(m)
                if user is None:
                    if config.anonymous == "skip":
                        skipped += 1
                        taken.append((m["messageId"], kind))
                        continue
                    raise Refused("userId", "no userId: anonymous activity is not a lead yet")
                touches.append((i, _touch_from(config, m, kind, user)))
                if config.unknown_user == "create":
                    leads.append((i, {"id": user, "_merge": True, "_create_only": True, "_at": _when(m)}))
            elif kind == "alias":
                skipped += 1
                taken.append((m["messageId"], kind))
                continue
            else:
                raise Refused("type", f"unknown message type {kind!r}; expected identify, group, track, page")
        except Refused as r:
            rejected.append({"index": i, "field": r.refusal.field, "reason": r.refusal.reason})
            continue
        except (KeyError, TypeError, ValueError) as exc:
            rejected.append({"index": i, "field": "(message)", "reason": f"cannot read it: {exc}"})
            continue
        taken.append((m["messageId"], kind))
    bad: set[int] = {r["index"] for r in rejected}
    for table, items in (("accounts", accounts), ("leads", _merged(live, leads)), ("touchpoints", touches)):
        items = [(i, row) for i, row in items if i not in bad]
        if not items:
            continue
        done = live.ingest(table, [row for _, row in items], actor, role)
        for (i, _), item in zip(items, done.items, strict=True):
            if item.status == "rejected":
                rejected.append({"index": i, "field": item.field, "reason": item.reason})
                bad.add(i)
    index_of = {m.get("messageId"): i for i, m in fresh}
    done_ids = [(mid, kind) for mid, kind in taken if index_of.get(mid) not in bad]
    if done_ids:
        with live.rows.tx() as t:
            for mid, kind in done_ids:
                try:
                    t.execute(
                        f"INSERT INTO {ident(INGEST_MESSAGES.name)} (message_id, kind, received_at) "
                        "VALUES (?, ?, ?)",
                        [mid, kind, now()],
                    )
                except Conflict:
                    pass
    rejected.sort(key=lambda r: r["index"])
    n_rej = len({r["index"] for r in rejected})
    return Collected(
        received=len(messages),
        accepted=len(messages) - n_rej - duplicates - skipped,
        duplicates=duplicates,
        skipped=skipped,
        rejected=rejected,
    )


def _traits(m: dict[str, Any]) -> dict[str, Any]:
    if isinstance(m.get("traits"), dict):
        return dict(m["traits"])
    return _obj(_obj(m.get("context")).get("traits"))


def _lead_from(m: dict[str, Any]) -> dict[str, Any]:
    user = _user(m)
    if user is None:
        raise Refused("userId", "identify needs a userId (the lead's id)")
    traits = _traits(m)
    row: dict[str, Any] = {"id": user, "_merge": True, "_at": _when(m)}
    for trait, col in TRAITS_TO_LEAD.items():
        if traits.get(trait) not in (None, ""):
            row[col] = traits[trait]
    address = _obj(traits.get("address"))
    if address.get("country"):
        row["country"] = address["country"]
    if traits.get("createdAt"):
        row["created_at"] = traits["createdAt"]
    rest = {k: v for k, v in traits.items() if k not in TRAITS_TO_LEAD and k not in ("address", "createdAt")}
    if rest:
        row["properties"] = rest
    return row


def _account_from(m: dict[str, Any]) -> dict[str, Any]:
    gid = m.get("groupId")
    if not isinstance(gid, str | int) or not str(gid):
        raise Refused("groupId", "group needs a groupId (the account's id)")
    traits = _traits(m)
    row: dict[str, Any] = {"id": str(gid)}
    for trait, col in TRAITS_TO_ACCOUNT.items():
        if traits.get(trait) not in (None, ""):
            row[col] = traits[trait]
    if isinstance(row.get("domain"), str):
        row["domain"] = re.sub(r"^https?://(www\.)?", "", row["domain"]).split("/")[0]
    rest = {k: v for k, v in traits.items() if k not in TRAITS_TO_ACCOUNT}
    if rest:
        row["properties"] = rest
    return row


def _touch_from(config: CollectConfig, m: dict[str, Any], kind: str, user: str) -> dict[str, Any]:
    props = _obj(m.get("properties"))
    ctx = _obj(m.get("context"))
    utm = _obj(ctx.get("campaign"))
    if kind == "track":
        event = m.get("event")
        if not isinstance(event, str) or not event:
            raise Refused("event", "track needs an event name")
        touch_type = config.touch_type(event)
    else:
        touch_type = config.page_touch_type
    extra = dict(props)
    if kind == "track":
        extra["event"] = m["event"]
    elif m.get("name"):
        extra["page"] = m["name"]
    return {
        "id": f"seg-{m['messageId']}",
        "lead_id": user,
        "occurred_at": _when(m),
        "channel": config.channel(m),
        "campaign": utm.get("name"),
        "touch_type": touch_type,
        "source_system": "segment",
        "properties": extra or None,
    }


def _merged(live: Live, leads: list[tuple[int, dict[str, Any]]]) -> list[tuple[int, dict[str, Any]]]:
    """Identify and group give some fields of a lead: merge them into the stored row (or a new one)."""
    if not leads:
        return []
    ids = sorted({row["id"] for _, row in leads})
    stored = {r["id"]: r for r in _rows_in(live, "leads", "id", ids)}
    current: dict[str, dict[str, Any]] = {}
    out: list[tuple[int, dict[str, Any]]] = []
    for i, row in leads:
        lid = row["id"]
        base = current.get(lid) or (dict(stored[lid]) if lid in stored else None)
        if row.get("_create_only") and base is not None:
            continue
        merged = dict(base or {"id": lid, "created_at": row["_at"]})
        for k, v in row.items():
            if k.startswith("_"):
                continue
            if k == "properties":
                old = merged.get("properties")
                props = json.loads(old) if isinstance(old, str) and old else dict(old or {})
                props.update(v)
                merged["properties"] = props
            else:
                merged[k] = v
        if isinstance(merged.get("created_at"), str):
            try:
                merged["created_at"] = parse_timestamp(merged["created_at"], "created_at")
            except Refused:
                pass
        current[lid] = merged
        out.append((i, merged))
    # One row per lead (its last merge), answered for every message that built it.
    last = {row["id"]: i for i, row in out}
    return [(i, row) for i, row in out if last[row["id"]] == i]
