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
