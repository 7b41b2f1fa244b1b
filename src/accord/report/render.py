"""Render a `Review` to one self-contained HTML file, and its charts to PNG, and the file to PDF.

Charts are inline SVG rendered by `vl-convert` (no JavaScript, no network when opened); the
stylesheet is inline and names only fonts the reader's machine has.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from accord.errors import ConfigError, EngineError
from accord.report import charts as ch
from accord.workflows.review import Review


@dataclass
class Section:
    """One section of the report: its anchor, title, sentences and figures."""

    key: str
    title: str
    says: list[str]
    figures: list[ch.Figure]


def figures(r: Review) -> dict[str, list[ch.Figure]]:
    """Every chart of the review, by section."""
    f, m = r.funnel.report, r.history.metrics
    out: dict[str, list[ch.Figure]] = {
        "funnel": [ch.funnel_stages(f), ch.funnel_by_month(f), ch.funnel_by_source(f)],
        "history": [
            ch.grade_band_heatmap(m),
            ch.calibration(m),
            ch.gains(m),
            ch.lift(m),
            ch.volume(m, r.history.capacity),
        ],
        "proposal": [ch.proposal_metrics(r.proposal.comparison)] if r.proposal else [],
        "credit": [],
        "feedback": [],
    }
    if r.credit is not None:
        c = r.credit
        total = float(c.result.journeys.get("value") or 0.0)
        out["credit"].append(ch.credit_heatmap(c.result.credit, total))
        if c.teams:
            out["credit"].append(ch.team_bars(c.teams, total))
        if c.roi:
            out["credit"].append(ch.roi_bars(c.roi, c.reference_model))
    if r.feedback is not None:
        out["feedback"] = [ch.verdicts_by_month(r.feedback.by_month)]
        if r.feedback.reasons:
            out["feedback"].append(ch.reasons(r.feedback.reasons))
    return out


_ID = re.compile(r'(id="|url\(#|href="#)([^")]+)')


def svg(fig: ch.Figure) -> str:
    """The chart as inline SVG, its ids prefixed so that charts on one page do not share any."""
    import vl_convert as vlc

    out: str = vlc.vegalite_to_svg(fig.spec)
    out = _ID.sub(lambda m: f"{m.group(1)}{fig.key}-{m.group(2)}", out)
    return out.replace("<svg ", f'<svg role="img" aria-label="{_attr(fig.alt)}" ', 1)


def _attr(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")


def render(r: Review, figs: dict[str, list[ch.Figure]] | None = None) -> str:
    """The review as one HTML document (`figs`: its `figures`, when already built)."""
    from jinja2 import Environment, StrictUndefined, select_autoescape

    env = Environment(autoescape=select_autoescape(["html", "j2"]), undefined=StrictUndefined)
    env.filters["pct"] = ch.pct
    env.filters["num"] = ch.num
    template = env.from_string(
        (resources.files("accord.report") / "templates" / "review.html.j2").read_text("utf-8")
    )
    figs = figs if figs is not None else figures(r)
    rendered = {f.key: svg(f) for group in figs.values() for f in group}
    return template.render(r=r, figs=figs, svgs=rendered, css=_css())


def _css() -> str:
    return (resources.files("accord.report") / "templates" / "review.css").read_text("utf-8")


def write_pngs(figs: dict[str, list[ch.Figure]], folder: Path) -> list[Path]:
    """Each chart as a PNG in `folder` (for slides)."""
    import vl_convert as vlc

    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for group in figs.values():
        for f in group:
            path = folder / f"{f.key}.png"
            path.write_bytes(vlc.vegalite_to_png(f.spec, scale=2))
            out.append(path)
    return out


CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


def chromium() -> str | None:
    """The headless Chromium (or Chrome) on this machine, if any."""
    return next((p for p in map(shutil.which, CHROMIUM_NAMES) if p), None)


def require_chromium() -> str:
    """Chromium's path, or an error that says how to install it."""
    exe = chromium()
    if exe is None:
        raise ConfigError(
            "--pdf prints with headless Chromium, which is not installed: install it "
            "(Debian/Ubuntu: apt-get install chromium; macOS: brew install --cask chromium) "
            "or open the HTML file and print it to PDF from the browser"
        )
    return exe


def write_pdf(html: Path, pdf: Path) -> Path:
    """Print the HTML file to PDF (A4, the report's print stylesheet) with headless Chromium."""
    exe = require_chromium()
    with tempfile.TemporaryDirectory(prefix="accord-pdf-") as profile:
        cmd = [
            exe,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            "--no-pdf-header-footer",
            f"--print-to-pdf={pdf.resolve()}",
            html.resolve().as_uri(),
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)  # noqa: S603
    if done.returncode != 0 or not pdf.exists():
        raise EngineError(f"Chromium could not print {html} to PDF: {done.stderr.strip()[-300:]}")
    return pdf


def write_report(r: Review, out: Path, *, png: Path | None = None, pdf: Path | None = None) -> dict[str, Any]:
    """Write the HTML (and the PNGs and the PDF when asked); what was written, by kind."""
    figs = figures(r)
    html = render(r, figs)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    written: dict[str, Any] = {"html": out, "bytes": len(html.encode())}
    if png is not None:
        written["png"] = write_pngs(figs, png)
    if pdf is not None:
        written["pdf"] = write_pdf(out, pdf)
    return written
