"""`accord demo`: the main job end to end in a new folder, on the embedded store."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from accord.cli._attribute import print_comparison, print_teams
from accord.cli._console import console, friendly, progress_bar
from accord.cli._evaluate import print_comparison as print_pact_comparison
from accord.cli._load import print_result
from accord.cli._score import print_top

if TYPE_CHECKING:
    from accord.store.rows import Rows


def _write_review(url: str, folder: Path) -> Path:
    """The quarterly review of the demo store (the learned pact is the draft), kept for the dashboard."""
    import time

    from accord.report.render import render
    from accord.store import connect
    from accord.store.rows import Rows
    from accord.workflows.access import prepare
    from accord.workflows.insights import keep_review
    from accord.workflows.live import now
    from accord.workflows.review import ReviewSpec, review

    out = folder / "review.html"
    with connect(url) as store, progress_bar("review") as tick:
        t0 = time.perf_counter()
        r = review(store, ReviewSpec(capacity=150), progress=tick)
        rows = Rows(store)
        try:
            prepare(rows)
            active = next(v for v in r.agreement.versions if v.active)
            html = render(r)  # rendered once: for the file and for the dashboard's download
            keep_review(rows, r, active.content_hash, time.perf_counter() - t0, now(), html)
            _write_keys(rows, folder / "keys.txt")
        finally:
            rows.close()
    out.write_text(html, encoding="utf-8")
    return out


DEMO_ROLES = ("sales", "marketing", "viewer", "admin")


def _write_keys(rows: Rows, path: Path) -> None:
    """A key per role for the dashboard's sign-in, readable by the owner only."""
    from accord.workflows.access import create_key
    from accord.workflows.live import now

    lines = ["# role  name  key: paste a key into the dashboard's sign-in page (accord serve, then /login)"]
    for role in DEMO_ROLES:
        made = create_key(rows, f"demo-{role}", role, now=now(), by="accord demo")
        lines.append(f"{role}  {made.name}  {made.key}")
    path.touch(mode=0o600)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@friendly
def demo_command(
    folder: Annotated[Path, typer.Argument(help="Folder to create (must be new or empty).")] = Path(
        "accord-demo"
    ),
    leads: Annotated[int, typer.Option(min=100, help="Leads to generate.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
) -> None:
    """Generate a funnel, load it into DuckDB, and say where everything is."""
    from accord.demo import run_demo

    if folder.exists() and any(folder.iterdir()):
        raise typer.BadParameter(f"{folder} is not empty: name a new folder")
    console.rule("[bold]Accord demo")
    with progress_bar("demo") as tick:
        result = run_demo(folder, leads=leads, seed=seed, progress=tick)
    report = _write_review(result.store_url, result.folder)
    for load in result.loads.values():
        print_result(load)
    truth = result.generated.truth
    console.print(
        f"\n{truth.leads:,} leads, {truth.touchpoints:,} touchpoints, "
        f"{truth.opportunities:,} opportunities, {truth.won:,} won"
    )
    r, p = result.scoring, result.pact
    console.print(
        f"scored {r.leads.inserted:,} leads and {r.accounts.inserted:,} accounts as of {r.as_of:%Y-%m-%d} "
        f"with {p.pact} v{p.version} (examples/pact.yaml, approved by marketing and sales and active): "
        f"{r.new_mqls:,} new MQLs",
        highlight=False,
    )
    console.rule("[bold]Top 10 MQLs")
    print_top(result.top_mqls)
    rev = result.revenue
    console.rule("[bold]Who gets credit for closed-won revenue")
    console.print(
        f"{rev.journeys['conversions']:,.0f} won deals worth {rev.journeys['value']:,.0f}, "
        f"{rev.journeys['journeys']:,.0f} journeys; every model on the same journeys:",
        highlight=False,
    )
    print_comparison(rev, "value", "revenue credited")
    print_teams(result.teams)
    tip = rev.budget_suggestion()
    if tip:
        console.print(f"budget: {tip}", highlight=False)
    ranked = sorted(result.truth_distance.items(), key=lambda kv: kv[1])
    console.print(
        "distance to the true incremental opportunity shares (half L1, lower is better): "
        + ", ".join(f"{m} {d:.3f}" for m, d in ranked),
        highlight=False,
    )
    console.rule("[bold]Evidence for the review meeting")
    ev = result.evaluation.metrics
    console.print(
        f"example pact back-tested over {ev.snapshots} monthly snapshots: AUC {ev.auc:.3f}, "
        f"MQL precision {ev.precision_at_mql:.1%}, recall {ev.recall_at_mql:.1%}, "
        f"{ev.funnel.mqls_per_month:.0f} new MQLs a month",
        highlight=False,
    )
    lp = result.learned
    console.print(
        f"learned pact ({result.folder / 'pact.learned.yaml'}): held-out AUC {lp.auc_points:.3f} with "
        f"integer points, gradient boosting on the same features {lp.auc_reference:.3f}; split {lp.split}",
        highlight=False,
    )
    print_pact_comparison(result.comparison)
    console.print(f"\nreview:       {report}   (the quarterly review: open it in a browser)", highlight=False)
    console.print(f"store:        {result.store_url}", highlight=False)
    console.print(f"data files:   {result.data_folder}", highlight=False)
    console.print(f"ground truth: {result.data_folder / 'ground_truth.json'}", highlight=False)
    lead = result.top_mqls[0].lead_id if result.top_mqls else "LEAD_ID"
    console.print(
        f"try:          accord explain {lead} --as-of {r.as_of:%Y-%m-%d} --url {result.store_url}",
        highlight=False,
    )
    console.print(f"              accord pact status --url {result.store_url}", highlight=False)
    console.print(
        f"              accord evaluate --capacity 150 --feedback --url {result.store_url}",
        highlight=False,
    )
    console.print(
        f"serve it:     accord serve --url {result.store_url}\n"
        f"              the dashboard at http://127.0.0.1:8000/ (sign in with a key from "
        f"{result.folder / 'keys.txt'}), the API docs at /docs",
        highlight=False,
    )
