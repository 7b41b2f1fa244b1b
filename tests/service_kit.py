"""A served store for the service tests: a small generated funnel, the demo pact active, a key per role."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import Any

import pytest

from accord.demo import sign_demo_pact
from accord.errors import AccordError
from accord.scoring.run import run_scoring
from accord.store import connect
from accord.store.rows import Rows
from accord.synth import generate, store_generated
from accord.workflows.access import ROLES, create_key
from accord.workflows.live import now

ROLE_NAMES = tuple(ROLES)


@cache
def world() -> Any:
    return generate(leads=600, seed=5, touches_per_lead=5)


@dataclass
class Served:
    client: Any
    keys: dict[str, str]
    url: str
    app: Any

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}

    @property
    def state(self) -> Any:
        return self.app.state.accord

    def rows(self, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        return self.state.rows.query(sql, params or [])


def fill(url: str, *, score: bool = True) -> dict[str, str]:
    """Load the funnel, activate the demo pact, score once (as of now), make a key per role."""
    gen = world()
    with connect(url) as store:
        store_generated(gen, store)
        pact = sign_demo_pact(store)
        if score:
            run_scoring(store, pact, now())
        rows = Rows(store)
        try:
            return {r: create_key(rows, f"{r}-key", r, now=now()).key for r in ROLE_NAMES}
        finally:
            rows.close()


def pg_url(base: str) -> str:
    return f"{base}?schema=accord_svc_{uuid.uuid4().hex[:10]}"


def drop_schema(url: str) -> None:
    schema = url.rsplit("schema=", 1)[1]
    with connect(url) as store:
        store.con.raw_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def engine_url(engine: str, tmp_path: Any) -> str:
    from conftest import PG_URL, _unavailable

    if engine == "duckdb":
        return f"duckdb://{tmp_path / 'svc.duckdb'}"
    url = pg_url(PG_URL)
    try:
        connect(url).close()
    except AccordError as exc:
        _unavailable("postgres", str(exc))
    return url


@contextmanager
def served(url: str, **settings: Any) -> Iterator[Served]:
    from fastapi.testclient import TestClient

    from accord.service.app import create_app
    from accord.service.settings import Settings

    keys = fill(url)
    app = create_app(Settings(url=url, **settings))
    try:
        with TestClient(app) as client:
            yield Served(client, keys, url, app)
    finally:
        if url.startswith("postgres"):
            drop_schema(url)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def live_server(app: Any) -> Iterator[str]:
    """Serve `app` on a loopback port in a thread (for clients that open their own connections)."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            pytest.fail("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
