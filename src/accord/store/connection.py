"""`connect(url)`: one Ibis connection over DuckDB, PostgreSQL or Spark.

Domain code only sees :class:`Store` and Ibis expressions. The few things Ibis
does not do alike on every engine (bulk loads, deleting by key) live here, in
the store, behind one method each.
"""

from __future__ import annotations

import os
import re
import sys
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, unquote, urlparse

import ibis
import pyarrow as pa
from ibis.backends.sql.datatypes import DuckDBType

from accord.errors import ConfigError, EngineError, MissingExtraError
from accord.model.tables import DERIVED_TABLES, TABLES, Column, TableSpec
from accord.store.sql import ident

Engine = Literal["duckdb", "postgres", "spark"]

DEFAULT_URL = "duckdb://accord.duckdb"
"""The embedded default: a DuckDB file in the working directory."""

ENV_URL = "ACCORD_URL"
"""Environment variable that overrides the default URL."""

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

SPARK_OPTIONS = ("warehouse", "catalog", "database", "metastore", "memory")
"""The query options a Spark URL may carry."""

METASTORE_DIR = ".metastore"
"""The embedded catalog's folder inside the warehouse: the tables and what names them move together."""

VERBOSE = "ACCORD_VERBOSE"
"""Set (by `accord --verbose`) to let an engine print its own logs and progress bars."""

SPARK_LOG = ".spark.log"
"""The last process's JVM output, in the warehouse (`accord --verbose` prints it instead)."""

_QUIET_LOG4J = Path(__file__).with_name("spark-log4j2.properties")


@dataclass(frozen=True)
class ParsedUrl:
    """A connection URL split into what each engine needs."""

    engine: Engine
    target: str
    """DuckDB path, PostgreSQL DSN parts joined, or Spark master."""
    options: dict[str, str] = field(default_factory=dict)
    host: str | None = None
    port: int | None = None
    user: str | None = None
    password: str | None = None
    database: str | None = None
    schema: str | None = None


def parse_url(url: str | os.PathLike[str] | None) -> ParsedUrl:
    """Parse an Accord connection URL.

    Accepted forms: ``None`` (``$ACCORD_URL`` or ``duckdb://accord.duckdb``),
    ``duckdb://PATH`` or a path ending in ``.duckdb``, ``duckdb://:memory:``,
    ``postgresql://user:pw@host:port/db?schema=NAME``, and
    ``spark://local[2]`` or ``spark://HOST:7077`` (options below), and a Spark Connect
    server ``sc://HOST:15002``. Spark options: ``warehouse=DIR`` (default ``./spark-warehouse``),
    ``catalog=NAME`` and ``database=NAME`` (where the tables live; default the session's),
    ``metastore=thrift://HOST:9083`` (a shared Hive metastore instead of the one kept in the
    warehouse) and ``memory=4g`` (the driver's memory).
    """
    raw = os.fspath(url) if url is not None else os.environ.get(ENV_URL, DEFAULT_URL)
    if raw.endswith(".duckdb") and "://" not in raw:
        return ParsedUrl("duckdb", raw)
    scheme, sep, rest = raw.partition("://")
    if not sep:
        raise ConfigError(
            f"cannot read connection URL {raw!r}: expected duckdb://PATH, "
            "postgresql://USER@HOST:PORT/DB?schema=NAME or spark://MASTER"
        )
    scheme = scheme.lower()
    if scheme == "duckdb":
        path, _, query = rest.partition("?")
        return ParsedUrl("duckdb", path or ":memory:", _query(query))
    if scheme in {"postgres", "postgresql"}:
        parts = urlparse(raw)
        opts = _query(parts.query)
        schema = opts.pop("schema", None)
        if schema is not None and not _IDENT.match(schema):
            raise ConfigError(f"schema {schema!r} in {raw!r} is not a plain SQL identifier")
        return ParsedUrl(
            "postgres",
            raw,
            opts,
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 5432,
            user=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            database=parts.path.lstrip("/") or None,
            schema=schema,
        )
    if scheme in {"spark", "sc"}:
        master, _, query = rest.partition("?")
        opts = _query(query)
        if unknown := sorted(set(opts) - set(SPARK_OPTIONS)):
            raise ConfigError(
                f"unknown Spark option {unknown[0]!r} in {raw!r}; valid: {', '.join(SPARK_OPTIONS)}"
            )
        for key in ("catalog", "database"):
            if key in opts and not _IDENT.match(opts[key]):
                raise ConfigError(f"{key} {opts[key]!r} in {raw!r} is not a plain SQL identifier")
        if scheme == "sc":  # Spark Connect: the server owns the catalog
            if not master:
                raise ConfigError(f"{raw!r} names no Spark Connect server: expected sc://HOST:15002")
            return ParsedUrl("spark", f"sc://{master}", opts)
        master = master or "local[2]"
        if not master.startswith("local"):
            master = f"spark://{master}"
        return ParsedUrl("spark", master, opts)
    raise ConfigError(
        f"unknown engine {scheme!r} in {raw!r}; valid: duckdb://, postgresql://, spark://, sc://"
    )


