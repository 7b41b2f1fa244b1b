"""A warm Spark Connect server for a Spark store on this machine: `accord spark start|stop|status`.

Each `accord` process on `spark://local[2]` otherwise starts its own JVM and opens the embedded
catalog (about 13 s before any work). Started once, the server keeps the JVM, the session and
the catalog open; every later command on the same warehouse finds it through a small file in the
warehouse and runs as a thin Spark Connect client. It listens on loopback only and takes a
token that only the warehouse's owner can read.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from accord.errors import ConfigError, EngineError
from accord.store.connection import ParsedUrl, connect_server_command, spark_home, warehouse_of

SERVER_FILE = ".connect.json"
"""In the warehouse: the running server's address, process and token (readable by its owner only)."""

SERVER_LOG = ".connect.log"
"""In the warehouse: the server's own output."""

TOKEN_ENV = "SPARK_CONNECT_AUTHENTICATE_TOKEN"  # noqa: S105 - the variable's name, not a secret
"""Where the server and its clients read the shared token (never on a command line)."""


@dataclass(frozen=True)
class WarmServer:
    """A Spark Connect server keeping one store's session warm."""

    master: str
    port: int
    pid: int
    token: str
    warehouse: str

    @property
    def remote(self) -> str:
        """The Spark Connect address a client opens ("localhost": the token travels on loopback only)."""
        return f"sc://localhost:{self.port}"

    def describe(self) -> str:
        """Where it listens and which process it is."""
        return f"the warm Spark Connect server on 127.0.0.1:{self.port} (pid {self.pid})"


def _file(parsed: ParsedUrl) -> Path:
    return warehouse_of(parsed) / SERVER_FILE


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):  # gone, or its number taken by someone else's
        return False
    return True


def listening(port: int) -> bool:
    """Whether something accepts connections on this loopback port."""
    with socket.socket() as s:
        s.settimeout(1.0)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _drives(parsed: ParsedUrl) -> bool:
    """Whether this machine runs the store's Spark (a Spark Connect URL has its own server)."""
    return parsed.engine == "spark" and not parsed.target.startswith("sc://")


def require_local(parsed: ParsedUrl) -> None:
    """Refuse a store this machine does not drive."""
    if not _drives(parsed):
        raise ConfigError(
            f"a warm server is for a Spark store this machine drives (spark://local[2] or "
            f"spark://HOST:7077), not {parsed.target!r}"
        )


def running(parsed: ParsedUrl) -> WarmServer | None:
    """The warm server of this store's warehouse, if one is up (a stale file is ignored)."""
    if not _drives(parsed):
        return None
    path = _file(parsed)
    try:
        server = WarmServer(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None
    if server.master != parsed.target or not _alive(server.pid) or not listening(server.port):
        return None
    return server


@contextmanager
def _alone(parsed: ParsedUrl) -> Iterator[None]:
    """One `start` or `stop` at a time per warehouse: two at once would start two servers."""
    warehouse = warehouse_of(parsed)
    warehouse.mkdir(parents=True, exist_ok=True)
    with (warehouse / ".connect.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def start(parsed: ParsedUrl, *, timeout: float = 180.0) -> tuple[WarmServer, bool]:
    """Start the store's warm server, or find the one running; returns it and whether it is new."""
    require_local(parsed)
    with _alone(parsed):
        if (server := running(parsed)) is not None:
            return server, False
        return _start(parsed, timeout), True


def _start(parsed: ParsedUrl, timeout: float) -> WarmServer:
    warehouse = warehouse_of(parsed)
    port, token = _free_port(), secrets.token_urlsafe(24)
    opts = parsed.options
    command = connect_server_command(
        parsed.target, warehouse, port, metastore=opts.get("metastore"), memory=opts.get("memory")
    )
    env = {**os.environ, "SPARK_HOME": str(spark_home()), TOKEN_ENV: token}
    with (warehouse / SERVER_LOG).open("w") as log:
        proc = subprocess.Popen(  # noqa: S603 - spark-submit from the installed PySpark
            command, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # it outlives the command that started it, and its terminal
        )  # fmt: skip
    server = WarmServer(parsed.target, port, proc.pid, token, str(warehouse))
    deadline = time.monotonic() + timeout
    while not listening(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            _end(proc.pid)
            said = _cause(warehouse / SERVER_LOG)
            raise EngineError(
                f"the Spark Connect server for {parsed.target} did not start"
                + (f": {said}" if said else "")
                + f" (its log: {warehouse / SERVER_LOG})"
            )
        time.sleep(0.2)
    path = _file(parsed)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(asdict(server), f)
    return server


def stop(parsed: ParsedUrl, *, timeout: float = 60.0) -> WarmServer | None:
    """Stop the store's warm server; returns the one stopped, or None when none was running."""
    require_local(parsed)
    with _alone(parsed):
        server = running(parsed)
        _file(parsed).unlink(missing_ok=True)
        if server is not None:
            _end(server.pid, timeout)
    return server


def _end(pid: int, timeout: float = 60.0) -> None:
    """Terminate the server's process group (spark-submit and its JVM) and wait for it to go."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        try:  # our own child when this process started it: reap it
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.1)
    if _alive(pid):
        os.killpg(pid, signal.SIGKILL)


def _cause(path: Path) -> str:
    """What the server's log says went wrong: the first error line, not the JVM's generic farewell."""
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    generic = ("Could not create the Java Virtual Machine", "A fatal exception has occurred")
    lines = [line for line in lines if not any(g in line for g in generic)]
    causes = [line for line in lines if re.search(r"Exception|ERROR|Error|Invalid", line)]
    return (causes[:1] or lines[-1:] or [""])[0].strip()[:300]
