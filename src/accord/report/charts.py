"""The review's charts as Vega-Lite specs (built with Altair), each with its data as a table and alt text.

Built from the typed results only: the report renders these as inline SVG, and the dashboard can
embed the same specs. Colours are one palette across charts: marketing blue, sales orange.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import altair as alt
import pandas as pd

from accord.evaluation.funnel import STAGE_NAMES, FunnelReport
from accord.evaluation.results import BacktestMetrics, Comparison

BLUE, ORANGE, GREY, GREEN, RED = "#2f6fb0", "#e07b28", "#9aa5b1", "#3a9a5b", "#c8453b"
FONT = "Helvetica, Arial, sans-serif"
WIDTH = 560


@dataclass
class Table:
    """A chart's data (or any figure's) as rows of formatted text."""

    headers: list[str]
    rows: list[list[str]]
    numeric: list[bool] = field(default_factory=list)
    """Which columns hold numbers (right-aligned)."""


@dataclass
class Figure:
    """One chart: what it is called, what it shows in words, its spec and its data."""

    key: str
    title: str
    alt: str
    spec: dict[str, Any]
    table: Table
    half: bool = False
    """Narrow enough to sit beside another on a page."""


def pct(x: float | None, digits: int = 1) -> str:
    """`12.3%`, or an en dash for a missing value."""
    return "\u2013" if x is None or x != x else f"{x:.{digits}%}"


def num(x: float | None, digits: int = 0) -> str:
    """`12,345`, or an en dash."""
    return "\u2013" if x is None or x != x else f"{x:,.{digits}f}"


def _spec(chart: Any) -> dict[str, Any]:
    configured = (
        chart.configure(font=FONT, background="white")
        .configure_view(stroke=None)
        .configure_axis(labelFontSize=11, titleFontSize=12, gridColor="#e6e9ee")
    )
    out: dict[str, Any] = configured.to_dict()
    return out


def _table(frame: pd.DataFrame, formats: dict[str, Any]) -> Table:
    """The columns named in `formats` (a formatter each, `str` for text), row by row."""
    columns = [[fmt(v) for v in frame[col].tolist()] for col, fmt in formats.items()]
    rows = [list(r) for r in zip(*columns, strict=True)] if columns else []
    numeric = [fmt is not str for fmt in formats.values()]
    return Table(headers=list(formats), rows=rows, numeric=numeric)


# ------------------------------------------------------------------------------------ funnel
def funnel_stages(f: FunnelReport) -> Figure:
    """Leads reaching each stage, with the step rate into it."""
    df = pd.DataFrame(
        [
            {
                "stage": STAGE_NAMES[s.stage],
                "leads": s.leads,
                "share": s.share_of_leads,
                "step": s.from_previous,
                "days": s.median_days_from_previous,
            }
            for s in f.stages
        ]
    )
    df["label"] = [
        f"{n:,}" + (f"  ({pct(st)} of the stage before)" if st is not None and st == st else "")
        for n, st in zip(df.leads, df.step, strict=True)
    ]
    order = list(df.stage)
    base = alt.Chart(df).encode(
        y=alt.Y("stage:N", sort=order, title=None),
        x=alt.X("leads:Q", title="leads"),
    )
    chart = (
        base.mark_bar(color=BLUE) + base.mark_text(align="left", dx=4, fontSize=11).encode(text="label:N")
    ).properties(width=WIDTH - 140, height=34 * len(df))
    alt_text = "Bar chart of leads reaching each stage: " + "; ".join(
        f"{r.stage} {r.leads:,}" for r in df.itertuples()
    )
    table = _table(
        df.rename(columns={"stage": "Stage"}).assign(
            **{
                "Leads": df.leads,
                "Share of leads": df.share,
                "From the stage before": df.step,
                "Median days from it": df.days,
            }
        ),
        {
            "Stage": str,
            "Leads": num,
            "Share of leads": pct,
            "From the stage before": pct,
            "Median days from it": lambda x: num(x, 1),
        },
    )
    return Figure("funnel-stages", "Leads reaching each stage", alt_text, _spec(chart), table)


def funnel_by_month(f: FunnelReport) -> Figure:
    """Per month of lead creation: leads, and the shares that became MQLs and won."""
    df = pd.DataFrame([r.model_dump() for r in f.by_month])
    long = df.melt(
        id_vars=["key"], value_vars=["lead_to_mql", "lead_to_won"], var_name="rate", value_name="value"
    )
    long["rate"] = long.rate.map({"lead_to_mql": "became MQL", "lead_to_won": "closed won"})
    chart = (
        alt.Chart(long)
        .mark_line(point=True)
        .encode(
            x=alt.X("key:O", title="month the lead was created"),
            y=alt.Y("value:Q", title="share of the month's leads", axis=alt.Axis(format="%")),
            color=alt.Color(
                "rate:N", title=None, scale=alt.Scale(range=[BLUE, GREEN]), legend=alt.Legend(orient="top")
            ),
            tooltip=["key", "rate", alt.Tooltip("value:Q", format=".1%")],
        )
        .properties(width=WIDTH, height=220)
    )
    table = _table(
        df.rename(columns={"key": "Month"}).assign(
            Leads=df.leads,
            MQLs=df.mql,
            Opportunities=df.opportunity,
            Won=df.won,
            **{"Lead to MQL": df.lead_to_mql, "Lead to won": df.lead_to_won},
        ),
        {
            "Month": str,
            "Leads": num,
            "MQLs": num,
            "Opportunities": num,
            "Won": num,
            "Lead to MQL": pct,
            "Lead to won": pct,
        },
    )
    alt_text = (
        "Line chart per month of the share of leads that became MQLs and that closed won; "
        + "; ".join(f"{r.key}: {pct(r.lead_to_mql)} MQL, {pct(r.lead_to_won)} won" for r in f.by_month)
    )
    return Figure("funnel-month", "Conversion by month of lead creation", alt_text, _spec(chart), table)


def funnel_by_source(f: FunnelReport) -> Figure:
    """Per source: the share of leads that became MQLs, opportunities and won."""
    df = pd.DataFrame([r.model_dump() for r in f.by_source])
    df["lead_to_opportunity"] = df.opportunity / df.leads.where(df.leads > 0)
    long = df.melt(
        id_vars=["key"],
        value_vars=["lead_to_mql", "lead_to_opportunity", "lead_to_won"],
        var_name="rate",
        value_name="value",
    )
    names = {
        "lead_to_mql": "became MQL",
        "lead_to_opportunity": "became opportunity",
        "lead_to_won": "closed won",
    }
    long["rate"] = long.rate.map(names)
    chart = (
        alt.Chart(long)
        .mark_bar()
        .encode(
            y=alt.Y("key:N", title=None, sort=list(df.key)),
            x=alt.X("value:Q", title="share of the source's leads", axis=alt.Axis(format="%")),
            color=alt.Color(
                "rate:N",
                title=None,
                sort=list(names.values()),
                scale=alt.Scale(range=[BLUE, ORANGE, GREEN]),
                legend=alt.Legend(orient="top"),
            ),
            yOffset=alt.YOffset("rate:N", sort=list(names.values())),
        )
        .properties(width=WIDTH - 120, height=alt.Step(9))
    )
    table = _table(
        df.rename(columns={"key": "Source"}).assign(
            Leads=df.leads,
            MQLs=df.mql,
            Won=df.won,
            **{
                "Lead to MQL": df.lead_to_mql,
                "Lead to opportunity": df.lead_to_opportunity,
                "Lead to won": df.lead_to_won,
            },
        ),
        {
            "Source": str,
            "Leads": num,
            "MQLs": num,
            "Won": num,
            "Lead to MQL": pct,
            "Lead to opportunity": pct,
            "Lead to won": pct,
        },
    )
    alt_text = (
        "Grouped bar chart per source of the share of leads that became MQLs, opportunities and won; "
        + "; ".join(f"{r.key}: {pct(r.lead_to_won)} won" for r in f.by_source)
    )
    return Figure("funnel-source", "Conversion by source", alt_text, _spec(chart), table)


# ------------------------------------------------------------------------------------ the pact on history
def grade_band_heatmap(m: BacktestMetrics) -> Figure:
    """Conversion of each grade x band cell: the A1..D4 matrix."""
    df = pd.DataFrame(
        [{"grade": r.grade, "band": r.band, "leads": r.leads, "rate": r.rate} for r in m.grade_band]
    )
    df["cell"] = df.grade.astype(str) + df.band.astype(str)
    df["label"] = [f"{pct(r)}\n{n:,}" for r, n in zip(df.rate, df.leads, strict=True)]
    base = alt.Chart(df).encode(
        x=alt.X("band:O", title="engagement band (1 most engaged)"),
        y=alt.Y("grade:O", title="fit grade (A best)"),
    )
    heat = base.mark_rect().encode(
        color=alt.Color(
            "rate:Q", title="conversion", scale=alt.Scale(scheme="blues"), legend=alt.Legend(format="%")
        )
    )
    text = base.mark_text(fontSize=12, lineBreak="\n").encode(
        text="label:N",
        color=alt.condition(alt.datum.rate > df.rate.max() * 0.6, alt.value("white"), alt.value("black")),
    )
    chart = (heat + text).properties(width=320, height=240)
    table = _table(
        df.assign(Cell=df.cell, Leads=df.leads, Conversion=df.rate),
        {"Cell": str, "Leads": num, "Conversion": pct},
    )
    best = df.sort_values("rate", ascending=False).iloc[0] if len(df) else None
    alt_text = "Heat map of conversion by fit grade and engagement band" + (
        f"; the best cell is {best.cell} at {pct(best.rate)}" if best is not None else ""
    )
    title = "Conversion by grade and band (each cell: rate, snapshot leads)"
    return Figure("grade-band", title, alt_text, _spec(chart), table, half=True)


def calibration(m: BacktestMetrics) -> Figure:
    """Predicted against observed conversion per band."""
    df = pd.DataFrame([r.model_dump() for r in m.calibration])
    top = float(max(df.predicted.max(), df.observed.max(), 0.01)) * 1.1 if len(df) else 1.0
    line = (
        alt.Chart(pd.DataFrame({"x": [0, top], "y": [0, top]}))
        .mark_line(color=GREY, strokeDash=[4, 4])
        .encode(x="x:Q", y="y:Q")
    )
    pts = (
        alt.Chart(df)
        .mark_circle(size=90, color=BLUE)
        .encode(
            x=alt.X(
                "predicted:Q",
                title="predicted conversion",
                axis=alt.Axis(format="%"),
                scale=alt.Scale(domain=[0, top]),
            ),
            y=alt.Y(
                "observed:Q",
                title="observed conversion",
                axis=alt.Axis(format="%"),
                scale=alt.Scale(domain=[0, top]),
            ),
        )
    )
    labels = (
        alt.Chart(df)
        .mark_text(dx=8, align="left", fontSize=11)
        .encode(x="predicted:Q", y="observed:Q", text="band:N")
    )
    chart = (line + pts + labels).properties(width=300, height=300)
    table = _table(
        df.assign(Band=df.band, Leads=df.leads, Predicted=df.predicted, Observed=df.observed),
        {"Band": str, "Leads": num, "Predicted": pct, "Observed": pct},
    )
    alt_text = (
        "Scatter of predicted against observed conversion per score band; points on the dashed "
        "diagonal are well calibrated"
    )
    return Figure(
        "calibration", "Calibration: predicted against observed", alt_text, _spec(chart), table, half=True
    )


def gains(m: BacktestMetrics) -> Figure:
    """Cumulative gains by score decile, against picking leads at random."""
    df = pd.DataFrame([r.model_dump() for r in m.gains])
    curve = pd.concat(
        [
            pd.DataFrame({"cumulative_share_of_leads": [0.0], "cumulative_gain": [0.0]}),
            df[["cumulative_share_of_leads", "cumulative_gain"]],
        ]
    )
    diag = (
        alt.Chart(pd.DataFrame({"x": [0, 1], "y": [0, 1]}))
        .mark_line(color=GREY, strokeDash=[4, 4])
        .encode(x="x:Q", y="y:Q")
    )
    line = (
        alt.Chart(curve)
        .mark_line(point=True, color=BLUE)
        .encode(
            x=alt.X(
                "cumulative_share_of_leads:Q",
                title="share of leads, highest scores first",
                axis=alt.Axis(format="%"),
            ),
            y=alt.Y("cumulative_gain:Q", title="share of conversions caught", axis=alt.Axis(format="%")),
        )
    )
    chart = (diag + line).properties(width=300, height=300)
    table = _table(
        df.assign(
            Decile=df.group.astype(int),
            Leads=df.leads,
            Conversion=df.rate,
            Lift=df.lift,
            **{"Conversions caught": df.cumulative_gain},
        ),
        {
            "Decile": str,
            "Leads": num,
            "Conversion": pct,
            "Lift": lambda x: num(x, 2),
            "Conversions caught": pct,
        },
    )
    first = m.gains[0] if m.gains else None
    alt_text = "Cumulative gains curve against the random diagonal" + (
        f"; the top decile holds {pct(first.cumulative_gain)} of conversions" if first else ""
    )
    title = "Gains: conversions caught by working the top scores first"
    return Figure("gains", title, alt_text, _spec(chart), table, half=True)


def lift(m: BacktestMetrics) -> Figure:
    """Lift of each score decile over the average lead."""
    df = pd.DataFrame([r.model_dump() for r in m.gains])
    chart = (
        alt.Chart(df)
        .mark_bar(color=BLUE)
        .encode(
            x=alt.X("group:O", title="score decile (1 highest)"),
            y=alt.Y("lift:Q", title="conversion / average conversion"),
        )
        + alt.Chart(pd.DataFrame({"y": [1.0]})).mark_rule(color=RED, strokeDash=[4, 4]).encode(y="y:Q")
    ).properties(width=300, height=300)
    table = _table(
        df.assign(Decile=df.group.astype(int), Lift=df.lift), {"Decile": str, "Lift": lambda x: num(x, 2)}
    )
    alt_text = "Bar chart of lift per score decile; the dashed line at 1 is the average lead"
    return Figure("lift", "Lift by score decile", alt_text, _spec(chart), table, half=True)


def volume(m: BacktestMetrics, capacity: float | None) -> Figure:
    """New MQLs per month against sales capacity."""
    df = pd.DataFrame([r.model_dump() for r in m.volume])
    df["month"] = pd.to_datetime(df.snapshot).dt.strftime("%Y-%m")
    bars = (
        alt.Chart(df)
        .mark_bar()
        .encode(
            x=alt.X("month:O", title="snapshot"),
            y=alt.Y("per_month:Q", title="new MQLs per month"),
            color=alt.condition(alt.datum.over_capacity == True, alt.value(ORANGE), alt.value(BLUE)),  # noqa: E712
        )
    )
    layers: Any = bars
    if capacity:
        layers = bars + alt.Chart(pd.DataFrame({"y": [capacity]})).mark_rule(color=RED, strokeWidth=2).encode(
            y="y:Q"
        )
    chart = layers.properties(width=WIDTH, height=220)
    table = _table(
        df.assign(
            Snapshot=df.month,
            **{
                "New MQLs": df.new_mqls,
                "Per month": df.per_month,
                "Over capacity": df.over_capacity.map({True: "yes", False: "no"}).fillna("\u2013"),
            },
        ),
        {"Snapshot": str, "New MQLs": num, "Per month": num, "Over capacity": str},
    )
    alt_text = "Bar chart of new MQLs per month" + (
        f" against a capacity of {capacity:,.0f} (red line); months over capacity are orange"
        if capacity
        else ""
    )
    return Figure("volume", "MQL volume against sales capacity", alt_text, _spec(chart), table)


# ------------------------------------------------------------------------------------ the proposal
PROPOSAL_METRICS = (
    "AUC",
    "MQL precision (converted)",
    "MQL recall",
    "MQL to SAL (accepted)",
    "MQL to opportunity",
    "MQL to won",
)
"""Metrics on a 0-1 scale, so one axis reads them all (the full list is in the table)."""


def proposal_metrics(c: Comparison) -> Figure:
    """The headline metrics of the pact in force and the draft, side by side."""
    rows = [r for r in c.metrics if r.metric in PROPOSAL_METRICS]
    df = pd.DataFrame([{"metric": r.metric, "in force": r.old, "draft": r.new} for r in rows])
    long = df.melt(id_vars=["metric"], var_name="pact", value_name="value")
    chart = (
        alt.Chart(long)
        .mark_bar()
        .encode(
            y=alt.Y("metric:N", title=None, sort=list(PROPOSAL_METRICS)),
            x=alt.X("value:Q", title=None, scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")),
            color=alt.Color(
                "pact:N",
                title=None,
                sort=["in force", "draft"],
                scale=alt.Scale(range=[GREY, BLUE]),
                legend=alt.Legend(orient="top"),
            ),
            yOffset=alt.YOffset("pact:N", sort=["in force", "draft"]),
        )
        .properties(width=WIDTH - 200, height=alt.Step(12))
    )
    all_rows = pd.DataFrame([{"Metric": r.metric, "In force": r.old, "Draft": r.new} for r in c.metrics])
    table = _table(all_rows, {"Metric": str, "In force": lambda x: num(x, 3), "Draft": lambda x: num(x, 3)})
    alt_text = "Bars of each headline metric for the pact in force and the draft; " + "; ".join(
        f"{r.metric}: {pct(r.old)} now, {pct(r.new)} draft" for r in rows
    )
    return Figure(
        "proposal", "The pact in force and the draft, on the same snapshots", alt_text, _spec(chart), table
    )


# ------------------------------------------------------------------------------------ credit
def credit_heatmap(credit: list[Any], total: float) -> Figure:
    """Each model's share of the value per channel: where the models agree and where they fight."""
    df = pd.DataFrame(
        [
            {"model": c.model, "channel": c.channel, "value": c.value, "conversions": c.conversions}
            for c in credit
        ]
    )
    df = df.groupby(["model", "channel"], as_index=False, sort=False)[["value", "conversions"]].sum()
    measure = "value" if total else "conversions"
    sums = df.groupby("model")[measure].transform("sum")
    df["share"] = df[measure] / sums.where(sums != 0)
    models = list(dict.fromkeys(df.model))
    channels = list(df.groupby("channel")["share"].mean().sort_values(ascending=False).index)
    df["label"] = [pct(s, 0) for s in df.share]
    base = alt.Chart(df).encode(
        x=alt.X("model:N", sort=models, title=None, axis=alt.Axis(labelAngle=-35)),
        y=alt.Y("channel:N", sort=channels, title=None),
    )
    heat = base.mark_rect().encode(
        color=alt.Color(
            "share:Q", title="share", scale=alt.Scale(scheme="oranges"), legend=alt.Legend(format="%")
        )
    )
    text = base.mark_text(fontSize=10).encode(
        text="label:N", color=alt.condition(alt.datum.share > 0.5, alt.value("white"), alt.value("black"))
    )
    chart = (heat + text).properties(width=alt.Step(48), height=alt.Step(22))
    wide = df.pivot_table(index="channel", columns="model", values="share", aggfunc="sum").reindex(
        index=channels, columns=models
    )
    table = Table(
        headers=["Channel", *models],
        rows=[[ch, *[pct(v, 1) for v in wide.loc[ch]]] for ch in channels],
        numeric=[False] + [True] * len(models),
    )
    alt_text = (
        f"Heat map of each attribution model's share of {measure} per channel; models across, channels down"
    )
    return Figure(
        "credit", f"Share of {measure} credited to each channel, by model", alt_text, _spec(chart), table
    )


