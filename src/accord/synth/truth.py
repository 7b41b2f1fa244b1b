"""The generator's ground truth as a typed result: what produced the data, to check models against."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class FitEffects(BaseModel):
    """Log-odds effects of who a lead is on becoming an opportunity."""

    model_config = ConfigDict(frozen=True)

    industry: dict[str, float]
    employees: dict[str, float]
    seniority: dict[str, float]
    department: dict[str, float]
    budget: dict[str, float]
    timeline: dict[str, float]
    free_mail: float
    competitor: float


class GroundTruth(BaseModel):
    """How a generated funnel was made, and the true incremental opportunities per channel."""

    model_config = ConfigDict(frozen=True)

    seed: int
    leads: int
    touchpoints: int
    start: str
    months: int
    conversion: str
    model: str
    """The data-generating model, in words."""
    intercept: float
    fit_effects: FitEffects
    touch_effects: dict[str, float]
    pricing_page_effect: float
    unsubscribe_effect: float
    opportunities: int
    won: int
    true_incremental_opportunities: dict[str, float]
    """Expected opportunities each channel causes (what removing it would lose)."""
    true_incremental_opportunities_realised: dict[str, float]
    true_incremental_share: dict[str, float]
