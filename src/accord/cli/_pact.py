"""`accord pact validate|diff`: check a pact, compare two versions."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer

from accord.cli._console import console, friendly
from accord.pact import diff_pacts, load_pact, max_score
from accord.pact.schema import Pact

pact_app = typer.Typer(help="Check and compare pacts.", no_args_is_help=True)


@pact_app.command("validate")
@friendly
def validate_command(file: Annotated[Path, typer.Argument(help="Pact YAML file.")]) -> None:
    """Validate a pact; print what it holds, or every problem with its line."""
    pact = load_pact(file)
    console.print(f"[green]valid[/]: {pact.pact} v{pact.version}", highlight=False)
    for name, m in pact.models.items():
        best = max_score(m)
        console.print(
            f"  model {name}: {len(m.fit.rules)} fit rules, {len(m.engagement.rules)} engagement rules, "
            f"max score {'unbounded' if math.isinf(best) else f'{best:g}'}",
            highlight=False,
        )
    mql = pact.definitions.mql
    console.print(f"  MQL: score >= {mql.min_score} and grade in {mql.grades or 'any'}", highlight=False)
    signed = sorted({a.team for a in pact.approvals})
    status = (
        "active (signed by marketing and sales)"
        if pact.is_approved
        else (f"draft: needs approval from {', '.join(sorted({'marketing', 'sales'} - set(signed)))}")
    )
    console.print(f"  {status}", highlight=False)


@pact_app.command("diff")
@friendly
def diff_command(
    old: Annotated[Path, typer.Argument(help="The pact in force.")],
    new: Annotated[Path, typer.Argument(help="The proposed pact.")],
) -> None:
    """Show rules added, removed and changed, and thresholds moved, from OLD to NEW."""
    a, b = load_pact(old), load_pact(new)
    print_diff(a, b)


def print_diff(a: Pact, b: Pact) -> None:
    """Rules added, removed and changed, and thresholds moved, from `a` to `b`."""
    d = diff_pacts(a, b)
    console.print(f"{a.pact} v{a.version} -> {b.pact} v{b.version}", highlight=False)
    if d.is_empty:
        console.print("  no scoring changes")
        return
    for title, items, mark in (
        ("added", d.added, "+"),
        ("removed", d.removed, "-"),
        ("changed", d.changed, "~"),
        ("thresholds moved", d.thresholds, "~"),
    ):
        if items:
            console.print(f"[bold]{title}[/]")
            for line in items:
                console.print(f"  {mark} {line}", highlight=False)