def team_bars(teams: list[Any], total: float) -> Figure:
    """Value marketing and sales sourced (first touch) and influenced (any touch)."""
    df = pd.DataFrame([t.model_dump() for t in teams])
    long = pd.DataFrame(
        [
            {"team": t.team, "how": how, "value": getattr(t, f"{key}_value")}
            for t in teams
            for how, key in (("sourced (first touch)", "sourced"), ("influenced (any touch)", "influenced"))
        ]
    )
    chart = (
        alt.Chart(long)
        .mark_bar()
        .encode(
            y=alt.Y("team:N", title=None),
            x=alt.X("value:Q", title="value", axis=alt.Axis(format="~s")),
            color=alt.Color(
                "team:N", scale=alt.Scale(domain=["marketing", "sales"], range=[BLUE, ORANGE]), legend=None
            ),
            opacity=alt.Opacity(
                "how:N", scale=alt.Scale(range=[1.0, 0.45]), title=None, legend=alt.Legend(orient="top")
            ),
            yOffset="how:N",
        )
        .properties(width=WIDTH - 140, height=alt.Step(16))
    )
    table = _table(
        df.assign(
            Team=df.team,
            **{
                "Sourced conversions": df.sourced_conversions,
                "Sourced value": df.sourced_value,
                "Influenced conversions": df.influenced_conversions,
                "Influenced value": df.influenced_value,
            },
        ),
        {
            "Team": str,
            "Sourced conversions": num,
            "Sourced value": num,
            "Influenced conversions": num,
            "Influenced value": num,
        },
    )
    alt_text = "Bars of the value each team sourced and influenced; " + "; ".join(
        f"{t.team} sourced {num(t.sourced_value)}" for t in teams
    )
    return Figure("teams", "Marketing-sourced and sales-sourced value", alt_text, _spec(chart), table)


