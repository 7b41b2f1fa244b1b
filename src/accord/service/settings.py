"""The service's settings, from `ACCORD_*` environment variables (and `accord serve` options)."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """What a service process needs to know."""

    model_config = SettingsConfigDict(env_prefix="ACCORD_", extra="ignore")

    url: str | None = None
    """The store: `duckdb://PATH` (one process) or `postgresql://...` (several workers)."""
    model: str = "default"
    """The score model the service scores and reads."""
    max_body_bytes: int = 1_000_000
    """Requests with a larger body are refused with 413."""
    rate_per_second: float = 500.0
    """Requests per second each key may make (a burst of twice that); over it: 429 with Retry-After."""
    collect_config: Path | None = None
    """YAML that maps event names and UTM values to touch types and channels (defaults documented)."""
    pool_size: int = 8
    """PostgreSQL connections per worker."""
    capacity: float | None = None
    """MQLs sales can work a month, for the dashboard's overview (default: the kept review's)."""