def _query(query: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(query).items()}


class Store:
    """An Accord store: the canonical tables on one engine, reached through Ibis."""

    def __init__(
        self, con: Any, parsed: ParsedUrl, *, spark: Any = None, served_by: str | None = None
    ) -> None:
        self.con = con
        """The Ibis backend. Domain code builds expressions on `table(...)`."""
        self.parsed = parsed
        self.engine: Engine = parsed.engine
        self._spark = spark
        self._known: set[str] = set()
        self.served_by = served_by
        """The warm server that runs this Spark store's work, when one does."""

    def __repr__(self) -> str:
        return f"Store(engine={self.engine!r}, target={self.describe()!r})"

    def describe(self) -> str:
        """A human description of where the data lives (no password)."""
        p = self.parsed
        if self.engine == "duckdb":
            return p.target if p.target == ":memory:" else str(Path(p.target).resolve())
        if self.engine == "postgres":
            return f"postgresql://{p.user or ''}@{p.host}:{p.port}/{p.database or ''}" + (
                f"?schema={p.schema}" if p.schema else ""
            )
        named = ".".join(p.options[k] for k in ("catalog", "database") if k in p.options)
        in_db = f", database {named}" if named else ""
        if p.target.startswith("sc://"):
            return f"{p.target}, the server's warehouse and catalog{in_db}"
        wh = warehouse_of(p)
        where = (
            f"Hive metastore {p.options['metastore']}"
            if "metastore" in p.options
            else f"catalog kept in {wh / METASTORE_DIR}"
        )
        served = f", run by {self.served_by}" if self.served_by else ""
        return f"{p.target}, warehouse {wh}, {where}{in_db}{served}"

    # ---------------------------------------------------------------- tables
    def list_tables(self) -> list[str]:
        """Names of the tables in this store."""
        return list(self.con.list_tables())

    def has_table(self, name: str) -> bool:
        """Whether a table exists."""
        return name in self.list_tables()

    def table(self, name: str) -> ibis.Table:
        """An Ibis table expression for `name`; canonical tables are created on first use."""
        spec = TABLES.get(name) or DERIVED_TABLES.get(name)
        # Accord never drops a canonical table, so one seen once needs no catalog listing again.
        if spec is not None and name not in self._known:
            if not self.has_table(name):
                self.ensure_table(spec)
            self._known.add(name)
        t = self.con.table(name)
        if spec is not None and (missing := [c for c in spec.columns if c.name not in t.columns]):
            t = self._add_columns(name, missing)
        return t

    def _add_columns(self, name: str, columns: list[Column]) -> ibis.Table:
        """Bring a table written by an earlier Accord up to its spec: add its new columns, empty."""
        from ibis.backends.sql.datatypes import PostgresType, PySparkType

        mapper = {"duckdb": DuckDBType, "postgres": PostgresType, "spark": PySparkType}[self.engine]
        target = ident(name) if not self.parsed.schema else f"{ident(self.parsed.schema)}.{ident(name)}"
        for c in columns:
            typ = mapper.from_ibis(c.ibis_type.copy(nullable=True)).sql(self.engine)
            if self.engine == "spark":  # Spark quotes names with backticks and adds columns in a list
                self.con.raw_sql(f"ALTER TABLE `{name}` ADD COLUMNS (`{c.name}` {typ})")
            else:
                self.con.raw_sql(f"ALTER TABLE {target} ADD COLUMN {ident(c.name)} {typ}")
        return self.con.table(name)

    def ensure_table(self, spec: TableSpec) -> None:
        """Create a canonical table, empty, if it does not exist yet."""
        if self.has_table(spec.name):
            return
        if self.engine == "duckdb" and any(c.compression for c in spec.columns):
            # Ibis has no clause for a column's compression: the table is declared in SQL.
            cols = ", ".join(
                f"{ident(c.name)} {DuckDBType.from_ibis(c.ibis_type).sql('duckdb')}"
                + (f" USING COMPRESSION {c.compression}" if c.compression else "")
                + (" NOT NULL" if c.required else "")
                for c in spec.columns
            )
            self.con.raw_sql(f"CREATE TABLE {ident(spec.name)} ({cols})")
            return
        self.con.create_table(spec.name, schema=spec.schema)

    def drop_table(self, name: str) -> None:
        """Drop a table if it exists."""
        self._known.discard(name)
        if self.has_table(name):
            self.con.drop_table(name)

    def scratch(self, name: str, expr: ibis.Table) -> ibis.Table:
        """Materialise `expr` as `name`, an intermediate result the caller drops when done.

        On DuckDB it is a temporary table: it stays in memory (spilling if it must) and is
        never compressed into the database file. Elsewhere it is a plain table (Spark has no
        temporary tables; a PostgreSQL one would live outside the store's schema).
        """
        return self.con.create_table(name, expr, overwrite=True, temp=self.engine == "duckdb")

    # ----------------------------------------------------------- bulk paths
    def write_arrow(
        self,
        name: str,
        data: pa.Table | pa.RecordBatchReader,
        *,
        schema: ibis.Schema | None = None,
        append: bool = False,
    ) -> None:
        """Write Arrow data as `name` (replacing it unless `append`), by each engine's fast path.

        DuckDB streams Arrow batches in one INSERT; PostgreSQL gets a psycopg ``COPY``
        (7.6x faster than Ibis' create_table for 1M rows, see benchmarks/); Spark builds
        DataFrames from Arrow (Ibis' pandas route turns null strings into "NaN").
        """
        schema = schema or ibis.Schema.from_pyarrow(data.schema)
        target = schema.to_pyarrow()
        if not append or not self.has_table(name):
            self.con.create_table(name, schema=schema, overwrite=True)
        if isinstance(data, pa.Table):
            data = pa.RecordBatchReader.from_batches(target, data.cast(target).to_batches(1_000_000))
        if self.engine == "duckdb":
            raw = self.con.con
            view = f"_accord_arrow_{uuid.uuid4().hex[:8]}"
            raw.register(view, data)
            try:
                raw.execute(f"INSERT INTO {ident(name)} SELECT * FROM {ident(view)}")
            finally:
                raw.unregister(view)
            return
        for batch in data:
            if batch.num_rows == 0:
                continue
            table = pa.Table.from_batches([batch.cast(target)])
            if self.engine == "postgres":
                self._copy_into_postgres(name, table)
            else:
                self._spark.createDataFrame(table).write.mode("append").insertInto(name)

    def _copy_into_postgres(self, name: str, data: pa.Table) -> None:
        import pyarrow.csv as pacsv

        raw = self.con.con
        cols = ", ".join(ident(c) for c in data.column_names)
        target = ident(name) if not self.parsed.schema else f"{ident(self.parsed.schema)}.{ident(name)}"
        # Text columns are quoted so an empty string stays "" and only a real
        # null (written unquoted and empty) becomes NULL.
        options = pacsv.WriteOptions(include_header=False, quoting_style="all_valid")
        with (
            raw.cursor() as cur,
            cur.copy(f"COPY {target} ({cols}) FROM STDIN WITH (FORMAT csv)") as copy,
        ):
            for batch in data.to_batches(max_chunksize=200_000):
                sink = pa.BufferOutputStream()
                pacsv.write_csv(pa.Table.from_batches([batch]), sink, write_options=options)
                copy.write(sink.getvalue().to_pybytes())
        if not raw.autocommit:
            raw.commit()

    def delete_keys(self, name: str, keys_table: str, key: tuple[str, ...]) -> None:
        """Delete rows of `name` whose key appears in `keys_table` (null-safe).

        SQL engines run one ``DELETE``; Spark tables have no DELETE, so the table
        is rebuilt without those rows.
        """
        if self.engine == "spark":
            target, keys = self.con.table(name), self.con.table(keys_table)
            keep = target.anti_join(keys, [target[k].identical_to(keys[k]) for k in key])
            tmp = f"_accord_tmp_{uuid.uuid4().hex[:8]}"
            self.con.create_table(tmp, keep)
            self.con.drop_table(name)
            self.con.rename_table(tmp, name)
            return
        cond = " AND ".join(
            f"{ident(name)}.{ident(k)} IS NOT DISTINCT FROM {ident(keys_table)}.{ident(k)}" for k in key
        )
        target = ident(name)
        using = ident(keys_table)
        if self.engine == "postgres" and self.parsed.schema:
            s = ident(self.parsed.schema)
            target, using = f"{s}.{target} AS {ident(name)}", f"{s}.{using} AS {using}"
        self.con.raw_sql(f"DELETE FROM {target} USING {using} WHERE {cond}")

    def sibling(self) -> Store:
        """Another connection to the same store, for another thread (DuckDB: the same database)."""
        if self.engine == "duckdb":
            con = ibis.duckdb.from_connection(self.con.con.cursor())
            con.raw_sql("SET TimeZone = 'UTC'")
            return Store(con, self.parsed)
        if self.engine == "postgres":
            return _connect_postgres(self.parsed)
        return self

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the connection (the Spark session is left to its owner)."""
        try:
            self.con.disconnect()
        except Exception:  # noqa: S110 - closing is best effort
            pass


def connect(url: str | os.PathLike[str] | None = None, *, spark_session: Any = None) -> Store:
    """Connect to an Accord store.

    With no URL: ``$ACCORD_URL`` if set, else the DuckDB file ``accord.duckdb``
    in the working directory. See :func:`parse_url` for the URL forms. A Spark
    store may be handed an existing ``spark_session``.
    """
    parsed = parse_url(url)
    if parsed.engine == "duckdb":
        try:
            con = ibis.duckdb.connect(parsed.target, **parsed.options)
        except Exception as exc:  # a bad option, a missing folder, a file another process holds
            options = "".join(f" {k}={v}" for k, v in parsed.options.items())
            raise EngineError(
                f"cannot open the DuckDB store {parsed.target!r}"
                + (f" with options{options}" if options else "")
                + f": {exc}"
            ) from exc
        con.raw_sql("SET TimeZone = 'UTC'")
        return Store(con, parsed)
    if parsed.engine == "postgres":
        return _connect_postgres(parsed)
    return _connect_spark(parsed, spark_session)


def _connect_postgres(parsed: ParsedUrl) -> Store:
    try:
        con = ibis.postgres.connect(
            host=parsed.host,
            port=parsed.port or 5432,
            user=parsed.user,
            password=parsed.password,
            database=parsed.database,
            schema=parsed.schema,
            **parsed.options,
        )
    except Exception as exc:
        raise EngineError(
            f"cannot reach PostgreSQL at {parsed.host}:{parsed.port} "
            f"(database {parsed.database!r}, user {parsed.user!r}): {exc}".strip()
        ) from exc
    if parsed.schema:
        # Ibis already put the schema on the search_path; it only has to exist.
        con.raw_sql(f"CREATE SCHEMA IF NOT EXISTS {ident(parsed.schema)}")
    return Store(con, parsed)


def warehouse_of(parsed: ParsedUrl) -> Path:
    """Where a Spark store's table files live (absolute, so every process finds the same place)."""
    return Path(parsed.options.get("warehouse", "spark-warehouse")).expanduser().resolve()


