"""`accord report`: the quarterly review as one offline HTML file (and PNG charts, and a PDF)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from accord.cli._console import console, friendly, work_bar
from accord.cli._evaluate import CapacityOpt, FromOpt, ToOpt, UrlOpt
from accord.cli._score import parse_instant
from accord.errors import ConfigError


@friendly
def report_command(
    pact: Annotated[
        str | None,
        typer.Option(
            help="Pact to review: a version (`3`, `NAME@3`, a content hash) or a file; default: active."
        ),
    ] = None,
    draft: Annotated[
        Path | None,
        typer.Option(
            help="Draft pact file to weigh against it; default: the newest version awaiting approval."
        ),
    ] = None,
    start: FromOpt = None,
    end: ToOpt = None,
    capacity: CapacityOpt = None,
    every: Annotated[
        float, typer.Option(help="Days between the snapshots the pact is replayed at over history.")
    ] = 30.0,
    conversion: Annotated[
        str,
        typer.Option(help="What the credit section attributes: won (revenue), opportunity, sql, sal, mql."),
    ] = "won",
    out: Annotated[Path, typer.Option("--out", help="HTML file to write.")] = Path("review.html"),
    png: Annotated[
        Path | None, typer.Option("--png", help="Also write each chart as a PNG in this folder.")
    ] = None,
    pdf: Annotated[
        Path | None, typer.Option("--pdf", help="Also print the report to this PDF (headless Chromium).")
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write every figure as JSON here.")
    ] = None,
    url: UrlOpt = None,
) -> None:
    """Write the quarterly review: funnel, the pact on history, proposal, credit, feedback, agreement."""
    from accord.model.vocab import Conversion
    from accord.report.render import require_chromium, write_report
    from accord.store import connect
    from accord.workflows.review import ReviewSpec, review

    try:
        conv = Conversion(conversion)
    except ValueError:
        raise ConfigError(
            f"unknown conversion {conversion!r}; valid: {', '.join(c.value for c in Conversion)}"
        ) from None
    if pdf is not None:
        require_chromium()  # before a minute of work, not after
    spec = ReviewSpec(
        pact=pact,
        draft=draft,
        start=parse_instant(start, "--from") if start else None,
        end=parse_instant(end, "--to") if end else None,
        capacity=capacity,
        every_days=every,
        conversion=conv,
    )
    with connect(url) as store, work_bar("review") as tick:
        r = review(store, spec, progress=tick)
    written = write_report(r, out, png=png, pdf=pdf)
    if json_out is not None:
        json_out.write_text(r.model_dump_json(indent=1) + "\n", encoding="utf-8")
        console.print(f"wrote {json_out}", highlight=False)
    for finding in r.summary.findings:
        console.print(f"- {finding}", highlight=False)
    for p in written.get("png", []):
        console.print(f"wrote {p}", highlight=False)
    if "pdf" in written:
        console.print(f"wrote {written['pdf']}", highlight=False)
    console.print(f"wrote {out} ({written['bytes'] / 1e6:.1f} MB): open it in a browser", highlight=False)
