"""The quarterly review: hand-computed funnel, pact words and paths, and the report's figures."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator
from datetime import datetime
from html import unescape
from pathlib import Path

import pyarrow as pa
import pytest

from accord.demo import demo_pact, demo_pact_text, sign_demo_pact
from accord.evaluation.backtest import History
from accord.evaluation.funnel import funnel
from accord.model.tables import TABLES
from accord.store import Store, connect


def _write(store: Store, name: str, rows: list[dict]) -> None:
    spec = TABLES[name]
    store.write_arrow(name, pa.Table.from_pylist(rows, schema=spec.schema.to_pyarrow()), schema=spec.schema)


def d(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _history_store(store: Store) -> None:
    _write(
        store,
        "leads",
        [
            {"id": "L1", "created_at": d("2026-01-05"), "source": "web"},
            {"id": "L2", "created_at": d("2026-01-20"), "source": "web"},
            {"id": "L3", "created_at": d("2026-02-03"), "source": "event"},
            {"id": "L4", "created_at": d("2026-02-15"), "source": "event"},
            {"id": "L5", "created_at": d("2025-12-20"), "source": "web"},  # before the period
        ],
    )
    moves = [
        ("L1", "mql", "2026-01-10"),
        ("L1", "sal", "2026-01-12"),
        ("L1", "sql", "2026-01-20"),
        ("L2", "mql", "2026-02-01"),
        ("L4", "mql", "2026-02-20"),
        ("L4", "sal", "2026-02-22"),
        ("L5", "mql", "2026-01-02"),
    ]
    _write(
        store,
        "stage_changes",
        [
            {"lead_id": lid, "from_stage": "lead", "to_stage": to, "changed_at": d(at)}
            for lid, to, at in moves
        ],
    )
    _write(
        store,
        "opportunities",
        [
            {
                "id": "O1",
                "primary_lead_id": "L1",
                "created_at": d("2026-01-25"),
                "closed_at": d("2026-02-27"),
                "amount": 100.0,
                "is_won": True,
            },
            {
                "id": "O2",
                "primary_lead_id": "L3",
                "created_at": d("2026-02-10"),
                "closed_at": d("2026-03-15"),
                "amount": 50.0,
                "is_won": False,
            },
            {
                "id": "O3",
                "primary_lead_id": None,
                "created_at": d("2026-02-01"),
                "closed_at": d("2026-02-25"),
                "amount": 70.0,
                "is_won": True,
            },
        ],
    )
    _write(store, "touchpoints", [])
    _write(store, "feedback", [])


def test_funnel_of_a_hand_made_history(store: Store) -> None:
    _history_store(store)
    f = funnel(store, History.read(store), d("2026-01-01"), d("2026-03-01"))
    steps = {s.stage: s for s in f.stages}
    assert [s.stage for s in f.stages] == ["lead", "mql", "sal", "sql", "opportunity", "won"]
    assert [steps[s].leads for s in steps] == [4, 3, 2, 1, 2, 1]
    # Of the 4 leads 3 reached MQL (5, 12 and 5 days): median 5.
    assert steps["mql"].from_previous == pytest.approx(3 / 4)
    assert steps["mql"].median_days_from_previous == pytest.approx(5)
    assert steps["sal"].from_previous == pytest.approx(2 / 3)
    assert steps["sal"].median_days_from_previous == pytest.approx(2)
    assert steps["sql"].from_previous == pytest.approx(1 / 2)
    assert steps["opportunity"].from_previous == pytest.approx(1.0)  # L3's opportunity skipped SQL
    assert steps["opportunity"].median_days_from_previous == pytest.approx(5)
    assert steps["won"].from_previous == pytest.approx(1 / 2)
    assert steps["won"].median_days_from_previous == pytest.approx(33)
    by_source = {r.key: r for r in f.by_source}
    assert (by_source["web"].leads, by_source["web"].mql, by_source["web"].won) == (2, 2, 1)
    assert by_source["web"].mql_to_opportunity == pytest.approx(0.5)
    assert (by_source["event"].mql, by_source["event"].opportunity, by_source["event"].sql) == (1, 1, 0)
    assert by_source["event"].mql_to_opportunity == pytest.approx(0.0)  # L4 never got one
    assert [(r.key, r.leads, r.won) for r in f.by_month] == [("2026-01", 2, 1), ("2026-02", 2, 0)]
    # Deals are the period's, with or without a lead: O1, O2 and O3 opened; O1 and O3 won.
    assert (f.opportunities_opened, f.pipeline, f.deals_won, f.revenue) == (3, 220.0, 2, 170.0)


def test_the_pact_in_words() -> None:
    from accord.pact.words import pact_words

    w = pact_words(demo_pact())
    by_id = {r.id: r.words for r in w.rules}
    assert (
        by_id["senior-buyer"]
        == "+25 points when the lead's seniority is c_level or vp (C-level or VP: can sign)."
    )
    assert by_id["tiny-company"] == "-10 points when the account's employees is at most 19."
    assert by_id["webinar"] == "+15 points per webinar, at most 2 every 30 days."
    assert by_id["event"].endswith("; each counts x1 up to 30 days, x0.5 up to 90 days, then nothing.")
    assert w.definitions["MQL"] == "a lead with a score of at least 60 and fit grade A, B or C."
    assert len(w.rules) == len(demo_pact().model("default").fit.rules) + len(
        demo_pact().model("default").engagement.rules
    )


def test_top_paths_fold_repeats_and_count_conversions() -> None:
    import pandas as pd

    from accord.attribution.inputs import journeys_from_frame
    from accord.attribution.paths import fold, top_paths

    assert fold(["email", "email", "demo"]) == "email x2 > demo"
    assert fold(["a", "b", "c", "d", "e"]) == "a > ... > e"
    frame = pd.DataFrame(
        {
            "journey_id": ["j1", "j1", "j2", "j2", "j3", "j4"],
            "channel": ["email", "demo", "email", "demo", "ads", "ads"],
            "occurred_at": pd.to_datetime(["2026-01-01", "2026-01-02"] * 2 + ["2026-01-01"] * 2),
            "converted": [True, True, True, True, True, False],
            "value": [10.0, 10.0, 5.0, 5.0, 7.0, 0.0],
        }
    )
    with journeys_from_frame(frame) as j:
        paths = top_paths(j, 5)
    assert [(p.path, p.journeys, p.conversions, p.value) for p in paths] == [
        ("email > demo", 2, 2.0, 15.0),
        ("ads", 1, 1.0, 7.0),
    ]


# ----------------------------------------------------------------------------- the whole review
@pytest.fixture(scope="module")
def reviewed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[object, str, Path]]:
    """A generated funnel with the demo pact active and a draft waiting, reviewed and rendered."""
    from accord.pact import registry
    from accord.report.render import write_report
    from accord.synth import generate, store_generated
    from accord.workflows.review import ReviewSpec, review

    folder = tmp_path_factory.mktemp("review")
    gen = generate(leads=1500, seed=11, touches_per_lead=6)
    with connect(f"duckdb://{folder / 'accord.duckdb'}") as store:
        store_generated(gen, store)
        sign_demo_pact(store)
        draft = demo_pact_text().replace("version: 1", "version: 2").replace("points: 25", "points: 35", 1)
        registry.submit(store, draft, by="analyst", where="draft.yaml")
        r = review(store, ReviewSpec(capacity=40))
    out = folder / "review.html"
    write_report(r, out, png=folder / "png")
    yield r, out.read_text(encoding="utf-8"), folder


def _text(html: str) -> str:
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


def test_the_review_figures_come_from_the_store(reviewed: tuple) -> None:
    r, _, _ = reviewed
    s = r.summary
    # The summary's volumes are the funnel's.
    assert s.leads == r.funnel.report.stages[0].leads > 0
    assert s.mqls == next(x.leads for x in r.funnel.report.stages if x.stage == "mql")
    assert s.pact == "demo-scoring v1"
    assert {a.team for a in s.approvals} == {"marketing", "sales"}
    assert len(s.findings) == 3
    # The draft waiting for approval is the proposal; only the senior-buyer rule changed.
    assert r.proposal is not None and r.proposal.draft == "demo-scoring v2"
    assert r.proposal.changes == ["Changed: default.fit rule senior-buyer: points 25 -> 35"]
    # Credit sums to the conversions' value under every model.
    total = r.credit.result.journeys["value"]
    for model in r.credit.result.models:
        credited = sum(c.value for c in r.credit.result.credit if c.model == model)
        assert math.isclose(credited, total, rel_tol=1e-6), model
    assert r.feedback is not None and r.feedback.verdicts > 0
    assert sum(m.verdicts for m in r.feedback.by_month) == r.feedback.verdicts
    totals: dict[str, int] = {}
    for x in r.feedback.reasons:  # the reason given most, rejects and recycles together
        totals[x.reason] = totals.get(x.reason, 0) + x.verdicts
    top = max(totals, key=totals.__getitem__)
    assert f"The most common reason is \u201c{top}\u201d ({totals[top]:,}:" in r.feedback.says[1]
    assert [v.version for v in r.agreement.versions] == [1, 2]


def test_the_report_shows_the_typed_figures(reviewed: tuple) -> None:
    from accord.report.charts import num, pct

    r, html, folder = reviewed
    text = _text(html)
    s = r.summary
    assert f"{num(s.leads)} leads came in and {num(s.mqls)} of them became MQLs" in text
    for finding in s.findings:
        assert _text(finding) in text
    m = r.history.metrics
    assert f"{m.auc:.2f} AUC (ranking quality)" in text
    assert f"{pct(m.precision_at_mql)} precision at the MQL line" in text
    for cell in m.grade_band:  # the heat map's table holds every cell's rate
        assert f"{cell.grade}{cell.band} {num(cell.leads)} {pct(cell.rate)}" in text
    for row in r.funnel.report.by_month:
        assert f"{row.key} {num(row.leads)} {num(row.mql)}" in text
    for rule in r.agreement.words.rules:
        assert _text(rule.words) in text
    assert "an MQL is a lead with a score of at least 60 and fit grade A, B or C." in text
    # Offline: no script, no stylesheet or image fetched, nothing but inline SVG.
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org", "")
    assert "https://" not in html
    assert len(html.encode()) < 5_000_000
    assert sorted(p.name for p in (folder / "png").iterdir()) == sorted(
        f"{k}.png" for k in re.findall(r'<figure id="fig-([a-z-]+)"', html)
    )


SECTIONS = ("summary", "funnel", "history", "proposal", "credit", "feedback", "agreement")


def test_the_report_in_a_browser_offline(reviewed: tuple) -> None:
    if not Path("/usr/bin/chromium").exists():
        if os.environ.get("ACCORD_REQUIRE_BROWSER"):
            pytest.fail("Debian's chromium is not installed, and ACCORD_REQUIRE_BROWSER asks for it")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright import sync_api as playwright

    from accord.report.render import CHROMIUM_FLAGS

    _, _, folder = reviewed
    shots = Path(__file__).resolve().parents[1] / "build" / "screenshots" / "report"
    shots.mkdir(parents=True, exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=list(CHROMIUM_FLAGS))
        context = browser.new_context(offline=True, viewport={"width": 1100, "height": 900})
        requests: list[str] = []
        errors: list[str] = []
        page = context.new_page()
        page.on("request", lambda req: requests.append(req.url))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto((folder / "review.html").as_uri())
        page.wait_for_load_state("load")
        assert requests == [(folder / "review.html").as_uri()]  # the file itself, nothing else
        assert errors == []
        for key in SECTIONS:
            section = page.locator(f"section#{key}")
            assert section.count() == 1
            assert section.locator("h2").inner_text()
            section.screenshot(path=str(shots / f"{key}.png"))
        figures = page.locator("figure")
        assert figures.count() >= 10
        for i in range(figures.count()):
            fig = figures.nth(i)
            svg = fig.locator("svg[role=img]")
            assert svg.count() == 1, fig.get_attribute("id")
            assert svg.get_attribute("aria-label")
            marks = svg.locator("g.role-mark path, g.role-mark rect, g.role-mark line, g.role-mark text")
            assert marks.count() > 0, fig.get_attribute("id")
            assert fig.locator("table tbody tr").count() > 0
            box = svg.bounding_box()
            assert box is not None and box["width"] > 100 and box["height"] > 50
        browser.close()


# ----------------------------------------------------------------------------- the command
def test_report_command_writes_html_pngs_and_pdf(reviewed: tuple, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from accord.cli.main import app

    _, _, folder = reviewed
    url = f"duckdb://{folder / 'accord.duckdb'}"
    out = tmp_path / "q3.html"
    args = ["report", "--url", url, "--out", str(out), "--png", str(tmp_path / "png"), "--capacity", "40"]
    if Path("/usr/bin/chromium").exists():
        args += ["--pdf", str(tmp_path / "q3.pdf")]
    done = CliRunner().invoke(app, args)
    assert done.exit_code == 0, done.output
    assert f"wrote {out}" in done.output
    assert out.read_text(encoding="utf-8").startswith("<!doctype html>")
    assert len(list((tmp_path / "png").glob("*.png"))) >= 10
    if Path("/usr/bin/chromium").exists():
        assert (tmp_path / "q3.pdf").read_bytes()[:5] == b"%PDF-"


def test_pdf_without_chromium_says_how_to_install(reviewed: tuple, tmp_path: Path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from accord.cli.main import app

    _, _, folder = reviewed
    monkeypatch.setenv("PATH", str(tmp_path))  # no browser on it
    done = CliRunner().invoke(
        app,
        [
            "report",
            "--url",
            f"duckdb://{folder / 'accord.duckdb'}",
            "--out",
            str(tmp_path / "r.html"),
            "--pdf",
            str(tmp_path / "r.pdf"),
        ],
    )
    assert done.exit_code == 2, done.output
    assert "apt-get install chromium" in done.output
    assert not (tmp_path / "r.html").exists()  # refused before the work
    assert "Traceback" not in done.output


def test_report_refuses_an_empty_period_in_one_sentence(reviewed: tuple) -> None:
    from typer.testing import CliRunner

    from accord.cli.main import app

    _, _, folder = reviewed
    done = CliRunner().invoke(
        app,
        [
            "report",
            "--url",
            f"duckdb://{folder / 'accord.duckdb'}",
            "--from",
            "2026-05-01",
            "--to",
            "2026-04-01",
        ],
    )
    assert done.exit_code == 2
    assert "the period is empty" in done.output and "Traceback" not in done.output


def test_report_replays_the_pact_as_often_as_asked(reviewed: tuple) -> None:
    import json

    from typer.testing import CliRunner

    from accord.cli.main import app

    r, _, folder = reviewed
    url = f"duckdb://{folder / 'accord.duckdb'}"
    out = folder / "every.json"
    done = CliRunner().invoke(app, ["report", "--url", url, "--every", "90", "--out", str(folder / "e.html"),
                                    "--json", str(out)])  # fmt: skip
    assert done.exit_code == 0, done.output
    history = json.loads(out.read_text())["history"]
    quarterly = history["metrics"]
    assert history["says"][0].startswith(
        f"Replayed on {quarterly['snapshots']} snapshots of history, 90 days apart, the pact"
    )
    assert r.history.says[0].startswith(
        f"Replayed on {r.history.metrics.snapshots} monthly snapshots of history, the pact"
    )
    monthly = r.history.metrics  # the fixture's review, every 30 days
    # The same span of history, a snapshot a quarter instead of a month: a third as many, give or take one.
    assert (
        abs(quarterly["snapshots"] * 3 - monthly.snapshots) <= 3
        and quarterly["snapshots"] < monthly.snapshots
    )
    done = CliRunner().invoke(app, ["report", "--url", url, "--every", "0"])
    assert done.exit_code == 2 and "Traceback" not in done.output
    assert len([line for line in done.output.splitlines() if line.strip()]) == 1, done.output


# ----------------------------------------------------------------------------- every engine
def _small_world_review(store: Store) -> object:
    from accord.synth import generate, store_generated
    from accord.workflows.review import ReviewSpec, review

    gen = generate(leads=300, seed=3, touches_per_lead=4)
    store_generated(gen, store)
    sign_demo_pact(store)
    return review(store, ReviewSpec(capacity=10))


@pytest.fixture(scope="module")
def duck_review(tmp_path_factory: pytest.TempPathFactory) -> object:
    with connect(f"duckdb://{tmp_path_factory.mktemp('small') / 'a.duckdb'}") as s:
        return _small_world_review(s)


def _figures(r: object) -> dict:
    f = r.funnel.report
    m = r.history.metrics
    credit = {}
    for c in r.credit.result.credit:
        credit[(c.model, c.channel)] = round(credit.get((c.model, c.channel), 0.0) + c.value, 3)
    return {
        "summary": (r.summary.leads, r.summary.mqls, r.summary.deals_won, round(r.summary.revenue, 2)),
        "stages": [(s.stage, s.leads) for s in f.stages],
        "months": [(x.key, x.leads, x.won) for x in f.by_month],
        "backtest": (m.snapshots, m.rows, round(m.auc, 9), round(m.precision_at_mql, 9)),
        "grade_band": [(x.grade, x.band, x.leads) for x in m.grade_band],
        "credit": credit,
        "feedback": (r.feedback.verdicts, [(x.month, x.verdicts) for x in r.feedback.by_month]),
        "rules": len(r.agreement.words.rules),
    }


# Spark's review is compared with DuckDB's where a user runs it: `accord report` on a cluster
# (tests/test_spark_processes.py).
@pytest.mark.parametrize("store", ["postgres"], indirect=True)
def test_the_review_is_the_same_on_every_engine(store: Store, duck_review: object) -> None:
    r = _small_world_review(store)
    mine, theirs = _figures(r), _figures(duck_review)
    assert mine.keys() == theirs.keys()
    for key in mine:
        assert mine[key] == theirs[key], key
