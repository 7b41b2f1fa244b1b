"""`accord generate`: write a synthetic funnel and its ground truth."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from accord.cli._console import console, friendly, progress_bar

if TYPE_CHECKING:
    pass


@friendly
def generate_command(
    leads: Annotated[int, typer.Option(min=1, help="Number of leads (about 10 touches each).")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same data.")] = 7,
    out: Annotated[Path, typer.Option(help="Folder to write the tables into.")] = Path("accord-data"),
    fmt: Annotated[str, typer.Option("--format", help="parquet or csv.")] = "parquet",
    touches_per_lead: Annotated[float, typer.Option(min=1.0, help="Mean touches per lead.")] = 10.0,
) -> None:
    """Generate a realistic B2B funnel over 18 months, with the truth behind its outcomes."""
    from accord.synth import generate, write_generated

    if fmt not in {"parquet", "csv"}:
        raise typer.BadParameter("--format must be parquet or csv")
    with progress_bar("generating") as tick:
        gen = generate(leads=leads, seed=seed, touches_per_lead=touches_per_lead, progress=tick)
        paths = write_generated(gen, out, fmt)  # type: ignore[arg-type]
    for name, path in paths.items():
        console.print(f"  {name:<14} {gen.tables[name].num_rows:>12,} rows  {path}")
    console.print(f"  ground truth   {out / 'ground_truth.json'}")