def roi_bars(roi: list[Any], model: str) -> Figure:
    """Spend against credited value per channel, under one model."""
    df = pd.DataFrame([r.model_dump() for r in roi])
    long = df.melt(id_vars=["channel"], value_vars=["spend", "value"], var_name="what", value_name="amount")
    long["what"] = long.what.map({"spend": "spend", "value": f"value credited ({model})"})
    order = list(df.sort_values("value", ascending=False).channel)
    chart = (
        alt.Chart(long)
        .mark_bar()
        .encode(
            y=alt.Y("channel:N", sort=order, title=None),
            x=alt.X("amount:Q", title=None, axis=alt.Axis(format="~s")),
            color=alt.Color(
                "what:N", title=None, scale=alt.Scale(range=[GREY, BLUE]), legend=alt.Legend(orient="top")
            ),
            yOffset="what:N",
        )
        .properties(width=WIDTH - 140, height=alt.Step(9))
    )
    table = _table(
        df.assign(
            Channel=df.channel,
            Spend=df.spend,
            Conversions=df.conversions,
            Value=df.value,
            **{"Cost per conversion": df.cost_per_conversion, "Return on spend": df.roas},
        ),
        {
            "Channel": str,
            "Spend": num,
            "Conversions": lambda x: num(x, 1),
            "Value": num,
            "Cost per conversion": num,
            "Return on spend": lambda x: num(x, 2),
        },
    )
    alt_text = f"Bars of spend and value credited by {model} per channel"
    return Figure("roi", f"Spend and credited value by channel ({model})", alt_text, _spec(chart), table)


