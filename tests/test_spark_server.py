"""`accord spark start|stop|status` where no server comes up: refusals, stale files, a failed start.

The warm server at work (every command of the sequence through it, compared with DuckDB) is in
test_spark_processes.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from accord.cli.main import app
from accord.store.connection import parse_url
from accord.store.spark_server import SERVER_FILE, running
from conftest import need_java
from service_kit import free_port

runner = CliRunner()


def _one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in text, text
    return lines[0]


@pytest.mark.parametrize("url", ["duckdb://x.duckdb", "sc://127.0.0.1:15002", "postgresql://me@db/crm"])
def test_a_warm_server_is_only_for_a_spark_store_this_machine_drives(url: str, tmp_path: Path) -> None:
    for verb in ("start", "stop", "status"):
        res = runner.invoke(app, ["spark", verb, "--url", url])
        assert res.exit_code == 2, res.output
        assert _one_line(res.output).startswith(
            "error: a warm server is for a Spark store this machine drives"
        )


def _dead_pid() -> int:
    done = subprocess.Popen(["true"])  # noqa: S607
    done.wait()
    return done.pid


def test_a_stale_or_broken_server_file_is_ignored(tmp_path: Path) -> None:
    url = f"spark://local[2]?warehouse={tmp_path}"
    parsed, path = parse_url(url), tmp_path / SERVER_FILE
    server = {
        "master": "local[2]",
        "port": free_port(),  # nothing listens there
        "pid": os.getpid(),
        "token": "t",
        "warehouse": "w",
    }
    stale = [
        "{not json",
        json.dumps({"master": "local[2]"}),  # fields missing
        json.dumps({**server, "pid": _dead_pid()}),  # the server was killed
        json.dumps(server),  # a process, but nothing listens on the port
        json.dumps({**server, "master": "local[4]"}),  # another master's server
    ]
    for text in stale:
        path.write_text(text)
        assert running(parsed) is None, text
        res = runner.invoke(app, ["spark", "status", "--url", url])
        assert res.exit_code == 3 and _one_line(res.output) == (
            "no warm server for local[2]: each command starts its own Spark"
        )
    res = runner.invoke(app, ["spark", "stop", "--url", url])
    assert res.exit_code == 0 and _one_line(res.output) == "no warm server was running"
    assert not path.exists()  # the stale file is gone with it


@pytest.mark.spark
def test_a_server_that_cannot_start_is_one_sentence(tmp_path: Path) -> None:
    need_java()
    warehouse = tmp_path / "wh"
    done = subprocess.run(
        [sys.executable, "-m", "accord.cli.main", "spark", "start"],
        env={**os.environ, "ACCORD_URL": f"spark://local[1]?warehouse={warehouse}&memory=lots"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 5, done.stderr
    assert _one_line(done.stderr) == (
        "error: the Spark Connect server for local[1] did not start: Invalid maximum heap size: "
        f"-Xmxlots (its log: {warehouse}/.connect.log)"
    )
    assert not (warehouse / SERVER_FILE).exists()
