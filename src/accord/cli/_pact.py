"""`accord pact validate|diff`: check a pact, compare two versions."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from accord.cli._console import console, friendly
from accord.errors import PactRefError

if TYPE_CHECKING:
    from accord.pact import registry
    from accord.pact.schema import Pact
    from accord.scoring.reach import SilentRule

pact_app = typer.Typer(
    rich_markup_mode=None, help="Check, compare, submit, approve and activate pacts.", no_args_is_help=True
)
UrlOpt = Annotated[str | None, typer.Option(help="Store URL (default $ACCORD_URL or accord.duckdb).")]
VersionArg = Annotated[
    str, typer.Argument(help="The version: 3, v3, NAME@3, or its content hash (or the start of it).")
]
ByOpt = Annotated[str | None, typer.Option("--by", help="Who does it (default: $USER).")]


def _who(by: str | None) -> str | None:
    return by or os.environ.get("USER") or os.environ.get("USERNAME")


@pact_app.command("validate")
@friendly
def validate_command(
    file: Annotated[Path, typer.Argument(help="Pact YAML file.")],
    url: Annotated[
        str | None,
        typer.Option(help="Also check the rules against this store's data (warn on rules that cannot fire)."),
    ] = None,
) -> None:
    """Validate a pact; print what it holds, or every problem with its line."""
    from accord.pact import load_pact, max_score
    from accord.scoring.reach import silent_rules
    from accord.store import connect

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
    console.print(f"  content hash {pact.content_hash} (what an approval signs)", highlight=False)
    if pact.approvals:
        console.print(
            "  [yellow]the file lists approvals: they are an export, not signatures; each team approves "
            "in the store (`accord pact approve`)[/]",
            highlight=False,
        )
    if url is not None:
        with connect(url) as store:
            silent = silent_rules(store, pact)
        print_silent(silent)


@pact_app.command("diff")
@friendly
def diff_command(
    first: Annotated[Path, typer.Argument(help="The proposed pact; with two files, the old one first.")],
    second: Annotated[Path | None, typer.Argument(help="The proposed pact, when OLD is a file too.")] = None,
    url: UrlOpt = None,
) -> None:
    """Show rules added, removed and changed, and thresholds moved, from the active pact (or OLD) to NEW."""
    from accord.pact import load_pact
    from accord.store import connect
    from accord.workflows.pacts import choose_pact

    if second is not None:
        a, b = load_pact(first), load_pact(second)
    else:
        b = load_pact(first)
        with connect(url) as store:
            a = choose_pact(store, None).pact
    print_diff(a, b)


def print_diff(a: Pact, b: Pact) -> None:
    """Rules added, removed and changed, and thresholds moved, from `a` to `b`."""
    from accord.pact import diff_pacts

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


def print_silent(silent: list[SilentRule]) -> None:
    """Warn about rules that can never fire on the store's data."""
    for r in silent:
        console.print(
            f"[yellow]warning:[/] rule {r.rule_id!r} can never fire on this store: {r.why}", highlight=False
        )


@pact_app.command("submit")
@friendly
def submit_command(
    file: Annotated[Path, typer.Argument(help="Pact YAML file.")], by: ByOpt = None, url: UrlOpt = None
) -> None:
    """Submit a pact version to the store, where marketing and sales can approve it."""
    from accord.pact import load_pact
    from accord.store import connect
    from accord.workflows.pacts import submit_pact

    load_pact(file)  # a file that does not validate is refused with its lines, before the store is opened
    text = file.read_text(encoding="utf-8")
    with connect(url) as store:
        v = submit_pact(store, text, by=_who(by), where=str(file))
    console.print(f"submitted {v.label}; {_approval_state(v)}", highlight=False)


def _approval_state(v: registry.PactVersion) -> str:
    if v.active:
        return "active"
    if v.missing:
        return f"needs approval from {' and '.join(v.missing)}"
    return f"approved by both teams: `accord pact activate {v.pact}@{v.version}` puts it in force"