# ------------------------------------------------------------------------------------ feedback
def verdicts_by_month(months: list[Any]) -> Figure:
    """Accept, reject and recycle rates per month."""
    df = pd.DataFrame([m.model_dump() for m in months])
    long = df.melt(
        id_vars=["month", "verdicts"],
        value_vars=["accept_rate", "reject_rate", "recycle_rate"],
        var_name="verdict",
        value_name="rate",
    )
    names = {"accept_rate": "accepted", "recycle_rate": "recycled", "reject_rate": "rejected"}
    long["verdict"] = long.verdict.map(names)
    chart = (
        alt.Chart(long)
        .mark_bar()
        .encode(
            x=alt.X("month:O", title=None),
            y=alt.Y("rate:Q", title="share of verdicts", axis=alt.Axis(format="%"), stack="normalize"),
            color=alt.Color(
                "verdict:N",
                title=None,
                sort=list(names.values()),
                scale=alt.Scale(domain=["accepted", "recycled", "rejected"], range=[GREEN, ORANGE, RED]),
                legend=alt.Legend(orient="top"),
            ),
            order=alt.Order("verdict:N"),
        )
        .properties(width=WIDTH, height=200)
    )
    table = _table(
        df.assign(
            Month=df.month,
            Verdicts=df.verdicts,
            Accepted=df.accept_rate,
            Rejected=df.reject_rate,
            Recycled=df.recycle_rate,
            **{"Top reason turned down": df.top_reason},
        ),
        {
            "Month": str,
            "Verdicts": num,
            "Accepted": pct,
            "Rejected": pct,
            "Recycled": pct,
            "Top reason turned down": str,
        },
    )
    alt_text = "Stacked bars per month of the shares of MQLs sales accepted, recycled and rejected"
    return Figure("verdicts", "Sales' verdicts by month", alt_text, _spec(chart), table)


