"""Spark as a user runs it: one `accord` process after another, on local mode and on a cluster.

Each command is its own process, so nothing survives between them but the store: its table
files and the catalog kept beside them. The cluster is a standalone master, one worker and a
Spark Connect server started from the installed PySpark on loopback. Every result is compared
with DuckDB's on the same data, through the same commands.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from accord.store.connection import connect_server_command, spark_home
from accord.store.spark_server import listening
from conftest import need_java
from service_kit import free_port

pytestmark = [pytest.mark.spark, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
PACT = ROOT / "examples" / "pact.yaml"
NOISE = ("WARN", "log4j", "Stage ", "SparkContext", "incubator", "Derby", "Traceback")
"""What Spark and the JVM print on their own: none of it may reach the user's terminal."""


class Cli:
    """`accord` as separate processes in one working folder, on one store URL."""

    def __init__(self, url: str, cwd: Path) -> None:
        self.url, self.cwd = url, cwd
        cwd.mkdir(parents=True, exist_ok=True)

    def __call__(self, *args: str | Path) -> str:
        env = {**os.environ, "ACCORD_URL": self.url, "COLUMNS": "200"}
        env.pop("ACCORD_VERBOSE", None)
        done = subprocess.run(  # noqa: S603 - our own command
            [sys.executable, "-m", "accord.cli.main", *map(str, args)],
            cwd=self.cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        key = " ".join(map(str, args[:2]))
        assert done.returncode == 0, f"accord {key} on {self.url}: {done.stderr[-2000:]}"
        if not self.url.startswith("duckdb"):
            noise = [w for w in NOISE if w in done.stdout + done.stderr]
            assert not noise, f"accord {key} let Spark talk ({noise}): {done.stderr[-1500:]}"
        return done.stdout


def _as_of(data: Path) -> datetime:
    """The generated world's "now": the day after its last touch."""
    last = pq.read_table(data / "touchpoints.parquet", columns=["occurred_at"]).column(0).to_pandas().max()
    return datetime.combine(last.date(), datetime.min.time()) + timedelta(days=1)


def sequence(
    cli: Cli, data: Path, *, after_loads: Callable[[], object] = lambda: None, full: bool = True
) -> dict[str, Any]:
    """Load, sign, score, explain, give feedback, attribute; then (`full`) evaluate, learn and report."""
    now = _as_of(data)
    as_of, since = now.isoformat(), (now - timedelta(days=120)).date().isoformat()
    out: dict[str, Any] = {}
    # The tables one process after another (the first Spark failure was the second load).
    out["load accounts"] = cli("load", "accounts", data / "accounts.parquet")
    out["load leads"] = cli("load", "leads", data / "leads.parquet")
    after_loads()
    out["load all"] = cli("load", "all", data)  # accounts and leads again: unchanged
    out["reload"] = cli("load", "all", data)
    cli("pact", "submit", PACT, "--by", "ana")
    cli("pact", "approve", "1", "--team", "marketing", "--by", "mia")
    cli("pact", "approve", "1", "--team", "sales", "--by", "sam")
    cli("pact", "activate", "1", "--by", "ana")
    cli("score", "--as-of", as_of)
    cli("scores", "export", "--output", "scores.csv")
    out["scores"] = pd.read_csv(cli.cwd / "scores.csv").sort_values("lead_id").reset_index(drop=True)
    lead = _lead_with_feedback(data)
    out["explain"] = cli("explain", lead, "--as-of", as_of)
    cli("feedback", lead, "reject", "--actor", "rep-1", "--reason", "no budget", "--at", as_of)
    out["explain after feedback"] = cli("explain", lead, "--as-of", as_of)
    cli("attribute", "--compare", "--as-of", as_of, "--output", "json", "--to", "credit.json")
    out["credit"] = json.loads((cli.cwd / "credit.json").read_text())
    if not full:
        return out
    cli("evaluate", "--from", since, "--every", "60", "--feedback", "--json", "evaluation.json")
    out["evaluation"] = json.loads((cli.cwd / "evaluation.json").read_text())
    cli("learn", "--out", "learned.yaml", "--every", "120")
    out["learned"] = yaml.safe_load((cli.cwd / "learned.yaml").read_text())
    cli("report", "--from", since, "--every", "90", "--out", "review.html", "--json", "review.json")
    out["review"] = json.loads((cli.cwd / "review.json").read_text())
    return out


def _lead_with_feedback(data: Path) -> str:
    """The first lead sales gave a verdict on in the generated data (the same on every engine)."""
    fb = pq.read_table(data / "feedback.parquet", columns=["lead_id"]).column(0).to_pylist()
    return str(sorted(fb)[0])


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("generated")
    Cli("duckdb://unused.duckdb", folder)("generate", "--leads", "400", "--seed", "5", "--out", "data")
    return folder / "data"


@pytest.fixture(scope="module")
def runs(
    data: Path, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[dict[str, Future[dict[str, Any]]]]:
    """The sequence on DuckDB and on the Spark runs the selected tests check, started together.

    Each test waits for the run it checks; the DuckDB reference runs beside the Spark ones.
    """
    selected = {item.name for item in request.session.items}
    spark_runs = {
        "local": (_on_local_spark, "test_local_spark_keeps_its_store_between_processes"),
        "cluster": (_on_a_cluster, "test_a_cluster_through_spark_connect_gives_duckdbs_results"),
    }
    duck = tmp_path_factory.mktemp("duckdb")
    with ThreadPoolExecutor(3) as pool:
        futures = {"duckdb": pool.submit(sequence, Cli(f"duckdb://{duck / 'accord.duckdb'}", duck), data)}
        for name, (run, test) in spark_runs.items():
            if test in selected:
                futures[name] = pool.submit(run, tmp_path_factory.mktemp(name), data)
        yield futures


def _on_local_spark(folder: Path, data: Path) -> dict[str, Any]:
    """The first loads each start their own Spark; a warm server runs the rest; then Spark alone again."""
    need_java()
    url = f"spark://local[2]?warehouse={folder / 'warehouse'}"
    cli = Cli(url, folder / "work")
    out: dict[str, Any] = {}
    try:
        out.update(sequence(cli, data, after_loads=lambda: cli("spark", "start")))
        out["status"] = cli("spark", "status")
        out["doctor"] = cli("doctor")
    finally:  # never leave a server behind, whatever failed
        from accord.store.connection import parse_url
        from accord.store.spark_server import stop

        out["stopped"] = stop(parse_url(url))
    # What the server wrote, read back by a process with its own Spark (the embedded catalog is free).
    out["alone"] = cli("explain", _lead_with_feedback(data), "--as-of", _as_of(data).isoformat())
    out["doctor alone"] = cli("doctor")
    return out


def _on_a_cluster(folder: Path, data: Path) -> dict[str, Any]:
    need_java()
    with standalone_cluster(folder) as address:
        cli = Cli(f"sc://{address}?database=accord", folder / "work")
        # Back-tests, learning and the report read the store as scoring does: local Spark runs them.
        out = sequence(cli, data, full=False)
        out["doctor"] = cli("doctor")
        out["address"] = address
        return out


@contextmanager
def standalone_cluster(folder: Path) -> Iterator[str]:
    """A standalone Spark master, one worker and a Spark Connect server on loopback (installed PySpark)."""
    home = spark_home()
    env = {**os.environ, "SPARK_HOME": str(home), "SPARK_WORKER_DIR": str(folder / "work")}
    spark_class = str(home / "bin" / "spark-class")
    master = f"127.0.0.1:{free_port()}"
    with ExitStack() as stack:

        def daemon(name: str, args: list[str], ready: Callable[[str], bool]) -> None:
            """Start `args`, its output in NAME.log, and wait until `ready(what it logged)`."""
            log = folder / f"{name}.log"
            out = stack.enter_context(log.open("w"))
            proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603
            stack.callback(lambda: (proc.terminate(), proc.wait(timeout=60)))
            deadline = time.monotonic() + 120
            while not ready(log.read_text(errors="replace")):
                said = log.read_text(errors="replace")[-2000:]
                assert proc.poll() is None and time.monotonic() < deadline, f"{name} never got ready: {said}"
                time.sleep(0.2)

        host, port = master.split(":")
        daemon(
            "master",
            [spark_class, "org.apache.spark.deploy.master.Master", "--host", host, "--port", port,
             "--webui-port", str(free_port())],
            lambda log: "Successfully started service 'sparkMaster'" in log,
        )  # fmt: skip
        daemon(
            "worker",
            [spark_class, "org.apache.spark.deploy.worker.Worker", "--host", host, "--cores", "2",
             "--memory", "2g", "--webui-port", str(free_port()), f"spark://{master}"],
            lambda log: "Successfully registered with master" in log,
        )  # fmt: skip
        # A Spark Connect server drives the cluster: each `accord` process is a thin client of it.
        server = free_port()
        (folder / "warehouse").mkdir()
        daemon(
            "server",
            connect_server_command(f"spark://{master}", folder / "warehouse", server),
            lambda _log: listening(server),
        )
        yield f"127.0.0.1:{server}"


def _same(spark: dict[str, Any], duck: dict[str, Any]) -> None:
    """Every result of the sequence on Spark equals DuckDB's: scores to 1e-6, credit to 1e-9."""
    reloaded = [line for line in spark["reload"].splitlines() if " loaded (" in line]
    assert len(reloaded) == 7 and all("(0 new, 0 updated, " in line for line in reloaded)
    s, d = spark["scores"], duck["scores"]
    assert list(s.lead_id) == list(d.lead_id) and len(s) == 400
    for col in s.columns:
        if pd.api.types.is_float_dtype(d[col]):
            assert (s[col] - d[col]).abs().max() <= 1e-6, col
        else:
            assert s[col].astype(str).tolist() == d[col].astype(str).tolist(), col
    _close(spark["credit"], duck["credit"], 1e-9, "credit")
    for key in ("explain", "explain after feedback", "load all", "reload"):
        assert _text(spark[key]) == _text(duck[key]), key
    if "learned" not in spark:
        return
    _close(spark["evaluation"], duck["evaluation"], 1e-6, "evaluation")
    _close(spark["review"], duck["review"], 1e-6, "review")
    assert spark["learned"] == duck["learned"]


def _text(out: str) -> str:
    """A command's output without its timings and store path."""
    import re

    return re.sub(r" +", " ", re.sub(r" in \d+\.\ds$|from \S+", "", out, flags=re.MULTILINE))


def _close(a: Any, b: Any, tol: float, where: str) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), f"{where}: {sorted(set(a) ^ set(b))}"
        for k in a:
            _close(a[k], b[k], tol, f"{where}.{k}")
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _close(x, y, tol, f"{where}[{i}]")
    elif where.endswith((".store", ".url", ".seconds", ".source", "_at", ".at")):
        return  # where and when it ran (the pact's signatures included), not what it found
    elif isinstance(a, float) or isinstance(b, float):
        assert isinstance(a, int | float) and isinstance(b, int | float), where
        assert abs(a - b) <= tol * max(1.0, abs(b)), f"{where}: {a} != {b}"
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def test_local_spark_keeps_its_store_between_processes(runs: dict[str, Future[dict[str, Any]]]) -> None:
    local = runs["local"].result()
    loaded = [line for line in local["load all"].splitlines() if " loaded (" in line]
    assert len(loaded) == 7 and all("(0 new, 0 updated, " in line for line in loaded[:2])
    _same(local, runs["duckdb"].result())
    # The loads before the server and the explanation after it ran in processes of their own.
    assert local["status"].startswith("running: the warm Spark Connect server on 127.0.0.1:")
    assert "run by the warm Spark Connect server on 127.0.0.1:" in " ".join(local["doctor"].split())
    assert local["stopped"] is not None and "run by" not in local["doctor alone"]
    assert not (Path(local["stopped"].warehouse) / ".connect.json").exists()
    assert (Path(local["stopped"].warehouse) / ".metastore").is_dir()
    assert _text(local["alone"]) == _text(local["explain after feedback"])


def test_a_cluster_through_spark_connect_gives_duckdbs_results(
    runs: dict[str, Future[dict[str, Any]]],
) -> None:
    on_cluster = runs["cluster"].result()
    _same(on_cluster, runs["duckdb"].result())
    address = on_cluster["address"]
    assert f"sc://{address}, the server's warehouse and catalog, database accord" in on_cluster["doctor"]


def test_a_catalog_another_process_holds_is_one_sentence(spark_session: Any, tmp_path: Path) -> None:
    """The embedded catalog takes one process at a time: the second is told so, and why."""
    warehouse = spark_session.conf.get("spark.sql.warehouse.dir").removeprefix("file:")
    spark_session.catalog.listTables()  # this process holds the catalog now
    (tmp_path / "accounts.csv").write_text("id,name\na1,Acme\n")
    done = subprocess.run(
        [sys.executable, "-m", "accord.cli.main", "load", "accounts", "accounts.csv"],
        cwd=tmp_path,
        env={**os.environ, "ACCORD_URL": f"spark://local[1]?warehouse={warehouse}"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode != 0
    assert done.stderr.startswith(
        f"error: cannot open the Spark store's catalog in {warehouse}/.metastore: another process has it open"
    ), done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
