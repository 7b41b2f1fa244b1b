"""`accord load`: load a file into a canonical table through a mapping."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from accord.cli._console import console, err, friendly
from accord.model.vocab import TABLE_NAMES

if TYPE_CHECKING:
    from accord.store import LoadResult

PRESETS = Path(__file__).resolve().parents[1] / "store" / "presets"


def preset_names() -> list[str]:
    """The mapping presets shipped with Accord (read from their folder, with no heavy import)."""
    return sorted(p.name.removesuffix(".yaml") for p in PRESETS.glob("*.yaml"))


def print_result(r: LoadResult) -> None:
    """Print a load's counts and the rejects file, the same way everywhere."""
    w = r.write
    console.print(
        f"[bold]{r.table}[/]: {r.loaded:,} loaded ({w.inserted:,} new, {w.updated:,} updated, "
        f"{w.unchanged:,} unchanged), {r.rejected:,} rejected, from {r.path} in {r.seconds:.1f}s",
        highlight=False,
    )
    if r.encoding != "utf-8":
        name = {"cp1252": "Windows-1252"}.get(r.encoding, r.encoding)
        console.print(f"  read as {name} text (the file is not UTF-8)", highlight=False)
    for what, n in r.warnings.items():
        console.print(f"  [yellow]{n:,} rows flagged[/]: {what}", highlight=False)
    for parent, n in r.created_parents.items():
        console.print(f"  created {n:,} {parent} referenced by the file", highlight=False)
    if r.rejected:
        table = Table("rejected rows", "reason", box=None, padding=(0, 2))
        for reason, n in r.reasons.most_common(10):
            table.add_row(f"{n:,}", reason)
        console.print(table)
        console.print(f"  rejects with their rows: {r.rejects_path}", highlight=False)


@friendly
def load_command(
    table: Annotated[
        str,
        typer.Argument(help=f"Canonical table: {', '.join(TABLE_NAMES)}; or all, with a folder as FILE."),
    ],
    file: Annotated[
        Path,
        typer.Argument(help="CSV, Parquet or JSON Lines file; for all, a folder of <table>.parquet files."),
    ],
    mapping: Annotated[
        str | None,
        typer.Option(help=f"Mapping YAML, or a preset: {', '.join(preset_names())}."),
    ] = None,
    url: Annotated[str | None, typer.Option(help="Store URL (default $ACCORD_URL or accord.duckdb).")] = None,
    rejects: Annotated[Path | None, typer.Option(help="Where to write rejected rows.")] = None,
) -> None:
    """Load FILE into TABLE; bad rows go to a rejects file with their reasons."""
    from accord.store import connect, load_file, load_folder

    if table == "all" and (mapping is not None or rejects is not None):
        raise typer.BadParameter("load all reads canonical files as they are: no --mapping or --rejects")
    store = connect(url)
    try:
        if table == "all":
            results = list(load_folder(store, file, on_table=lambda _name, r: print_result(r)).values())
        else:
            results = [load_file(store, table, file, mapping, rejects_path=rejects)]
            print_result(results[0])
    finally:
        store.close()
    if not any(r.loaded for r in results):
        err.print("[bold red]nothing could be loaded[/]: see the reasons above")
        raise typer.Exit(1)
