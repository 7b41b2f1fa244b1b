"""Shapley attribution over channel coalitions, from coalition conversion rates.

The game: the worth of a set S of channels is the conversion rate of the journeys
whose channels are exactly S (converting and non-converting journeys both count);
a set no journey has is worth 0. Each converting coalition T is credited by the
Shapley values of that game restricted to T's channels, which sum to v(T); its
conversions and value are shared in those proportions, so credit sums to the totals.

Coalitions are counted on the engine. With up to 20 channels the Shapley values of
every coalition come out of two transforms over all 2^n sets (Harsanyi dividends,
then subset sums): phi_c(T) = H(T) - H(T without c), where H sums the dividends of
the subsets of T divided by their sizes. Beyond that, each coalition is solved
exactly when it is small and by sampled permutations otherwise, with a 95% bound.
The ordered variant also reports credit by the position at which a channel first
appears in the journey.
"""

from __future__ import annotations

import math
from typing import ClassVar, Literal, Self

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from accord.attribution.journeys import Journeys
from accord.attribution.models.base import AttributionModel, credited
from accord.errors import AttributionError

Shares = dict[int, dict[int, tuple[float, float]]]
"""Per coalition bitmask: channel code -> (share of the coalition's conversions, its standard error)."""

WORD_BITS = 62
EXACT_CHANNELS = 20
LOCAL_EXACT = 10


def journey_masks(t: ir.Table, channels: list[str]) -> tuple[ir.Table, list[str]]:
    """Per journey: `journey_id, conv, value, nulls` and its channel set as mask words `m0, m1, ...`."""
    words = max(1, math.ceil(len(channels) / WORD_BITS))
    masks = [f"m{w}" for w in range(words)]
    aggs: dict[str, ir.Value] = {"conv": t.conv.max(), "value": t.value.max(), "nulls": t.nulls.max()}
    for w in range(words):
        word: ir.IntegerValue = ibis.literal(0, type="int64")
        for i, c in enumerate(channels):
            if i // WORD_BITS == w:
                bit = ibis.literal(1 << (i % WORD_BITS), type="int64")
                word = word + ibis.ifelse(t.channel == c, bit, 0).max()
        aggs[masks[w]] = word
    return t.group_by("journey_id").agg(**aggs), masks


def coalition_counts(journeys: Journeys, channels: list[str]) -> pd.DataFrame:
    """`key` (the channel set as a bitmask int), `conv, value, nulls, journeys`, counted on the engine.

    `journeys` is conversions plus non-conversions: a path row shared by identical
    paths stands for all of them.

    Per journey, word w of the mask is the sum over its channels c of
    max(2^(c mod 62) where the touch is c): a set, built without a DISTINCT pass.
    """
    per_journey, masks = journey_masks(journeys.table, channels)
    df = (
        per_journey.group_by(masks)
        .agg(
            conv=per_journey.conv.sum(),
            value=per_journey.value.sum(),
            nulls=per_journey.nulls.sum(),
            journeys=(per_journey.conv + per_journey.nulls).sum(),
        )
        .to_pandas()
    )
    df[["conv", "value", "nulls"]] = df[["conv", "value", "nulls"]].astype(float)
    df["key"] = [_key(row) for row in df[masks].itertuples(index=False)]
    out: pd.DataFrame = df.drop(columns=masks)
    return out


def _key(words: tuple[int, ...]) -> int:
    key = 0
    for w, m in enumerate(words):
        key |= int(m) << (WORD_BITS * w)
    return key


def _members(key: int) -> list[int]:
    out, i = [], 0
    while key:
        if key & 1:
            out.append(i)
        key >>= 1
        i += 1
    return out


def _subset_transform(values: np.ndarray, sign: float) -> np.ndarray:
    out = values.astype(float).copy()
    for i in range(int(np.log2(len(out)))):
        view = out.reshape(-1, 2, 1 << i)  # [:, 1, :] are the sets holding element i
        view[:, 1, :] += sign * view[:, 0, :]
    return out


def moebius(v: np.ndarray) -> np.ndarray:
    """Harsanyi dividends d with v(S) = sum of d over the subsets of S (array over 2^n sets)."""
    return _subset_transform(v, -1.0)


def zeta(h: np.ndarray) -> np.ndarray:
    """Subset sums: H(T) = sum of h over the subsets of T (the inverse of :func:`moebius`)."""
    return _subset_transform(h, 1.0)


def popcount(n: int) -> np.ndarray:
    """Set sizes for every subset of n elements."""
    sizes = np.zeros(1 << n, dtype=np.int64)
    for i in range(n):
        sizes.reshape(-1, 2, 1 << i)[:, 1, :] += 1
    return sizes


def potential(v: np.ndarray, n: int) -> np.ndarray:
    """H(T) = sum of d(S) / |S| over the subsets S of T, for a game `v` over 2^n sets.

    A member i's Shapley value in coalition T is H(T) - H(T without i): each
    Harsanyi dividend is split evenly among the members of its set.
    """
    sizes = popcount(n)
    d = moebius(v)
    return zeta(np.divide(d, sizes, out=np.zeros_like(d), where=sizes > 0))


