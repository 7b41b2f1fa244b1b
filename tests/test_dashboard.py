"""The dashboard: sign-in and CSRF, each page's figures against the use cases, kept insights, the browser.

One DuckDB store is served for the module by a real uvicorn server: a small generated funnel
scored with the demo pact, the review kept, a draft waiting for approval, a key per role.
"""

from __future__ import annotations

import html as htmllib
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from accord.model.vocab import Conversion
from accord.pact import registry
from accord.store import connect
from accord.store.rows import Rows
from accord.workflows.access import prepare
from accord.workflows.insights import REVIEW, credit_key, keep_review, kept
from accord.workflows.live import now
from accord.workflows.review import CreditSection, Review, ReviewSpec, review
from service_kit import drop_schema, engine_url, fill, live_server

SHOTS = Path(__file__).resolve().parents[1] / "build" / "screenshots" / "dashboard"
PAGES = ("/", "/queue", "/scores", "/attribution", "/pact", "/feedback")


@dataclass
class Site:
    base: str
    keys: dict[str, str]
    url: str
    app: Any

    @property
    def state(self) -> Any:
        return self.app.state.accord

    def signed_in(self, role: str) -> httpx.Client:
        c = httpx.Client(base_url=self.base, timeout=60)
        r = login(c, self.keys[role])
        assert r.status_code == 303, r.text
        return c

    def csrf(self, c: httpx.Client) -> str:
        found = re.search(r'<meta name="csrf-token" content="([^"]+)"', c.get("/queue").text)
        assert found
        return found.group(1)

    def rows(self, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        return self.state.rows.query(sql, params or [])


def login(c: httpx.Client, key: str, target: str = "/") -> httpx.Response:
    """Sign in as the form does: fetch it (its token and cookie), then post the key with the token."""
    form = c.get("/login").text
    token = re.search(r'name="token" value="([^"]+)"', form)
    assert token is not None
    return c.post("/login", data={"key": key, "next": target, "token": token.group(1)})


def _draft_text() -> str:
    from accord.demo import demo_pact_text

    text = demo_pact_text()
    assert "mql: {min_score: 60" in text
    assert "\nversion: 1\n" in text
    return text.replace("mql: {min_score: 60", "mql: {min_score: 55").replace(
        "\nversion: 1\n", "\nversion: 2\n"
    )


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)], scope="module")
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    url = engine_url(request.param, tmp_path_factory.mktemp("dash"))
    try:
        yield from _serve(url)
    finally:
        if url.startswith("postgres"):
            drop_schema(url)


def _serve(url: str) -> Iterator[Site]:
    from accord.service.app import create_app
    from accord.service.settings import Settings

    keys = fill(url)
    with connect(url) as store:
        registry.submit(store, _draft_text(), by="head-of-demand-gen", where="draft.yaml")
        r = review(store, ReviewSpec(capacity=40))
        rows = Rows(store)
        try:
            prepare(rows)
            keep_review(rows, r, registry.active_pact(store).content_hash, 1.5, now())  # type: ignore[union-attr]
        finally:
            rows.close()
    app = create_app(Settings(url=url, capacity=40))
    with live_server(app) as base:
        yield Site(base, keys, url, app)
        deadline = time.monotonic() + 60  # jobs the pages started finish before the store closes
        while app.state.accord.rows.query("SELECT id FROM jobs WHERE state IN ('queued', 'running')"):
            assert time.monotonic() < deadline
            time.sleep(0.2)


def _text(page: str) -> str:
    """The page's text with tags dropped and entities decoded (what a reader sees, roughly)."""
    return htmllib.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


