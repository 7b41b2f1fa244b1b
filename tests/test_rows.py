"""Row access on DuckDB: transactions of concurrent requests commit in groups, all or none."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from accord.errors import EngineError
from accord.model.tables import AUDIT_LOG
from accord.store import connect
from accord.store.rows import Rows


@pytest.fixture
def rows(tmp_path: Path) -> Iterator[Rows]:
    store = connect(f"duckdb://{tmp_path / 'rows.duckdb'}")
    r = Rows(store)
    r.ensure([AUDIT_LOG], primary_keys=False)
    yield r
    r.close()
    store.close()


def _entry(i: int) -> dict:
    return {"id": f"e{i}", "at": datetime(2026, 11, 30), "actor": "t", "action": "x", "target": str(i)}


def _ids(rows: Rows) -> list[str]:
    return sorted(r["id"] for r in rows.query('SELECT id FROM "audit_log"'))


def _statements(rows: Rows) -> list[str]:
    """The first word of each statement the rows' connections run from now on (INSERT* for many)."""
    seen: list[str] = []
    real = rows._cursor

    def cursor() -> object:
        cur = real()

        class Recording:
            def __getattr__(self, name: str) -> object:
                return getattr(cur, name)

            def execute(self, sql: str, *args: object) -> object:
                seen.append(sql.split()[0])
                return cur.execute(sql, *args)

            def executemany(self, sql: str, *args: object) -> object:
                seen.append("INSERT*")
                return cur.executemany(sql, *args)

        return Recording()

    rows._cursor = cursor  # type: ignore[method-assign]
    return seen


def test_writers_that_queue_commit_once(rows: Rows, monkeypatch: pytest.MonkeyPatch) -> None:
    """16 writers waiting for the lock: each leaves its commit to the next; the last commits all."""
    import accord.store.rows as module

    monkeypatch.setattr(module, "GROUP_SECONDS", 30.0)  # no commit for the group's age
    statements = _statements(rows)
    with rows.tx() as t:  # opens the writer connection before counting
        t.insert(AUDIT_LOG, [_entry(99)])
    statements.clear()

    def work(k: int) -> None:
        with rows.tx() as t:
            t.insert(AUDIT_LOG, [_entry(k)])

    threads = [threading.Thread(target=work, args=(k,)) for k in range(16)]
    with rows._lock:  # hold the writer until all 16 wait for it
        for th in threads:
            th.start()
        deadline = time.monotonic() + 10
        while rows._waiting < 16 and time.monotonic() < deadline:
            time.sleep(0.001)
        assert rows._waiting == 16
    for th in threads:
        th.join()
    assert statements.count("COMMIT") == 1
    assert _ids(rows) == sorted([f"e{k}" for k in range(16)] + ["e99"])


def test_concurrent_writes_all_commit(rows: Rows) -> None:
    start = threading.Barrier(8)

    def work(k: int) -> None:
        start.wait()
        for j in range(25):
            with rows.tx() as t:
                t.insert(AUDIT_LOG, [_entry(k * 100 + j)])

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert _ids(rows) == sorted(f"e{k * 100 + j}" for k in range(8) for j in range(25))


def test_a_write_is_committed_when_its_block_ends(rows: Rows) -> None:
    with rows.tx() as t:
        t.insert(AUDIT_LOG, [_entry(1)])
    other = rows.store.con.con.cursor()  # another connection sees it: it is committed
    assert other.execute('SELECT count(*) FROM "audit_log"').fetchone() == (1,)


class _Gate:
    """The writer's lock, with a way to make one thread's next acquire wait for an event."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.hold: dict[int, threading.Event] = {}

    def acquire(self) -> None:
        wait = self.hold.pop(threading.get_ident(), None)
        if wait is not None:
            wait.wait(10)
        self._lock.acquire()

    def release(self) -> None:
        self._lock.release()

    def __enter__(self) -> None:
        self.acquire()

    def __exit__(self, *_: object) -> None:
        self.release()


def test_a_failure_rolls_back_its_group_and_the_others_are_told(
    rows: Rows, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The group stays open however slow the machine: `first` commits neither for its age nor
    # before `second` is waiting for the lock (a loaded CI machine committed it alone).
    monkeypatch.setattr("accord.store.rows.GROUP_SECONDS", 60.0)
    aborted = []
    rows.on_abort = lambda: aborted.append(True)
    gate = rows._lock = _Gate()  # type: ignore[assignment]
    second_done = threading.Event()
    outcome: dict[str, object] = {}

    def second() -> None:  # writes in the group `first` is waiting to commit, then fails
        try:
            with rows.tx() as t:
                t.insert(AUDIT_LOG, [_entry(2)])
                raise RuntimeError("boom")
        except RuntimeError as exc:
            outcome["second"] = exc
        finally:
            second_done.set()

    b = threading.Thread(target=second)
    try:
        with rows.tx() as t:
            t.insert(AUDIT_LOG, [_entry(1)])
            gate.hold[threading.get_ident()] = second_done  # commit only after `second` ran
            b.start()
            deadline = time.monotonic() + 10
            while rows._waiting == 0 and time.monotonic() < deadline:
                time.sleep(0.001)
        outcome["first"] = "committed"
    except EngineError as exc:
        outcome["first"] = exc
    b.join()
    assert str(outcome["second"]) == "boom"
    assert isinstance(outcome["first"], EngineError)
    assert "send it again" in str(outcome["first"])
    assert _ids(rows) == []  # neither kept
    assert aborted == [True]
    with rows.tx() as t:  # the writer works on
        t.insert(AUDIT_LOG, [_entry(3)])
    assert _ids(rows) == ["e3"]


def test_a_block_that_wrote_nothing_leaves_the_group_alone(rows: Rows) -> None:
    aborted = []
    rows.on_abort = lambda: aborted.append(True)
    with rows.tx() as t:
        t.insert(AUDIT_LOG, [_entry(1)])
    with pytest.raises(ValueError), rows.tx() as t:
        t.query("SELECT 1")
        raise ValueError("refused before writing")
    assert aborted == []
    assert _ids(rows) == ["e1"]


def test_taking_the_write_lock_commits_waiting_writes(rows: Rows) -> None:
    with rows._lock:
        with rows.tx() as t:  # nested under the lock: its commit waits for the lock's holder
            t.insert(AUDIT_LOG, [_entry(1)])
        rows.write_lock.acquire()
        try:
            other = rows.store.con.con.cursor()
            assert other.execute('SELECT count(*) FROM "audit_log"').fetchone() == (1,)
        finally:
            rows.write_lock.release()


def test_appended_rows_wait_for_the_commit_but_any_statement_sees_them(rows: Rows) -> None:
    statements = _statements(rows)
    with rows.tx() as t:
        t.append(AUDIT_LOG, [_entry(1)])
        t.append(AUDIT_LOG, [_entry(2)])
        assert statements == ["BEGIN"]  # nothing written yet
        # A statement in the transaction sees them: they are written before it runs.
        assert [r["id"] for r in t.query('SELECT id FROM "audit_log" ORDER BY id')] == ["e1", "e2"]
        t.append(AUDIT_LOG, [_entry(3)])
    assert statements.count("COMMIT") == 1
    assert _ids(rows) == ["e1", "e2", "e3"]


def test_appended_rows_of_a_failed_group_are_not_kept(rows: Rows) -> None:
    with pytest.raises(RuntimeError), rows.tx() as t:
        t.append(AUDIT_LOG, [_entry(1)])
        raise RuntimeError("refused after appending")
    with rows.tx() as t:
        t.append(AUDIT_LOG, [_entry(2)])
    assert _ids(rows) == ["e2"]
