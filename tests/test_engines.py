"""The same loads and queries give identical results on DuckDB, PostgreSQL and Spark."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import ibis
import pyarrow as pa

from accord.model import TABLES
from accord.model.queries import touch_counts_by_channel
from accord.store import Store, load_file
from accord.store.writer import upsert
from conftest import write

ACCOUNTS = """id,name,domain,industry,employees,annual_revenue,country
a1,Acme,ACME.com,fintech,500,1e7,US
a2,Beta,beta.io,retail,40,2e6,DE
"""
LEADS = """id,account_id,email,created_at,job_title,budget
l1,a1,Ana@Acme.com,2025-01-02 10:00,VP Sales,50000
l2,a2,bob@beta.io,2025-01-03T08:00:00+02:00,CTO,
l3,,c@gmail.com,2025-01-04,Student,0
"""
TOUCHES = """id,lead_id,occurred_at,channel,campaign,touch_type,cost,page
t1,l1,2025-01-02 10:00,paid_search,brand,ad_click,4.5,
t2,l1,2025-01-05 11:00,paid_search,brand,ad_click,3.0,
t3,l1,2025-01-06 09:00,web,,web_visit,,/pricing
t4,l1,2025-02-10 09:00,web,,web_visit,,/blog
t5,l2,2025-01-03 09:00,events,summit,event,150,
t6,l2,2025-01-20 09:00,sales_outreach,,Meeting,,
t7,l3,2025-01-04 12:00,web,,web_visit,,/
t8,l9,2025-01-04 12:00,web,,web_visit,,/
"""


def _load_all(store: Store, tmp: Path) -> None:
    for name, text in (("accounts", ACCOUNTS), ("leads", LEADS), ("touchpoints", TOUCHES)):
        load_file(store, name, write(tmp / f"{name}.csv", text))


def test_load_and_query_identical_on_every_engine(store: Store, tmp_path: Path) -> None:
    _load_all(store, tmp_path)
    leads = store.table("leads").order_by("id").to_pyarrow().to_pylist()
    assert [r["id"] for r in leads] == ["l1", "l2", "l3"]
    assert leads[0]["email"] == "ana@acme.com"
    assert leads[1]["created_at"] == datetime(2025, 1, 3, 6, 0)  # +02:00 converted to UTC
    assert json.loads(leads[0]["properties"]) == {"budget": 50000}
    assert json.loads(leads[1]["properties"]) == {}
    tps = store.table("touchpoints").order_by("id").to_pyarrow().to_pylist()
    assert [t["id"] for t in tps] == ["t1", "t2", "t3", "t4", "t5", "t6", "t7"]  # t8: unknown lead
    by_id = {t["id"]: t for t in tps}
    assert by_id["t6"]["team"] == "sales" and by_id["t6"]["touch_type"] == "meeting"
    assert by_id["t1"]["team"] == "marketing"
    assert by_id["t1"]["account_id"] == "a1"  # filled from the lead
    assert by_id["t7"]["account_id"] is None
    q = touch_counts_by_channel(store.table("touchpoints"), datetime(2025, 1, 1), datetime(2025, 2, 1))
    got = sorted(
        (r["lead_id"], r["channel"], r["touches"], r["touch_types"], r["cost"])
        for r in q.to_pyarrow().to_pylist()
    )
    assert got == [
        ("l1", "paid_search", 2, 1, 7.5),
        ("l1", "web", 1, 1, None),
        ("l2", "events", 1, 1, 150.0),
        ("l2", "sales_outreach", 1, 1, None),
        ("l3", "web", 1, 1, None),
    ]


def test_reload_changes_nothing_and_updates_changed_rows(store: Store, tmp_path: Path) -> None:
    _load_all(store, tmp_path)
    before = store.table("leads").order_by("id").to_pyarrow()
    again = load_file(store, "leads", tmp_path / "leads.csv")
    assert (again.write.inserted, again.write.updated, again.write.unchanged) == (0, 0, 3)
    assert store.table("leads").order_by("id").to_pyarrow().equals(before)
    changed = LEADS.replace("VP Sales", "CRO").replace("l3,,c@gmail.com", "l3,a2,c@gmail.com")
    r = load_file(
        store,
        "leads",
        write(tmp_path / "leads2.csv", changed + "l4,a1,d@acme.com,2025-02-01,CEO,\n"),
    )
    assert (r.write.inserted, r.write.updated, r.write.unchanged) == (1, 2, 1)
    rows = {x["id"]: x for x in store.table("leads").to_pyarrow().to_pylist()}
    assert len(rows) == 4
    assert rows["l1"]["job_title"] == "CRO" and rows["l3"]["account_id"] == "a2"


def test_composite_keys_with_nulls_are_idempotent(store: Store) -> None:
    spec = TABLES["spend"]
    data = pa.table(
        {
            "channel": ["paid_search", "paid_search", "events"],
            "campaign": ["brand", None, None],
            "period_start": [datetime(2025, 1, 1)] * 3,
            "period_end": [datetime(2025, 1, 31)] * 3,
            "amount": [100.0, 50.0, 900.0],
            "currency": ["USD"] * 3,
        }
    )
    assert upsert(store, spec, data).inserted == 3
    second = upsert(store, spec, data)
    assert (second.inserted, second.updated, second.unchanged) == (0, 0, 3)
    changed = data.set_column(4, "amount", pa.array([100.0, 75.0, 900.0]))
    third = upsert(store, spec, changed)
    assert (third.inserted, third.updated, third.unchanged) == (0, 1, 2)
    rows = sorted(
        (r["channel"], r["campaign"] or "", r["amount"])
        for r in store.table("spend").to_pyarrow().to_pylist()
    )
    assert rows == [
        ("events", "", 900.0),
        ("paid_search", "", 75.0),
        ("paid_search", "brand", 100.0),
    ]


def test_create_table_overwrite_works(store: Store) -> None:
    # sqlglot >= 30.18 writes `DROP TABLE IF EXISTS` with no name and breaks this.
    schema = ibis.schema({"x": "int64"})
    store.con.create_table("scratch", schema=schema, overwrite=True)
    store.con.create_table("scratch", ibis.memtable({"x": [1, 2]}), overwrite=True)
    store.con.create_table("scratch", ibis.memtable({"x": [3]}), overwrite=True)
    assert store.table("scratch").x.sum().execute() == 3
