"""What every attribution model is: parameters in `__init__`, `fit(journeys)` sets `credit_`.

The credit table has one row per channel (or per channel and breakdown
dimension) with `conversions` and `value`; both sum to the journeys' totals.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, Self

import ibis.expr.types as ir
import numpy as np
import pandas as pd

from accord.attribution.journeys import Journeys, with_journey_columns
from accord.errors import AttributionError

DIMENSIONS = ("channel", "campaign", "touch_type", "team")
"""What credit can be broken down by."""


class AttributionModel(ABC):
    """A model: set parameters, `fit` on journeys, read `credit_` (and model-specific `*_` results)."""

    lookup_name: ClassVar[str]
    description: ClassVar[str]
    aliases: ClassVar[tuple[str, ...]] = ()
    """Other names `-m` accepts for it; tables and reports print `lookup_name` only."""
    needs_times: ClassVar[bool] = False
    needs_milestones: ClassVar[bool] = False

    credit_: pd.DataFrame
    """`channel, conversions, value` (one row per channel)."""

    def params(self) -> dict[str, Any]:
        """The model's parameters, for reports."""
        return {k: v for k, v in vars(self).items() if not k.endswith("_") and not k.startswith("_")}

    @property
    def label(self) -> str:
        """The model name with any non-default parameter, e.g. `markov(order=2)`."""
        defaults = type(self)().params()
        changed = {k: v for k, v in self.params().items() if defaults.get(k) != v}
        name = self.lookup_name
        if not changed:
            return name
        return f"{name}({', '.join(f'{k}={v}' for k, v in changed.items())})"

    def check(self, journeys: Journeys) -> None:
        """Raise if these journeys lack what the model needs."""
        if self.needs_times and not journeys.has_times:
            raise AttributionError(f"{self.lookup_name} needs touch times; path files have none")
        if self.needs_milestones and not journeys.has_milestones:
            raise AttributionError(
                f"{self.lookup_name} needs lead and opportunity creation dates: build journeys from the store"
            )

    @abstractmethod
    def fit(self, journeys: Journeys) -> Self:
        """Compute `credit_` for these journeys."""

    def breakdown(self, journeys: Journeys, by: str) -> pd.DataFrame:
        """Credit by `channel` and `by` (campaign, touch type or team).

        A channel's credit is split over its campaigns (types, teams) in proportion to
        their linear share of that channel's touches on converting journeys.
        """
        return split_channel_credit(journeys, self.credit_, by)


def credited(t: ir.Table) -> ir.Table:
    """The rows of journeys that carry conversions or value (the only ones credit lands on).

    A touch file's table has its journeys' outcome, `won` (null unless converted), from
    which it computes `conv` and `value`: the same rows, found in the scan.
    """
    if "won" in t.columns:
        return t.filter(t.won.notnull())
    return t.filter((t.conv > 0) | (t.value != 0))


def split_channel_credit(journeys: Journeys, credit: pd.DataFrame, by: str) -> pd.DataFrame:
    """Spread channel-level credit over `by` in proportion to linear credit within each channel."""
    if by not in DIMENSIONS or by == "channel":
        raise AttributionError(f"cannot break credit down by {by!r}; choose from {', '.join(DIMENSIONS[1:])}")
    share = journeys.memo(("linear shares", by), lambda: _linear_shares(journeys, by))
    out = share.merge(credit[["channel", "conversions", "value"]], on="channel", how="right")
    out[by] = out[by].fillna("(none)")
    out["conversions"] = out.conversions * out.sc.fillna(1.0)
    out["value"] = out.value * out.sv.fillna(1.0)
    result: pd.DataFrame = out[["channel", by, "conversions", "value"]].reset_index(drop=True)
    return result


def _linear_shares(journeys: Journeys, by: str) -> pd.DataFrame:
    """Each (channel, `by`) pair's share of its channel's linear conversions (`sc`) and value (`sv`)."""
    t = with_journey_columns(credited(journeys.table))
    share: pd.DataFrame = (
        t.group_by(["channel", t[by].fill_null("(none)").name(by)])
        .agg(c=(t.conv / t.n).sum(), v=(t.value / t.n).sum())
        .to_pandas()
    )
    tot = share.groupby("channel")[["c", "v"]].transform("sum")
    share["sc"] = (share.c / tot.c).fillna(0.0)
    share["sv"] = (share.v / tot.v).where(tot.v != 0, share["sc"])
    return share


def share_total(weights: np.ndarray, total: float) -> np.ndarray:
    """`total` shared in proportion to `weights` (evenly if no weight is positive)."""
    s = weights.sum()
    if total == 0:
        return np.zeros_like(weights)
    if s <= 0:
        return np.full_like(weights, total / max(len(weights), 1))
    out: np.ndarray = total * weights / s
    return out