def reasons(rows: list[Any]) -> Figure:
    """How often each reason was given for rejecting or recycling."""
    df = pd.DataFrame([r.model_dump() for r in rows])
    chart = (
        alt.Chart(df)
        .mark_bar()
        .encode(
            y=alt.Y("reason:N", title=None, sort="-x"),
            x=alt.X("verdicts:Q", title="verdicts"),
            color=alt.Color(
                "action:N",
                title=None,
                scale=alt.Scale(domain=["reject", "recycle"], range=[RED, ORANGE]),
                legend=alt.Legend(orient="top"),
            ),
        )
        .properties(width=WIDTH - 160, height=alt.Step(18))
    )
    table = _table(
        df.assign(Reason=df.reason, Verdict=df.action, Verdicts=df.verdicts),
        {"Reason": str, "Verdict": str, "Verdicts": num},
    )
    alt_text = "Bars of the reasons sales gave for rejecting or recycling MQLs; " + "; ".join(
        f"{r.reason} {r.verdicts:,}" for r in rows[:5]
    )
    return Figure("reasons", "Why sales turned MQLs down", alt_text, _spec(chart), table)


# ------------------------------------------------------------------------------------ the dashboard
def mqls_by_month(months: list[Any], capacity: float | None) -> Figure:
    """Leads that became MQLs each month (live), against sales capacity."""
    df = pd.DataFrame([{"month": m.month, "mqls": m.mqls} for m in months], columns=["month", "mqls"])
    df["over"] = [bool(capacity) and n > (capacity or 0) for n in df.mqls]
    bars = (
        alt.Chart(df)
        .mark_bar()
        .encode(
            x=alt.X("month:O", title="month"),
            y=alt.Y("mqls:Q", title="new MQLs"),
            color=alt.condition(alt.datum.over == True, alt.value(ORANGE), alt.value(BLUE)),  # noqa: E712
            tooltip=["month:O", "mqls:Q"],
        )
    )
    layers: Any = bars
    if capacity:
        layers = bars + alt.Chart(pd.DataFrame({"y": [capacity]})).mark_rule(color=RED, strokeWidth=2).encode(
            y="y:Q"
        )
    table = _table(
        df.assign(Month=df.month, MQLs=df.mqls, **{"Over capacity": df.over.map({True: "yes", False: "no"})}),
        {"Month": str, "MQLs": num, "Over capacity": str},
    )
    alt_text = "Bar chart of leads that became MQLs each month" + (
        f" against a capacity of {capacity:,.0f} a month (red line); months over it are orange"
        if capacity
        else ""
    )
    return Figure(
        "mqls-month",
        "New MQLs each month",
        alt_text,
        _spec(layers.properties(width=WIDTH, height=200)),
        table,
    )


