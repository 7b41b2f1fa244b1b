"""Typed results of the evidence for the review meeting.

What the CLI prints, the service returns and the report renders, unchanged. NaN stands for
"not known" (no stage data, an empty group); JSON carries it as null.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from pydantic import BaseModel, ConfigDict

from accord.model.json_types import Instant, Number

if TYPE_CHECKING:
    import pandas as pd

R = TypeVar("R", bound=BaseModel)


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True, ser_json_inf_nan="null")


class Rate(_Result):
    """Conversion of one group of lead-snapshots (a band, a grade, a grade and band)."""

    grade: str | None = None
    band: str | None = None
    leads: int
    conversions: Number
    rate: Number


class GainsRow(_Result):
    """One score decile: its leads, conversions, rate, lift and cumulative gains."""

    group: int
    leads: int
    conversions: Number
    rate: Number
    lift: Number
    cumulative_share_of_leads: Number
    cumulative_gain: Number


class VolumeRow(_Result):
    """New MQLs at one snapshot, and the monthly rate they make."""

    snapshot: Instant
    new_mqls: int
    per_month: Number
    over_capacity: bool | None = None


class CalibrationRow(_Result):
    """Predicted against observed conversion in a band (fitted on the earlier snapshots)."""

    band: str
    leads: int
    predicted: Number
    observed: Number


class Funnel(_Result):
    """What became of the new MQLs: volume, and rates to each later stage with cycle days."""

    new_mqls: int
    mqls_per_month: Number
    capacity_per_month: Number | None
    mql_to_sal: Number
    mql_to_sql: Number
    mql_to_opportunity: Number
    mql_to_won: Number
    median_days_mql_to_opportunity: Number
    median_days_mql_to_won: Number


class BacktestMetrics(_Result):
    """Every back-test metric."""

    snapshots: int
    rows: int
    leads: int
    conversion_rate: Number
    auc: Number
    precision_at_mql: Number
    recall_at_mql: Number
    mql_share: Number
    by_band: list[Rate]
    by_grade: list[Rate]
    grade_band: list[Rate]
    gains: list[GainsRow]
    funnel: Funnel
    volume: list[VolumeRow]
    calibration: list[CalibrationRow]
    left_out: str | None = None
    """Why no later snapshot was taken (its outcome horizon is not observed yet)."""


class MetricRow(_Result):
    """One headline metric of two pacts on the same history."""

    metric: str
    old: Number
    new: Number


class MqlChange(_Result):
    """A lead one pact makes an MQL and the other never does, and what became of it."""

    lead_id: str
    snapshot: Instant
    converted: bool
    won: bool


class Comparison(_Result):
    """Two pacts on the same snapshots: their metrics side by side and the MQLs that differ."""

    old: str
    new: str
    metrics: list[MetricRow]
    added: list[MqlChange]
    """MQL under NEW, never under OLD (first snapshot under NEW)."""
    dropped: list[MqlChange]
    sentence: str
    old_backtest: BacktestMetrics
    new_backtest: BacktestMetrics


def rows_of(frame: pd.DataFrame, model: type[R]) -> list[R]:
    """A frame's rows as typed results (keys as text, as a table shows them)."""
    out = []
    for record in frame.to_dict(orient="records"):
        data = {str(k): v for k, v in record.items()}
        for key in ("band", "grade"):
            if key in data and data[key] is not None:
                data[key] = str(data[key])
        out.append(model.model_validate(data))
    return out


def frame_of(rows: list[R]) -> pd.DataFrame:
    """Typed rows back as a frame, for tables and charts."""
    import pandas as pd

    return pd.DataFrame([r.model_dump() for r in rows])
