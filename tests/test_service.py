"""The service over HTTP, on DuckDB and PostgreSQL: ingest, real-time scores, reads, pacts, roles, limits."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from accord.demo import demo_pact_text
from accord.pact.io import parse_pact
from service_kit import ROLE_NAMES, Served, engine_url, served, world

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)], scope="module")
def svc(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One served store per engine for the read-mostly tests of this module."""
    url = engine_url(request.param, tmp_path_factory.mktemp("svc"))
    with served(url) as s:
        yield s


def _lead(i: int = 0) -> dict:
    return world().tables["leads"].slice(i, 1).to_pylist()[0]


def _touch(tid: str, lead_id: str, at: datetime | str, touch_type: str = "demo") -> dict:
    when = at if isinstance(at, str) else at.isoformat()
    return {"id": tid, "lead_id": lead_id, "occurred_at": when, "channel": "web", "touch_type": touch_type}


# ----------------------------------------------------------------------------- real time
def test_a_touch_rescores_its_lead_as_a_batch_run_would(svc: Served) -> None:
    from accord.scoring.run import run_scoring

    lead = _lead(3)
    at = datetime.utcnow() - timedelta(hours=1)
    r = svc.client.post("/v1/touchpoints", json=_touch("tp-rt-1", lead["id"], at), headers=svc.auth("ingest"))
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["outcome"] == "inserted" and got["lead_id"] == lead["id"]
    for field in ("score", "fit", "engagement", "grade", "band", "stage", "became_mql"):
        assert field in got
    as_of = datetime.fromisoformat(got["as_of"])
    # The batch engine at the same instant, on the same rows, gives the same numbers.
    st = svc.state
    with st.heavy, st.rows.write_lock:
        st.rows.query("SELECT 1")
        with st.rows.tx() as t:
            t.execute("DELETE FROM lead_scores WHERE run_id = 'live'")
        run_scoring(st.store, st.live.active(), as_of)
    if st.live.resident is not None:  # written behind the service's back: it loads the store again
        st.live.keep_resident()
    (batch,) = svc.rows(
        "SELECT score, fit, engagement, grade, band FROM lead_scores WHERE lead_id = ? AND as_of = ?",
        [lead["id"], as_of],
    )
    assert math.isclose(batch["score"], got["score"], abs_tol=1e-9)
    assert math.isclose(batch["fit"], got["fit"], abs_tol=1e-9)
    assert math.isclose(batch["engagement"], got["engagement"], abs_tol=1e-9)
    assert (batch["grade"], batch["band"]) == (got["grade"], got["band"])


def test_a_demo_raises_the_score_by_the_rule_points(svc: Served) -> None:
    touches = world().tables["touchpoints"].to_pandas()
    met_sales = set(touches.loc[touches.touch_type.isin(["meeting", "demo"]), "lead_id"])
    lead = next(_lead(i) for i in range(7, 600) if _lead(i)["id"] not in met_sales)
    before = svc.client.get(f"/v1/leads/{lead['id']}", headers=svc.auth("viewer")).json()
    assert "talked-to-sales" not in {x["rule_id"] for x in before["rules"]}
    at = datetime.utcnow().replace(microsecond=0)
    after = svc.client.post(
        "/v1/touchpoints", json=_touch("tp-rt-2", lead["id"], at), headers=svc.auth("ingest")
    )
    rule = next(
        r for r in parse_pact(demo_pact_text()).model("default").engagement.rules if r.id == "talked-to-sales"
    )
    # A first meeting adds its points: no decay within seconds, under the cap.
    assert math.isclose(after.json()["engagement"] - before["engagement"], rule.points, abs_tol=0.05)