def score_distribution(buckets: list[Any]) -> Figure:
    """Leads by current score, in tens, MQLs apart."""
    df = pd.DataFrame(
        [{"low": b.low, "leads": b.leads, "mqls": b.mqls} for b in buckets], columns=["low", "leads", "mqls"]
    )
    df["range"] = [f"{lo:.0f}-{lo + 10:.0f}" for lo in df.low]
    df["others"] = df.leads - df.mqls
    long = df.melt(id_vars=["range", "low"], value_vars=["mqls", "others"], var_name="kind", value_name="n")
    long["kind"] = long.kind.map({"mqls": "MQL", "others": "not MQL"})
    chart = (
        alt.Chart(long)
        .mark_bar()
        .encode(
            x=alt.X("range:O", sort=list(df.range), title="latest score"),
            y=alt.Y("n:Q", title="leads", stack=True),
            color=alt.Color(
                "kind:N", scale=alt.Scale(domain=["MQL", "not MQL"], range=[ORANGE, BLUE]), title=None
            ),
            tooltip=["range:O", "kind:N", "n:Q"],
        )
        .properties(width=WIDTH, height=200)
    )
    table = _table(
        df.assign(Score=df.range, Leads=df.leads, MQLs=df.mqls), {"Score": str, "Leads": num, "MQLs": num}
    )
    total = int(df.leads.sum())
    alt_text = f"Bar chart of {total:,} leads by their latest score, in tens, MQLs in orange"
    return Figure("score-dist", "Leads by their latest score", alt_text, _spec(chart), table)


