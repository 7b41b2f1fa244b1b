"""Where data lives: `connect(url)` to DuckDB, PostgreSQL or Spark, and loading files."""

from accord.store.connection import DEFAULT_URL, Store, connect, parse_url
from accord.store.loader import LoadResult, load_file, load_folder
from accord.store.mapping import Mapping, load_mapping, preset_names

__all__ = [
    "DEFAULT_URL",
    "LoadResult",
    "Mapping",
    "Store",
    "connect",
    "load_file",
    "load_folder",
    "load_mapping",
    "parse_url",
    "preset_names",
]
