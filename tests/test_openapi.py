"""schemathesis against the service's own OpenAPI spec: no server error, no response that breaks the schema."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from service_kit import fill

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

COLLECT = ("/v1/batch", "/v1/track", "/v1/page", "/v1/identify", "/v1/group")


def test_no_server_error_and_every_response_fits_the_schema(tmp_path) -> None:
    from accord.service.app import create_app, open_state
    from accord.service.settings import Settings

    url = f"duckdb://{tmp_path / 's.duckdb'}"
    keys = fill(url)
    app = create_app(state=open_state(Settings(url=url, rate_per_second=100_000)))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [r.ok() for r in schema.get_all_operations()]
    assert len(operations) >= 29
    for op in operations:
        # A back-test or an attribution run is seconds of work per distinct query: fewer examples.
        heavy = op.path in ("/v1/evaluation", "/v1/attribution")
        _fuzz(op, keys["ingest" if op.path in COLLECT else "admin"], 3 if heavy else 10)


def _fuzz(op, key: str, examples: int) -> None:  # type: ignore[no-untyped-def]
    @given(case=op.as_strategy())
    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(case) -> None:  # type: ignore[no-untyped-def]
        case.call_and_validate(
            headers={"Authorization": f"Bearer {key}"},
            checks=[not_a_server_error, response_schema_conformance],
        )

    check()
