"""A flat leads export (one row per lead) loaded through the one loader into a store in memory.

Scoring and learning from a file go through `load_file`, the code that loads the
store: a mapping's renames, value maps, formats and defaults apply alike, and
rows that cannot load go to the same rejects file. Account columns of the file
(`account_industry`, `account.employees`, or a column no lead field claims)
become one account per lead; extra columns (`unmapped: properties`) become
properties, as in the store.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from accord.errors import MappingError
from accord.model.tables import ACCOUNTS, LEADS
from accord.store.connection import Store, connect
from accord.store.files import detect_format, read_source
from accord.store.loader import LoadResult, load_file
from accord.store.mapping import ColumnSource, Mapping, load_mapping

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class FlatLeads:
    """A flat file in a store of its own: canonical `leads` (and `accounts`), and what the load did."""

    store: Store
    leads: LoadResult
    accounts: LoadResult | None
    columns: list[str]
    """The file's own columns, as in its header."""

    def close(self) -> None:
        """Release the in-memory store."""
        self.store.close()


def file_columns(path: Path, mapping: Mapping) -> list[str]:
    """The header of a file, read as the loader reads it."""
    con = duckdb.connect()
    try:
        return read_source(con, path, detect_format(path, mapping.format), mapping.csv).columns
    finally:
        con.close()


def leads_mapping(
    mapping: Mapping | str | Path | None, id_column: str | None = None, *, remembered_id: str | None = None
) -> Mapping:
    """The mapping for a flat leads file: `--id` (or the id a pact remembers) names the id column."""
    m = mapping if isinstance(mapping, Mapping) else load_mapping(mapping, table="leads")
    m.check_against("leads")
    chosen = id_column or (remembered_id if "id" not in m.columns else None)
    if chosen is None:
        return m
    return m.model_copy(update={"columns": {**m.columns, "id": ColumnSource(**{"from": chosen})}})


def _lookup(columns: Iterable[str]) -> dict[str, str]:
    return {c.lower(): c for c in columns}


def account_column(name: str, columns: dict[str, str], lead_sources: set[str]) -> str | None:
    """The file column holding account field `name`.

    That is `account_<name>`, `account.<name>`, or `<name>` when no lead field reads that column.
    """
    for candidate in (f"account_{name}", f"account.{name}"):
        if candidate in columns:
            return columns[candidate]
    bare = columns.get(name.lower())
    return bare if bare is not None and bare.lower() not in lead_sources else None


def read_flat_leads(
    path: str | Path,
    mapping: Mapping,
    *,
    account_fields: Iterable[str] = (),
    float_properties: dict[str, str] | None = None,
    keep: Iterable[str] = (),
    rejects_path: str | Path | None = None,
    columns: list[str] | None = None,
) -> FlatLeads:
    """Load a flat leads file into a new in-memory store through `mapping`.

    `account_fields` are account columns or `properties.<key>` the caller reads (found by
    :func:`account_column`); `float_properties` maps property names to the file columns
    they are read from as numbers (a row whose cell is not a number is rejected); `keep`
    names file columns kept as properties even when the mapping ignores unmapped columns;
    `columns`, the file's header when the caller has read it already.
    """
    path = Path(path)
    columns = columns if columns is not None else file_columns(path, mapping)
    cols = _lookup(columns)
    lead_sources = {
        (s.source or "").lower() for s in [*mapping.columns.values(), *mapping.properties.values()]
    } | {c for c in cols if c in LEADS.column_names}
    account_map: dict[str, ColumnSource] = {}
    account_props: dict[str, ColumnSource] = {}
    for field in account_fields:
        key = field.removeprefix("properties.")
        src = account_column(key, cols, lead_sources)
        if src is not None:
            target = account_props if field.startswith("properties.") else account_map
            target[key] = ColumnSource(**{"from": src})
    lead_id = mapping.columns.get("id") or (ColumnSource(**{"from": cols["id"]}) if "id" in cols else None)
    if lead_id is None:
        raise MappingError(
            f"{path}: no lead id column; give --id COLUMN or `columns: {{id: ...}}` in the mapping "
            f"(file columns: {', '.join(columns[:40])})"
        )
    props = dict(mapping.properties)
    for name, source in (float_properties or {}).items():
        props[name] = ColumnSource(**{"from": source, "type": "float"})
    for source in keep:
        if source.lower() in cols and not any(
            (s.source or "").lower() == source.lower() for s in [*mapping.columns.values(), *props.values()]
        ):
            props[source] = ColumnSource(**{"from": cols[source.lower()]})
    lead_columns = dict(mapping.columns)
    lead_columns["id"] = lead_id
    if "created_at" not in lead_columns and "created_at" not in cols:
        # An export without dates is scored as it stands: its leads exist now.
        now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
        lead_columns["created_at"] = ColumnSource(value=now.isoformat(sep=" "))
    if account_map or account_props:
        lead_columns["account_id"] = lead_id
    leads_map = mapping.model_copy(update={"properties": props, "columns": lead_columns})
    store = connect("duckdb://:memory:")
    try:
        accounts = None
        if account_map or account_props:
            acc = Mapping(
                table="accounts",
                format=mapping.format,
                csv=mapping.csv,
                columns={"id": lead_id, **account_map},
                properties=account_props,
                unmapped="ignore",
            )
            accounts = load_file(store, ACCOUNTS.name, path, acc, rejects_path=_side(path, "accounts"))
        leads = load_file(store, LEADS.name, path, leads_map, rejects_path=rejects_path)
    except BaseException:
        store.close()
        raise
    return FlatLeads(store, leads, accounts, columns)


def _side(path: Path, what: str) -> Path:
    """Where account rejects of a flat file go (beside its lead rejects)."""
    return path.with_name(path.name.split(".")[0] + f".{what}.rejects.csv")


def flat_frame(flat: FlatLeads) -> pd.DataFrame:
    """The loaded leads as one frame: canonical columns that hold a value, then each property."""
    import json

    df = flat.store.table("leads").to_pandas()
    props = df.pop("properties").map(lambda t: json.loads(t) if t else {})
    df = df[[c for c in df.columns if df[c].notna().any()]]
    keys = sorted({k for p in props for k in p})
    for key in keys:
        name = key if key not in df.columns else f"properties.{key}"
        df[name] = props.map(lambda p, k=key: p.get(k))
    frame: pd.DataFrame = df
    return frame
