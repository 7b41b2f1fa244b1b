"""Write generated tables to a folder as Parquet or CSV, with the ground truth as JSON."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from accord.model.tables import TABLES
from accord.synth.generator import Generated

if TYPE_CHECKING:
    from accord.store.connection import Store

TRUTH_FILE = "ground_truth.json"
LEAD_TRUTH_FILE = "lead_truth.parquet"


def write_generated(
    gen: Generated, out: str | Path, fmt: Literal["parquet", "csv"] = "parquet"
) -> dict[str, Path]:
    """Write each canonical table as `<table>.<fmt>` in `out`; return the paths in load order."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for name in TABLES:  # load order
        table = gen.tables[name]
        path = folder / f"{name}.{fmt}"
        if fmt == "parquet":
            pq.write_table(table, path, compression="zstd")
        else:
            pacsv.write_csv(_undictionary(table), path)
        paths[name] = path
    (folder / TRUTH_FILE).write_text(gen.truth.model_dump_json(indent=2), encoding="utf-8")
    pq.write_table(gen.lead_truth, folder / LEAD_TRUTH_FILE)
    return paths


def store_generated(gen: Generated, store: Store) -> None:
    """Write each generated table straight into a store (tests and benchmarks: no files, no loader)."""
    for name in TABLES:
        store.write_arrow(name, gen.tables[name], schema=TABLES[name].schema)


def _undictionary(table: pa.Table) -> pa.Table:
    cols = [c.cast(c.type.value_type) if pa.types.is_dictionary(c.type) else c for c in table.columns]
    return pa.table(cols, names=table.column_names)
