"""The data model: the documented public API and the data-model doc stay complete."""

from __future__ import annotations

from pathlib import Path

import pytest

import accord
from accord.errors import UnknownTableError
from accord.model import DERIVED_TABLES, TABLES, table_spec
from accord.model.tables import SERVICE_TABLES

DOC = Path(__file__).resolve().parents[1] / "docs" / "data-model.md"


def test_doc_lists_every_table_and_column() -> None:
    text = DOC.read_text(encoding="utf-8")
    for spec in [*TABLES.values(), *DERIVED_TABLES.values(), *SERVICE_TABLES.values()]:
        section = text.split(f"## `{spec.name}`")[1].split("\n## ")[0]
        for col in spec.column_names:
            assert f"| `{col}` |" in section, f"{spec.name}.{col} missing from {DOC.name}"


def test_schemas_are_typed_and_keys_exist() -> None:
    for spec in TABLES.values():
        assert set(spec.key) <= set(spec.column_names)
        assert all(not spec.schema[c].nullable for c in spec.column_names if spec.column(c).required)
    assert str(TABLES["touchpoints"].schema["occurred_at"]) == "!timestamp(6)"


def test_unknown_table_error_lists_tables() -> None:
    with pytest.raises(UnknownTableError, match="canonical tables: accounts, leads"):
        table_spec("contacts")
    with pytest.raises(KeyError):  # also the builtin it refines
        table_spec("contacts")


def test_public_api_is_complete() -> None:
    for name in accord.__all__:
        assert getattr(accord, name) is not None
    assert {"connect", "load_file", "generate", "AccordError"} <= set(accord.__all__)