@pact_app.command("approve")
@friendly
def approve_command(
    version: VersionArg,
    team: Annotated[str, typer.Option("--team", help="marketing or sales.")],
    by: Annotated[str, typer.Option("--by", help="Who approves (name).")],
    comment: Annotated[str | None, typer.Option(help="What the approver says.")] = None,
    url: UrlOpt = None,
) -> None:
    """Approve a submitted version's exact content for one team."""
    from accord.store import connect
    from accord.workflows.pacts import approve_pact

    with connect(url) as store:
        v = approve_pact(store, version, team, by=by, comment=comment)
    console.print(f"{team} approved {v.label} ({by}); {_approval_state(v)}", highlight=False)


@pact_app.command("activate")
@friendly
def activate_command(version: VersionArg, by: ByOpt = None, url: UrlOpt = None) -> None:
    """Put a version in force: refused unless marketing and sales both approved its content."""
    from accord.store import connect
    from accord.workflows.pacts import activate_pact

    with connect(url) as store:
        v = activate_pact(store, version, by=_who(by))
    signed = ", ".join(f"{a.team} ({a.by}, {a.at:%Y-%m-%d})" for a in v.approvals)
    console.print(f"{v.label} is now the active pact; approved by {signed}", highlight=False)


@pact_app.command("status")
@friendly
def status_command(url: UrlOpt = None) -> None:
    """The pact in force, who approved it, and the versions waiting for approval."""
    from accord.pact import registry
    from accord.store import connect

    with connect(url) as store:
        s = registry.status(store)
    if s.active is None:
        console.print(
            "no active pact: `accord pact submit FILE`, approve it for both teams, then activate it"
        )
    else:
        a = s.active
        signed = ", ".join(f"{x.team} ({x.by}, {x.at:%Y-%m-%d %H:%M})" for x in a.approvals)
        when = f"{s.activated_at:%Y-%m-%d %H:%M}" if s.activated_at else "?"
        console.print(
            f"active: {a.label}, activated {when} by {s.activated_by or 'unknown'}; approved by {signed}",
            highlight=False,
        )
    for v in s.pending:
        console.print(
            f"waiting: {v.label}, submitted {v.submitted_at:%Y-%m-%d %H:%M} by {v.author or 'unknown'}; "
            f"{_approval_state(v)}",
            highlight=False,
        )


@pact_app.command("history")
@friendly
def history_command(url: UrlOpt = None) -> None:
    """Every submission, approval and activation, oldest first."""
    from accord.pact import registry
    from accord.store import connect

    with connect(url) as store:
        events = registry.history(store)
    if not events:
        console.print("no pact has been submitted to this store yet")
        return
    table = Table("when", "what", "pact", "content", "who", "team", box=None, padding=(0, 2))
    for e in events:
        table.add_row(
            f"{e.at:%Y-%m-%d %H:%M:%S}",
            e.what,
            f"{e.pact} v{e.version}",
            e.content_hash[:15],
            e.by or "",
            e.team or "",
        )
    console.print(table)


@pact_app.command("export")
@friendly
def export_command(
    version: Annotated[str | None, typer.Argument(help="The version (default: the active one).")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write to this file (default: print).")] = None,
    url: UrlOpt = None,
) -> None:
    """A version's YAML with the approvals the store recorded (the `approvals:` list is this export)."""
    from accord.pact import registry
    from accord.store import connect

    with connect(url) as store:
        if version is None:
            s = registry.status(store)
            if s.active is None:
                raise PactRefError("no active pact to export: name a version")
            v = s.active
        else:
            v = registry.resolve(store, version)
    text = registry.export_yaml(v)
    if out is None:
        console.print(text, highlight=False, markup=False, end="")
    else:
        out.write_text(text, encoding="utf-8")
        console.print(f"wrote {v.label} with {len(v.approvals)} approvals -> {out}", highlight=False)
