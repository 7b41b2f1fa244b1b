"""The FastAPI application: `create_app(settings)`; `accord serve` runs it under uvicorn."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from accord.service import pages, problems
from accord.service.api import admin, collect, ingest, insight, leads, pacts, webhooks
from accord.service.deps import AppState, State
from accord.service.guard import Guard
from accord.service.settings import Settings

VERSION = "1"


class Health(BaseModel):
    """Whether the process (healthz) or the store and active pact (readyz) are there."""

    status: str
    detail: str | None = None
    pact: str | None = None


def open_state(settings: Settings) -> State:
    """Connect to the store and make it ready to serve (its own tables, indexes, stale jobs)."""
    from accord.service.guard import release_idempotency
    from accord.store.connection import connect, parse_url
    from accord.store.rows import Rows
    from accord.workflows.collect import CollectConfig
    from accord.workflows.jobs import abandon_running
    from accord.workflows.live import Live, now

    if parse_url(settings.url).engine == "spark":
        from accord.errors import ConfigError

        raise ConfigError(
            "the service needs DuckDB or PostgreSQL: Spark is a batch engine (score and attribute "
            "with the CLI, "
            "serve from a DuckDB or PostgreSQL store)"
        )
    store = connect(settings.url)
    rows = Rows(store, pool_size=settings.pool_size)
    with rows.exclusive():
        _prepare(store, rows)
    abandon_running(rows, now())
    if store.engine == "duckdb":  # the one process of this store: claims left in progress died with the last
        release_idempotency(rows)
    live = Live(rows, settings.model)
    if store.engine == "duckdb":
        # A checkpoint blocks writes while it rewrites the file; DuckDB runs one whenever the
        # WAL passes 16 MB, every minute or so under load. The WAL is replayed on open instead.
        store.con.raw_sql("SET checkpoint_threshold = '1GB'")
        live.keep_resident()
    return State(
        settings=settings,
        store=store,
        rows=rows,
        live=live,
        collect=CollectConfig.read(settings.collect_config),
    )


def _prepare(store: Any, rows: Any) -> None:
    from accord.store import lead_state
    from accord.workflows.access import prepare

    prepare(rows)
    rows.index()
    for name in (
        "leads",
        "accounts",
        "touchpoints",
        "feedback",
        "stage_changes",
        "lead_scores",
        "opportunities",
        "spend",
        "pact_versions",
        "pact_approvals",
        "pact_activations",
    ):
        store.table(name)  # every table the routes read exists, even on a new store
    lead_state.ensure(rows)


def _courier(state: State) -> Any:
    """The process's webhook courier, started."""
    from accord.workflows.live import now
    from accord.workflows.webhooks import SCHEDULE, Courier

    st = state.settings
    courier = Courier(state.rows, now, schedule=st.webhook_schedule or SCHEDULE, allow=st.webhook_allow)
    courier.start(sole=state.rows.engine == "duckdb")
    return courier


def create_app(settings: Settings | None = None, *, state: State | None = None) -> FastAPI:
    """The service app on the store `settings.url` (or an already open `state`)."""
    settings = settings or (state.settings if state else Settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = state is None
        app.state.accord = state or await run_in_threadpool(open_state, settings)
        courier = _courier(app.state.accord) if settings.webhooks else None
        try:
            yield
        finally:
            from accord.workflows.jobs import stop_all

            await run_in_threadpool(stop_all)
            if courier is not None:
                await run_in_threadpool(courier.stop)
            if own:
                app.state.accord.rows.close()
                app.state.accord.store.close()

    app = FastAPI(
        title="Accord",
        version=VERSION,
        summary="Lead scoring and attribution that sales and marketing agree on.",
        lifespan=lifespan,
    )
    if state is not None:
        app.state.accord = state
    problems.install(app)

    @app.get("/healthz", response_model=Health, tags=["health"], summary="The process is up")
    async def healthz() -> Health:
        return Health(status="ok")

    @app.get(
        "/readyz",
        response_model=Health,
        tags=["health"],
        summary="The store answers and a pact is active",
        responses={503: {"model": Health}},
    )
    async def readyz(s: AppState) -> Any:
        def check() -> Health:
            p = s.live.active()
            return Health(status="ready", pact=f"{p.pact} v{p.version}")

        try:
            return await run_in_threadpool(check)
        except Exception as exc:  # not ready, and why
            return JSONResponse(
                Health(status="not ready", detail=str(exc)[:300]).model_dump(), status_code=503
            )

    for module in (ingest, leads, pacts, insight, admin, collect, webhooks):
        app.include_router(module.router)
    pages.mount(app)
    _document_events(app)

    def rows() -> Any:
        found = getattr(app.state, "accord", None)
        return found.rows if found is not None else None

    app.add_middleware(Guard, rows=rows, max_body=settings.max_body_bytes, rate=settings.rate_per_second)
    return app


def _document_events(app: FastAPI) -> None:
    """Each event type in the OpenAPI spec's `webhooks`: the body an endpoint receives."""
    from pydantic import create_model

    from accord.workflows.webhooks import EVENT_DATA

    for kind, data in EVENT_DATA.items():
        envelope = create_model(
            "Event_" + kind.replace(".", "_"),
            id=(str, ...),
            type=(str, kind),
            timestamp=(str, ...),
            data=(data, ...),
            __doc__=f"The body of a `{kind}` delivery (signed in its webhook-* headers).",
        )

        def receive(body: Any) -> None:
            """Answer 2xx within 15 s; 410 stops the deliveries."""

        receive.__annotations__ = {"body": envelope, "return": None}  # the model, not a forward name
        app.webhooks.post(kind, summary=data.__doc__.split(":", 1)[-1].strip() if data.__doc__ else kind)(
            receive
        )


def factory() -> FastAPI:
    """For `uvicorn --factory` with several workers: settings from the environment."""
    return create_app(Settings())