# ------------------------------------------------------------------------------ sign-in, CSRF
def test_pages_send_the_signed_out_to_login_and_a_key_signs_in(site: Site) -> None:
    anon = httpx.Client(base_url=site.base)
    r = anon.get("/queue?grade=A")
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=/queue%3Fgrade%3DA"
    bad = login(anon, "acc_not-a-key")
    assert bad.status_code == 401 and "unknown or revoked" in bad.text
    # A sign-in form posted from elsewhere (no token of this form's) is refused: no login CSRF.
    forged = httpx.Client(base_url=site.base).post("/login", data={"key": site.keys["viewer"], "next": "/"})
    assert forged.status_code == 403 and "accord_session" not in forged.headers.get("set-cookie", "")
    ok = login(anon, site.keys["viewer"], "/queue?grade=A")
    assert ok.status_code == 303 and ok.headers["location"] == "/queue?grade=A"
    cookie = ok.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
    token = anon.cookies["accord_session"]
    # The store keeps the token's hash only.
    assert site.rows("SELECT count(*) AS n FROM sessions WHERE token_hash = ?", [token]) == [{"n": 0}]
    page = anon.get("/")
    assert page.status_code == 200
    assert "Signed in as" in page.text and "viewer-key" in page.text and ">viewer<" in page.text
    # An open redirect is not possible: a foreign target goes home.
    evil = login(httpx.Client(base_url=site.base), site.keys["viewer"], "//evil.example")
    assert evil.headers["location"] == "/"


def test_writes_with_the_session_need_the_csrf_token_and_the_role(site: Site) -> None:
    sales = site.signed_in("sales")
    token = site.csrf(sales)
    lead = site.state.live.queue(limit=3).items[2].lead_id
    path = f"/v1/leads/{lead}/feedback"
    forged = sales.post(path, json={"action": "accept"})
    assert forged.status_code == 403 and "X-CSRF-Token" in forged.json()["detail"]
    wrong = sales.post(path, json={"action": "accept"}, headers={"X-CSRF-Token": token[:-2] + "xx"})
    assert wrong.status_code == 403
    viewer = site.signed_in("viewer")
    denied = viewer.post(path, json={"action": "accept"}, headers={"X-CSRF-Token": site.csrf(viewer)})
    assert denied.status_code == 403 and "viewer role may not" in denied.json()["detail"]
    assert site.rows(
        "SELECT count(*) AS n FROM feedback WHERE lead_id = ? AND actor = 'sales-key'", [lead]
    ) == [{"n": 0}]
    done = sales.post(path, json={"action": "accept"}, headers={"X-CSRF-Token": token})
    assert done.status_code == 200 and done.json()["to_stage"] == "sal"
    # Reading through the session needs no token.
    assert sales.get(f"/v1/leads/{lead}").json()["stage"] == "sal"


def test_signing_out_and_revoking_the_key_end_the_session(site: Site) -> None:
    from accord.workflows.access import create_key, revoke_key

    key = create_key(site.state.rows, "temp-sales", "sales", now=now()).key
    c = httpx.Client(base_url=site.base)
    assert login(c, key).status_code == 303
    assert c.get("/").status_code == 200
    revoke_key(site.state.rows, "temp-sales", now=now())
    time.sleep(2.1)  # a session is trusted for KEY_TTL seconds, like a key
    assert c.get("/").status_code == 303
    other = site.signed_in("marketing")
    csrf = site.csrf(other)
    assert other.post("/logout", data={"csrf": "forged"}).status_code == 403
    out = other.post("/logout", data={"csrf": csrf})
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert other.get("/").status_code == 303
    assert site.rows("SELECT count(*) AS n FROM audit_log WHERE action = 'sessions.sign_out'")[0]["n"] >= 1


# ------------------------------------------------------------------------------ the pages' figures
def test_overview_counts_this_months_mqls_against_capacity(site: Site) -> None:
    page = site.signed_in("viewer").get("/").text
    latest = site.rows("SELECT max(changed_at) AS m FROM stage_changes WHERE to_stage = 'mql'")[0]["m"]
    month = latest.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    n = site.rows(
        "SELECT count(DISTINCT lead_id) AS n FROM stage_changes WHERE to_stage = 'mql' AND changed_at >= ?",
        [month],
    )[0]["n"]
    text = _text(page)
    current = month == now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    where = f"this month so far ({month:%Y-%m})" if current else f"the data's last month, {month:%Y-%m}"
    assert f"{n:,} new MQLs {where} of a capacity of 40" in text
    assert f"{n / 40:.0%} of sales capacity used" in text
    r = kept(site.state.rows, REVIEW, Review)
    assert r is not None
    for said in r.value.funnel.says:
        assert said in text
    assert page.count('class="chart"') == 4  # MQLs a month, the stages, by month, by source


