"""Column mappings: how a user's export becomes a canonical table.

A mapping is YAML. Each canonical column names where its value comes from: a
source column (optionally with date formats, a value map and a default), a
constant, or a hash of source columns for files without ids. Extra source
columns become typed `properties` or are ignored. Presets for common exports
ship in `accord/store/presets/` and are named without the `.yaml`.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from accord.errors import MappingError
from accord.model.tables import TABLES

PropertyType = Literal["auto", "string", "int", "float", "bool", "timestamp"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ColumnSource(_Strict):
    """Where one canonical column (or property) takes its value from."""

    source: str | None = Field(default=None, alias="from")
    """Source column name (case-insensitive match)."""
    value: Any = None
    """A constant for every row (used when `from` and `hash` are absent)."""
    hash: list[str] | None = None
    """Build a stable id from these source columns (for files that carry none)."""
    row: bool = False
    """The row's number in the file (`row-42`): an id for an export that carries none."""
    format: list[str] | None = None
    """strptime formats tried in order for timestamps, e.g. ``%d-%m-%Y %H:%M``; or ``epoch``/``epoch_ms``."""
    map: dict[str, Any] | None = None
    """Replace source values before conversion (exact match after trimming)."""
    default: Any = None
    """Value used when the source cell is empty."""
    otherwise: Any = None
    """With `map`: value for a non-empty cell the map does not list (default: keep the cell)."""
    only_if: str | dict[str, list[str]] | None = None
    """Keep the value only on some rows: a true/false source column (where it is true), or
    `{column: [values]}` (where the column holds one of them). Salesforce's CloseDate is the
    expected date on open deals, a close date only where IsClosed; HubSpot's only on closed stages."""
    type: PropertyType = "auto"
    """For properties only: the type to convert to (`auto` infers it from the data)."""

    @field_validator("format", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @model_validator(mode="after")
    def _one_origin(self) -> ColumnSource:
        origins = [self.source is not None, self.hash is not None, self.value is not None, self.row]
        if sum(origins) > 1:
            raise ValueError("give only one of `from`, `hash`, `value` or `row`")
        if sum(origins) == 0 and self.default is None:
            raise ValueError("give one of `from`, `hash`, `value`, `row` (or at least a `default`)")
        return self


class CsvOptions(_Strict):
    """How to read a delimited file; anything unset is sniffed."""

    delimiter: str | None = None
    quote: str | None = None
    """Quote character (default: the double quote of RFC 4180)."""
    encoding: str | None = None
    """utf-8 (default), utf-16 or latin-1."""
    header: bool = True


class Mapping(_Strict):
    """How one file maps onto one canonical table."""

    table: str | None = None
    """The canonical table this mapping is for; checked against the command's table."""
    description: str | None = None
    format: Literal["csv", "parquet", "jsonl"] | None = None
    csv: CsvOptions = Field(default_factory=CsvOptions)
    columns: dict[str, ColumnSource] = Field(default_factory=dict)
    """Canonical column -> source. Canonical columns not listed are taken from a source
    column of the same name when the file has one."""
    properties: dict[str, ColumnSource] = Field(default_factory=dict)
    """Property name -> source, stored in the table's `properties` JSON."""
    unmapped: Literal["properties", "ignore"] = "properties"
    """What to do with source columns nothing above uses."""
    on_unknown_reference: Literal["reject", "create"] = "reject"
    """A reference to a lead or account the store does not have: reject the row, or
    create a minimal parent row (for journey files that carry no lead table)."""

    @field_validator("columns", "properties", mode="before")
    @classmethod
    def _shorthand(cls, v: Any) -> Any:
        # `id: mql_id` is short for `id: {from: mql_id}`.
        if isinstance(v, dict):
            return {k: ({"from": s} if isinstance(s, str) else s) for k, s in v.items()}
        return v

    @field_validator("table")
    @classmethod
    def _known_table(cls, v: str | None) -> str | None:
        if v is not None and v not in TABLES:
            raise ValueError(f"unknown table {v!r}; valid: {', '.join(TABLES)}")
        return v

    def check_against(self, table: str) -> None:
        """Raise MappingError if this mapping is for another table or names unknown columns."""
        if self.table is not None and self.table != table:
            raise MappingError(
                f"this mapping is for table {self.table!r}, not {table!r}: "
                f"run `accord load {self.table} ...` or use another mapping"
            )
        spec = TABLES[table]
        unknown = [c for c in self.columns if c not in spec.column_names or c == "properties"]
        if unknown:
            valid = ", ".join(c for c in spec.column_names if c != "properties")
            raise MappingError(
                f"mapping names column(s) {', '.join(map(repr, unknown))} that {table} does not have; "
                f"valid: {valid} (put anything else under `properties:`)"
            )
        if (self.properties or self.unmapped == "properties") and not spec.has_properties:
            if self.properties:
                raise MappingError(f"{table} has no properties column; remove `properties:`")


def preset_names() -> list[str]:
    """Names of the mapping presets shipped with Accord."""
    folder = resources.files("accord.store") / "presets"
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_mapping(ref: str | Path | None, *, table: str | None = None) -> Mapping:
    """Load a mapping from a YAML path or a preset name; None gives the identity mapping."""
    if ref is None:
        return Mapping(table=table)
    path = Path(ref)
    if path.suffix in {".yaml", ".yml"} or path.exists():
        if not path.exists():
            raise MappingError(f"mapping file {path} does not exist")
        text, where = path.read_text(encoding="utf-8"), str(path)
    else:
        name = str(ref)
        if name not in preset_names():
            raise MappingError(
                f"no mapping file or preset named {name!r}; presets: {', '.join(preset_names())}"
            )
        text = (resources.files("accord.store") / "presets" / f"{name}.yaml").read_text("utf-8")
        where = f"preset {name}"
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise MappingError(f"{where} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise MappingError(f"{where} must be a YAML mapping of options, got {type(data).__name__}")
    try:
        mapping = Mapping.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise MappingError(f"{where}: {problems}") from None
    if table is not None:
        mapping.check_against(table)
    return mapping