def spark_conf(
    master: str,
    warehouse: Path,
    *,
    metastore: str | None = None,
    memory: str | None = None,
    verbose: bool = False,
) -> dict[str, str]:
    """The Spark settings Accord runs with, for its own session or a Spark Connect server's."""
    java = ["-Duser.timezone=UTC", "-Dderby.stream.error.field=java.lang.System.err"]
    if not verbose:
        java.append(f"-Dlog4j2.configurationFile=file:{_QUIET_LOG4J}")
    conf = {
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.catalogImplementation": "hive",
        "spark.sql.warehouse.dir": str(warehouse),
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": str(verbose).lower(),
        "spark.sql.shuffle.partitions": "4",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.driver.extraJavaOptions": " ".join(java),
        "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
        "spark.pyspark.python": sys.executable,
    }
    if metastore:
        conf["spark.hadoop.hive.metastore.uris"] = metastore
    else:
        conf["spark.hadoop.javax.jdo.option.ConnectionURL"] = (
            f"jdbc:derby:;databaseName={warehouse / METASTORE_DIR};create=true"
        )
        # Held by another process, the embedded catalog stays held: no retrying 10 times, 2 s apart.
        conf["spark.hadoop.hive.hmshandler.retry.attempts"] = "1"
    if memory:
        conf["spark.driver.memory"] = memory
    if master.startswith("local") or urlparse(master).hostname in {"127.0.0.1", "localhost"}:
        # Local mode and a cluster on loopback talk to the driver on loopback, not the machine's address.
        conf["spark.driver.bindAddress"] = conf["spark.driver.host"] = "127.0.0.1"
    return conf