def test_queue_rows_are_the_apis_queue_with_each_sentence(site: Site) -> None:
    c = site.signed_in("viewer")
    page = c.get("/queue?grade=B").text
    api = site.state.live.queue(grade="B", limit=25)
    shown = re.findall(r'<tr id="row-([^"]+)" data-lead', page)
    assert shown == [r.lead_id for r in api.items] and shown
    said = site.state.live.sentences([api.items[0].lead_id], api.items[0].scored_at)[api.items[0].lead_id]
    assert htmllib.escape(said, quote=False) in page
    assert said.startswith(f"{api.items[0].grade}{api.items[0].band} MQL ({api.items[0].score:.0f})")
    assert "data-action" not in page  # a viewer gets no verdict buttons
    sales = site.signed_in("sales").get("/queue?grade=B").text
    assert sales.count('data-action="reject"') == len(shown)
    for reason in site.state.live.active().recycle.reasons:
        assert f"<option>{htmllib.escape(reason)}</option>" in sales
    nxt = re.search(r'href="(/queue\?[^"]*cursor=[^"]+)"', page)
    if api.next_cursor:
        assert nxt is not None
        second = c.get(htmllib.unescape(nxt.group(1))).text
        assert re.findall(r'<tr id="row-([^"]+)" data-lead', second)[0] not in shown


def test_lead_page_explains_every_rule_and_lists_touches_and_colleagues(site: Site) -> None:
    lead = site.state.live.queue(limit=1).items[0].lead_id
    page = site.signed_in("viewer").get(f"/leads/{lead}").text
    view = site.state.live.lead(lead)
    text = _text(page)
    for rule in view.rules:
        assert (
            f"{rule.rule_id} {htmllib.unescape(htmllib.escape(rule.description))} {rule.points:+.1f}" in text
        )
    touches = site.rows("SELECT count(*) AS n FROM touchpoints WHERE lead_id = ?", [lead])[0]["n"]
    spec = re.search(r'<script type="application/json" id="spec-touches">(.*?)</script>', page, re.S)
    assert spec is not None
    import json

    data = json.loads(spec.group(1))
    rows = next(iter(data["datasets"].values()))
    assert len(rows) == touches
    if view.account_id:
        people = site.state.live.account(view.account_id).people
        for p in people:
            assert p.lead_id in page


def test_scores_page_buckets_add_up_to_every_scored_lead(site: Site) -> None:
    from accord.workflows import dashboard as d

    v = d.scores(site.state.rows, site.state.live, now())
    leads = site.rows("SELECT count(DISTINCT lead_id) AS n FROM lead_scores")[0]["n"]
    assert v.leads == leads == sum(b.leads for b in v.buckets) == sum(g.leads for g in v.grid)
    assert all(0 <= b.low <= 90 for b in v.buckets)
    mqls = site.rows(
        "SELECT count(*) AS n FROM (SELECT lead_id, is_mql, row_number() OVER (PARTITION BY lead_id ORDER BY as_of DESC) rn "
        "FROM lead_scores) s WHERE rn = 1 AND is_mql"
    )[0]["n"]
    assert sum(b.mqls for b in v.buckets) == mqls
    page = site.signed_in("viewer").get("/scores").text
    assert f"{leads:,} leads scored" in page
    assert page.count('class="chart"') == 5


