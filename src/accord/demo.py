"""The main job end to end: generate a funnel, load it into the embedded store, report where things are."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from accord.store.connection import Store, connect
from accord.store.loader import LoadResult, load_folder
from accord.synth import generate, write_generated
from accord.synth.generator import Generated


@dataclass
class DemoResult:
    """Where the demo put things and what it loaded."""

    folder: Path
    data_folder: Path
    store_url: str
    generated: Generated
    loads: dict[str, LoadResult]


def run_demo(
    folder: str | Path,
    *,
    leads: int = 20_000,
    seed: int = 7,
    progress: Callable[[str, float], None] | None = None,
    on_table: Callable[[str, LoadResult], None] | None = None,
) -> DemoResult:
    """Generate `leads` leads into `folder/data`, load them into `folder/accord.duckdb`."""
    base = Path(folder)
    base.mkdir(parents=True, exist_ok=True)
    data = base / "data"
    gen = generate(leads=leads, seed=seed, progress=progress)
    write_generated(gen, data)
    url = f"duckdb://{base / 'accord.duckdb'}"
    store: Store = connect(url)
    try:
        loads = load_folder(store, data, on_table=on_table)
    finally:
        store.close()
    return DemoResult(base, data, url, gen, loads)
