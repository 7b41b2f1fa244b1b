"""The conversion paths journeys take most often: channels in order, repeats folded (`email x3 > demo`).

A journey of more than `STEPS` steps (after folding) is named by where it starts and ends
(`email > ... > sales_outreach`): long journeys are all different, and a table of paths taken
once each tells the meeting nothing.
"""

from __future__ import annotations

import pandas as pd
from pydantic import BaseModel, ConfigDict

from accord.attribution.journeys import Journeys
from accord.attribution.models.base import credited
from accord.model.json_types import Number


class PathRow(BaseModel):
    """One path and what the journeys that took it converted."""

    model_config = ConfigDict(frozen=True, ser_json_inf_nan="null")

    path: str
    touches: int
    journeys: int
    conversions: Number
    value: Number


STEPS = 4


def fold(channels: list[str]) -> str:
    """`email x2 > demo`, or `email > ... > demo` past `STEPS` steps."""
    out: list[str] = []
    run = 0
    for i, c in enumerate(channels):
        run += 1
        if i + 1 == len(channels) or channels[i + 1] != c:
            out.append(c if run == 1 else f"{c} x{run}")
            run = 0
    if len(out) > STEPS:
        return f"{channels[0]} > ... > {channels[-1]}"
    return " > ".join(out)


def top_paths(journeys: Journeys, n: int = 10) -> list[PathRow]:
    """The `n` paths of converting journeys with the most conversions.

    Only the converting journeys' touches leave the engine (tens of thousands for a year of a
    100k-lead funnel), and their paths are joined in pandas.
    """
    t = credited(journeys.table)
    df = t.select("journey_id", "pos", "channel", "conv", "value").to_pandas()
    if df.empty:
        return []
    df = df.sort_values(["journey_id", "pos"], kind="stable")
    per = df.groupby("journey_id", sort=False).agg(
        channels=("channel", lambda s: fold([str(x) for x in s])),
        touches=("pos", "size"),
        conv=("conv", "first"),
        value=("value", "first"),
    )
    top = (
        per.groupby("channels")
        .agg(
            journeys=("conv", "size"),
            conversions=("conv", "sum"),
            value=("value", "sum"),
            touches=("touches", "median"),
        )
        .sort_values(["conversions", "journeys"], ascending=False)
        .head(n)
    )
    return [
        PathRow(
            path=str(path),
            touches=int(r.touches),
            journeys=int(r.journeys),
            conversions=float(r.conversions),
            value=float(r.value),
        )
        for path, r in top.iterrows()
        if not pd.isna(r.conversions)
    ]
