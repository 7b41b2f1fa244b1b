"""The glass box's cuts: round values, and parts of a number that hold every value exactly once."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.evaluation.glassbox import _fine, round_cut


def test_round_cut_picks_the_roundest_value_in_reach() -> None:
    assert round_cut(2143, 2800) == 2500
    assert round_cut(19, 20) == 20
    assert round_cut(-1, 5) == 0
    assert round_cut(-250, -120) == -200
    assert round_cut(6_990_000, 7_400_000) == 7_000_000
    assert round_cut(0.013, 0.0142) == 0.014


@settings(max_examples=200, deadline=None)
@given(
    below=st.floats(-1e7, 1e7, allow_nan=False),
    span=st.floats(1e-6, 1e6, allow_nan=False),
)
def test_round_cut_stays_between_its_bounds(below: float, span: float) -> None:
    above = below + span
    c = round_cut(below, above)
    assert below < c <= above or c == above


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.integers(-50, 5000), min_size=40, max_size=300),
    real=st.booleans(),
    scale=st.sampled_from([1.0, 0.37, 1234.5]),
)
def test_the_parts_of_a_number_hold_each_value_once(values: list[int], real: bool, scale: float) -> None:
    x = np.array(values, dtype=float) * (scale if real else 1.0)
    if not real:
        x = np.round(x)
    integer = bool((x % 1 == 0).all())
    column = pd.Series(x)
    parts = _fine(column, np.ones(len(x), dtype=bool), "lead.properties.n", integer)
    hits = np.sum([p.mask(column) for p in parts], axis=0)
    assert (hits == 1).all(), (parts, x[hits != 1][:5])
    assert all(p.lo is None or p.hi is None or p.lo <= p.hi for p in parts)