def test_batch_ingest_answers_item_by_item_and_keeps_nothing_refused(svc: Served) -> None:
    lead = _lead(11)
    items = [
        _touch("tp-b-1", lead["id"], "2026-11-01T10:00:00Z", "web_visit"),
        _touch("tp-b-2", "no-such-lead", "2026-11-01T10:00:00Z"),
        _touch("tp-b-3", lead["id"], "yesterday"),
        {**_touch("tp-b-4", lead["id"], "2026-11-02T10:00:00+02:00"), "cost": -3},
        {**_touch("tp-b-5", lead["id"], "2026-11-02T10:00:00+02:00"), "page": "/pricing"},
        _touch("tp-b-1", lead["id"], "2026-11-03T10:00:00Z"),
    ]
    r = svc.client.post("/v1/touchpoints", json={"items": items}, headers=svc.auth("ingest"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["received"], body["accepted"], body["rejected"]) == (6, 2, 4)
    by = {i["index"]: i for i in body["items"]}
    assert by[1]["field"] == "lead_id" and "no lead 'no-such-lead'" in by[1]["reason"]
    assert by[2]["field"] == "occurred_at" and "timestamp" in by[2]["reason"]
    assert by[3]["field"] == "cost" and "negative" in by[3]["reason"]
    assert by[5]["field"] == "id" and "same key as item 0" in by[5]["reason"]
    assert by[0]["score"]["lead_id"] == lead["id"]
    stored = svc.rows(
        "SELECT id, occurred_at, properties FROM touchpoints WHERE id LIKE 'tp-b-%' ORDER BY id"
    )
    assert [s["id"] for s in stored] == ["tp-b-1", "tp-b-5"]
    assert stored[1]["occurred_at"] == datetime(2026, 11, 2, 8, 0)  # the offset converted to UTC
    assert json.loads(stored[1]["properties"]) == {"page": "/pricing"}
    # A retry of the whole batch duplicates nothing.
    again = svc.client.post("/v1/touchpoints", json={"items": items}, headers=svc.auth("ingest")).json()
    assert [i["outcome"] for i in again["items"] if i["status"] == "accepted"] == ["unchanged", "unchanged"]
    assert len(svc.rows("SELECT id FROM touchpoints WHERE id LIKE 'tp-b-%'")) == 2


def test_one_refused_item_is_a_problem_naming_the_field(svc: Served) -> None:
    r = svc.client.post("/v1/leads", json={"id": "lead-new-1", "email": "x@y.io"}, headers=svc.auth("ingest"))
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["field"] == "created_at" and "missing required value" in r.json()["detail"]


def test_every_table_takes_rows(svc: Served) -> None:
    h = svc.auth("ingest")
    assert (
        svc.client.post(
            "/v1/accounts", json={"id": "acc-svc-1", "name": "Svc Co", "employees": 300}, headers=h
        ).status_code
        == 200
    )
    r = svc.client.post(
        "/v1/leads",
        json={
            "id": "lead-svc-1",
            "account_id": "acc-svc-1",
            "created_at": "2026-11-01",
            "job_title": "CTO",
            "seniority": "c_level",
        },
        headers=h,
    )
    assert r.status_code == 200 and r.json()["score"] is not None
    ok = [
        (
            "/v1/opportunities",
            {
                "id": "opp-svc-1",
                "account_id": "acc-svc-1",
                "primary_lead_id": "lead-svc-1",
                "created_at": "2026-11-10",
                "amount": 1000,
            },
        ),
        (
            "/v1/stage_changes",
            {"lead_id": "lead-svc-1", "to_stage": "sql", "changed_at": "2026-11-11T00:00:00Z"},
        ),
        (
            "/v1/spend",
            {
                "channel": "web",
                "period_start": "2026-11-01",
                "period_end": "2026-11-30",
                "amount": 500,
                "currency": "USD",
            },
        ),
    ]
    for path, row in ok:
        r = svc.client.post(path, json=row, headers=h)
        assert r.status_code == 200, (path, r.text)
    # The touch's account is filled from its lead.
    svc.client.post("/v1/touchpoints", json=_touch("tp-svc-1", "lead-svc-1", "2026-11-12"), headers=h)
    assert svc.rows("SELECT account_id FROM touchpoints WHERE id = 'tp-svc-1'") == [
        {"account_id": "acc-svc-1"}
    ]


# ----------------------------------------------------------------------------- reads
def test_lead_explains_every_rule_and_history_adds_up(svc: Served) -> None:
    touches = world().tables["touchpoints"].to_pandas()
    had_webinars = set(touches.loc[touches.touch_type == "webinar", "lead_id"])
    lead = next(_lead(i) for i in range(20, 600) if _lead(i)["id"] not in had_webinars)
    h = svc.auth("ingest")
    # Touches that happen as they arrive: one dated before a stored score would be counted in
    # the explanation of that score, which did not have it (the history calls that `unexplained`).
    for k in range(3):
        r = svc.client.post(
            "/v1/touchpoints", json=_touch(f"tp-h-{k}", lead["id"], datetime.utcnow(), "webinar"), headers=h
        )
        assert r.status_code == 200, r.text
    view = svc.client.get(f"/v1/leads/{lead['id']}", headers=svc.auth("viewer")).json()
    assert view["sentence"] and view["rules"]
    parts = sum(x["points"] for x in view["rules"])
    assert math.isclose(parts, view["fit"] + view["engagement"] + view["adjustment"], abs_tol=1e-6)
    hist = svc.client.get(f"/v1/leads/{lead['id']}/history", headers=svc.auth("viewer")).json()
    assert len(hist["changes"]) >= 3
    assert math.isclose(sum(c["change"] for c in hist["changes"]), hist["score"], abs_tol=1e-9)
    for c in hist["changes"]:
        assert math.isclose(sum(m["points"] for m in c["moved"]), c["change"], abs_tol=1e-6)
    # The pact counts two webinars a month at 15 points: the first two move the score by 15 each,
    # the third (capped) leaves it where it was.
    moves = [sum(m["points"] for m in c["moved"] if m["part"] == "webinar") for c in hist["changes"]]
    assert [round(m, 3) for m in moves if abs(m) > 1e-3] == [15.0, 15.0]
    assert svc.client.get("/v1/leads/nobody", headers=svc.auth("viewer")).status_code == 404


def test_mql_queue_is_sorted_filtered_and_paged(svc: Served) -> None:
    h = svc.auth("viewer")
    first = svc.client.get("/v1/mql-queue?limit=500", headers=h).json()["items"]
    assert first, "the scored funnel has MQLs waiting"
    scores = [r["score"] for r in first]
    assert scores == sorted(scores, reverse=True)
    seen, cursor = [], None
    while True:
        page = svc.client.get(
            "/v1/mql-queue", params={"limit": 7, **({"cursor": cursor} if cursor else {})}, headers=h
        ).json()
        seen += [r["lead_id"] for r in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [r["lead_id"] for r in first]
    graded = svc.client.get("/v1/mql-queue?grade=A&limit=500", headers=h).json()["items"]
    assert {r["grade"] for r in graded} <= {"A"} and len(graded) == sum(r["grade"] == "A" for r in first)
    acc = first[0]["account_id"]
    mine = svc.client.get(f"/v1/mql-queue?account={acc}", headers=h).json()["items"]
    assert mine and {r["account_id"] for r in mine} == {acc}
    assert svc.client.get("/v1/mql-queue?cursor=bogus", headers=h).status_code == 422


def test_the_postgres_queue_state_is_the_window_query(svc: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    """The tables PostgreSQL's triggers keep give the queue the portable window query gives.

    After live writes, a batch write through Ibis, an erasure, and a table replaced by a load
    (which takes its triggers with it).
    """
    import pyarrow as pa

    import accord.workflows.live as live_module
    from accord.model.tables import STAGE_CHANGES
    from accord.store import lead_state

    if svc.state.rows.engine != "postgres":
        pytest.skip("the PostgreSQL query")
    live, store = svc.state.live, svc.state.store

    def same(when: str) -> list:
        pages = {}
        for name, sql in (("state", live_module._QUEUE_PG), ("window", live_module._QUEUE)):
            monkeypatch.setattr(live_module, "_QUEUE_PG", sql)
            pages[name] = [
                live.queue(limit=400).items,
                live.queue(grade="B", limit=400).items,
                live.queue(band=2, limit=400).items,
                live.queue(limit=5, cursor=live.queue(limit=5).next_cursor).items,
            ]
            monkeypatch.undo()
        assert pages["state"][0], f"MQLs to compare {when}"
        assert pages["state"] == pages["window"], when
        return pages["state"][0]

    queued = same("at start")
    lead = next(r for r in (_lead(i) for i in range(80, 200)) if r["id"] not in {q.lead_id for q in queued})
    for i in range(4):
        svc.client.post(
            "/v1/touchpoints",
            json=_touch(f"tp-state-{i}", lead["id"], datetime.utcnow()),
            headers=svc.auth("ingest"),
        )
    svc.client.post(
        f"/v1/leads/{queued[0].lead_id}/feedback",
        json={"action": "reject", "reason": "no budget"},
        headers=svc.auth("sales"),
    )
    after_live = same("after live writes")
    assert queued[0].lead_id not in {q.lead_id for q in after_live}

    # A batch run writes through Ibis (COPY): a later score for a queued lead moves it.
    moved = after_live[1]
    row = svc.rows(
        "SELECT * FROM lead_scores WHERE lead_id = ? ORDER BY as_of DESC LIMIT 1", [moved.lead_id]
    )[0]
    from accord.model.tables import LEAD_SCORES

    later = row | {"as_of": row["as_of"] + timedelta(seconds=1), "score": 999.0, "run_id": "test-batch"}
    store.write_arrow(
        "lead_scores", pa.Table.from_pylist([later], schema=LEAD_SCORES.schema.to_pyarrow()), append=True
    )
    top = same("after a batch write")[0]
    assert (top.lead_id, top.score) == (moved.lead_id, 999.0)

    erased = after_live[2].lead_id
    assert svc.client.delete(f"/v1/leads/{erased}", headers=svc.auth("admin")).status_code == 200
    assert erased not in {q.lead_id for q in same("after an erasure")}

    # A load that replaces stage_changes drops the triggers; the queue finds out and rebuilds.
    stages = store.table("stage_changes").to_pyarrow()
    store.write_arrow("stage_changes", stages, schema=STAGE_CHANGES.schema)
    assert lead_state.ensure(svc.state.rows) is True
    assert lead_state.ensure(svc.state.rows) is False
    store.write_arrow("stage_changes", stages.slice(0, 0), schema=STAGE_CHANGES.schema)
    store.write_arrow("stage_changes", stages, schema=STAGE_CHANGES.schema, append=True)
    same("after stage_changes was replaced")


def test_the_queue_kept_in_memory_is_the_queue_in_the_store(svc: Served) -> None:
    live = svc.state.live
    if live.resident is None:
        pytest.skip("only a DuckDB store is kept in memory")
    lead = _lead(70)
    svc.client.post(
        "/v1/touchpoints", json=_touch("tp-q-1", lead["id"], datetime.utcnow()), headers=svc.auth("ingest")
    )
    svc.client.post(
        f"/v1/leads/{_lead(71)['id']}/feedback", json={"action": "accept"}, headers=svc.auth("sales")
    )
    kept = live.resident
    for filters in ({}, {"grade": "B"}, {"band": 2}, {"limit": 5}):
        from_memory = live.queue(**filters)
        live.resident = None
        try:
            from_store = live.queue(**filters)
        finally:
            live.resident = kept
        assert from_memory == from_store, filters
    page = live.queue(limit=3)
    assert live.queue(limit=3, cursor=page.next_cursor).items[0].lead_id not in {
        r.lead_id for r in page.items
    }


def test_account_lists_its_people(svc: Served) -> None:
    lead = _lead(30)
    acc = svc.client.get(f"/v1/accounts/{lead['account_id']}", headers=svc.auth("viewer")).json()
    assert lead["id"] in {p["lead_id"] for p in acc["people"]}
    assert acc["account_score"] is not None
    assert svc.client.get("/v1/accounts/none", headers=svc.auth("viewer")).status_code == 404


def test_attribution_and_evaluation(svc: Served) -> None:
    h = svc.auth("viewer")
    a = svc.client.get("/v1/attribution?models=linear,last_touch&by=channel", headers=h)
    assert a.status_code == 200, a.text
    credit = a.json()["credit"]
    for model in ("linear", "last_touch"):
        total = sum(c["conversions"] for c in credit if c["model"] == model)
        assert math.isclose(total, a.json()["journeys"]["conversions"], rel_tol=1e-6)
    bad = svc.client.get("/v1/attribution?models=nonsense", headers=h)
    assert bad.status_code in (404, 422) and bad.headers["content-type"] == "application/problem+json"
    e = svc.client.get("/v1/evaluation", headers=h)
    assert e.status_code == 200, e.text
    assert 0.5 < e.json()["metrics"]["auc"] <= 1


# ----------------------------------------------------------------------------- feedback, erasure
def test_feedback_needs_the_pacts_reasons_and_moves_the_stage(svc: Served) -> None:
    lead = _lead(40)
    sales = svc.auth("sales")
    r = svc.client.post(
        f"/v1/leads/{lead['id']}/feedback", json={"action": "reject", "reason": "meh"}, headers=sales
    )
    assert r.status_code == 422 and "not one of the pact's" in r.json()["detail"]
    r = svc.client.post(f"/v1/leads/{lead['id']}/feedback", json={"action": "reject"}, headers=sales)
    assert r.status_code == 422 and "needs a reason" in r.json()["detail"]
    r = svc.client.post(
        f"/v1/leads/{lead['id']}/feedback", json={"action": "reject", "reason": "no budget"}, headers=sales
    )
    assert r.status_code == 200 and r.json()["to_stage"] == "disqualified"
    assert svc.client.get(f"/v1/leads/{lead['id']}", headers=sales).json()["stage"] == "disqualified"
    before = svc.client.get(f"/v1/leads/{_lead(41)['id']}", headers=sales).json()
    r = svc.client.post(
        f"/v1/leads/{_lead(41)['id']}/feedback", json={"action": "adjust", "points": 5}, headers=sales
    )
    assert math.isclose(r.json()["score"]["adjustment"], before["adjustment"] + 5)
    denied = svc.client.post(
        f"/v1/leads/{lead['id']}/feedback", json={"action": "accept"}, headers=svc.auth("marketing")
    )
    assert denied.status_code == 403


def test_erasure_removes_the_lead_and_the_audit_keeps_a_hash(svc: Served) -> None:
    lead = _lead(50)
    svc.client.post(
        "/v1/touchpoints", json=_touch("tp-erase", lead["id"], "2026-11-20"), headers=svc.auth("ingest")
    )
    svc.client.post(f"/v1/leads/{lead['id']}/feedback", json={"action": "accept"}, headers=svc.auth("sales"))
    assert svc.client.delete(f"/v1/leads/{lead['id']}", headers=svc.auth("sales")).status_code == 403
    r = svc.client.delete(f"/v1/leads/{lead['id']}", headers=svc.auth("admin"))
    assert r.status_code == 200 and r.json()["rows"]["leads"] == 1
    for table, col in (
        ("leads", "id"),
        ("touchpoints", "lead_id"),
        ("feedback", "lead_id"),
        ("lead_scores", "lead_id"),
        ("stage_changes", "lead_id"),
    ):
        assert svc.rows(f"SELECT count(*) AS n FROM {table} WHERE {col} = ?", [lead["id"]]) == [{"n": 0}]
    text = json.dumps(svc.rows("SELECT * FROM audit_log"), default=str)
    assert lead["id"] not in text and r.json()["lead_hash"] in text
    assert svc.client.get(f"/v1/leads/{lead['id']}", headers=svc.auth("viewer")).status_code == 404


def test_audit_records_who_what_before_and_after(svc: Served) -> None:
    svc.client.post("/v1/accounts", json={"id": "acc-aud", "name": "Before"}, headers=svc.auth("ingest"))
    svc.client.post("/v1/accounts", json={"id": "acc-aud", "name": "After"}, headers=svc.auth("ingest"))
    log = svc.client.get("/v1/audit?action=accounts.&limit=50", headers=svc.auth("admin")).json()
    update = next(e for e in log if e["target"] == "acc-aud" and e["action"] == "accounts.update")
    assert (
        update["actor"] == "ingest-key"
        and update["before"]["name"] == "Before"
        and update["after"]["name"] == "After"
    )
    assert svc.client.get("/v1/audit", headers=svc.auth("viewer")).status_code == 403


# ----------------------------------------------------------------------------- idempotency
def test_idempotency_key_replays_refuses_another_body_and_a_running_request(svc: Served) -> None:
    lead = _lead(60)
    h = {**svc.auth("ingest"), "Idempotency-Key": "k-1"}
    body = _touch("tp-idem-1", lead["id"], "2026-11-21")
    one = svc.client.post("/v1/touchpoints", json=body, headers=h)
    two = svc.client.post("/v1/touchpoints", json=body, headers=h)
    assert one.status_code == two.status_code == 200
    assert one.json() == two.json() and two.headers.get("idempotent-replayed") == "true"
    other = svc.client.post("/v1/touchpoints", json={**body, "channel": "email"}, headers=h)
    assert other.status_code == 422 and "another request body" in other.json()["detail"]
    # Another key's Idempotency-Key of the same text is its own.
    assert (
        svc.client.post(
            "/v1/touchpoints",
            json={**body, "channel": "email"},
            headers={**svc.auth("admin"), "Idempotency-Key": "k-1"},
        ).status_code
        == 200
    )
    from accord.service.guard import _claim

    assert _claim(svc.state.rows, "scope-x", "k-2", "f") == "claimed"
    assert _claim(svc.state.rows, "scope-x", "k-2", "f") == "busy"
    busy = svc.rows("SELECT state FROM idempotency_keys WHERE scope = 'scope-x'")
    assert busy == [{"state": "in_progress"}]


def test_a_request_still_running_is_409(svc: Served) -> None:
    import hashlib

    from accord.service.guard import _claim

    key = svc.keys["ingest"]
    scope = hashlib.sha256(f"Bearer {key}".encode()).hexdigest()
    body = json.dumps(_touch("tp-idem-2", _lead(61)["id"], "2026-11-21")).encode()
    fp = hashlib.sha256(b"POST /v1/touchpoints\n" + body).hexdigest()
    assert _claim(svc.state.rows, scope, "k-running", fp) == "claimed"
    r = svc.client.post(
        "/v1/touchpoints",
        content=body,
        headers={**svc.auth("ingest"), "Idempotency-Key": "k-running", "Content-Type": "application/json"},
    )
    assert r.status_code == 409


# ----------------------------------------------------------------------------- limits
def test_problems_for_no_key_a_revoked_key_and_a_big_body(svc: Served) -> None:
    r = svc.client.get("/v1/mql-queue")
    assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
    assert (
        svc.client.get("/v1/mql-queue", headers={"Authorization": "Bearer acc_nonsense"}).status_code == 401
    )
    big = {"items": [{"id": "x" * 1000}] * 1100}
    r = svc.client.post("/v1/touchpoints", json=big, headers=svc.auth("ingest"))
    assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json"
    assert svc.client.get("/healthz").json()["status"] == "ok"
    assert (
        svc.client.get("/readyz").json()["pact"] == "demo-scoring v1"
        or svc.client.get("/readyz").status_code == 200
    )


def test_rate_limit_answers_429_with_retry_after(tmp_path) -> None:
    with served(f"duckdb://{tmp_path / 'rl.duckdb'}", rate_per_second=2) as s:
        codes = [s.client.get("/v1/mql-queue?limit=1", headers=s.auth("viewer")) for _ in range(8)]
        limited = [r for r in codes if r.status_code == 429]
        assert limited and int(limited[0].headers["retry-after"]) >= 1
        # Another key has its own budget.
        assert s.client.get("/v1/mql-queue?limit=1", headers=s.auth("sales")).status_code == 200


# ----------------------------------------------------------------------------- roles
def _permission_of(route) -> str | None:
    from accord.service.deps import Allow, basic_ingest

    stack = [route.dependant]
    while stack:
        d = stack.pop()
        if isinstance(d.call, Allow):
            return d.permission if hasattr(d, "permission") else d.call.permission.value
        if d.call is basic_ingest:
            return "ingest"
        stack += d.dependencies
    return None


def test_every_route_checks_its_role(svc: Served) -> None:
    from fastapi.routing import APIRoute

    from accord.workflows.access import ROLES

    found, stack = [], list(svc.app.routes)
    while stack:  # FastAPI keeps included routers apart: open them
        r = stack.pop()
        stack += getattr(getattr(r, "original_router", None), "routes", [])
        if isinstance(r, APIRoute):
            found.append(r)
    routes = [r for r in found if r.path.startswith("/v1")]
    spec_paths = {p for p in svc.app.openapi()["paths"] if p.startswith("/v1")}
    assert {r.path for r in routes} == spec_paths and len(routes) >= 25
    for route in routes:
        permission = _permission_of(route)
        assert permission is not None, f"{route.path} checks no role"
        path = (
            route.path.replace("{lead_id}", "nobody")
            .replace("{account_id}", "none")
            .replace("{version}", "999")
            .replace("{job_id}", "job-none")
        )
        for method in route.methods:
            anonymous = svc.client.request(method, path, json={})
            assert anonymous.status_code == 401, (method, path)
            for role in ROLE_NAMES:
                r = svc.client.request(method, path, json={}, headers=svc.auth(role))
                allowed = permission in {p.value for p in ROLES[role]}
                if allowed:
                    assert r.status_code not in (401, 403), (method, path, role, r.text)
                else:
                    assert r.status_code == 403, (method, path, role, r.status_code)
                assert r.status_code < 500, (method, path, role, r.text)


# ----------------------------------------------------------------------------- pacts
def _pact_yaml(version: int, points: int) -> str:
    text = demo_pact_text().replace("version: 1", f"version: {version}", 1)
    return text.replace("points: 20\n", f"points: {points}\n", 1)


def test_pact_lifecycle_over_the_api(tmp_path) -> None:
    with served(f"duckdb://{tmp_path / 'p.duckdb'}") as s:
        yaml_h = {"Content-Type": "application/yaml"}
        assert (
            s.client.post(
                "/v1/pacts", content=_pact_yaml(2, 25), headers={**s.auth("sales"), **yaml_h}
            ).status_code
            == 403
        )
        bad = s.client.post(
            "/v1/pacts", content="pact: x\nversion: [\n", headers={**s.auth("marketing"), **yaml_h}
        )
        assert bad.status_code == 422 and bad.json()["detail"].startswith("pact:3: not valid YAML")
        unknown = _pact_yaml(2, 25).replace("recycle:\n", "recycle:\n  forever: true\n", 1)
        line = unknown.splitlines().index("  forever: true") + 1
        bad = s.client.post("/v1/pacts", content=unknown, headers={**s.auth("marketing"), **yaml_h})
        assert bad.status_code == 422 and f"pact:{line}:" in bad.json()["detail"], bad.json()
        r = s.client.post("/v1/pacts", content=_pact_yaml(2, 25), headers={**s.auth("marketing"), **yaml_h})
        assert r.status_code == 201, r.text
        digest = r.json()["content_hash"]
        diff = s.client.get("/v1/pacts/2/diff", headers=s.auth("viewer")).json()
        assert diff["changed"] and diff["against"].startswith("demo-scoring v1")
        assert s.client.post("/v1/pacts/2/approve", headers=s.auth("marketing")).status_code == 200
        refused = s.client.post("/v1/pacts/2/activate", headers=s.auth("marketing"))
        assert refused.status_code == 409 and "sales" in refused.json()["detail"]
        # An edit is new content: the earlier approval does not carry over.
        r3 = s.client.post("/v1/pacts", content=_pact_yaml(2, 30), headers={**s.auth("marketing"), **yaml_h})
        assert r3.json()["content_hash"] != digest and r3.json()["approvals"] == []
        assert s.client.post(f"/v1/pacts/{digest}/approve", headers=s.auth("sales")).status_code == 200
        job = s.client.post(f"/v1/pacts/{digest}/activate", headers=s.auth("sales"))
        assert job.status_code == 202, job.text
        deadline = time.monotonic() + 120
        while True:
            state = s.client.get(f"/v1/jobs/{job.json()['id']}", headers=s.auth("viewer")).json()
            if state["state"] in ("done", "failed") or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert state["state"] == "done", state
        assert state["progress"] == 1 and state["result"]["leads"] > 0
        assert s.client.get("/readyz").json()["pact"] == "demo-scoring v2"
        queue = s.client.get("/v1/mql-queue?limit=1", headers=s.auth("viewer")).json()["items"]
        assert queue, "the rescore under v2 filled the queue"
        log = s.client.get("/v1/audit?action=pacts.", headers=s.auth("admin")).json()
        assert {"pacts.submit", "pacts.approve.marketing", "pacts.approve.sales", "pacts.activate"} <= {
            e["action"] for e in log
        }


def test_serve_refuses_spark_in_one_sentence() -> None:
    from typer.testing import CliRunner

    from accord.cli.main import app

    r = CliRunner().invoke(app, ["serve", "--url", "spark://local[1]"])
    assert r.exit_code == 2 and "Spark is a batch engine" in r.output and "Traceback" not in r.output


def test_keys_cli_prints_the_key_once_and_revokes(tmp_path) -> None:
    from typer.testing import CliRunner

    from accord.cli.main import app
    from accord.store import connect
    from accord.store.rows import Rows
    from accord.workflows.access import verify

    url = f"duckdb://{tmp_path / 'k.duckdb'}"
    run = CliRunner()
    r = run.invoke(app, ["keys", "create", "--role", "sales", "--name", "head-of-sales", "--url", url])
    assert r.exit_code == 0, r.output
    key = r.output.strip().splitlines()[-1]
    assert key.startswith("acc_") and len(key) > 40
    listed = run.invoke(app, ["keys", "list", "--url", url]).output
    assert "head-of-sales" in listed and key not in listed
    again = run.invoke(app, ["keys", "create", "--role", "sales", "--name", "head-of-sales", "--url", url])
    assert again.exit_code == 4 and "revoke it first" in again.output
    with connect(url) as store:
        rows = Rows(store)
        assert verify(rows, key).role == "sales"
        stored = rows.query("SELECT * FROM api_keys")
        assert key not in json.dumps(stored, default=str)
        rows.close()
    assert run.invoke(app, ["keys", "revoke", "head-of-sales", "--url", url]).exit_code == 0
    with connect(url) as store:
        rows = Rows(store)
        assert verify(rows, key) is None
        rows.close()
    assert run.invoke(app, ["keys", "create", "--role", "boss", "--name", "x", "--url", url]).exit_code == 2


def test_admin_makes_lists_and_revokes_keys_over_the_api(svc: Served) -> None:
    admin = svc.auth("admin")
    made = svc.client.post("/v1/keys", json={"name": "crm-sync", "role": "ingest"}, headers=admin)
    assert made.status_code == 201 and made.json()["key"].startswith("acc_")
    key = made.json()["key"]
    h = {"Authorization": f"Bearer {key}"}
    assert svc.client.post("/v1/accounts", json={"id": "acc-k-1"}, headers=h).status_code == 200
    listed = svc.client.get("/v1/keys", headers=admin).json()
    assert "crm-sync" in {k["name"] for k in listed} and key not in json.dumps(listed)
    assert (
        svc.client.post("/v1/keys", json={"name": "crm-sync", "role": "ingest"}, headers=admin).status_code
        == 409
    )
    assert svc.client.delete("/v1/keys/crm-sync", headers=admin).json()["revoked_at"] is not None
    assert svc.client.post("/v1/accounts", json={"id": "acc-k-2"}, headers=h).status_code == 401
    assert svc.client.delete("/v1/keys/nobody", headers=admin).status_code == 404
    log = svc.client.get("/v1/audit?action=keys.", headers=admin).json()
    assert {("keys.create", "admin-key"), ("keys.revoke", "admin-key")} <= {
        (e["action"], e["actor"]) for e in log
    }


def test_served_connections_answer_without_nagles_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    """uvicorn's shared socket (`--workers N`) has protocol number 0, so asyncio leaves Nagle on."""
    import socket

    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    from accord.service.nodelay import NoDelayHTTP

    listener = socket.socket(socket.AF_INET)  # as uvicorn's Config.bind_socket makes it
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    client = socket.create_connection(listener.getsockname())
    accepted, _ = listener.accept()
    try:
        assert accepted.proto == 0 and accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0

        class Transport:
            def get_extra_info(self, name: str) -> object:
                return accepted if name == "socket" else None

        taken: list[object] = []
        monkeypatch.setattr(AutoHTTPProtocol, "connection_made", lambda self, t: taken.append(t))
        NoDelayHTTP.__new__(NoDelayHTTP).connection_made(Transport())  # type: ignore[arg-type]
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1 and len(taken) == 1
    finally:
        for s in (client, accepted, listener):
            s.close()
