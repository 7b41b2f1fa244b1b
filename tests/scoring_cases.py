"""A small store and pact whose scores were worked out by hand (see test_scoring.py)."""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa

from accord.model import TABLES
from accord.store import Store

AS_OF = datetime(2026, 3, 31)

GOLDEN_PACT = """
pact: golden
version: 1
models:
  default:
    fit:
      rules:
        - {id: vp, field: lead.seniority, equals: vp, points: 20}
        - {id: big, field: account.employees, between: [100, null], points: 10}
        - {id: budget, field: lead.properties.budget, equals: approved, points: 5}
        - {id: freemail, field: lead.email, email_domain_in: [gmail.com], points: -15}
      grades: {A: 30, B: 20, C: 10}
    engagement:
      decay: {half_life_days: 10}
      rules:
        - {id: visit, touch_type: web_visit, points: 4, cap: {max: 2, per_days: 7}}
        - {id: event, touch_type: event, points: 10, decay: {steps: [[5, 1.0], [20, 0.5]]}}
        - {id: unsub, touch_type: unsubscribe, points: -8, decay: {}}
      bands: {1: 20, 2: 10, 3: 1}
    total: {floor: 0, ceiling: 40}
    account: {rollup: sum, weight: 0.5}
definitions:
  mql: {min_score: 25, grades: [A, B]}
recycle: {reset_engagement: true}
"""


def d(day: int, hour: int = 0) -> datetime:
    return datetime(2026, 3, day, hour)


def table(name: str, rows: list[dict[str, object]]) -> pa.Table:
    spec = TABLES[name]
    cols = {c: [r.get(c) for r in rows] for c in spec.column_names}
    return pa.table(cols, schema=spec.schema.to_pyarrow())


def golden_tables() -> dict[str, pa.Table]:
    return {
        "accounts": table("accounts", [{"id": "acc1", "employees": 500}, {"id": "acc2", "employees": 50}]),
        "leads": table(
            "leads",
            [
                {
                    "id": "L1",
                    "account_id": "acc1",
                    "seniority": "vp",
                    "email": "ana@acme.com",
                    "created_at": d(1),
                    "properties": '{"budget":"approved"}',
                },
                {
                    "id": "L2",
                    "account_id": "acc1",
                    "seniority": "manager",
                    "email": "bo@gmail.com",
                    "created_at": d(1),
                },
                {
                    "id": "L3",
                    "account_id": "acc2",
                    "seniority": "vp",
                    "email": "cy@small.io",
                    "created_at": d(1),
                },
                {
                    "id": "L4",
                    "seniority": "director",
                    "email": "d@x.com",
                    "created_at": d(1),
                    "properties": '{"budget":"none"}',
                },
            ],
        ),
        "touchpoints": table(
            "touchpoints",
            [
                {
                    "id": "v1",
                    "lead_id": "L1",
                    "occurred_at": d(30),
                    "channel": "web",
                    "touch_type": "web_visit",
                },
                {
                    "id": "v2",
                    "lead_id": "L1",
                    "occurred_at": d(29),
                    "channel": "web",
                    "touch_type": "web_visit",
                },
                {
                    "id": "v3",
                    "lead_id": "L1",
                    "occurred_at": d(28),
                    "channel": "web",
                    "touch_type": "web_visit",
                },
                {
                    "id": "v4",
                    "lead_id": "L1",
                    "occurred_at": d(21),
                    "channel": "web",
                    "touch_type": "web_visit",
                },
                {
                    "id": "e1",
                    "lead_id": "L1",
                    "occurred_at": d(27),
                    "channel": "events",
                    "touch_type": "event",
                },
                {
                    "id": "f1",
                    "lead_id": "L1",
                    "occurred_at": datetime(2026, 4, 2),
                    "channel": "web",
                    "touch_type": "web_visit",
                },
                {
                    "id": "u1",
                    "lead_id": "L2",
                    "occurred_at": d(1),
                    "channel": "email",
                    "touch_type": "unsubscribe",
                },
                {
                    "id": "e2",
                    "lead_id": "L2",
                    "occurred_at": d(16),
                    "channel": "events",
                    "touch_type": "event",
                },
                {
                    "id": "e3",
                    "lead_id": "L3",
                    "occurred_at": d(1),
                    "channel": "events",
                    "touch_type": "event",
                },
                {
                    "id": "v5",
                    "lead_id": "L3",
                    "occurred_at": d(30, 12),
                    "channel": "web",
                    "touch_type": "web_visit",
                },
                {
                    "id": "v6",
                    "lead_id": "L4",
                    "occurred_at": d(31),
                    "channel": "web",
                    "touch_type": "web_visit",
                },
            ],
        ),
        "feedback": table(
            "feedback",
            [
                {"lead_id": "L3", "given_at": d(15), "action": "recycle", "reason": "not now"},
                {
                    "lead_id": "L3",
                    "given_at": d(20),
                    "action": "adjust",
                    "points": 6.0,
                    "reason": "warm intro",
                },
                {"lead_id": "L4", "given_at": d(31), "action": "reject", "reason": "no budget"},
            ],
        ),
    }


