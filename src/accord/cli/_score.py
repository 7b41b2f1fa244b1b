"""`accord score` and `accord explain`: score the store as of an instant; explain one lead."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from accord.cli._console import console, err, friendly
from accord.errors import ConfigError

if TYPE_CHECKING:
    from accord.pact.schema import Pact
    from accord.workflows import scoring

PactOpt = Annotated[
    Path | None,
    typer.Option(
        "--pact", help="A pact YAML file (a draft unless it is the active one); default the active pact."
    ),
]
UrlOpt = Annotated[str | None, typer.Option(help="Store URL (default $ACCORD_URL or accord.duckdb).")]
AsOfOpt = Annotated[
    str | None, typer.Option("--as-of", help="Instant to score as of (ISO, UTC); default now.")
]
ModelOpt = Annotated[str, typer.Option(help="Score model of the pact.")]


def parse_instant(text: str | None, option: str = "--as-of") -> datetime:
    """An ISO date or date-time as naive UTC; now when empty. Errors name the `option` typed."""
    if not text:
        return datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            f"{option} {text!r} is not an ISO date or date-time (e.g. 2026-06-01 or 2026-06-01T09:00)"
        ) from None
    return t.astimezone(UTC).replace(tzinfo=None) if t.tzinfo else t


@friendly
def score_command(
    pact: PactOpt = None,
    as_of: AsOfOpt = None,
    model: ModelOpt = "default",
    url: UrlOpt = None,
    top: Annotated[int, typer.Option(help="MQLs to list with their explanation.")] = 10,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be written, and write nothing.")
    ] = False,
    draft: Annotated[
        bool,
        typer.Option("--draft", help="Let a draft pact (--pact FILE) record its MQLs as stage changes too."),
    ] = False,
    leads: Annotated[
        Path | None, typer.Option(help="Score this flat file (one row per lead) instead.")
    ] = None,
    mapping: Annotated[str | None, typer.Option(help="Column mapping for --leads.")] = None,
    id_column: Annotated[
        str | None, typer.Option("--id", help="Lead id column of --leads (else the mapping's or the pact's).")
    ] = None,
    output: Annotated[Path | None, typer.Option(help="Where --leads writes its scores (CSV).")] = None,
) -> None:
    """Score every lead and account with the active pact, keep the history, and record new MQLs."""
    from accord.pact import load_pact
    from accord.store import connect
    from accord.workflows import scoring

    if leads is not None:
        if pact is None:
            raise ConfigError("--leads needs --pact FILE: a flat file is scored with a pact file")
        _score_flat_file(load_pact(pact), leads, mapping, id_column, output, model)
        return
    for given, name in ((output, "--output"), (mapping, "--mapping"), (id_column, "--id")):
        if given is not None:
            raise ConfigError(
                f"{name} goes with --leads FILE; to write the store's scores to a file, "
                "use `accord scores export --output FILE`"
            )
    when = parse_instant(as_of, "--as-of")
    with connect(url) as store:
        r = scoring.score_store(
            store, pact, when, model=model, top=top, dry_run=dry_run, record_draft_mqls=draft
        )
    print_run(r, when)


def print_run(r: scoring.Scored, when: datetime) -> None:
    """A scoring run in a line or two, then its top MQLs."""
    run = r.run
    written = run.leads.inserted + run.leads.updated
    if run.dry_run:
        console.print(
            f"dry run with {r.chosen.label} as of {when:%Y-%m-%d %H:%M}: would write {written:,} lead scores "
            f"({run.leads.inserted:,} new, {run.leads.updated:,} changed, {run.leads.unchanged:,} unchanged) "
            f"and {run.accounts.inserted + run.accounts.updated:,} account scores; "
            + (f"{run.new_mqls:,} new MQLs" if run.mqls_recorded else "no MQL stage changes (a draft)")
            + "; nothing written",
            highlight=False,
        )
        return
    mqls = (
        f"{run.new_mqls:,} new MQLs"
        if run.mqls_recorded
        else "MQLs not recorded as stage changes (a draft; --draft records them)"
    )
    console.print(
        f"scored {run.leads.total:,} leads and {run.accounts.total:,} accounts as of {when:%Y-%m-%d %H:%M} "
        f"with {r.chosen.label}; {mqls}; run {run.run_id}",
        highlight=False,
    )
    print_top(r.top)
    for s in r.silent:
        err.print(
            f"[yellow]warning:[/] rule {s.rule_id!r} can never fire on this store: {s.why}", highlight=False
        )


def print_top(rows: list[scoring.TopMql]) -> None:
    """The top MQLs with their one-line explanation."""
    if not rows:
        console.print("no MQLs at this instant")
        return
    table = Table("lead", "score", "why", box=None, padding=(0, 2))
    for row in rows:
        table.add_row(row.lead_id, f"{row.score:.1f}", row.sentence)
    console.print(table)


@friendly
def explain_command(
    lead_id: Annotated[str, typer.Argument(help="Lead id.")],
    pact: PactOpt = None,
    as_of: AsOfOpt = None,
    model: ModelOpt = "default",
    url: UrlOpt = None,
) -> None:
    """Explain a lead's score rule by rule, with one plain sentence."""
    from accord.store import connect
    from accord.workflows import scoring

    with connect(url) as store:
        x = scoring.explain(store, lead_id, pact, parse_instant(as_of, "--as-of"), model)
    print_explanation(lead_id, x)


