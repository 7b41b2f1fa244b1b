"""`accord demo`: the main job end to end in a new folder, on the embedded store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from accord.cli._console import console, friendly, progress_bar
from accord.cli._load import print_result
from accord.demo import run_demo


@friendly
def demo_command(
    folder: Annotated[Path, typer.Argument(help="Folder to create (must be new or empty).")] = Path(
        "accord-demo"
    ),
    leads: Annotated[int, typer.Option(min=100, help="Leads to generate.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
) -> None:
    """Generate a funnel, load it into DuckDB, and say where everything is."""
    if folder.exists() and any(folder.iterdir()):
        raise typer.BadParameter(f"{folder} is not empty: name a new folder")
    console.rule("[bold]Accord demo")
    with progress_bar("demo") as tick:
        result = run_demo(folder, leads=leads, seed=seed, progress=tick)
    for load in result.loads.values():
        print_result(load)
    truth = result.generated.truth
    console.print(
        f"\n{truth['leads']:,} leads, {truth['touchpoints']:,} touchpoints, "
        f"{truth['opportunities']:,} opportunities, {truth['won']:,} won"
    )
    console.print(f"store:        {result.store_url}", highlight=False)
    console.print(f"data files:   {result.data_folder}", highlight=False)
    console.print(f"ground truth: {result.data_folder / 'ground_truth.json'}", highlight=False)
    console.print(f"try:          ACCORD_URL={result.store_url} accord doctor", highlight=False)
