"""`accord attribute`: credit conversions and revenue to channels by one model or all side by side."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from accord.cli._console import console, friendly, print_frame
from accord.cli._score import parse_instant
from accord.errors import AttributionError
from accord.model.vocab import Conversion

if TYPE_CHECKING:
    import pandas as pd

    from accord.attribution import Attribution

_LOOKBACK = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(d|days?|t|touch(?:es)?)\s*$", re.IGNORECASE)


def parse_lookback(text: str | None) -> tuple[float | None, int | None]:
    """`365d`, `20touches` or both (`90d,20t`) as (days, touches)."""
    days: float | None = None
    touches: int | None = None
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        m = _LOOKBACK.match(part)
        if not m:
            raise AttributionError(f"--lookback {part!r}: write days (365d) and/or touches (20touches)")
        if m.group(2).lower().startswith("d"):
            days = float(m.group(1))
        else:
            touches = int(float(m.group(1)))
    return days, touches


@friendly
def attribute_command(
    source: Annotated[
        Path | None,
        typer.Argument(help="Journey file (path, touch-level or tutorial format); omit to use the store."),
    ] = None,
    model: Annotated[
        str, typer.Option("--model", "-m", help="Models, comma-separated, e.g. first_touch,markov(order=2).")
    ] = "linear",
    compare: Annotated[bool, typer.Option("--compare", help="Run every model side by side.")] = False,
    conversion: Annotated[
        Conversion, typer.Option(help="What converts (store journeys).", case_sensitive=False)
    ] = Conversion.OPPORTUNITY,
    per: Annotated[str, typer.Option(help="Journeys per lead or per account.")] = "lead",
    lookback: Annotated[str | None, typer.Option(help="Window: 365d, 20touches, or 90d,20touches.")] = None,
    by: Annotated[
        str, typer.Option(help="Break credit down by channel, campaign, touch_type or team.")
    ] = "channel",
    output: Annotated[str, typer.Option(help="table, json or csv.")] = "table",
    to: Annotated[Path | None, typer.Option("--to", help="Write json/csv here instead of stdout.")] = None,
    sep: Annotated[str, typer.Option(help="Channel separator in path files.")] = ">",
    spend: Annotated[Path | None, typer.Option(help="Spend per channel (CSV: channel, amount).")] = None,
    truth: Annotated[
        Path | None, typer.Option(help="Generator ground_truth.json: print each model's distance to it.")
    ] = None,
    details: Annotated[
        Path | None,
        typer.Option(
            help="Folder for each model's workings: Markov transition matrix and removal effects, "
            "Shapley coalitions, incrementality intervals (CSV)."
        ),
    ] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Ignore what happened after (ISO, UTC).")
    ] = None,
    url: Annotated[str | None, typer.Option(help="Store URL (default $ACCORD_URL or accord.duckdb).")] = None,
) -> None:
    """Credit conversions and value to channels; with --compare, every model in one table."""
    from accord.attribution.models import DEFAULT_COMPARISON, split_models
    from accord.workflows.attribution import attribute

    if output not in ("table", "json", "csv"):
        raise AttributionError(f"--output must be table, json or csv, not {output!r}")
    if per not in ("lead", "account"):
        raise AttributionError(f"--per must be lead or account, not {per!r}")
    days, touches = parse_lookback(lookback)
    done = attribute(
        url,
        source,
        list(DEFAULT_COMPARISON) if compare else split_models(model),
        conversion=conversion,
        per="lead" if per == "lead" else "account",
        lookback_days=days,
        lookback_touches=touches,
        as_of=parse_instant(as_of) if as_of else None,
        by=by,
        sep=sep,
        spend_file=spend,
        strict=not compare,
        teams=output == "table",
        details=details,
    )
    if details is not None:
        console.print(f"wrote each model's workings to {details}", highlight=False)
    if output != "table":
        _write(done.attribution.credit, output, to)
        return
    _print(done.attribution, done.teams, done.team_split, truth)


def _write(credit: pd.DataFrame, fmt: Literal["json", "csv"] | str, to: Path | None) -> None:
    if fmt == "csv":
        text = credit.to_csv(index=False)
    else:
        text = json.dumps(credit.to_dict(orient="records"), indent=2, default=float) + "\n"
    if to is None:
        sys.stdout.write(text)
    else:
        to.write_text(text, encoding="utf-8")
        console.print(f"wrote {len(credit):,} rows to {to}", highlight=False)


def print_comparison(result: Attribution, measure: str = "conversions", title: str = "") -> None:
    """Channels down, models across, with a total row."""
    import pandas as pd

    wide = result.wide(measure)
    digits = 1 if measure == "conversions" else 0
    keys = [str(k) for k in wide.index.names]
    flat = wide.reset_index()
    flat.columns = [str(c) for c in flat.columns]
    total: dict[str, object] = {k: ("total" if i == 0 else "") for i, k in enumerate(keys)}
    total.update({str(m): float(wide[m].sum()) for m in wide.columns})
    flat = pd.concat([flat, pd.DataFrame([total])], ignore_index=True)
    spec: list[tuple[str, str, int | None]] = [(k, k, None) for k in keys]
    spec += [(str(m), str(m), digits) for m in wide.columns]
    print_frame(title, flat, spec)


def print_teams(teams: pd.DataFrame) -> None:
    """Conversions and value each team sourced (first touch) and influenced (any touch)."""
    if teams.empty:
        return
    print_frame(
        "teams: sourced (first touch) and influenced (any touch)",
        teams,
        [
            ("team", "team", None),
            ("sourced conv", "sourced_conversions", 1),
            ("sourced value", "sourced_value", 0),
            ("influenced conv", "influenced_conversions", 1),
            ("influenced value", "influenced_value", 0),
        ],
    )


def _print(
    result: Attribution, teams: pd.DataFrame | None, team_split: pd.DataFrame | None, truth: Path | None
) -> None:
    import pandas as pd

    from accord.attribution.models.incrementality import Incrementality
    from accord.attribution.models.markov import Markov

    j = result.journeys
    console.print(
        f"{j['journeys']:,.0f} journeys, {j['touches']:,.0f} touches, {j['conversions']:,.0f} conversions, "
        f"value {j['value']:,.2f}",
        highlight=False,
    )
    print_comparison(result, "conversions", "conversions credited")
    if j["value"]:
        print_comparison(result, "value", "value credited")
    for label, m in result.models.items():
        if isinstance(m, Markov) and len(result.models) == 1:
            print_frame(
                f"{label}: removal effects",
                m.removal_effects_,
                [
                    ("channel", "channel", None),
                    ("conversions", "removal_effect", 4),
                    ("value", "value_removal_effect", 4),
                ],
            )
        if isinstance(m, Incrementality):
            inc = pd.concat(
                [m.incremental_, pd.DataFrame([{"channel": "baseline", "incremental": m.baseline_}])],
                ignore_index=True,
            )
            print_frame(
                f"{label}: incremental conversions (95% bootstrap)",
                inc,
                [
                    ("channel", "channel", None),
                    ("incremental", "incremental", 1),
                    ("low", "incremental_low", 1),
                    ("high", "incremental_high", 1),
                ],
            )
    if result.spend is not None and result.models:
        ref = next(iter(result.models))
        ref = next((k for k, v in result.models.items() if isinstance(v, Incrementality)), ref)
        roi = result.roi(ref).reset_index(names="channel")
        print_frame(
            f"spend and return ({ref})",
            roi,
            [
                ("channel", "channel", None),
                ("spend", "spend", 0),
                ("conversions", "conversions", 1),
                ("value", "value", 0),
                ("cost/conv", "cost_per_conversion", 0),
                ("ROAS", "roas", 2),
            ],
        )
        tip = result.budget_suggestion()
        if tip:
            console.print(f"budget: {tip}", highlight=False)
    if teams is not None:
        print_teams(teams)
    if team_split is not None and not team_split.empty:
        w = team_split.pivot_table(index="team", columns="model", values="conversions", aggfunc="sum")
        cols = [m for m in result.models if m in w.columns]
        flat = w[cols].reset_index()
        print_frame(
            "conversions credited by team",
            flat,
            [("team", "team", None), *[(m, m, 1) for m in cols]],
        )
    if truth is not None:
        key = "true_incremental_opportunities"
        try:
            data = json.loads(truth.read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise AttributionError(f"--truth {truth}: cannot read it as JSON ({exc})") from None
        if not isinstance(data, dict) or not isinstance(data.get(key), dict):
            raise AttributionError(
                f"--truth {truth}: no {key!r} object (write `accord generate`'s ground_truth.json)"
            )
        dist = result.distance_to(data[key])
        console.print(
            "distance to the true incremental shares (half L1, lower is better): "
            + ", ".join(f"{m} {d:.3f}" for m, d in sorted(dist.items(), key=lambda kv: kv[1])),
            highlight=False,
        )
    for label, why in result.skipped.items():
        console.print(f"skipped {label}: {why}", highlight=False)
    for note in result.notes:
        console.print(f"note: {note}", highlight=False)
