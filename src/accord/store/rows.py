"""Row-at-a-time access for the service: keyed reads and writes in short transactions.

Ibis compiles every expression, a few milliseconds each: right for a scoring run,
too slow for one request that reads a lead and writes its score. `Rows` runs the
service's own SQL on the store's DuckDB database or a PostgreSQL connection pool,
every value a bound parameter (never text from a request in the SQL), with `?` as
the placeholder on both engines.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from accord.errors import ConfigError, EngineError
from accord.model.tables import TABLES, TableSpec
from accord.store.connection import Store
from accord.store.sql import ident

_SQL_TYPES = {
    "duckdb": {
        "string": "VARCHAR",
        "json": "VARCHAR",
        "int": "BIGINT",
        "float": "DOUBLE",
        "bool": "BOOLEAN",
        "timestamp": "TIMESTAMP",
    },
    "postgres": {
        "string": "TEXT",
        "json": "TEXT",
        "int": "BIGINT",
        "float": "DOUBLE PRECISION",
        "bool": "BOOLEAN",
        "timestamp": "TIMESTAMP",
    },
}

# Lookups the service makes per request; on DuckDB a zone-map scan answers them, PostgreSQL needs these.
_INDEXES = {
    "touchpoints": ("lead_id",),
    "leads": ("account_id",),
    "feedback": ("lead_id",),
    "stage_changes": ("lead_id",),
    "lead_scores": ("lead_id",),
    "opportunities": ("primary_lead_id",),
}
_MORE_INDEXES = {"lead_scores": ("pact", "pact_version", "model", "lead_id", "as_of")}


_SCHEMA_LOCK = 7_242_001
"""The advisory lock id service processes take while they create the service's tables."""


class Conflict(Exception):
    """A row with the same primary key exists already (another request got there first)."""


BULK = 50
"""From this many rows an insert goes by Arrow (DuckDB) or COPY (PostgreSQL) instead of row by row."""


