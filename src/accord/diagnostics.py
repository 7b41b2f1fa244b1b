"""What this installation can do: engines, versions, the connection, and how to fix gaps."""

from __future__ import annotations

import importlib.metadata as md
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from accord.errors import AccordError


@dataclass(frozen=True)
class Check:
    """One line of the doctor's report."""

    name: str
    ok: bool
    detail: str
    fix: str = ""
    optional: bool = False


def _version(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def check_environment(url: str | None, postgres_url: str) -> list[Check]:
    """Check Python, the pinned libraries, each engine, and the configured store."""
    from accord.store.connection import connect, parse_url

    checks = [Check("python", sys.version_info >= (3, 11), sys.version.split()[0], "use Python 3.11+")]
    for dist, why in (
        ("ibis-framework", "==12.*"),
        ("sqlglot", "<30.18"),
        ("duckdb", "<2"),
        ("psycopg", ""),
    ):
        v = _version(dist)
        checks.append(
            Check(
                dist,
                v is not None,
                f"{v or 'not installed'} (needs {why or 'any'})",
                f'pip install "{dist}{why}"',
            )
        )
    spark = _version("pyspark")
    java = shutil.which("java")
    checks.append(
        Check(
            "pyspark",
            spark is not None,
            spark or "not installed",
            'pip install "accord[spark]"',
            optional=True,
        )
    )
    jv = ""
    if java:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)  # noqa: S603
        jv = (out.stderr or out.stdout).splitlines()[0] if (out.stderr or out.stdout) else java
    checks.append(
        Check(
            "java (for Spark)",
            bool(java),
            jv or "not found",
            "apt-get install -y openjdk-17-jre-headless",
            optional=True,
        )
    )
    try:
        pg = connect(postgres_url)
        checks.append(Check("postgresql", True, f"{pg.describe()} (server {pg.con.version})", optional=True))
        pg.close()
    except AccordError as exc:
        checks.append(
            Check(
                "postgresql",
                False,
                str(exc),
                "start PostgreSQL or pass --postgres URL",
                optional=True,
            )
        )
    parsed = parse_url(url)
    if parsed.engine == "duckdb" and parsed.target != ":memory:":
        folder = Path(parsed.target).resolve().parent
        if not folder.is_dir():
            checks.append(
                Check("store", False, f"the folder {folder} does not exist", f"create it: mkdir -p {folder}")
            )
            return checks
        if not os.access(folder, os.W_OK):
            checks.append(
                Check(
                    "store",
                    False,
                    f"the folder {folder} is not writable (a store writes its file and a WAL beside it)",
                    "choose a writable folder with --url duckdb://PATH or $ACCORD_URL",
                )
            )
            return checks
    if parsed.engine == "duckdb" and parsed.target != ":memory:" and not Path(parsed.target).exists():
        # Checking must not create the file.
        checks.append(
            Check(
                "store",
                True,
                f"duckdb: {Path(parsed.target).resolve()} (not created yet: the first load creates it)",
            )
        )
        return checks
    try:
        store = connect(url)
        tables = store.list_tables()
        detail = f"{parse_url(url).engine}: {store.describe()} ({len(tables)} tables)"
        checks.append(Check("store", True, detail))
        store.close()
    except AccordError as exc:
        checks.append(Check("store", False, str(exc), "check --url or $ACCORD_URL"))
    return checks
