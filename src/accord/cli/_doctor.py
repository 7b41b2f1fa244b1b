"""`accord doctor`: engines, versions, the connection, and what is missing."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from accord.cli._console import console


def doctor_command(
    url: Annotated[
        str | None, typer.Option(help="Store URL to check (default $ACCORD_URL or accord.duckdb).")
    ] = None,
    postgres: Annotated[
        str, typer.Option(help="PostgreSQL URL to probe.")
    ] = "postgresql://postgres@127.0.0.1:5432/test",
) -> None:
    """Show engines, versions, the connection, and the install command for anything missing."""
    from accord.diagnostics import check_environment

    report = check_environment(url, postgres)
    table = Table("component", "status", "detail", box=None, padding=(0, 2))
    for c in report:
        status = "[green]ok[/]" if c.ok else ("[yellow]optional[/]" if c.optional else "[red]missing[/]")
        table.add_row(c.name, status, c.detail + (f"  → {c.fix}" if c.fix and not c.ok else ""))
    console.print(table)
    if any(not c.ok and not c.optional for c in report):
        raise typer.Exit(1)
