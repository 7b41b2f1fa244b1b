"""Fixtures: one engine suite over DuckDB, PostgreSQL and Spark, and small data builders.

Locally an unreachable engine is skipped with a loud reason; with
ACCORD_REQUIRE_ENGINES=postgres,spark (as in CI) it is a failure instead.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from accord.errors import AccordError
from accord.store import Store, connect

PG_URL = os.environ.get("ACCORD_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REQUIRED = {e.strip() for e in os.environ.get("ACCORD_REQUIRE_ENGINES", "").split(",") if e.strip()}
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

LONGEST_FIRST = ("test_spark_processes.py",)
"""Modules that run for minutes: started first, so `make test`'s workers finish together."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.path.name not in LONGEST_FIRST)


def _unavailable(engine: str, why: str) -> None:
    message = f"{engine} engine unavailable: {why}"
    if engine in REQUIRED:
        pytest.fail(message + " (required by ACCORD_REQUIRE_ENGINES)")
    pytest.skip(message)


def need_java() -> None:
    """For a test that starts Spark in processes of its own: no JVM is a skip, or a failure where required."""
    if shutil.which("java") is None:
        _unavailable("spark", "no java on PATH")


@pytest.fixture(scope="session")
def spark_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    if shutil.which("java") is None:
        _unavailable("spark", "no java on PATH")
    try:
        from accord.store.connection import spark_session as make

        session = make("local[2]", warehouse=str(tmp_path_factory.mktemp("spark-warehouse")))
    except (AccordError, ImportError) as exc:
        _unavailable("spark", str(exc))
    yield session
    session.stop()  # type: ignore[attr-defined]


def _postgres_store() -> Iterator[Store]:
    schema = f"accord_test_{uuid.uuid4().hex[:10]}"
    try:
        store = connect(f"{PG_URL}?schema={schema}")
    except AccordError as exc:
        _unavailable("postgres", str(exc))
    try:
        yield store
    finally:
        store.con.raw_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        store.close()


def _spark_store(request: pytest.FixtureRequest) -> Iterator[Store]:
    session = request.getfixturevalue("spark_session")
    store = connect("spark://local[2]", spark_session=session)
    for name in store.list_tables():  # one session for the run: start each test clean
        store.con.drop_table(name)
    yield store


ENGINES = [
    pytest.param("duckdb", id="duckdb"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    pytest.param("spark", id="spark", marks=pytest.mark.spark),
]


@pytest.fixture(params=ENGINES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """An empty store on each engine in turn."""
    engine = request.param
    if engine == "duckdb":
        s = connect(f"duckdb://{tmp_path / 'accord.duckdb'}")
        yield s
        s.close()
    elif engine == "postgres":
        yield from _postgres_store()
    else:
        yield from _spark_store(request)


@pytest.fixture
def duck(tmp_path: Path) -> Iterator[Store]:
    """An empty embedded store (for tests about logic, not engines)."""
    s = connect(f"duckdb://{tmp_path / 'accord.duckdb'}")
    yield s
    s.close()


def write(path: Path, text: str) -> Path:
    """Write a small text file (dedented by the caller) and return its path."""
    path.write_text(text, encoding="utf-8")
    return path