def print_explanation(lead_id: str, x: scoring.Explained) -> None:
    """A lead's score, its rules in a labelled table, and its feedback."""
    e = x.explanation
    s = e.score
    console.print(f"[bold]{lead_id}[/]: {e.sentence}", highlight=False)
    console.print(
        f"score {s.score:.2f} with {x.chosen.label} = person {s.person_score:.2f} (fit {s.fit:.2f} + "
        f"engagement {s.engagement:.2f} + adjustment {s.adjustment:.2f})"
        + (f", blended with account {s.account_score:.2f}" if s.account_score is not None else ""),
        highlight=False,
    )
    if e.lines:
        table = Table(
            "section",
            "rule",
            "points (before decay and caps)",
            "points counted",
            "what",
            box=None,
            padding=(0, 2),
        )
        for line in e.lines:
            table.add_row(
                line.section, line.rule_id, f"{line.points_before:+.2f}", f"{line.points:+.2f}", line.detail
            )
        console.print(table)
    else:
        console.print("no rule fired for this lead")
    for v in e.feedback:
        console.print(f"feedback: {v.words}", highlight=False)
    for title, items in (("top positive", e.top_positive), ("top negative", e.top_negative)):
        if items:
            console.print(
                f"{title}: " + ", ".join(f"{x.rule_id} ({x.points:+.1f})" for x in items), highlight=False
            )


@friendly
def feedback_command(
    lead_id: Annotated[str, typer.Argument(help="Lead id.")],
    action: Annotated[str, typer.Argument(help="accept, reject, recycle or adjust.")],
    actor: Annotated[str, typer.Option(help="Who gives the verdict (a rep's id or name).")],
    reason: Annotated[str | None, typer.Option(help="Why (required to reject).")] = None,
    points: Annotated[float | None, typer.Option(help="Score adjustment (adjust only).")] = None,
    at: Annotated[str | None, typer.Option("--at", help="When (ISO, UTC); default now.")] = None,
    url: UrlOpt = None,
) -> None:
    """Record sales' verdict on a lead: accept, reject (with a reason), recycle, or adjust its score."""
    from accord.store import connect
    from accord.workflows import scoring

    with connect(url) as store:
        r = scoring.feedback(
            store,
            lead_id,
            action,
            actor=actor,
            reason=reason,
            points=points,
            at=parse_instant(at, "--at") if at else None,
        )
    move = f": {r.from_stage} -> {r.to_stage}" if r.to_stage else f": {points:+g} points"
    console.print(f"recorded {r.action} on {r.lead_id}{move}", highlight=False)


def _score_flat_file(
    p: Pact, leads: Path, mapping: str | None, id_column: str | None, output: Path | None, model: str
) -> None:
    import pyarrow.csv as pacsv

    from accord.scoring.flat import score_flat

    result = score_flat(p, leads, mapping, model, id_column=id_column)
    out = output or _beside(leads, ".scores.csv")
    pacsv.write_csv(result.table, out)
    load = result.load
    rejected = f"; {load.rejected:,} rows rejected -> {load.rejects_path}" if load.rejected else ""
    console.print(
        f"scored {result.table.num_rows:,} leads from {leads} with {p.pact} v{p.version}: "
        f"{result.mqls:,} MQLs -> {out}{rejected}",
        highlight=False,
    )
    if result.unresolved:
        console.print(
            f"[yellow]rules that read nothing in the file (never fire):[/] {', '.join(result.unresolved)}",
            highlight=False,
        )


def _beside(path: Path, suffix: str) -> Path:
    """`path` with a new suffix, beside it (in the working directory when its folder is read-only)."""
    import os

    out = path.with_name(path.name.split(".")[0] + suffix)
    return out if os.access(out.parent, os.W_OK) else Path.cwd() / out.name
