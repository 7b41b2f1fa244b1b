"""Connection URLs, optional extras, and the loader's no-row-lost invariant."""

from __future__ import annotations

import csv
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accord.errors import ConfigError, MissingExtraError
from accord.store import Store, connect, load_file, parse_url


def test_urls_parse_into_engine_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ACCORD_URL", raising=False)
    assert parse_url(None).engine == "duckdb" and parse_url(None).target == "accord.duckdb"
    assert parse_url("data/crm.duckdb").target == "data/crm.duckdb"
    assert parse_url("duckdb://").target == ":memory:"
    pg = parse_url("postgresql://me:p%40ss@db.local:5433/crm?schema=accord&sslmode=require")
    assert (pg.engine, pg.host, pg.port, pg.user, pg.password, pg.database, pg.schema) == (
        "postgres",
        "db.local",
        5433,
        "me",
        "p@ss",
        "crm",
        "accord",
    )
    assert pg.options == {"sslmode": "require"}
    assert parse_url("spark://local[2]").target == "local[2]"
    assert parse_url("spark://master:7077").target == "spark://master:7077"
    sp = parse_url("spark://127.0.0.1:7077?warehouse=/data/wh&database=crm&memory=8g")
    assert (sp.engine, sp.target, sp.options) == (
        "spark",
        "spark://127.0.0.1:7077",
        {"warehouse": "/data/wh", "database": "crm", "memory": "8g"},
    )
    assert Store(None, sp).describe() == (
        "spark://127.0.0.1:7077, warehouse /data/wh, catalog kept in /data/wh/.metastore, database crm"
    )
    sc = parse_url("sc://spark.example:15002?catalog=main&database=crm")
    assert (sc.engine, sc.target) == ("spark", "sc://spark.example:15002")
    assert Store(None, sc).describe() == (
        "sc://spark.example:15002, the server's warehouse and catalog, database main.crm"
    )
    monkeypatch.setenv("ACCORD_URL", "spark://local[1]")
    assert parse_url(None).engine == "spark"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://x/y", "unknown engine 'mysql'.*valid: duckdb://, postgresql://, spark://"),
        ("just-a-name", "expected duckdb://PATH"),
        ("postgresql://u@h/db?schema=a;drop", "not a plain SQL identifier"),
        ("spark://local[2]?database=a-b", "database 'a-b' .* is not a plain SQL identifier"),
        ("spark://local[2]?warehous=/x", "unknown Spark option 'warehous'.*valid: warehouse, catalog"),
        ("sc://", "names no Spark Connect server"),
    ],
)
def test_bad_urls_say_what_is_valid(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_url(url)


def test_unreachable_postgres_is_a_clear_error() -> None:
    from accord.errors import EngineError

    with pytest.raises(EngineError, match=r"cannot reach PostgreSQL at 127\.0\.0\.1:1 "):
        connect("postgresql://postgres@127.0.0.1:1/test?connect_timeout=2")


def test_a_duckdb_store_that_cannot_open_is_a_clear_error(tmp_path) -> None:
    from accord.errors import EngineError

    with pytest.raises(
        EngineError, match=r"cannot open the DuckDB store '.*x\.duckdb' with options schema=a: "
    ):
        connect(f"duckdb://{tmp_path / 'x.duckdb'}?schema=a")
    with pytest.raises(EngineError, match=r"cannot open the DuckDB store '.*no-such-folder/x\.duckdb': "):
        connect(f"duckdb://{tmp_path / 'no-such-folder' / 'x.duckdb'}")


def test_missing_spark_extra_names_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyspark", None)
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)
    with pytest.raises(MissingExtraError, match=r'pip install "accord\[spark\]"'):
        connect("spark://local[1]")