def test_attribution_page_shows_the_kept_credit_and_computes_a_new_choice(site: Site) -> None:
    from accord.workflows.review import credit_section

    c = site.signed_in("viewer")
    page = c.get("/attribution?model=linear").text
    credit = kept(site.state.rows, credit_key(Conversion.WON, None, "channel"), CreditSection)
    assert credit is not None
    linear = {r.channel: r.value for r in credit.value.result.credit if r.model == "linear"}
    text = _text(page)
    for channel, value in linear.items():
        assert f"{channel} " in text and f"{value:,.0f}" in text
    # A choice nobody asked for yet starts a job; once it is done the page shows its figures.
    first = c.get("/attribution?conversion=opportunity&lookback=90&by=touch_type").text
    job = re.search(r'data-job="(job-[0-9a-f]+)"', first)
    assert job is not None
    deadline = time.monotonic() + 60
    while site.rows("SELECT state FROM jobs WHERE id = ?", [job.group(1)])[0]["state"] not in (
        "done",
        "failed",
    ):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert site.rows("SELECT state FROM jobs WHERE id = ?", [job.group(1)])[0]["state"] == "done"
    shown = kept(site.state.rows, credit_key(Conversion.OPPORTUNITY, 90, "touch_type"), CreditSection)
    assert shown is not None and shown.value.by == "touch_type" and shown.value.lookback_days == 90
    own = site.state.store.sibling()
    try:
        direct = credit_section(
            own, Conversion.OPPORTUNITY, None, lambda *_: None, lookback_days=90, by="touch_type"
        )
    finally:
        own.close()
    assert {(r.model, r.group): round(r.conversions, 6) for r in shown.value.result.credit} == {
        (r.model, r.group): round(r.conversions, 6) for r in direct.result.credit
    }
    again = c.get("/attribution?conversion=opportunity&lookback=90&by=touch_type").text
    assert 'data-job=""' in again and "Credit by touch type under markov" in again


def test_pact_page_shows_the_draft_diff_and_why_it_cannot_be_activated(site: Site) -> None:
    page = site.signed_in("marketing").get("/pact").text
    text = _text(page)
    assert "In force: demo-scoring v1" in text and "Draft: demo-scoring v2" in text
    assert "Activation waits: marketing and sales have not approved it yet" in text
    # The one change, listed as the store's diff words it.
    from accord.workflows.pacts import diff_with_active

    diff = diff_with_active(site.state.store, "demo-scoring@2")
    assert diff.added == diff.removed == diff.changed == []
    assert len(diff.thresholds) == 1 and "55" in diff.thresholds[0]
    assert f"Thresholds moved (1) {diff.thresholds[0]}" in text
    assert 'data-pact="approve"' in page and 'data-pact="activate"' in page and 'aria-disabled="true"' in page
    viewer = site.signed_in("viewer").get("/pact").text
    assert "data-pact" not in viewer


def test_feedback_page_lists_the_contradicted_rules(site: Site) -> None:
    r = kept(site.state.rows, REVIEW, Review)
    assert r is not None and r.value.feedback is not None
    page = site.signed_in("viewer").get("/feedback").text
    for rule in r.value.feedback.rules:
        assert f"<code>{rule.rule_id}</code>" in page
    assert page.count('class="bad-row"') == sum(x.disagrees for x in r.value.feedback.rules)
    for rep in r.value.feedback.by_rep:
        assert f"<td>{rep.key}</td>" in page


def test_report_downloads_the_kept_review(site: Site) -> None:
    r = site.signed_in("viewer").get("/report")
    assert r.status_code == 200
    assert r.headers["content-disposition"].startswith('attachment; filename="accord-review-')
    assert "<title>Quarterly review" in r.text and "Content-Security-Policy" in r.text


def test_pages_fetch_nothing_outside_the_service(site: Site) -> None:
    c = site.signed_in("viewer")
    for path in PAGES:
        r = c.get(path)
        assert r.status_code == 200, path
        assert "default-src 'none'" in r.headers["content-security-policy"]
        for ref in re.findall(r'(?:src|href)="([^"]+)"', r.text):
            assert ref.startswith(("/", "#", "data:")), (path, ref)
    js = c.get("/static/vendor/vega-6.2.0.min.js")
    assert js.status_code == 200 and len(js.content) > 400_000 and "max-age" in js.headers["cache-control"]


