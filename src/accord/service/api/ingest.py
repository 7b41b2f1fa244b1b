"""`POST /v1/{table}`: rows one by one or a thousand at a time, each answered, the lead rescored."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Body
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from accord.model.tables import TABLES
from accord.service.deps import AppState, Ingester
from accord.service.problems import problem
from accord.workflows.live import INGEST_TABLES, MAX_ITEMS, Ingested

router = APIRouter(prefix="/v1", tags=["ingest"])


class AcceptedItem(BaseModel):
    """One row taken, and (for a lead or touchpoint) the lead's score right after it."""

    id: str | None
    outcome: Literal["inserted", "updated", "unchanged"] | None
    lead_id: str | None = None
    as_of: datetime | None = None
    score: float | None = None
    fit: float | None = None
    engagement: float | None = None
    grade: str | None = None
    band: int | None = None
    stage: str | None = None
    became_mql: bool | None = None
    is_mql: bool | None = None
    pact_version: int | None = None


def _fields(table: str) -> str:
    spec = TABLES[table]
    return "; ".join(f"`{c.name}` ({c.type}{', required' if c.required else ''})" for c in spec.columns)


def _route(table: str) -> None:
    described = Body(
        ...,
        description=f'One {table[:-1] if table != "spend" else "spend"} row, or `{{"items": [...]}}` '
        f"with up to {MAX_ITEMS}. Fields: {_fields(table)}. Other fields go into `properties`.",
    )

    async def ingest(s: AppState, who: Ingester, body: dict[str, Any] = described) -> Any:
        many = isinstance(body.get("items"), list) and set(body) == {"items"}
        items = body["items"] if many else [body]
        result: Ingested = await run_in_threadpool(s.live.ingest, table, items, who.name, who.role)
        if many:
            return JSONResponse(result.model_dump(mode="json"))
        item = result.items[0]
        if item.status == "rejected":
            return problem(
                422, "Item refused", f"{item.field}: {item.reason}", field=item.field, reason=item.reason
            )
        out = AcceptedItem(id=item.id, outcome=item.outcome)
        if item.score is not None:
            sc = item.score
            out = out.model_copy(
                update={
                    "lead_id": sc.lead_id,
                    "as_of": sc.as_of,
                    "score": sc.score,
                    "fit": sc.fit,
                    "engagement": sc.engagement,
                    "grade": sc.grade,
                    "band": sc.band,
                    "stage": sc.stage,
                    "became_mql": sc.became_mql,
                    "is_mql": sc.is_mql,
                    "pact_version": sc.pact_version,
                }
            )
        return JSONResponse(out.model_dump(mode="json"))

    router.add_api_route(
        f"/{table}",
        ingest,
        methods=["POST"],
        name=f"ingest_{table}",
        summary=f"Add or update {table}",
        response_model=AcceptedItem | Ingested,
        responses={422: {"description": "The item was refused (problem+json naming the field)."}},
    )


for _table in INGEST_TABLES:
    _route(_table)