def grade_band_counts(grid: list[Any]) -> Figure:
    """Leads in each grade x band cell now."""
    df = pd.DataFrame(
        [{"grade": g.grade, "band": g.band, "leads": g.leads} for g in grid],
        columns=["grade", "band", "leads"],
    )
    df["cell"] = df.grade.astype(str) + df.band.astype(str)
    base = alt.Chart(df).encode(
        x=alt.X("band:O", title="engagement band (1 most engaged)"),
        y=alt.Y("grade:O", title="fit grade (A best)"),
    )
    heat = base.mark_rect().encode(color=alt.Color("leads:Q", scale=alt.Scale(scheme="greys"), title="leads"))
    text = base.mark_text(fontSize=12).encode(
        text=alt.Text("leads:Q", format=","),
        color=alt.condition(alt.datum.leads > df.leads.max() * 0.5, alt.value("white"), alt.value("black")),
    )
    table = _table(df.assign(Cell=df.cell, Leads=df.leads), {"Cell": str, "Leads": num})
    biggest = df.sort_values("leads", ascending=False).iloc[0] if len(df) else None
    alt_text = "Heat map of leads by fit grade and engagement band at their latest score" + (
        f"; the largest cell is {biggest.cell} with {biggest.leads:,}" if biggest is not None else ""
    )
    chart = (heat + text).properties(width=320, height=240)
    return Figure(
        "grade-band-now", "Leads by grade and band (latest scores)", alt_text, _spec(chart), table, half=True
    )


