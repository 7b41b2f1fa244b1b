"""Types whose JSON form differs from their Python one: instants with `Z`, numbers that may be null.

Stores and the domain keep naive UTC datetimes and NaN for "not measurable"; JSON readers
(OpenAPI's date-time, clients parsing numbers) need the offset and a null.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import PlainSerializer, WithJsonSchema


def _rfc3339(value: datetime) -> str:
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")


Instant = Annotated[
    datetime,
    PlainSerializer(_rfc3339, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}, mode="serialization"),
]
"""A naive UTC datetime, written as RFC 3339 with `Z`."""

Number = Annotated[
    float, WithJsonSchema({"anyOf": [{"type": "number"}, {"type": "null"}]}, mode="serialization")
]
"""A float that is null in JSON when it cannot be measured (NaN, infinite)."""
