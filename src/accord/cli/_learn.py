"""`accord learn`: propose a points-based pact learned from history, with its evidence."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from accord.cli._console import console, err, friendly, work_bar
from accord.cli._evaluate import PerRepOpt, RepsOpt, capacity_from, print_comparison
from accord.cli._pact import print_diff
from accord.errors import ConfigError

if TYPE_CHECKING:
    from accord.evaluation.learn import Learned


@friendly
def learn_command(
    out: Annotated[Path, typer.Option("--out", help="Where to write the learned pact (YAML).")],
    pact: Annotated[
        Path | None, typer.Option("--pact", help="The current pact (store mode: compared and diffed).")
    ] = None,
    leads: Annotated[Path | None, typer.Option(help="A flat leads export instead of the store.")] = None,
    outcome: Annotated[
        str | None, typer.Option(help="Outcome column of --leads (1/0, yes/no, won/lost).")
    ] = None,
    id_column: Annotated[
        str | None, typer.Option("--id", help="Id column of --leads (not a feature).")
    ] = None,
    mapping: Annotated[str | None, typer.Option(help="Column mapping for --leads.")] = None,
    source: Annotated[
        str, typer.Option("--from", help="Learn from the store (default) or --leads FILE.")
    ] = "store",
    reps: RepsOpt = None,
    leads_per_rep: PerRepOpt = None,
    capacity: Annotated[
        float | None, typer.Option(help="MQLs sales can work per month: sets the line.")
    ] = None,
    precision: Annotated[
        float | None, typer.Option(help="Target MQL precision (0-1): sets the line.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the hold-out split (flat files).")] = 7,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Set a learned MQL line even when the model does no better than chance."
        ),
    ] = False,
    max_rules: Annotated[
        int,
        typer.Option("--max-rules", min=1, help="At most this many rules, given where they explain most."),
    ] = 40,
    every: Annotated[float, typer.Option(help="Days between snapshots (store).")] = 30.0,
    horizon: Annotated[float, typer.Option(help="Days in which a conversion counts (store).")] = 90.0,
    url: Annotated[str | None, typer.Option(help="Store URL (default $ACCORD_URL or accord.duckdb).")] = None,
) -> None:
    """Learn a readable points-based pact from history and show how it compares."""
    from accord.evaluation import BacktestSpec
    from accord.evaluation.learn import LearnSpec
    from accord.store import connect
    from accord.workflows import evidence

    if source not in ("store", "leads", "file"):
        raise ConfigError(f"--from must be store (or give --leads FILE), not {source!r}")
    capacity = capacity_from(capacity, reps, leads_per_rep)
    spec = LearnSpec(
        capacity_per_month=capacity, target_precision=precision, seed=seed, force=force, max_rules=max_rules
    )
    if leads is not None:
        if outcome is None:
            raise ConfigError("--leads needs --outcome COLUMN (and usually --id COLUMN)")
        learned = evidence.learn_from_file(leads, outcome, spec, mapping=mapping, id_column=id_column)
        out.write_text(learned.yaml, encoding="utf-8")
        _print_learned(learned, out)
        silent = evidence.silent_on_store(url, learned.pact)
        if silent is None:
            console.print(
                "no store to check the rules against (--url): the file's own columns are not a store's"
            )
        for s in silent or []:
            err.print(
                f"[yellow]warning:[/] rule {s.rule_id!r} can never fire on the store: {s.why}",
                highlight=False,
            )
        return
    bt = BacktestSpec(every_days=every, horizon_days=horizon, capacity_per_month=capacity)
    with connect(url) as store, work_bar("learning") as tick:
        done = evidence.learn_from_history(store, pact, bt, spec, progress=tick)
    out.write_text(done.learned.yaml, encoding="utf-8")
    console.print(f"learned from the history scored with {done.chosen.label}", highlight=False)
    _print_learned(done.learned, out)
    console.rule("[bold]What changes")
    print_diff(done.chosen.pact, done.learned.pact)
    print_comparison(done.comparison)


def _print_learned(learned: Learned, out: Path) -> None:
    m = learned.model
    model = learned.pact.model("default")
    pairs = sum(1 for r in model.fit.rules if r.conditions and r.combine == "all")
    console.print(
        f"wrote {out}: {len(model.fit.rules)} fit rules ({pairs} of two fields at once), "
        f"{len(model.engagement.rules)} engagement rules; scores from 0 to 100 in whole points "
        f"({m.scale * 0.6931:.0f} points double the odds)",
        highlight=False,
    )
    console.print(f"split: {learned.split}", highlight=False)
    for column, why in learned.left_out.items():
        console.print(f"left out {column}: {why}", highlight=False)
    if learned.touches_tried:
        kept = "; ".join(learned.touches_kept)
        console.print(
            f"touches: {learned.touches_tried} splits of a type and pairs near in time screened; "
            + (f"rules for: {kept}" if kept else "none earned a rule beside the touch types"),
            highlight=False,
        )
    lo, hi = learned.auc_interval
    console.print(
        f"held-out AUC: learned points pact {learned.auc_points:.3f} (95% interval {lo:.3f} to {hi:.3f}), "
        f"gradient boosting on the same features {learned.auc_reference:.3f} "
        f"(difference {learned.auc_points - learned.auc_reference:+.3f})",
        highlight=False,
    )
    if learned.chance:
        err.print(
            "[yellow]warning:[/] the learned points rank held-out leads no better than chance "
            "(the AUC interval includes 0.5): do not put this pact in force",
            highlight=False,
        )
    console.print(f"MQL line: score >= {learned.threshold:g}: {learned.threshold_reason}", highlight=False)
    if learned.calibration:
        table = Table(title="held-out leads by score: the chance the pact gives them, and what happened")
        for name in ("score", "leads", "predicted", "converted"):
            table.add_column(name, justify="right")
        for row in learned.calibration:
            table.add_row(
                f"{row.lo}-{row.hi}", f"{row.leads:,}", f"{row.predicted:.1%}", f"{row.observed:.1%}"
            )
        console.print(table)
