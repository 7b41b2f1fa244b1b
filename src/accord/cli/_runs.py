"""`accord runs` and `accord scores`: the scoring runs of a store, undoing one, exporting scores."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.table import Table

from accord.cli._console import console, friendly

if TYPE_CHECKING:
    pass

UrlOpt = Annotated[str | None, typer.Option(help="Store URL (default $ACCORD_URL or accord.duckdb).")]

runs_app = typer.Typer(rich_markup_mode=None, help="Scoring runs: list them, undo one.", no_args_is_help=True)
scores_app = typer.Typer(rich_markup_mode=None, help="Stored scores: export them.", no_args_is_help=True)


@runs_app.command("list")
@friendly
def list_command(
    url: UrlOpt = None,
    limit: Annotated[int, typer.Option(help="How many of the latest runs.")] = 20,
) -> None:
    """The latest scoring runs: when, as of when, with which pact, and what each wrote."""
    from accord.store import connect
    from accord.workflows import scoring

    with connect(url) as store:
        rows = scoring.runs(store, limit)
    if not rows:
        console.print("no scoring runs yet: `accord score`")
        return
    table = Table(
        "run",
        "ran at",
        "as of",
        "pact",
        "model",
        "lead scores",
        "new MQLs",
        "state",
        box=None,
        padding=(0, 2),
    )
    for r in rows:
        state = f"reverted {r.reverted_at:%Y-%m-%d %H:%M}" if r.reverted_at else ("draft" if r.draft else "")
        table.add_row(
            r.run_id,
            f"{r.started_at:%Y-%m-%d %H:%M}",
            f"{r.as_of:%Y-%m-%d %H:%M}",
            f"{r.pact} v{r.pact_version}",
            r.model,
            f"{r.leads or 0:,}",
            f"{r.new_mqls or 0:,}",
            state,
        )
    console.print(table)


@runs_app.command("revert")
@friendly
def revert_command(
    run_id: Annotated[str, typer.Argument(help="The run's id (`accord runs list`).")],
    url: UrlOpt = None,
) -> None:
    """Undo a scoring run: remove the scores and the MQL stage changes it wrote."""
    from accord.store import connect
    from accord.workflows import scoring

    with connect(url) as store:
        r = scoring.revert(store, run_id)
    console.print(
        f"reverted {r.run_id}: removed {r.lead_scores:,} lead scores, {r.account_scores:,} account scores "
        f"and {r.stage_changes:,} MQL stage changes",
        highlight=False,
    )


@scores_app.command("export")
@friendly
def export_command(
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write (.csv or .parquet).")],
    mql_only: Annotated[bool, typer.Option("--mql-only", help="Only the leads that are MQLs.")] = False,
    fmt: Annotated[
        Literal["csv", "parquet"] | None,
        typer.Option("--format", help="csv or parquet (default: from the file's extension, else csv)."),
    ] = None,
    pact: Annotated[
        Path | None,
        typer.Option("--pact", help="Scores of this pact file's version (default: the active pact)."),
    ] = None,
    model: Annotated[str, typer.Option(help="Score model of the pact.")] = "default",
    to: Annotated[
        Literal["hubspot", "salesforce", "marketo"] | None,
        typer.Option(
            "--to", help="Write the CRM's import file: HubSpot and Marketo by email, Salesforce by Id."
        ),
    ] = None,
    url: UrlOpt = None,
) -> None:
    """Write each lead's latest score (grade, band, MQL) from the store, for a CRM to import."""
    from accord.store import connect
    from accord.workflows import scoring

    with connect(url) as store:
        r = scoring.export_scores(
            store, output, pact_file=pact, model=model, mql_only=mql_only, fmt=fmt, to=to
        )
    when = f" as of {r.as_of:%Y-%m-%d %H:%M}" if r.as_of else ""
    crm = f" for {r.crm}" if r.crm else ""
    console.print(
        f"wrote {r.rows:,} scores of {r.pact} v{r.pact_version}{when}{crm} -> {r.path}", highlight=False
    )
    if r.left_out:
        console.print(f"left out {r.left_out:,} leads with no email ({r.crm} matches contacts by email)")
