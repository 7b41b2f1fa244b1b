"""Background jobs: the rescore an activation starts, with progress anyone can read."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext, suppress
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from accord.errors import UnknownJobError
from accord.model.json_types import Instant
from accord.model.tables import JOBS
from accord.pact.schema import Pact
from accord.store.connection import Store
from accord.store.rows import Rows
from accord.store.sql import ident


class Job(BaseModel):
    """A background job and how far it got."""

    id: str
    kind: str
    state: str
    progress: float | None
    message: str | None
    created_by: str | None
    created_at: Instant
    finished_at: Instant | None
    result: dict[str, Any] | None


def _update(rows: Rows, job_id: str, **values: Any) -> None:
    cols = ", ".join(f"{ident(k)} = ?" for k in values)
    with rows.tx() as t:
        t.execute(f"UPDATE {ident(JOBS.name)} SET {cols} WHERE id = ?", [*values.values(), job_id])


def _finish(
    rows: Rows, job_id: str, kind: str, state: str, message: str, at: datetime, result: dict[str, Any] | None
) -> None:
    """The job's end and its `job.finished` event, in one transaction."""
    from accord.workflows.webhooks import emit

    values = {
        "state": state,
        "progress": 1.0 if state == "done" else None,
        "message": message,
        "finished_at": at,
    }
    values["result"] = json.dumps(result, default=str) if result is not None else None
    cols = ", ".join(f"{ident(k)} = ?" for k in values)
    with rows.tx() as t:
        t.execute(f"UPDATE {ident(JOBS.name)} SET {cols} WHERE id = ?", [*values.values(), job_id])
        emit(t, "job.finished", {"job_id": job_id, "kind": kind, "state": state, "message": message}, at)


def get_job(rows: Rows, job_id: str) -> Job:
    """A job by id."""
    found = rows.query(f"SELECT * FROM {ident(JOBS.name)} WHERE id = ?", [job_id])
    if not found:
        raise UnknownJobError(f"no job {job_id!r}")
    row = found[0]
    row["result"] = json.loads(row["result"]) if row["result"] else None
    return Job.model_validate(row)


def abandon_running(rows: Rows, now: datetime) -> None:
    """Jobs a stopped service left running are failed, and say so."""
    with rows.tx() as t:
        t.execute(
            f"UPDATE {ident(JOBS.name)} SET state = 'failed', finished_at = ?, "
            "message = 'the service stopped while it ran; activate again to rescore' "
            "WHERE state IN ('queued', 'running')",
            [now],
        )


Step = Callable[[float, str], None]
"""A job's progress report: share done (0 to 1) and what it is doing."""

_RUNNING: dict[str, tuple[threading.Event, threading.Thread]] = {}
"""This process's jobs: the flag that stops each at its next progress report, and its thread."""


class Stopped(Exception):
    """Raised in a job's thread at a progress report once the service stops."""


def stop_all(wait: float = 30.0) -> None:
    """Stop this process's jobs at their next progress report, and wait up to `wait` seconds for them.

    The service closes the store next: a job still inside a query on it would crash the process.
    """
    running = list(_RUNNING.values())
    for flag, _ in running:
        flag.set()
    deadline = time.monotonic() + wait
    for _, thread in running:
        thread.join(max(deadline - time.monotonic(), 0.0))


def start_job(
    rows: Rows,
    kind: str,
    message: str,
    work: Callable[[Step], dict[str, Any]],
    *,
    by: str,
    now: Callable[[], datetime],
    exclusive: AbstractContextManager[Any] | None = None,
) -> Job:
    """Run `work` in a thread, recording its progress and result (or failure) in `jobs`; the queued job."""
    job_id = "job-" + uuid.uuid4().hex[:16]
    with rows.tx() as t:
        t.insert(
            JOBS,
            [
                {
                    "id": job_id,
                    "kind": kind,
                    "state": "queued",
                    "progress": 0.0,
                    "message": message,
                    "created_by": by,
                    "created_at": now(),
                }
            ],
        )

    stop = threading.Event()

    def step(progress: float, doing: str) -> None:
        if stop.is_set():
            raise Stopped("the service stopped while it ran")
        _update(
            rows, job_id, state="running", progress=round(min(max(progress, 0.0), 0.99), 3), message=doing
        )

    def run() -> None:
        try:
            with exclusive or nullcontext():
                result = work(step)
            _finish(rows, job_id, kind, "done", str(result.pop("message", "done")), now(), result)
        except Exception as exc:  # a job reports its failure instead of dying silently
            with suppress(Exception):  # unless the store closed under it (the service stopping)
                _finish(rows, job_id, kind, "failed", str(exc)[:500], now(), None)
        finally:
            _RUNNING.pop(job_id, None)

    thread = threading.Thread(target=run, name=job_id, daemon=True)
    _RUNNING[job_id] = (stop, thread)
    thread.start()
    return get_job(rows, job_id)


def latest(rows: Rows, kind: str) -> Job | None:
    """The newest job of `kind`, whatever its state."""
    found = rows.query(
        f"SELECT id FROM {ident(JOBS.name)} WHERE kind = ? ORDER BY created_at DESC LIMIT 1", [kind]
    )
    return get_job(rows, found[0]["id"]) if found else None


def running(rows: Rows, kind: str) -> Job | None:
    """The newest queued or running job of `kind`, if any (one refresh at a time)."""
    found = rows.query(
        f"SELECT id FROM {ident(JOBS.name)} WHERE kind = ? AND state IN ('queued', 'running') "
        "ORDER BY created_at DESC LIMIT 1",
        [kind],
    )
    return get_job(rows, found[0]["id"]) if found else None


def start_rescore(
    rows: Rows,
    store: Store,
    pact: Pact,
    *,
    by: str,
    now: Callable[[], datetime],
    exclusive: AbstractContextManager[Any] | None = None,
    after: Callable[[], None] | None = None,
) -> Job:
    """Rescore every lead with `pact` in a thread (on its own connection); returns the queued job.

    `after` runs once the scores are written (the service reloads what it keeps in memory).
    """
    from accord.scoring.run import run_scoring

    def work(step: Step) -> dict[str, Any]:
        with exclusive or nullcontext():
            step(0.1, "scoring every lead")
            own = store.sibling()
            try:
                as_of = now()
                r = run_scoring(own, pact, as_of, "default")
            finally:
                if own is not store:
                    own.close()
        if after is not None:
            after()
        return {
            "message": f"scored with {pact.pact} v{pact.version}",
            "run_id": r.run_id,
            "as_of": as_of.isoformat(),
            "leads": r.leads.inserted + r.leads.updated,
            "new_mqls": r.new_mqls,
        }

    return start_job(rows, "rescore", f"rescore with {pact.pact} v{pact.version}", work, by=by, now=now)