def spark_home() -> Path:
    """The installed PySpark's own Spark: its launchers, jars and configuration."""
    import pyspark

    return Path(pyspark.__file__).parent


def connect_server_command(
    master: str,
    warehouse: Path,
    port: int,
    host: str = "127.0.0.1",
    *,
    metastore: str | None = None,
    memory: str | None = None,
) -> list[str]:
    """The command that starts a Spark Connect server on `master` with Accord's settings.

    `sc://HOST:PORT` then reaches it: each `accord` process is a thin client, and the server
    keeps the session, the catalog and the JVM warm between them.
    """
    conf = spark_conf(master, warehouse, metastore=metastore, memory=memory)
    conf["spark.connect.grpc.binding.address"] = host
    conf["spark.connect.grpc.binding.port"] = str(port)
    args = [str(spark_home() / "bin" / "spark-submit"), "--master", master, "--name", "accord-connect"]
    args += ["--class", "org.apache.spark.sql.connect.service.SparkConnectServer"]
    for key, value in conf.items():
        args += ["--conf", f"{key}={value}"]
    return [*args, "spark-internal"]


def spark_session(
    master: str = "local[2]",
    warehouse: str | Path | None = None,
    *,
    metastore: str | None = None,
    memory: str | None = None,
) -> Any:
    """Build (or reuse) a SparkSession configured the way Accord needs it: UTC, small shuffles.

    Its catalog outlives the process: a Hive metastore kept in the warehouse (embedded Derby,
    one process at a time) unless `metastore` names a shared one. Spark's own logs and progress
    bars stay off the terminal unless ``$ACCORD_VERBOSE`` is set.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise MissingExtraError('the Spark engine needs PySpark: pip install "accord[spark]"') from exc
    if master.startswith("sc://"):
        # Ibis hands every in-memory table to createDataFrame with an option Connect ignores.
        warnings.filterwarnings("ignore", message="'verifySchema' is ignored", category=UserWarning)
        try:
            return SparkSession.builder.remote(master).getOrCreate()
        except ImportError as exc:
            raise MissingExtraError('Spark Connect needs its client: pip install "pyspark[connect]"') from exc
    wh = Path(warehouse or "spark-warehouse").expanduser().resolve()
    wh.mkdir(parents=True, exist_ok=True)
    verbose = bool(os.environ.get(VERBOSE))
    builder = SparkSession.builder.master(master).appName("accord")
    for key, value in spark_conf(master, wh, metastore=metastore, memory=memory, verbose=verbose).items():
        builder = builder.config(key, value)
    with nullcontext() if verbose else _jvm_output_to(wh / SPARK_LOG):
        session = builder.getOrCreate()
    session.sparkContext.setLogLevel("WARN" if verbose else "ERROR")
    return session


@contextmanager
def _jvm_output_to(path: Path) -> Iterator[None]:
    """Start the JVM with its standard error in `path`: the JVM's own warnings never reach the terminal."""
    sys.stderr.flush()
    saved = os.dup(2)
    log = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.dup2(log, 2)  # the JVM inherits this descriptor for its lifetime
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(log)


