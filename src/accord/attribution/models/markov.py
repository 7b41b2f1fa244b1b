"""Markov chain attribution of order k with exact removal effects (an absorbing-chain solve).

Transitions are counted on the engine; the chain is solved in NumPy/SciPy. The
conventions are ChannelAttribution's, made explicit:

- a state of order k is k consecutive channels of a path (a path shorter than k is
  one state); `collapse_repeats` merges consecutive identical states (for order 1,
  repeated channels), as ChannelAttribution does; without it they become self-loops;
- a path runs `(start) -> states -> (conversion)` for its conversions and
  `-> (null)` for its non-conversions;
- removing a channel removes every state that contains it: paths entering one
  end in `(null)`. The removal effect is `1 - P(conversion without c) / P(conversion)`;
  conversions are shared in proportion to removal effects;
- the chain is solved by sparse LU, or for more than 400 states (orders 3 and 4) by
  fixed-point iteration to machine precision, where LU fill-in would dominate;
- value: a conversion from last state s is worth the mean value of the conversions
  that ended at s; value is shared in proportion to the value removal effects. This
  is the exact expectation of ChannelAttribution's simulation.
"""

from __future__ import annotations

from typing import ClassVar, Self

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from accord.attribution.journeys import Journeys
from accord.attribution.models.base import AttributionModel, share_total
from accord.errors import AttributionError

START, CONVERSION, NULL = "(start)", "(conversion)", "(null)"
SEP = "\x1f"
"""Joins the channels of a higher-order state inside the engine (shown as ' > ')."""


def transition_counts(journeys: Journeys, order: int = 1, collapse_repeats: bool = True) -> pd.DataFrame:
    """`from_state, to_state, count, value` summed over journeys, counted on the engine.

    One window pass reads, for each window of `order` channels starting at a touch,
    the channels that follow it; a window is a *run end* when the next window differs
    (or it is the last one). With `collapse_repeats`, only run ends move, which is
    the same as merging consecutive identical states; the first window is always
    the journey's entry state. One aggregate then counts every move.
    """
    t = journeys.table
    w = ibis.window(group_by=t.journey_id, order_by=t.pos)
    # Order 1 reads the next channel stored with each touch: no window pass at all.
    ahead = [t.next_channel] if order == 1 else [t.channel.lead(i).over(w) for i in range(1, order + 1)]
    sep = ibis.literal(SEP)
    state: ir.StringValue = t.channel
    for nxt in ahead[:-1]:
        state = state + (sep + nxt).fill_null("")
    following: ir.StringValue = ahead[0]
    for nxt in ahead[1:]:
        following = following + sep + nxt
    if order == 1:
        # Every touch starts a window, and the last one's next channel is already null.
        s = t.select("conv", "nulls", "value", state=state, nxt=following, first=t.pos == 1)
    else:
        # A window of `order` channels starts at every touch with `order - 1` after it (or
        # at the first, in a shorter journey); it moves on while a channel follows it (else
        # `following` is null: it ends the journey).
        s = t.select(
            "conv",
            "nulls",
            "value",
            state=state,
            nxt=following,
            first=t.pos == 1,
            keep=ahead[order - 2].notnull() | (t.pos == 1),
        )
        s = s.filter(s.keep)  # after the windows, which read the touches beyond
    # Whether a window moves is read from (state, next) on the few groups, not per touch.
    sums = {"conv": s.conv.sum(), "nulls": s.nulls.sum(), "value": s.value.sum()}
    agg = s.group_by(["state", "nxt", "first"]).agg(**sums).to_pandas()
    agg[["conv", "nulls", "value"]] = agg[["conv", "nulls", "value"]].astype(float)
    agg["weight"] = agg.conv + agg.nulls
    agg["first"] = agg["first"].astype(bool)
    starts = agg[agg["first"]].groupby("state", as_index=False)["weight"].sum()
    moving = agg.nxt.notna() & ((agg.nxt != agg.state) if collapse_repeats else True)
    moves = agg[moving].groupby(["state", "nxt"], as_index=False)["weight"].sum()
    ends = agg[agg.nxt.isna()]
    parts = [
        pd.DataFrame({"from_state": START, "to_state": starts.state, "count": starts.weight, "value": 0.0}),
        pd.DataFrame({"from_state": moves.state, "to_state": moves.nxt, "count": moves.weight, "value": 0.0}),
        pd.DataFrame(
            {"from_state": ends.state, "to_state": CONVERSION, "count": ends.conv, "value": ends.value}
        ),
        pd.DataFrame({"from_state": ends.state, "to_state": NULL, "count": ends.nulls, "value": 0.0}),
    ]
    out = pd.concat(parts, ignore_index=True)
    out = out[out["count"] > 0]
    grouped: pd.DataFrame = out.groupby(["from_state", "to_state"], as_index=False)[["count", "value"]].sum()
    return grouped


DIRECT_LIMIT = 400
"""Above this many states, solve by iteration: LU fill-in makes high orders slow."""


def _neumann(
    Q: sp.csr_matrix, rhs: np.ndarray, tol: float = 1e-15, max_iter: int = 100_000
) -> np.ndarray | None:
    """Solve x = Q x + rhs by fixed-point iteration (the Neumann series of (I - Q)^-1 rhs).

    Q is substochastic and every state can reach absorption, so the iteration
    converges geometrically; it stops when an update changes no entry by more than
    `tol` relative to the solution, i.e. at machine precision. None if it does not.
    """
    x = rhs.copy()
    for _ in range(max_iter):
        nxt = Q @ x + rhs
        if np.max(np.abs(nxt - x)) <= tol * max(1.0, float(np.max(np.abs(nxt)))):
            out: np.ndarray = nxt
            return out
        x = nxt
    return None