def test_an_unknown_lead_is_a_page_that_says_so(site: Site) -> None:
    r = site.signed_in("viewer").get("/leads/no-such-lead")
    assert r.status_code == 404 and "no lead 'no-such-lead'" in htmllib.unescape(r.text)


def test_a_new_active_pact_makes_the_kept_review_stale(site: Site) -> None:
    from datetime import timedelta

    r = kept(site.state.rows, REVIEW, Review)
    assert r is not None
    assert not r.stale(site.state.live.active().content_hash, now())
    assert r.stale("sha256:another", now())
    assert r.stale(site.state.live.active().content_hash, now() + timedelta(hours=25))


def test_a_failed_refresh_is_shown_and_not_retried_at_once(site: Site) -> None:
    from datetime import timedelta

    from accord.workflows.dashboard import RETRY, freshness
    from accord.workflows.jobs import start_job

    def broken(_step: Any) -> dict[str, Any]:
        raise RuntimeError("the store went away")

    key = "credit:won:all:campaign"
    job = start_job(site.state.rows, f"insight:{key}", "attributing", broken, by="test", now=now)
    deadline = time.monotonic() + 10
    while site.rows("SELECT state FROM jobs WHERE id = ?", [job.id])[0]["state"] != "failed":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    f = freshness(site.state.rows, key, None, None, now())
    assert f.stale and f.running is None and f.failed is not None and not f.due
    assert f.failed.message == "the store went away"
    later = freshness(site.state.rows, key, None, None, now() + RETRY + timedelta(seconds=1))
    assert later.due
    page = site.signed_in("viewer").get("/attribution?by=campaign").text
    assert "failed: the store went away" in page and 'data-job=""' in page


def test_stopping_the_service_waits_for_a_job_inside_a_query(site: Site) -> None:
    """The service closes the store once its jobs stop: a job inside a query when told to stop finishes
    the query, stops at its next progress report and says so, all before stop_all returns (a CI run
    crashed when the store closed under a review still reading it)."""
    import threading

    from accord.workflows import jobs

    inside = threading.Event()

    def slow(step: Any) -> dict[str, Any]:
        step(0.1, "starting")
        inside.set()
        time.sleep(1.0)  # a query the store is still answering
        step(0.5, "next")
        return {"message": "finished"}

    job = jobs.start_job(site.state.rows, "insight:slow", "slow", slow, by="test", now=now)
    assert inside.wait(10)
    started = time.monotonic()
    jobs.stop_all()
    assert time.monotonic() - started >= 0.5
    assert job.id not in jobs._RUNNING
    row = site.rows("SELECT state, message FROM jobs WHERE id = ?", [job.id])[0]
    assert (row["state"], row["message"]) == ("failed", "the service stopped while it ran")


# ------------------------------------------------------------------------------ the browser
@contextmanager
def _chromium() -> Iterator[Any]:
    """Debian's Chromium under Playwright (skipped, or failed under ACCORD_REQUIRE_BROWSER, without it)."""
    if not Path("/usr/bin/chromium").exists():
        if os.environ.get("ACCORD_REQUIRE_BROWSER"):
            pytest.fail("Debian's chromium is not installed, and ACCORD_REQUIRE_BROWSER asks for it")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright import sync_api as playwright

    from accord.report.render import CHROMIUM_FLAGS

    SHOTS.mkdir(parents=True, exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=list(CHROMIUM_FLAGS))
        try:
            yield browser
        finally:
            browser.close()


class Watch:
    """Console errors and failed or refused requests of a page."""

    def __init__(self, page: Any) -> None:
        self.errors: list[str] = []
        self.failed: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("requestfailed", lambda r: self.failed.append(r.url))
        page.on("response", lambda r: self.failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)