class Shapley(AttributionModel):
    """Shapley values of channels from coalition conversion rates."""

    lookup_name: ClassVar[str] = "shapley"
    description: ClassVar[str] = "Shapley value of each channel in its coalition's conversion rate"

    def __init__(
        self,
        method: Literal["auto", "exact", "sampled"] = "auto",
        samples: int = 512,
        seed: int = 0,
        ordered: bool = False,
    ) -> None:
        if method not in ("auto", "exact", "sampled"):
            raise AttributionError(f"shapley method must be auto, exact or sampled, got {method!r}")
        if samples < 2:
            raise AttributionError("shapley needs at least 2 samples")
        self.method = method
        self.samples = int(samples)
        self.seed = int(seed)
        self.ordered = bool(ordered)

    def fit(self, journeys: Journeys) -> Self:
        """Count coalitions on the engine, then share each coalition's conversions by Shapley value."""
        channels = journeys.channels
        n = len(channels)
        counts = coalition_counts(journeys, channels)
        exact = self.method == "exact" or (self.method == "auto" and n <= EXACT_CHANNELS)
        if exact and n > EXACT_CHANNELS:
            raise AttributionError(
                f"exact Shapley is limited to {EXACT_CHANNELS} channels (2^n coalitions); "
                f"these journeys have {n}: use method=sampled"
            )
        trials = counts.conv + counts.nulls
        rates = np.where(trials > 0, counts.conv / trials.where(trials > 0, 1.0), 0.0)
        self.coalitions_ = counts.assign(
            rate=rates, channels=[" + ".join(channels[i] for i in _members(int(k))) for k in counts.key]
        )
        shares = (
            self._exact_shares(counts.key, rates, n) if exact else self._sampled_shares(counts.key, rates)
        )
        self.exact_ = exact
        self.shares_ = shares
        conv = np.zeros(n)
        value = np.zeros(n)
        var = np.zeros(n)
        for key, cv, vv in zip(counts.key, counts.conv, counts.value, strict=True):
            if cv == 0 and vv == 0:
                continue
            for c, (share, se) in shares[int(key)].items():
                conv[c] += cv * share
                value[c] += vv * share
                var[c] += (cv * se) ** 2
        self.credit_ = pd.DataFrame({"channel": channels, "conversions": conv, "value": value})
        self.error_bound_ = pd.DataFrame({"channel": channels, "conversions_95": 1.96 * np.sqrt(var)})
        if self.ordered:
            self.by_position_ = self._by_position(journeys, channels, shares)
        return self

    # ------------------------------------------------------------------ exact
    @staticmethod
    def _exact_shares(keys: pd.Series, rates: np.ndarray, n: int) -> Shares:
        v = np.zeros(1 << n)
        v[keys.to_numpy(dtype=np.int64)] = rates
        v[0] = 0.0
        H = potential(v, n)
        out: Shares = {}
        for key, rate in zip(keys, rates, strict=True):
            k = int(key)
            if rate <= 0:
                continue
            out[k] = {c: (float(H[k] - H[k ^ (1 << c)]) / rate, 0.0) for c in _members(k)}
        return out

    # ---------------------------------------------------------------- sampled
    def _sampled_shares(self, keys: pd.Series, rates: np.ndarray) -> Shares:
        worth = {int(k): float(r) for k, r in zip(keys, rates, strict=True)}
        rng = np.random.default_rng(self.seed)
        out: Shares = {}
        for key, rate in zip(keys, rates, strict=True):
            k = int(key)
            if rate <= 0:
                continue
            members = _members(k)
            t = len(members)
            if t <= LOCAL_EXACT:
                out[k] = _local_exact(members, worth, rate)
                continue
            bits = np.array([1 << c for c in members], dtype=object)
            marg = np.zeros((self.samples, t))
            for s in range(self.samples):
                order = rng.permutation(t)
                prefix, prev = 0, 0.0
                for j in order:
                    prefix |= int(bits[j])
                    cur = worth.get(prefix, 0.0)
                    marg[s, j] = cur - prev
                    prev = cur
            mean = marg.mean(axis=0)
            se = marg.std(axis=0, ddof=1) / math.sqrt(self.samples)
            out[k] = {c: (float(mean[i]) / rate, float(se[i]) / rate) for i, c in enumerate(members)}
        return out

    # ---------------------------------------------------------------- ordered
    @staticmethod
    def _by_position(journeys: Journeys, channels: list[str], shares: Shares) -> pd.DataFrame:
        t = credited(journeys.table)
        per_journey, masks = journey_masks(t, channels)
        firsts = t.group_by(["journey_id", "channel"]).agg(first=t.pos.min())
        ranked = firsts.mutate(
            position=ibis.row_number().over(ibis.window(group_by=firsts.journey_id, order_by=firsts["first"]))
            + 1
        )
        joined = ranked.join(per_journey, "journey_id")
        df = (
            joined.group_by([*masks, "channel", "position"])
            .agg(conv=joined.conv.sum(), value=joined.value.sum())
            .to_pandas()
        )
        code = {c: i for i, c in enumerate(channels)}
        keys = [_key(row) for row in df[masks].itertuples(index=False)]
        share = [shares.get(k, {}).get(code[c], (0.0, 0.0))[0] for k, c in zip(keys, df.channel, strict=True)]
        df["conversions"] = df.conv.astype(float) * share
        df["value"] = df.value.astype(float) * share
        out = df.groupby(["channel", "position"], as_index=False)[["conversions", "value"]].sum()
        ordered: pd.DataFrame = out.sort_values(["channel", "position"], ignore_index=True)
        return ordered


def _local_exact(members: list[int], worth: dict[int, float], rate: float) -> dict[int, tuple[float, float]]:
    t = len(members)
    v = np.zeros(1 << t)
    for local in range(1, 1 << t):
        key = 0
        for i in range(t):
            if local >> i & 1:
                key |= 1 << members[i]
        v[local] = worth.get(key, 0.0)
    H = potential(v, t)
    full = (1 << t) - 1
    return {c: (float(H[full] - H[full ^ (1 << i)]) / rate, 0.0) for i, c in enumerate(members)}