class AbsorbingChain:
    """A Markov chain with transient states and two absorbing ones, built from transition counts."""

    def __init__(self, counts: pd.DataFrame) -> None:
        transient = sorted(set(counts.from_state) | (set(counts.to_state) - {CONVERSION, NULL}))
        if START in transient:
            transient.remove(START)
        self.states: list[str] = [START, *transient]
        index = {s: i for i, s in enumerate(self.states)}
        n = len(self.states)
        out = counts.groupby("from_state")["count"].sum()
        totals = np.array([out.get(s, 0.0) for s in self.states])
        inner = counts[~counts.to_state.isin([CONVERSION, NULL])]
        rows = inner.from_state.map(index).to_numpy()
        cols = inner.to_state.map(index).to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            probs = inner["count"].to_numpy() / totals[rows]
        self.Q = sp.csr_matrix((probs, (rows, cols)), shape=(n, n))
        conv = counts[counts.to_state == CONVERSION].set_index("from_state")
        conv_n = np.array([conv["count"].get(s, 0.0) for s in self.states])
        conv_v = np.array([conv["value"].get(s, 0.0) for s in self.states])
        with np.errstate(divide="ignore", invalid="ignore"):
            self.b = np.where(totals > 0, conv_n / totals, 0.0)
            mean_value = np.where(conv_n > 0, conv_v / conv_n, 0.0)
        self.bv = self.b * mean_value

    def solve(self, keep: np.ndarray | None = None) -> tuple[float, float]:
        """P(conversion) and expected value from (start), using only the states in `keep`."""
        n = len(self.states)
        idx = np.arange(n) if keep is None else np.flatnonzero(keep)
        Q = self.Q[idx][:, idx].tocsr()
        rhs = np.column_stack([self.b[idx], self.bv[idx]])
        if len(idx) > DIRECT_LIMIT:
            x = _neumann(Q, rhs)
            if x is not None:
                return float(x[0, 0]), float(x[0, 1])
        A = (sp.identity(len(idx), format="csc") - Q).tocsc()
        x = spla.splu(A).solve(rhs)
        return float(x[0, 0]), float(x[0, 1])

    def matrix(self) -> pd.DataFrame:
        """The transition probabilities as `from_state, to_state, probability`."""
        coo = self.Q.tocoo()
        names = [s.replace(SEP, " > ") for s in self.states]
        df = pd.DataFrame(
            {
                "from_state": [names[i] for i in coo.row],
                "to_state": [names[j] for j in coo.col],
                "probability": coo.data,
            }
        )
        absorb = pd.DataFrame(
            {
                "from_state": names * 2,
                "to_state": [CONVERSION] * len(names) + [NULL] * len(names),
                "probability": np.concatenate(
                    [self.b, 1.0 - self.b - np.asarray(self.Q.sum(axis=1)).ravel()]
                ),
            }
        )
        absorb = absorb[absorb.probability > 1e-15]
        return pd.concat([df, absorb], ignore_index=True).sort_values(
            ["from_state", "to_state"], ignore_index=True
        )


class Markov(AttributionModel):
    """Markov chain removal effects, solved exactly."""

    lookup_name: ClassVar[str] = "markov"
    description: ClassVar[str] = "share of conversions lost when a channel is removed (exact Markov chain)"

    def __init__(self, order: int = 1, collapse_repeats: bool = True) -> None:
        if not 1 <= int(order) <= 4:
            raise AttributionError(f"markov order must be 1 to 4, got {order}")
        self.order = int(order)
        self.collapse_repeats = bool(collapse_repeats)

    def fit(self, journeys: Journeys) -> Self:
        """Count transitions on the engine, solve the chain once per channel removed."""
        counts = transition_counts(journeys, self.order, self.collapse_repeats)
        chain = AbsorbingChain(counts)
        self.chain_ = chain
        p_conv, value = chain.solve()
        self.conversion_probability_ = p_conv
        channels = journeys.channels
        members = [set(s.split(SEP)) if s != START else set() for s in chain.states]
        effects, value_effects = {}, {}
        for c in channels:
            keep = np.array([c not in m for m in members])
            p_c, v_c = chain.solve(keep)
            effects[c] = 1.0 - p_c / p_conv if p_conv > 0 else 0.0
            value_effects[c] = 1.0 - v_c / value if value > 0 else 0.0
        self.removal_effects_ = pd.DataFrame(
            {
                "channel": channels,
                "removal_effect": [effects[c] for c in channels],
                "value_removal_effect": [value_effects[c] for c in channels],
            }
        )
        totals = journeys.totals
        self.credit_ = pd.DataFrame(
            {
                "channel": channels,
                "conversions": share_total(np.array([effects[c] for c in channels]), totals["conversions"]),
                "value": share_total(np.array([value_effects[c] for c in channels]), totals["value"]),
            }
        )
        return self

    @property
    def transition_matrix_(self) -> pd.DataFrame:
        """Transition probabilities between states (and into conversion and null)."""
        return self.chain_.matrix()
