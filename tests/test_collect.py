"""Event collection with the official Segment client pointed at the service: identify, group, track, page."""

from __future__ import annotations

import json

import pytest

from accord.workflows.collect import CollectConfig
from service_kit import live_server, served

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.mark.parametrize("gzip", [False, True], ids=["plain", "gzip"])
def test_the_segment_client_sends_to_accord(tmp_path, gzip: bool) -> None:
    from segment.analytics.client import Client

    with served(f"duckdb://{tmp_path / 'c.duckdb'}") as s, live_server(s.app) as base:
        errors: list[Exception] = []
        client = Client(
            write_key=s.keys["ingest"],
            host=base,
            sync_mode=True,
            gzip=gzip,
            on_error=lambda e, _: errors.append(e),
        )
        client.group(
            "u-seg-1",
            "acc-seg-1",
            {"name": "Segment Co", "industry": "saas", "employees": 250, "website": "https://www.seg.io/x"},
        )
        client.identify(
            "u-seg-1",
            {
                "email": "Ana@Seg.io",
                "title": "VP Marketing",
                "plan": "pro",
                "createdAt": "2026-11-01T09:00:00Z",
            },
        )
        client.track(
            "u-seg-1",
            "Demo Requested",
            {"plan": "pro"},
            context={"campaign": {"source": "google", "medium": "cpc", "name": "brand-q4"}},
            message_id="m-track-1",
            timestamp=__import__("datetime").datetime(2026, 11, 20, 12, 0),
        )
        client.page(
            "u-seg-1",
            "Docs",
            "Pricing",
            {"url": "https://seg.io/pricing", "referrer": "https://www.google.com/"},
            message_id="m-page-1",
        )
        client.page(anonymous_id="anon-1", name="Home", message_id="m-anon-1")
        # A retry of the same message is taken once.
        client.track("u-seg-1", "Demo Requested", {"plan": "pro"}, message_id="m-track-1")
        client.track("u-seg-2", "Webinar Attended", message_id="m-track-2")
        client.flush()
        assert not errors, errors
        rows = s.state.rows
        (lead,) = rows.query("SELECT * FROM leads WHERE id = 'u-seg-1'")
        assert (lead["email"], lead["job_title"], lead["account_id"]) == (
            "ana@seg.io",
            "VP Marketing",
            "acc-seg-1",
        )
        assert json.loads(lead["properties"])["plan"] == "pro"
        (acc,) = rows.query("SELECT * FROM accounts WHERE id = 'acc-seg-1'")
        assert (acc["name"], acc["employees"], acc["domain"]) == ("Segment Co", 250, "seg.io")
        touches = {
            r["id"]: r
            for r in rows.query("SELECT * FROM touchpoints WHERE lead_id IN ('u-seg-1', 'u-seg-2')")
        }
        assert set(touches) == {"seg-m-track-1", "seg-m-page-1", "seg-m-track-2"}
        t = touches["seg-m-track-1"]
        assert (t["touch_type"], t["channel"], t["campaign"], t["team"]) == (
            "demo",
            "paid_search",
            "brand-q4",
            "sales",
        )
        assert (touches["seg-m-page-1"]["touch_type"], touches["seg-m-page-1"]["channel"]) == (
            "web_visit",
            "organic_search",
        )
        assert touches["seg-m-track-2"]["touch_type"] == "webinar"
        # A user first seen in a track is created, and scored.
        assert rows.query("SELECT count(*) AS n FROM lead_scores WHERE lead_id = 'u-seg-2'")[0]["n"] >= 1
        assert rows.query("SELECT count(*) AS n FROM ingest_messages WHERE message_id = 'm-track-1'") == [
            {"n": 1}
        ]


def test_collection_needs_an_ingest_key_and_counts_add_up(tmp_path) -> None:
    import base64

    with served(f"duckdb://{tmp_path / 'c2.duckdb'}") as s:

        def basic(role: str) -> dict[str, str]:
            return {"Authorization": "Basic " + base64.b64encode(f"{s.keys[role]}:".encode()).decode()}

        batch = {
            "batch": [
                {
                    "type": "track",
                    "userId": "u-1",
                    "event": "Form Submitted",
                    "messageId": "a1",
                    "timestamp": "2026-11-20T00:00:00Z",
                },
                {"type": "track", "userId": "u-1", "event": "Form Submitted", "messageId": "a1"},
                {"type": "track", "userId": "u-1", "messageId": "a2"},
                {"type": "page", "anonymousId": "x", "messageId": "a3"},
                {"type": "track", "userId": "u-1", "event": "Ad Clicked"},
                {"type": "screen?", "userId": "u-1", "messageId": "a4"},
            ]
        }
        assert s.client.post("/v1/batch", json=batch).status_code == 401
        assert s.client.post("/v1/batch", json=batch, headers=basic("viewer")).status_code == 403
        r = s.client.post("/v1/batch", json=batch, headers=basic("ingest"))
        assert r.status_code == 200, r.text
        got = r.json()
        assert got["received"] == 6 and got["duplicates"] == 1 and got["skipped"] == 1
        assert {x["field"] for x in got["rejected"]} == {"event", "messageId", "type"}
        assert got["accepted"] + got["duplicates"] + got["skipped"] + len(got["rejected"]) == got["received"]
        again = s.client.post("/v1/batch", json=batch, headers=basic("ingest")).json()
        assert (again["duplicates"], again["skipped"], again["accepted"]) == (3, 0, 0)  # a1 twice, a3


def test_channel_defaults() -> None:
    c = CollectConfig()
    msg = lambda **utm: {"context": {"campaign": utm}}  # noqa: E731
    assert c.channel(msg(medium="cpc", source="linkedin")) == "paid_social"
    assert c.channel(msg(medium="cpc", source="google")) == "paid_search"
    assert c.channel(msg(medium="email")) == "email"
    assert c.channel(msg(medium="Podcast Ads")) == "podcast_ads"
    assert c.channel({"context": {"page": {"referrer": "https://duckduckgo.com/"}}}) == "organic_search"
    assert c.channel({"context": {"page": {"referrer": "https://news.ycombinator.com/"}}}) == "referral"
    assert c.channel({}) == "direct"
    assert c.touch_type("Whitepaper Downloaded") == "content_download"
    assert c.touch_type("Trial Started") == "trial_started"
