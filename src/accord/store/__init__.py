"""Where data lives: `connect(url)` to DuckDB, PostgreSQL or Spark, and loading files."""

from accord.store.connection import DEFAULT_URL, Store, connect, parse_url

__all__ = ["DEFAULT_URL", "Store", "connect", "parse_url"]