def _connect_spark(parsed: ParsedUrl, session: Any) -> Store:
    opts = parsed.options
    served_by = None
    if session is None and not parsed.target.startswith("sc://"):
        from accord.store.spark_server import running

        if (served_by := running(parsed)) is not None:  # `accord spark start` keeps this store warm
            session = spark_session(f"{served_by.remote}/;token={served_by.token}")
    if session is None:
        session = spark_session(
            parsed.target, warehouse_of(parsed), metastore=opts.get("metastore"), memory=opts.get("memory")
        )
    try:
        if "catalog" in opts:
            session.catalog.setCurrentCatalog(opts["catalog"])
        if "database" in opts:
            session.sql(f"CREATE DATABASE IF NOT EXISTS `{opts['database']}`")
            session.catalog.setCurrentDatabase(opts["database"])
        else:
            # Opens the catalog now, so one another process holds is said here, not mid-command.
            session.catalog.databaseExists(session.catalog.currentDatabase())
    except Exception as exc:
        raise _catalog_error(parsed, exc) from exc
    try:
        con = ibis.pyspark.connect(session)
    except ImportError as exc:  # ibis' pyspark backend missing
        raise MissingExtraError('the Spark engine needs PySpark: pip install "accord[spark]"') from exc
    return Store(con, parsed, spark=session, served_by=served_by.describe() if served_by else None)


def _catalog_error(parsed: ParsedUrl, exc: Exception) -> EngineError:
    text = str(exc)
    first = (text.strip().splitlines() or [""])[0]
    if "metastore" in parsed.options:  # a shared metastore: no lock of ours to blame
        return EngineError(f"cannot reach the Hive metastore {parsed.options['metastore']}: {first}")
    if "Derby" in text or "XSDB6" in text or "metastore" in text.lower():
        return EngineError(
            f"cannot open the Spark store's catalog in {warehouse_of(parsed) / METASTORE_DIR}: "
            "another process has it open (it takes one process at a time; wait for that one to "
            "finish, run `accord spark start` so that every command shares one warm session, "
            "or name a shared metastore with ?metastore=thrift://HOST:9083)"
        )
    return EngineError(f"cannot open the Spark catalog of {parsed.target}: {first}")
