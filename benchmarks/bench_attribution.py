"""Attribution speed: Accord against ChannelAttribution 2.2.5 on the same 1M journeys, in one process.

Usage: python benchmarks/bench_attribution.py [JOURNEYS]   (default 1,000,000)

The same journeys are written twice: as ChannelAttribution's path format (one row
per journey: path, total_conversions, total_conversion_value, total_null) in a
Parquet file, which both Accord and ChannelAttribution read, and as a touch-level
Parquet file (journey_id, occurred_at, channel, converted, value), which has the
touch times that time decay needs and costs Accord a sort per journey. The touch
file is written journey by journey in time order, then again with its rows in time
order across journeys (an event log) and shuffled, for the targeted models. Each Accord
figure is "Parquet file to result table": each run builds its journeys afresh and
runs the model; every figure is the median of 3 runs.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from accord.attribution import journeys_from_file, make_model, run_models

CHANNELS = 14


def make_journeys(n: int, seed: int = 1) -> tuple[pa.Table, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    length = 1 + rng.poisson(2.6, n)
    total = int(length.sum())
    popularity = 1.0 / np.arange(1, CHANNELS + 1) ** 0.8
    chan = rng.choice(CHANNELS, size=total, p=popularity / popularity.sum())
    journey = np.repeat(np.arange(n), length)
    start = rng.uniform(0, 365 * 86400, n)
    t = np.repeat(start, length) + rng.uniform(0, 30 * 86400, total)
    order = np.lexsort((t, journey))
    chan, t = chan[order], t[order]
    effect = np.linspace(0.5, -0.3, CHANNELS)
    logit = -3.2 + np.bincount(journey, weights=effect[chan], minlength=n)
    converted = rng.random(n) < 1 / (1 + np.exp(-logit))
    value = np.where(converted, np.round(rng.lognormal(6, 0.5, n), 2), 0.0)
    names = np.array([f"channel_{i:02d}" for i in range(CHANNELS)])
    touches = pa.table(
        {
            "journey_id": pa.array(journey.astype(np.int64)).cast(pa.string()),
            "occurred_at": pa.array((t * 1e6).astype("int64"), pa.timestamp("us")),
            "channel": names[chan],
            "converted": converted[journey].astype(np.int8),
            "value": value[journey],
        }
    )
    first = np.concatenate(([0], np.cumsum(length)[:-1]))
    parts = np.split(names[chan], first[1:])
    paths = pd.DataFrame(
        {
            "path": [" > ".join(p) for p in parts],
            "total_conversions": converted.astype(np.int64),
            "total_conversion_value": value,
            "total_null": (~converted).astype(np.int64),
        }
    )
    return touches, paths


REPEAT = 3
"""Each timed step runs this many times and reports its median: this machine's timings vary by
a fifth from one run to the next."""


def timed(fn, repeat: int = REPEAT, discard=None):  # type: ignore[no-untyped-def]
    """The last result of `fn` and its median time over `repeat` runs (`discard` drops the others)."""
    times, out = [], None
    for _ in range(repeat):
        if out is not None and discard is not None:
            discard(out)
        started = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - started)
    return out, statistics.median(times)


PATH_RULES = ["first_touch", "last_touch", "last_non_direct", "linear", "position"]
"""Every rule model that applies to paths without times or milestones."""


def accord_steps(
    parquet: Path, rules: list[str], label: str, targets_only: bool = False
) -> tuple[list[tuple[str, float, float]], dict[str, float], object]:
    """Each step from the Parquet file to its result: a fresh build, then the model(s).

    Every repetition builds its own journeys, so what a model computes once per journey
    table (its channels, its totals) is paid in every figure, as it is in a real run.
    """
    journeys_from_file(parquet).close()  # warm the OS file cache
    _, build = timed(lambda: journeys_from_file(parquet), discard=lambda old: old.close())
    rows: list[tuple[str, float, float]] = [(f"accord [{label}]: journeys from Parquet", build, build)]
    steps = [
        (f"accord [{label}]: {len(rules)} rule models, one query", rules),
        (f"accord [{label}]: markov order 1, exact", ["markov"]),
        (f"accord [{label}]: shapley, exact", ["shapley"]),
        (f"accord [{label}]: markov order 3, exact", ["markov(order=3)"]),
        (f"accord [{label}]: incrementality, 20 bootstrap fits", ["incrementality(bootstrap=20)"]),
    ]
    if targets_only:
        steps = steps[:3]
    total: dict[str, float] = {}
    for name, models in steps:
        repeat = 1 if models[0].startswith("incrementality") else REPEAT  # not a target; slow
        model_s, total_s = [], []
        for _ in range(repeat):
            started = time.perf_counter()
            j = journeys_from_file(parquet)
            built = time.perf_counter()
            run_models(j, models, strict=True)
            done = time.perf_counter()
            j.close()
            model_s.append(done - built)
            total_s.append(done - started)
        rows.append((name, statistics.median(model_s), statistics.median(total_s)))
        total[models[0]] = statistics.median(total_s)
    with journeys_from_file(parquet) as j:
        linear = make_model("linear").fit(j).credit_.set_index("channel")
    return rows, total, linear


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    touches, paths = make_journeys(n)
    with tempfile.TemporaryDirectory() as tmp:
        touch_file, path_file = Path(tmp) / "touches.parquet", Path(tmp) / "paths.parquet"
        pq.write_table(touches, touch_file)
        paths.to_parquet(path_file, index=False)
        each = touches.num_rows / n
        distinct = paths.path.nunique()
        print(
            f"{n:,} journeys, {touches.num_rows:,} touches ({each:.2f} each), {CHANNELS} channels, "
            f"{distinct:,} distinct paths, {int(paths.total_conversions.sum()):,} conversions"
        )
        rows, total, linear = accord_steps(path_file, PATH_RULES, "paths")
        touch_rows, touch_total, _ = accord_steps(touch_file, [*PATH_RULES, "time_decay"], "touches")
        rows += touch_rows
        label = f"the touch-level file (times, {len(PATH_RULES) + 1} rule models with time decay)"
        other: dict[str, dict[str, float]] = {label: touch_total}
        # The touch file is written journey by journey in time order, which the sort per
        # journey gains from; an event log is in time order, and a file may be in no order.
        orders = {
            "touches in time order": touches.take(
                np.argsort(touches["occurred_at"].to_numpy(), kind="stable")
            ),
            "touches shuffled": touches.take(np.random.default_rng(2).permutation(touches.num_rows)),
        }
        for label, table in orders.items():
            f = Path(tmp) / f"{label.replace(' ', '_')}.parquet"
            pq.write_table(table, f)
            order_rows, other[label], _ = accord_steps(
                f, [*PATH_RULES, "time_decay"], label, targets_only=True
            )
            rows += order_rows

        try:
            import ChannelAttribution as ca
        except ImportError:
            ca = None
        if ca is not None:
            ref, ca_heur = timed(
                lambda: ca.heuristic_models(
                    paths, "path", "total_conversions", var_value="total_conversion_value"
                )
            )
            _, ca_markov = timed(
                lambda: ca.markov_model(
                    paths,
                    "path",
                    "total_conversions",
                    var_value="total_conversion_value",
                    var_null="total_null",
                    verbose=False,
                )
            )
            rows.append(("ChannelAttribution 2.2.5: heuristic_models (3 models)", ca_heur, ca_heur))
            rows.append(
                ("ChannelAttribution 2.2.5: markov_model (simulated, defaults)", ca_markov, ca_markov)
            )

        print(f"\n{'step':62s} {'model s':>8s} {'file->result s':>15s}")
        for label, seconds, end_to_end in rows:
            print(f"{label:62s} {seconds:8.2f} {end_to_end:15.2f}")
        rules, markov, shapley = total["first_touch"], total["markov"], total["shapley"]
        print(
            f"\ntargets at 1M journeys, Parquet to result, on the path file ChannelAttribution reads: "
            f"rule models <= 1 s: {rules:.2f} s; markov <= 1 s: {markov:.2f} s; "
            f"shapley <= 3 s: {shapley:.2f} s"
        )
        for label, got in other.items():
            print(
                f"{label}: rule models {got['first_touch']:.2f} s; markov {got['markov']:.2f} s; "
                f"shapley {got['shapley']:.2f} s"
            )
        if ca is not None:
            print(
                f"ChannelAttribution / accord on the same path file: heuristics {ca_heur / rules:.2f}x, "
                f"markov {ca_markov / markov:.2f}x (higher is better for accord)"
            )
            ref = ref.set_index("channel_name")
            err = float(np.abs(linear.conversions - ref.loc[linear.index, "linear_touch_conversions"]).max())
            print(f"largest difference from ChannelAttribution's linear model: {err:.2e} conversions")
        from bench_scoring import CHECK_USUAL, machine_check  # the same machine check, beside these

        check = machine_check()["seconds"]
        print(
            f"machine check (a fixed DuckDB query): {check:.3f} s, {check / CHECK_USUAL:.2f}x its usual "
            f"{CHECK_USUAL} s on this machine (above 1 the machine is slower than usual)"
        )


if __name__ == "__main__":
    main()