class Tx:
    """One open transaction."""

    def __init__(self, cur: Any, engine: str, group: _Group | None = None) -> None:
        self._cur = cur
        self._engine = engine
        self._group = group
        self.wrote = False
        """Whether a statement that may change rows ran (or rows wait to be appended)."""

    def append(self, spec: TableSpec, rows: Sequence[dict[str, Any]]) -> None:
        """Insert rows that the rest of the transaction does not read back with SQL.

        On DuckDB they wait, and are written with the rest of the commit group's rows, one
        statement per table, before the group commits; any other statement writes them first.
        """
        if not rows:
            return
        if self._group is None:
            self.insert(spec, rows)
            return
        self.wrote = True
        self._group.appends.setdefault(spec.name, (spec, []))[1].extend(rows)

    def _appended(self) -> None:
        """Write the rows waiting to be appended (before any other statement sees the tables)."""
        if self._group is not None and self._group.appends:
            waiting, self._group.appends = self._group.appends, {}
            for spec, rows in waiting.values():
                self.insert(spec, rows)

    def _sql(self, sql: str) -> str:
        return sql.replace("%", "%%").replace("?", "%s") if self._engine == "postgres" else sql

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows as dicts."""
        self._appended()
        self._cur.execute(self._sql(sql), list(params))
        names = [d[0] for d in self._cur.description]
        return [dict(zip(names, r, strict=True)) for r in self._cur.fetchall()]

    def one(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        """The first row, or None."""
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run a statement; the number of rows it changed where the engine says."""
        self._appended()
        self.wrote = True
        try:
            self._cur.execute(self._sql(sql), list(params))
        except Exception as exc:
            if _is_conflict(exc):
                raise Conflict(str(exc)) from exc
            raise
        n = getattr(self._cur, "rowcount", -1)
        return int(n) if n is not None else -1

    def insert(self, spec: TableSpec, rows: Sequence[dict[str, Any]]) -> None:
        """Insert rows (dicts by column name; missing columns are null)."""
        if not rows:
            return
        self._appended()
        self.wrote = True
        cols = spec.column_names
        sql = self._sql(
            f"INSERT INTO {ident(spec.name)} ({', '.join(ident(c) for c in cols)}) "
            f"VALUES ({', '.join('?' for _ in cols)})"
        )
        values = [[r.get(c) for c in cols] for r in rows]
        try:
            if len(values) == 1:
                self._cur.execute(sql, values[0])
            elif len(values) >= BULK and self._engine == "duckdb":
                import pyarrow as pa

                data = pa.Table.from_pylist(list(rows), schema=spec.schema.to_pyarrow())
                view = f"_accord_rows_{uuid.uuid4().hex[:8]}"
                self._cur.register(view, data)
                try:
                    self._cur.execute(f"INSERT INTO {ident(spec.name)} SELECT * FROM {ident(view)}")
                finally:
                    self._cur.unregister(view)
            elif len(values) >= BULK:
                names = ", ".join(ident(c) for c in cols)
                with self._cur.copy(f"COPY {ident(spec.name)} ({names}) FROM STDIN") as copy:
                    for v in values:
                        copy.write_row(v)
            else:
                self._cur.executemany(sql, values)
        except Exception as exc:
            if _is_conflict(exc):
                raise Conflict(str(exc)) from exc
            raise

    def where_in(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        """A condition `column IN values` and its parameters (a long list goes as one array parameter)."""
        if len(values) <= 20:
            return f"{ident(column)} IN ({', '.join('?' for _ in values)})", list(values)
        if self._engine == "postgres":
            return f"{ident(column)} = ANY(?)", [list(values)]
        return f"{ident(column)} IN (SELECT UNNEST(?))", [list(values)]

    def delete_key(self, spec: TableSpec, row: dict[str, Any]) -> None:
        """Delete the row with `row`'s key."""
        where = " AND ".join(f"{ident(k)} = ?" for k in spec.key)
        self.execute(f"DELETE FROM {ident(spec.name)} WHERE {where}", [row[k] for k in spec.key])


def _is_conflict(exc: Exception) -> bool:
    name = type(exc).__name__
    return name in {"ConstraintException", "UniqueViolation"} or "duplicate key" in str(exc).lower()


GROUP_MAX = 64
"""The most transactions one DuckDB commit takes."""

GROUP_SECONDS = 0.005
"""How long the first transaction of a group may wait for its commit while others keep joining."""


class _Group:
    """DuckDB transactions of several requests, committed together."""

    __slots__ = ("appends", "began", "done", "error", "members")

    def __init__(self) -> None:
        self.began = time.monotonic()
        self.members = 0
        self.done = threading.Event()
        self.error: BaseException | None = None
        self.appends: dict[str, tuple[TableSpec, list[dict[str, Any]]]] = {}
        """Rows of the group's transactions waiting to be inserted, by table."""


class _WriteLock:
    """DuckDB's one writer: held, no request writes; taken, the writes waiting to commit commit first."""

    def __init__(self, rows: Rows) -> None:
        self._rows = rows

    def acquire(self) -> None:
        self._rows._lock.acquire()
        self._rows._flush()
        self._rows._local.held = getattr(self._rows._local, "held", 0) + 1

    def release(self) -> None:
        self._rows._local.held -= 1
        self._rows._lock.release()

    def __enter__(self) -> None:
        self.acquire()

    def __exit__(self, *_: object) -> None:
        self.release()


class Rows:
    """Short transactions on the store's engine, safe to use from many threads.

    On DuckDB, writes run one at a time on one writer connection, and commit in groups: a
    transaction whose block has ended waits for the lock to commit, and commits every other
    transaction that ran in the meantime with it (a commit is an fsync, about 1.5 ms; under
    load, one serves many requests). Each is answered only once its commit is done. When one
    fails after writing, the group is rolled back: the others raise :class:`EngineError` and
    `on_abort` runs (the service then reloads what it keeps in memory).
    """

    def __init__(self, store: Store, *, pool_size: int = 8) -> None:
        if store.engine == "spark":
            raise ConfigError(
                "the service needs DuckDB or PostgreSQL: Spark is a batch engine (score and attribute "
                "with the CLI, serve from the store they write)"
            )
        self.store = store
        self.engine = store.engine
        self._local = threading.local()
        self._lock = threading.RLock()
        self.write_lock = _WriteLock(self)
        self._writer: Any = None
        self._group: _Group | None = None
        self._count = threading.Lock()
        self._waiting = 0
        """Writers waiting for the lock: while there are some, a finished transaction leaves its
        commit to them."""
        self.on_abort: Callable[[], None] | None = None
        """Called when writes that ran were rolled back (DuckDB)."""
        self._pool: Any = None
        if self.engine == "postgres":
            from psycopg_pool import ConnectionPool

            p = store.parsed
            kwargs: dict[str, Any] = {
                "host": p.host,
                "port": p.port,
                "user": p.user,
                "password": p.password,
                "dbname": p.database,
                "autocommit": False,
            }
            if p.schema:
                kwargs["options"] = f"-c search_path={p.schema}"
            self._pool = ConnectionPool(
                kwargs={k: v for k, v in kwargs.items() if v is not None},
                min_size=1,
                max_size=pool_size,
                open=True,
            )

    def close(self) -> None:
        """Close the pool (PostgreSQL)."""
        if self._pool is not None:
            self._pool.close()

    def _cursor(self) -> Any:
        cur = self.store.con.con.cursor()
        cur.execute("SET TimeZone = 'UTC'")
        return cur

    def _duck(self) -> Any:
        cur = getattr(self._local, "cur", None)
        if cur is None:
            cur = self._local.cur = self._cursor()
        return cur

    @contextmanager
    def tx(self, *, write: bool = True) -> Iterator[Tx]:
        """A transaction: committed when the block ends, rolled back if it raises."""
        if self.engine == "postgres":
            with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
                yield Tx(cur, "postgres")
        elif not write:
            cur = self._duck()
            cur.execute("BEGIN TRANSACTION")
            try:
                yield Tx(cur, "duckdb")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")
        else:
            with self._write() as t:
                yield t

    @contextmanager
    def _write(self) -> Iterator[Tx]:
        outer = getattr(self._local, "writing", None)
        if outer is not None:  # inside this thread's own write: part of it
            yield outer
            return
        with self._count:
            self._waiting += 1
        self._lock.acquire()
        try:
            with self._count:
                self._waiting -= 1
            if self._writer is None:
                self._writer = self._cursor()
            if self._group is None:
                self._writer.execute("BEGIN TRANSACTION")
                self._group = _Group()
            group = self._group
            t = Tx(self._writer, "duckdb", group)
            self._local.writing = t
            try:
                yield t
            except BaseException as exc:
                if t.wrote:
                    self._abort(exc)
                raise
            finally:
                self._local.writing = None
                if self._group is group:
                    group.members += t.wrote
                    # The last writer of a burst commits for all; a long burst commits as it goes.
                    if group.members and (
                        self._waiting == 0
                        or getattr(self._local, "held", 0)  # nobody else gets the lock before it is released
                        or group.members >= GROUP_MAX
                        or time.monotonic() - group.began > GROUP_SECONDS
                    ):
                        self._flush()
        finally:
            self._lock.release()
        if not t.wrote:
            return
        # A writer that was waiting may leave without committing (it wrote nothing): then commit.
        while not group.done.wait(max(10 * GROUP_SECONDS, 0.05)):
            with self._lock:
                if self._group is group:
                    self._flush()
        if group.error is not None:
            raise EngineError(
                "the store did not keep this write (another one committed with it failed): send it again"
            ) from group.error

    def _flush(self) -> None:
        """Commit the open group (with the lock held)."""
        group, self._group = self._group, None
        if group is None:
            return
        try:
            Tx(self._writer, "duckdb", group)._appended()
            self._writer.execute("COMMIT")
        except BaseException as exc:
            self._group = group
            self._abort(exc)
            return
        group.done.set()

    def _abort(self, exc: BaseException) -> None:
        group, self._group = self._group, None
        if group is None:
            return
        group.error = exc
        try:
            self._writer.execute("ROLLBACK")
        except Exception:  # noqa: S110 - a failed commit may have ended the transaction already
            pass
        group.done.set()
        if self.on_abort is not None:
            self.on_abort()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """One process at a time (PostgreSQL workers starting together create tables and indexes once)."""
        if self._pool is None or getattr(self._local, "exclusive", False):  # held by this thread already
            yield
            return
        with self._pool.connection() as conn:
            self._local.exclusive = True
            conn.autocommit = True
            conn.execute("SELECT pg_advisory_lock(?)".replace("?", "%s"), [_SCHEMA_LOCK])
            try:
                yield
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", [_SCHEMA_LOCK])
                conn.autocommit = False
                self._local.exclusive = False

    def script(self, sql: str) -> None:
        """Statements without parameters (several, `;`-separated) in one PostgreSQL transaction."""
        if self._pool is None:
            raise ConfigError("scripts run on PostgreSQL only")
        with self._pool.connection() as conn, conn.transaction():
            conn.execute(sql)  # no parameters: the simple protocol, which takes several statements

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """A read in its own transaction."""
        with self.tx(write=False) as t:
            return t.query(sql, params)

    # ------------------------------------------------------------------ schema
    def ensure(self, specs: Sequence[TableSpec], *, primary_keys: bool) -> None:
        """Create tables that do not exist yet (with their key as PRIMARY KEY when asked)."""
        for spec in specs:
            if self.store.has_table(spec.name):
                self.store.table(spec.name)  # adds columns a newer Accord defines
                continue
            if not primary_keys:
                self.store.ensure_table(spec)
                continue
            types = _SQL_TYPES[self.engine]
            cols = [
                f"{ident(c.name)} {types[c.type]}" + (" NOT NULL" if c.required else "") for c in spec.columns
            ]
            cols.append(f"PRIMARY KEY ({', '.join(ident(k) for k in spec.key)})")
            with self.tx() as t:
                t.execute(f"CREATE TABLE IF NOT EXISTS {ident(spec.name)} ({', '.join(cols)})")

    def index(self) -> None:
        """Create the indexes the service's lookups use.

        DuckDB: one, on touchpoints' id (a retried touch is found in a millisecond, not a scan);
        the process keeps the rest in memory. PostgreSQL: every lookup's.
        """
        if self.engine != "postgres":
            self.ensure([TABLES["touchpoints"]], primary_keys=False)
            with self.tx() as t:
                t.execute(
                    f"CREATE INDEX IF NOT EXISTS {ident('accord_ix_touchpoints_id')} "
                    f"ON {ident('touchpoints')} ({ident('id')})"
                )
            return
        self.ensure([*TABLES.values()], primary_keys=False)
        from accord.model.tables import LEAD_SCORES

        self.ensure([LEAD_SCORES], primary_keys=False)
        with self.tx() as t:
            for table, cols in [*_INDEXES.items(), *_MORE_INDEXES.items()]:
                name = f"accord_ix_{table}_{'_'.join(cols)}"
                t.execute(
                    f"CREATE INDEX IF NOT EXISTS {ident(name)} ON {ident(table)} "
                    f"({', '.join(ident(c) for c in cols)})"
                )
            t.execute(
                f"CREATE INDEX IF NOT EXISTS {ident('accord_ix_touchpoints_id')} ON "
                f"{ident('touchpoints')} ({ident('id')})"
            )
            t.execute(
                f"CREATE INDEX IF NOT EXISTS {ident('accord_ix_leads_id')} "
                f"ON {ident('leads')} ({ident('id')})"
            )
            t.execute(
                f"CREATE INDEX IF NOT EXISTS {ident('accord_ix_accounts_id')} ON "
                f"{ident('accounts')} ({ident('id')})"
            )
        # Tables bulk-loaded by COPY have no statistics until autovacuum gets to them; without
        # them the planner picks nested loops that take seconds (the MQL queue: 20 s, then 0.6 s).
        with self.tx() as t:
            for table in (*_INDEXES, "accounts"):
                t.execute(f"ANALYZE {ident(table)}")
