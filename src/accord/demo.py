"""The main job end to end: generate a funnel, load it into the embedded store, report where things are."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from accord.attribution import Attribution, Conversion, JourneySpec, journeys_from_store, run_models
from accord.attribution.compare import spend_by_channel, team_report
from accord.evaluation import Backtest, BacktestSpec
from accord.evaluation.compare import PactComparison, compare_pacts
from accord.evaluation.learn import Learned, learn_from_store
from accord.model.tables import TABLES
from accord.pact import Pact, parse_pact, registry
from accord.scoring import RunResult
from accord.store.connection import Store, connect
from accord.store.loader import LoadResult, load_folder
from accord.synth import generate, write_generated
from accord.synth.generator import Generated
from accord.workflows.scoring import TopMql, score_store

Progress = Callable[[str, float], None]


@dataclass
class DemoResult:
    """Where the demo put things and what it loaded."""

    folder: Path
    data_folder: Path
    store_url: str
    generated: Generated
    loads: dict[str, LoadResult]
    pact: Pact
    scoring: RunResult
    top_mqls: list[TopMql]
    revenue: Attribution
    """Every attribution model on closed-won revenue, side by side."""
    teams: Any
    """Sourced and influenced revenue per team (a DataFrame)."""
    truth_distance: dict[str, float]
    """Each model's distance to the generator's true incremental opportunity shares."""
    learned: Learned
    """A points pact learned from the generated history (written to `pact.learned.yaml`)."""
    comparison: PactComparison
    """The example pact against the learned one, back-tested on the same snapshots."""

    @property
    def evaluation(self) -> Backtest:
        """The example pact's back-test."""
        return self.comparison.old


def demo_pact_text() -> str:
    """The example pact shipped with Accord (examples/pact.yaml in the repository), as YAML."""
    return (resources.files("accord.pact") / "demo.yaml").read_text("utf-8")


def demo_pact() -> Pact:
    """The example pact shipped with Accord (examples/pact.yaml in the repository)."""
    return parse_pact(demo_pact_text(), "examples/pact.yaml")


def sign_demo_pact(store: Store) -> Pact:
    """Submit the example pact, have both teams approve it, and activate it: the pact in force."""
    v = registry.submit(store, demo_pact_text(), by="head-of-demand-gen", where="examples/pact.yaml")
    registry.approve(store, v.content_hash, "marketing", by="head-of-demand-gen")
    registry.approve(store, v.content_hash, "sales", by="head-of-sales")
    return registry.activate(store, v.content_hash, by="revops").to_pact()


def run_demo(
    folder: str | Path, *, leads: int = 20_000, seed: int = 7, progress: Progress | None = None
) -> DemoResult:
    """Generate `leads` leads into `folder/data` and load them into `folder/accord.duckdb`."""
    tick: Progress = progress or (lambda _step, _frac: None)
    base = Path(folder)
    base.mkdir(parents=True, exist_ok=True)
    data = base / "data"
    gen = generate(leads=leads, seed=seed, progress=lambda s, f: tick(f"generating {s}", 0.55 * f))
    write_generated(gen, data)
    tick("loading", 0.6)
    url = f"duckdb://{base / 'accord.duckdb'}"
    store: Store = connect(url)
    done: list[str] = []

    def loaded(name: str, _result: LoadResult) -> None:
        done.append(name)
        tick(f"loaded {name}", 0.6 + 0.3 * len(done) / len(TABLES))

    try:
        loads = load_folder(store, data, on_table=loaded)
        tick("signing the pact", 0.84)
        pact = sign_demo_pact(store)
        tick("scoring", 0.85)
        # Score as of the day after the last touch: the generated world's "now".
        last = store.table("touchpoints").occurred_at.max().execute()
        as_of = datetime.combine(last.date(), datetime.min.time()) + timedelta(days=1)
        scored = score_store(store, None, as_of, top=10)
        scoring, top = scored.run, scored.top
        tick("attribution", 0.9)
        spend = spend_by_channel(store, end=as_of)
        with journeys_from_store(store, JourneySpec(conversion=Conversion.WON, as_of=as_of)) as j:
            revenue = run_models(j, spend=spend)
            teams = team_report(j)
        tick("attribution against the truth", 0.92)
        with journeys_from_store(store, JourneySpec(conversion=Conversion.OPPORTUNITY, as_of=as_of)) as j:
            opps = run_models(j)
        distance = opps.distance_to(gen.truth.true_incremental_opportunities)
        tick("learning a pact from history", 0.98)
        spec = BacktestSpec(capacity_per_month=None)
        learned = learn_from_store(store, pact, spec)
        (base / "pact.learned.yaml").write_text(learned.yaml, encoding="utf-8")
        # Submitted, not approved: the draft the review weighs and the teams sign on the dashboard.
        registry.submit(store, learned.yaml, by="revops-analyst", where="pact.learned.yaml")
        tick("back-testing both pacts", 0.99)
        comparison = compare_pacts(store, pact, learned.pact, spec, old_result=learned.baseline)
        tick("done", 1.0)
    finally:
        store.close()
    return DemoResult(
        base, data, url, gen, loads, pact, scoring, top, revenue, teams, distance, learned, comparison
    )
