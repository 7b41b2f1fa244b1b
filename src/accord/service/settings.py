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
    webhook_allow: list[str] = []
    """Internal hosts, addresses or networks webhooks may post to (`["127.0.0.1"]`); others are refused."""
    webhook_schedule: list[float] | None = None
    """Seconds before each delivery attempt (default the Standard Webhooks schedule: 0, 5 s, 5 min,
    30 min, 2 h, 5 h, 10 h, 10 h)."""
    webhooks: bool = True
    """Run the courier that delivers events (one per process)."""
    capacity: float | None = None
    """MQLs sales can work a month, for the dashboard's overview (default: the kept review's)."""
