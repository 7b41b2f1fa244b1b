"""What the benchmarks that time `accord` as its own process share: running it, a free port."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

ACCORD = str(Path(sys.executable).with_name("accord"))


def accord(args: list[str]) -> str:
    """Run `accord ARGS`; its output, or stop the benchmark with what it said."""
    done = subprocess.run([ACCORD, *args], capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise SystemExit(f"accord {' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return done.stdout


def free_port() -> int:
    """A loopback port nobody listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