def score_over_time(history: Any) -> Figure:
    """A lead's stored score at each change."""
    df = pd.DataFrame(
        [
            {"at": c.as_of, "score": c.score, "change": c.change, "version": c.pact_version}
            for c in history.changes
        ],
        columns=["at", "score", "change", "version"],
    )
    df["when"] = pd.to_datetime(df["at"]).dt.strftime("%Y-%m-%d %H:%M")
    chart = (
        alt.Chart(df.assign(at=pd.to_datetime(df["at"]).dt.strftime("%Y-%m-%dT%H:%M:%S")))
        .mark_line(point=True, interpolate="step-after", color=BLUE)
        .encode(
            x=alt.X("at:T", title=None),
            y=alt.Y("score:Q", title="score"),
            tooltip=[alt.Tooltip("when:N", title="when"), "score:Q", "change:Q"],
        )
        .properties(width=WIDTH, height=180)
    )
    table = _table(
        df.assign(When=df.when, Score=df.score, Change=df.change, Version=df.version),
        {"When": str, "Score": lambda x: num(x, 1), "Change": lambda x: f"{x:+.1f}", "Version": num},
    )
    alt_text = f"Line chart of the lead's score over {len(df)} changes" + (
        f", from {df.score.iloc[0]:.1f} to {df.score.iloc[-1]:.1f}" if len(df) else ""
    )
    return Figure("score-time", "Score over time", alt_text, _spec(chart), table)


def touch_timeline(touches: list[Any]) -> Figure:
    """A lead's touches on a time line, one row per team, coloured by channel."""
    df = pd.DataFrame(
        [
            {
                "at": t.occurred_at,
                "type": t.touch_type,
                "channel": t.channel,
                "team": t.team or "?",
                "campaign": t.campaign or "",
            }
            for t in touches
        ],
        columns=["at", "type", "channel", "team", "campaign"],
    )
    df["when"] = pd.to_datetime(df["at"]).dt.strftime("%Y-%m-%d %H:%M")
    chart = (
        alt.Chart(df.assign(at=pd.to_datetime(df["at"]).dt.strftime("%Y-%m-%dT%H:%M:%S")))
        .mark_point(filled=True, size=90)
        .encode(
            x=alt.X("at:T", title=None),
            y=alt.Y("team:N", title=None),
            color=alt.Color("channel:N", title="channel"),
            shape=alt.Shape("team:N", legend=None),
            tooltip=[alt.Tooltip("when:N", title="when"), "type:N", "channel:N", "campaign:N"],
        )
        .properties(width=WIDTH, height=110)
    )
    table = _table(
        df.assign(When=df.when, Type=df.type, Channel=df.channel, Campaign=df.campaign, Team=df.team),
        {"When": str, "Type": str, "Channel": str, "Campaign": str, "Team": str},
    )
    alt_text = f"Time line of the lead's {len(df)} touches by team, coloured by channel"
    return Figure("touches", "Touches", alt_text, _spec(chart), table)