# A row is either loaded, or in the rejects file: never both, never neither.
_cell = st.one_of(
    st.integers(-5, 500).map(str),
    st.sampled_from(["", "abc", "1.5", "  7 ", "-0", "1e3"]),
)
_name = st.text(alphabet="abcXYZ019 -'\"", max_size=8)
_row = st.tuples(st.sampled_from(["a1", "a2", "a3", "a4", "", "a5"]), _cell, _name)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(_row, min_size=1, max_size=25))
def test_every_row_is_loaded_or_rejected(
    rows: list[tuple[str, str, str]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    folder = tmp_path_factory.mktemp("prop")
    path = folder / "acc.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "employees", "name"])
        w.writerows(rows)
    store: Store = connect(f"duckdb://{folder / 'x.duckdb'}")
    try:
        r = load_file(store, "accounts", path)
        stored = store.table("accounts").to_pyarrow().to_pylist()
        assert r.loaded + r.rejected == len(rows)
        assert len(stored) == r.loaded
        # What loaded is exactly the first valid occurrence of each id, with its values.
        expect: dict[str, tuple[int | None, str | None]] = {}
        for rid, emp, name in rows:
            text = emp.strip(" ")
            ok_emp = text == "" or (_is_int(text) and float(text) >= 0)
            if rid and ok_emp and rid not in expect:
                expect[rid] = (int(float(text)) if text else None, name.strip(" ") or None)
        assert {x["id"]: (x["employees"], x["name"]) for x in stored} == expect
        again = load_file(store, "accounts", path)
        assert (again.write.inserted, again.write.updated) == (0, 0)
    finally:
        store.close()


def _is_int(text: str) -> bool:
    try:
        return float(text) == int(float(text))
    except ValueError:
        return False


def test_score_histories_on_duckdb_keep_the_compression_their_columns_name(tmp_path) -> None:
    # Ids are declared fsst and labels dictionary. With two alternating lead ids DuckDB would
    # pick dictionary for lead_id itself: fsst shows the declaration holds.
    import pyarrow as pa

    from accord.model.tables import LEAD_SCORES

    store = connect(f"duckdb://{tmp_path / 's.duckdb'}")
    try:
        store.ensure_table(LEAD_SCORES)
        n = 200_000
        rows = {c: [None] * n for c in LEAD_SCORES.column_names}
        rows |= {
            "lead_id": ["l0", "l1"] * (n // 2),
            "model": ["default"] * n,
            "pact": ["p"] * n,
            "pact_version": [1] * n,
            "as_of": pa.array([0] * n, pa.timestamp("us")),
            "grade": ["A", "B", "C", "D"] * (n // 4),
        }
        store.write_arrow("lead_scores", pa.table(rows).cast(LEAD_SCORES.schema.to_pyarrow()), append=True)
        raw = store.con.con
        raw.execute("CHECKPOINT")
        kinds = dict(
            raw.execute(
                "SELECT column_name, min(compression) FROM pragma_storage_info('lead_scores') "
                "WHERE segment_type = 'VARCHAR' AND column_name IN ('lead_id', 'grade') GROUP BY 1"
            ).fetchall()
        )
        assert kinds == {"lead_id": "FSST", "grade": "Dictionary"}
        assert store.table("lead_scores").count().execute() == n
    finally:
        store.close()


def test_a_catalog_error_names_the_catalog_it_could_not_open() -> None:
    """The embedded catalog held elsewhere is a lock; a shared metastore that fails is not."""
    from accord.store.connection import _catalog_error

    hive = RuntimeError("HiveException: Unable to instantiate SessionHiveMetaStoreClient\n\tat ...")
    held = _catalog_error(parse_url("spark://local[2]?warehouse=/data/wh"), hive)
    assert str(held).startswith(
        "cannot open the Spark store's catalog in /data/wh/.metastore: another process"
    )
    shared = _catalog_error(parse_url("spark://local[2]?metastore=thrift://hms:9083"), hive)
    assert str(shared) == (
        "cannot reach the Hive metastore thrift://hms:9083: HiveException: Unable to instantiate "
        "SessionHiveMetaStoreClient"
    )
    other = _catalog_error(parse_url("spark://local[2]"), RuntimeError("[CATALOG_NOT_FOUND] lake"))
    assert str(other) == "cannot open the Spark catalog of local[2]: [CATALOG_NOT_FOUND] lake"