def load_tables(store: Store, tables: dict[str, pa.Table]) -> None:
    for name, data in tables.items():
        store.write_arrow(name, data, schema=TABLES[name].schema)


COMPOUND_PACT = """
pact: compound
version: 1
models:
  default:
    fit: {rules: []}
    engagement:
      decay: {}
      lookback_days: 60
      rules:
        - id: pricing_near_webinar
          points: 15
          all:
            - {touch_type: web_visit, property: {page: /pricing}}
            - {touch_type: webinar}
          within_days: 7
        - id: talked
          points: 5
          any:
            - {touch_type: demo}
            - {touch_type: call, channel: phone}
          cap: {max: 2, per_days: 30}
        - id: webinar_again
          points: 3
          all: [{touch_type: webinar}, {touch_type: webinar}]
          within_days: 10
      bands: {1: 30, 2: 10, 3: 1}
    account: {rollup: sum, weight: 0}
definitions:
  mql: {min_score: 25}
recycle: {reset_engagement: true}
"""

# Hand computation as of 2026-03-31 00:00, no decay:
# A: pricing on the 20th (webinar 5 days later: counts) and the 26th (1 day after it: counts),
#    pricing on the 5th (webinar 20 days away: not); one webinar, so no webinar_again; demo on
#    the 10th, phone call the 12th, email "call" the 13th (not phone), demo the 28th: three
#    talked touches in one 30-day cap window, 2 kept. 15 + 15 + 2 * 5 = 40.
# B: webinars on the 1st and the 8th (7 days apart, within 10: each counts 3); pricing on the
#    15th exactly 7 days after the 8th's webinar counts, pricing a second later does not. 6 + 15.
# C: recycled on the 20th: the webinar on the 18th is before it, so the pricing visit on the 22nd
#    has no webinar near it; a webinar on 1 April is after the instant. 0.
COMPOUND_ENGAGEMENT = {"A": 40.0, "B": 21.0, "C": 0.0}


def compound_tables() -> dict[str, pa.Table]:
    def tp(i: str, lead: str, at: datetime, kind: str, channel: str = "web", page: str | None = None) -> dict:
        props = f'{{"page":"{page}"}}' if page else None
        return {
            "id": i,
            "lead_id": lead,
            "occurred_at": at,
            "touch_type": kind,
            "channel": channel,
            "properties": props,
        }

    touches = [
        tp("a1", "A", d(20), "web_visit", page="/pricing"),
        tp("a2", "A", d(25), "webinar", "events"),
        tp("a3", "A", d(26), "web_visit", page="/pricing"),
        tp("a4", "A", d(5), "web_visit", page="/pricing"),
        tp("a5", "A", d(10), "demo", "sales"),
        tp("a6", "A", d(12), "call", "phone"),
        tp("a7", "A", d(13), "call", "email"),
        tp("a8", "A", d(28), "demo", "sales"),
        tp("a9", "A", d(27), "web_visit", page="/"),
        tp("b1", "B", d(1), "webinar", "events"),
        tp("b2", "B", d(8), "webinar", "events"),
        tp("b3", "B", d(15), "web_visit", page="/pricing"),
        tp("b4", "B", datetime(2026, 3, 15, 0, 0, 1), "web_visit", page="/pricing"),
        tp("c1", "C", d(18), "webinar", "events"),
        tp("c2", "C", d(22), "web_visit", page="/pricing"),
        tp("c3", "C", datetime(2026, 4, 1), "webinar", "events"),
    ]
    return {
        "accounts": table("accounts", []),
        "leads": table("leads", [{"id": x, "created_at": d(1)} for x in "ABC"]),
        "touchpoints": table("touchpoints", touches),
        "feedback": table("feedback", [{"lead_id": "C", "given_at": d(20), "action": "recycle"}]),
    }
