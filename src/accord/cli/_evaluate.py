"""`accord evaluate` and `accord compare`: back-test a pact, or two, for the review meeting."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from accord.cli._console import console, friendly, print_frame, work_bar
from accord.cli._score import parse_instant
from accord.errors import ConfigError

if TYPE_CHECKING:
    from accord.evaluation import Backtest, BacktestSpec
    from accord.evaluation.compare import PactComparison
    from accord.evaluation.feedback_analysis import FeedbackReport
    from accord.evaluation.thresholds import ThresholdAdvice

FromOpt = Annotated[str | None, typer.Option("--from", help="First snapshot (ISO date).")]
ToOpt = Annotated[str | None, typer.Option("--to", help="Last snapshot (ISO date).")]
EveryOpt = Annotated[float, typer.Option(help="Days between snapshots.")]
HorizonOpt = Annotated[float, typer.Option(help="Days after a snapshot in which a conversion counts.")]
CapacityOpt = Annotated[
    float | None, typer.Option(help="MQLs sales can work per month (or give --reps and --leads-per-rep).")
]
RepsOpt = Annotated[int | None, typer.Option(help="Sales reps working MQLs.")]
PerRepOpt = Annotated[float | None, typer.Option(help="MQLs one rep can work in a month.")]


def capacity_from(capacity: float | None, reps: int | None, per_rep: float | None) -> float | None:
    """Sales capacity per month: given, or reps x leads per rep."""
    if (reps is None) != (per_rep is None):
        raise ConfigError("give both --reps and --leads-per-rep (or --capacity)")
    if reps is not None and per_rep is not None:
        if capacity is not None:
            raise ConfigError("give --capacity or --reps with --leads-per-rep, not both")
        if reps <= 0 or per_rep <= 0:
            raise ConfigError("--reps and --leads-per-rep must be positive")
        return reps * per_rep
    return capacity


ModelOpt = Annotated[str, typer.Option(help="Score model of the pact.")]
UrlOpt = Annotated[str | None, typer.Option(help="Store URL (default $ACCORD_URL or accord.duckdb).")]


def _spec(
    start: str | None, end: str | None, every: float, horizon: float, capacity: float | None, model: str
) -> BacktestSpec:
    from accord.evaluation import BacktestSpec

    return BacktestSpec(
        start=parse_instant(start, "--from") if start else None,
        end=parse_instant(end, "--to") if end else None,
        every_days=every,
        horizon_days=horizon,
        model=model,
        capacity_per_month=capacity,
    )


@friendly
def evaluate_command(
    pact: Annotated[
        Path | None, typer.Argument(help="Pact YAML file (a draft); default: the store's active pact.")
    ] = None,
    start: FromOpt = None,
    end: ToOpt = None,
    every: EveryOpt = 30.0,
    horizon: HorizonOpt = 90.0,
    capacity: CapacityOpt = None,
    reps: RepsOpt = None,
    leads_per_rep: PerRepOpt = None,
    precision: Annotated[
        float | None, typer.Option(help="Target MQL precision (0-1) for threshold advice.")
    ] = None,
    feedback: Annotated[bool, typer.Option("--feedback", help="Also analyse sales' verdicts.")] = False,
    model: ModelOpt = "default",
    json_out: Annotated[Path | None, typer.Option("--json", help="Write every metric as JSON here.")] = None,
    url: UrlOpt = None,
) -> None:
    """Back-test a pact on history: conversion by band and grade, AUC, lift, funnel, volume, calibration."""
    from accord.store import connect
    from accord.workflows import evidence

    capacity = capacity_from(capacity, reps, leads_per_rep)
    spec = _spec(start, end, every, horizon, capacity, model)
    with connect(url) as store, work_bar("back-test") as tick:
        e = evidence.evaluate(store, pact, spec, target_precision=precision, feedback=feedback, progress=tick)
    console.print(f"back-tested {e.chosen.label}", highlight=False)
    print_backtest(e.backtest)
    if e.advice is not None:
        print_advice(e.advice)
    if e.feedback is not None:
        print_feedback(e.feedback)
    if json_out is not None:
        data = e.backtest.to_dict()
        if e.advice is not None:
            data["threshold_advice"] = {"threshold": e.advice.threshold, "reason": e.advice.reason}
        json_out.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
        console.print(f"wrote {json_out}", highlight=False)


def _pct(x: float) -> str:
    return "n/a" if x != x else f"{x:.1%}"


def _days(x: float) -> str:
    return "n/a" if x != x else f"{x:.0f}"


def print_backtest(b: Backtest) -> None:
    """The back-test as readable tables."""
    from accord.evaluation.results import frame_of

    m = b.metrics
    f = m.funnel
    console.rule(f"[bold]Back-test of {b.pact}")
    console.print(
        f"{m.snapshots} snapshots every {b.spec.every_days:g} days from {b.snapshots[0]:%Y-%m-%d} to "
        f"{b.snapshots[-1]:%Y-%m-%d}; {m.rows:,} lead-snapshots ({m.leads:,} leads); a conversion "
        f"is an opportunity within {b.spec.horizon_days:g} days; base rate {m.conversion_rate:.2%}",
        highlight=False,
    )
    console.print(
        f"AUC {m.auc:.3f}; at the MQL line: precision {_pct(m.precision_at_mql)}, recall "
        f"{_pct(m.recall_at_mql)} ({m.mql_share:.1%} of open leads are MQLs)",
        highlight=False,
    )
    grid = frame_of(m.grade_band).pivot_table(index="grade", columns="band", values="rate")
    grid = grid.reset_index()
    grid.columns = [str(c) for c in grid.columns]
    print_frame(
        "conversion by grade (rows) and band (columns)",
        grid,
        [("grade", "grade", None), *[(f"band {c}", c, 3) for c in grid.columns if c != "grade"]],
    )
    print_frame(
        "lift and cumulative gains by score decile",
        frame_of(m.gains),
        [
            ("decile", "group", 0),
            ("leads", "leads", 0),
            ("rate", "rate", 3),
            ("lift", "lift", 2),
            ("cum. gain", "cumulative_gain", 3),
        ],
    )
    cap = f" against a capacity of {f.capacity_per_month:g}" if f.capacity_per_month else ""
    console.print(
        f"funnel: {f.new_mqls:,} new MQLs ({f.mqls_per_month:.0f} a month{cap}); accepted by sales "
        f"{_pct(f.mql_to_sal)}, SQL {_pct(f.mql_to_sql)}, opportunity {_pct(f.mql_to_opportunity)}, "
        f"won {_pct(f.mql_to_won)}; median days MQL to opportunity "
        f"{_days(f.median_days_mql_to_opportunity)}, to won {_days(f.median_days_mql_to_won)}"
        " (n/a: the store records no such stage)",
        highlight=False,
    )
    if m.left_out:
        console.print(f"note: {m.left_out}", highlight=False)
    vol = frame_of(m.volume)
    vol["month"] = [f"{v.snapshot:%Y-%m-%d}" for v in m.volume]
    cols: list[tuple[str, str, int | None]] = [
        ("snapshot", "month", None),
        ("new MQLs / month", "per_month", 0),
    ]
    if b.spec.capacity_per_month is not None:
        cols.append(("over capacity", "over_capacity", None))
    print_frame("MQL volume", vol, cols)
    if m.calibration:
        print_frame(
            "calibration (fitted on the earlier snapshots, measured on the later)",
            frame_of(m.calibration),
            [
                ("band", "band", None),
                ("leads", "leads", 0),
                ("predicted", "predicted", 3),
                ("observed", "observed", 3),
            ],
        )


def print_advice(a: ThresholdAdvice) -> None:
    """The threshold recommendation and its trade-off curve."""
    print_frame(
        "threshold trade-off",
        a.curve.iloc[:: max(1, len(a.curve) // 12)],
        [
            ("score >=", "threshold", 1),
            ("MQLs / month", "mqls_per_month", 0),
            ("precision", "precision", 3),
            ("recall", "recall", 3),
        ],
    )
    console.print(f"threshold advice: {a.reason}", highlight=False)


def print_feedback(r: FeedbackReport) -> None:
    """What sales' verdicts say."""
    for dim, df in r.by.items():
        print_frame(
            f"sales verdicts by {dim}",
            df.head(10),
            [
                (dim, dim, None),
                ("verdicts", "verdicts", 0),
                ("accept", "accept_rate", 3),
                ("reject", "reject_rate", 3),
                ("recycle", "recycle_rate", 3),
                ("top reject reason", "top_reject_reason", None),
            ],
        )
    print_frame(
        "reasons",
        r.reasons.head(10),
        [("action", "action", None), ("reason", "reason", None), ("verdicts", "verdicts", 0)],
    )
    print_frame(
        "reps",
        r.reps,
        [
            ("rep", "rep", None),
            ("verdicts", "verdicts", 0),
            ("accept", "accept_rate", 3),
            ("reject", "reject_rate", 3),
        ],
    )
    print_frame(
        "rules against outcomes (z: difference in conversion, in standard errors)",
        r.rules,
        [
            ("rule", "rule", None),
            ("points", "points", 0),
            ("rows hit", "rows_hit", 0),
            ("rate hit", "rate_hit", 3),
            ("rate not", "rate_not_hit", 3),
            ("z", "z", 1),
            ("rejected", "reject_rate_when_hit", 3),
            ("recycled", "recycle_rate_when_hit", 3),
            ("top reason", "top_reason_when_hit", None),
            ("disagrees", "disagrees", None),
        ],
    )
    flagged = r.rules[r.rules.disagrees]
    for row in flagged.itertuples():
        console.print(
            f"rule {row.rule} gives {row.points:+g} points, but leads it fires for converted at "
            f"{row.rate_hit:.1%} against {row.rate_not_hit:.1%} without it (z = {row.z:.1f})",
            highlight=False,
        )