def _sign_in(page: Any, site: Site, role: str) -> None:
    page.goto(site.base + "/")
    assert page.url.startswith(site.base + "/login")
    page.get_by_label("API key").fill(site.keys[role])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(site.base + "/")


def _charts_drawn(page: Any) -> int:
    page.wait_for_function(
        "document.querySelectorAll('.chart[data-spec]').length === "
        "document.querySelectorAll('.chart[data-drawn]').length",
        timeout=15_000,
    )
    charts = page.locator(".chart[data-spec]")
    for i in range(charts.count()):
        chart = charts.nth(i)
        assert chart.get_attribute("role") == "img" and chart.get_attribute("aria-label")
        marks = chart.locator(
            "svg g.role-mark path, svg g.role-mark rect, svg g.role-mark text, svg g.role-mark line"
        )
        assert marks.count() > 0, chart.get_attribute("data-spec")
    return int(charts.count())


def _accessible(page: Any) -> None:
    """Every control has a name, every table has headers."""
    unnamed = page.evaluate(
        """() => Array.from(document.querySelectorAll('input:not([type=hidden]), select, button')).filter(el => {
            const id = el.id && document.querySelector(`label[for="${el.id}"]`);
            return !(id || el.closest('label') || el.getAttribute('aria-label') || (el.textContent || '').trim());
        }).map(el => el.outerHTML.slice(0, 80))"""
    )
    assert unnamed == []
    headless = page.evaluate(
        "() => Array.from(document.querySelectorAll('table')).filter(t => !t.querySelector('th')).length"
    )
    assert headless == 0


def test_every_page_loads_clean_with_charts_in_the_browser(site: Site) -> None:
    with _chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        watch = Watch(page)
        _sign_in(page, site, "viewer")
        drawn = {}
        for path in PAGES:
            page.goto(site.base + path)
            page.wait_for_load_state("load")
            drawn[path] = _charts_drawn(page)
            _accessible(page)
            assert page.locator("[data-action], [data-pact]").count() == 0  # a viewer sees no write buttons
            page.screenshot(path=str(SHOTS / f"viewer{path.replace('/', '-') or '-'}.png"), full_page=True)
        lead = site.state.live.queue(limit=1).items[0].lead_id
        page.goto(f"{site.base}/leads/{lead}")
        drawn["lead"] = _charts_drawn(page)
        _accessible(page)
        page.screenshot(path=str(SHOTS / "viewer-lead.png"), full_page=True)
        assert watch.errors == [] and watch.failed == []
        assert drawn == {
            "/": 4,
            "/queue": 0,
            "/scores": 5,
            "/attribution": 3,
            "/pact": 1,
            "/feedback": 2,
            "lead": 2,
        }
        # A forged write from the page: no CSRF token is 403, and so is the viewer's role with one.
        forged = page.evaluate(
            """async (lead) => {
                const a = await fetch(`/v1/leads/${lead}/feedback`, {method: 'POST', headers: {'Content-Type': 'application/json'}, body: '{"action": "accept"}'});
                const token = document.querySelector('meta[name=csrf-token]').content;
                const b = await fetch(`/v1/leads/${lead}/feedback`, {method: 'POST', headers: {'Content-Type': 'application/json', 'X-CSRF-Token': token}, body: '{"action": "accept"}'});
                return [a.status, b.status];
            }""",
            lead,
        )
        assert forged == [403, 403]
        assert [f.split()[0] for f in watch.failed] == ["403", "403"]  # the two refusals, nothing else


def test_sales_accepts_rejects_and_recycles_from_the_queue(site: Site) -> None:
    with _chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        watch = Watch(page)
        _sign_in(page, site, "sales")
        page.goto(site.base + "/queue")
        ids = page.locator("table.queue tbody tr[data-lead]").evaluate_all(
            "rows => rows.map(r => r.dataset.lead)"
        )
        assert len(ids) >= 3
        accept, reject, recycle = ids[0], ids[1], ids[2]
        reason = site.state.live.active().recycle.reasons[0]
        # Accept by keyboard: focus the button and press Enter.
        page.locator(f'#row-{accept} button[data-action="accept"]').focus()
        page.keyboard.press("Enter")
        page.wait_for_selector(f"#row-{accept}.done-row")
        # Reject without a reason is refused on the page, then given one.
        page.locator(f'#row-{reject} button[data-action="reject"]').click()
        assert "Choose a reason" in page.locator(f"#row-{reject} .done").inner_text()
        page.locator(f"#row-{reject} select.reason").select_option(reason)
        page.locator(f'#row-{reject} button[data-action="reject"]').click()
        page.wait_for_selector(f"#row-{reject}.done-row")
        page.locator(f"#row-{recycle} select.reason").select_option(reason)
        page.locator(f'#row-{recycle} button[data-action="recycle"]').click()
        page.wait_for_selector(f"#row-{recycle}.done-row")
        assert page.locator(f"#row-{accept} .done").inner_text() == "Accepted: now SAL"
        assert page.locator(f"#row-{reject} .done").inner_text().startswith("Rejected: now")
        page.screenshot(path=str(SHOTS / "sales-queue-after-verdicts.png"), full_page=False)
        assert watch.errors == [] and watch.failed == []
    live = site.state.live
    assert live.lead(accept).stage == "sal"
    assert live.lead(reject).stage == "recycled" or live.lead(reject).stage != "mql"
    assert live.lead(recycle).stage != "mql"
    for lead, action in ((accept, "accept"), (reject, "reject"), (recycle, "recycle")):
        row = site.rows(
            "SELECT action, reason, actor FROM feedback WHERE lead_id = ? ORDER BY given_at DESC LIMIT 1",
            [lead],
        )[0]
        assert row["action"] == action and row["actor"] == "sales-key"
        assert row["reason"] == (None if action == "accept" else reason)
        audit = site.rows(
            "SELECT actor, role FROM audit_log WHERE target = ? AND action LIKE 'feedback%'", [lead]
        )
        assert audit and audit[-1] == {"actor": "sales-key", "role": "sales"}


def test_both_teams_approve_and_activate_from_the_page(site: Site) -> None:
    with _chromium() as browser:
        marketing = browser.new_context().new_page()
        _sign_in(marketing, site, "marketing")
        marketing.goto(site.base + "/pact")
        # Activation is refused on the page, with the reason, before both teams approved.
        marketing.get_by_role("button", name="Activate").focus()  # aria-disabled: by keyboard
        marketing.keyboard.press("Enter")
        assert (
            "Not activated: marketing and sales have not approved it yet"
            in marketing.locator("section.draft .done").inner_text()
        )
        marketing.get_by_role("button", name="Approve for marketing").click()
        marketing.wait_for_load_state("load")
        marketing.wait_for_function(
            "document.body.innerText.includes('Activation waits: sales has not approved it yet')"
        )
        sales = browser.new_context().new_page()
        _sign_in(sales, site, "sales")
        sales.goto(site.base + "/pact")
        sales.get_by_role("button", name="Approve for sales").click()
        sales.wait_for_function("!document.body.innerText.includes('Activation waits')")
        assert sales.get_by_role("button", name="Activate").get_attribute("aria-disabled") is None
        sales.get_by_role("button", name="Activate").click()
        sales.wait_for_function(
            "document.body.innerText.includes('In force: demo-scoring v2')", timeout=60_000
        )
        sales.screenshot(path=str(SHOTS / "sales-pact-activated.png"), full_page=True)
    active = site.state.live.active()
    assert active.version == 2 and active.definitions.mql.min_score == 55
    signed = site.rows(
        "SELECT team, approved_by FROM pact_approvals WHERE content_hash = ? ORDER BY team",
        [active.content_hash],
    )
    assert [(r["team"], r["approved_by"]) for r in signed] == [
        ("marketing", "marketing-key"),
        ("sales", "sales-key"),
    ]