@friendly
def compare_command(
    first: Annotated[Path, typer.Argument(help="The proposed pact; with two files, the old one first.")],
    second: Annotated[Path | None, typer.Argument(help="The proposed pact, when OLD is a file too.")] = None,
    start: FromOpt = None,
    end: ToOpt = None,
    every: EveryOpt = 30.0,
    horizon: HorizonOpt = 90.0,
    capacity: CapacityOpt = None,
    model: ModelOpt = "default",
    url: UrlOpt = None,
) -> None:
    """Back-test the active pact (or OLD) and NEW on the same history, with the MQLs NEW adds and drops."""
    from accord.store import connect
    from accord.workflows import evidence

    old, new = (first, second) if second is not None else (None, first)
    spec = _spec(start, end, every, horizon, capacity, model)
    with connect(url) as store, work_bar("comparing") as tick:
        c = evidence.compare(store, old, new, spec, progress=tick)
    print_comparison(c)


def print_comparison(c: PactComparison) -> None:
    """The two pacts' headline metrics and the one-line verdict."""
    console.rule(f"[bold]{c.old.pact} (old) against {c.new.pact} (new)")
    print_frame(
        "same history, same snapshots",
        c.table,
        [("metric", "metric", None), ("old", "old", 3), ("new", "new", 3)],
    )
    console.print(c.sentence, highlight=False)
