"""`accord serve` and `accord keys`: run the service, hand out and revoke its API keys."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from accord.cli._console import console, friendly

UrlOpt = Annotated[str | None, typer.Option(help="Store URL (default $ACCORD_URL or accord.duckdb).")]

keys_app = typer.Typer(
    rich_markup_mode=None, help="The service's API keys: create, list, revoke.", no_args_is_help=True
)


@friendly
def serve_command(
    url: UrlOpt = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    workers: Annotated[
        int, typer.Option(help="Worker processes (PostgreSQL only; DuckDB serves from one).")
    ] = 1,
) -> None:
    """Run the HTTP API (docs at /docs) on a DuckDB store (one process) or PostgreSQL (several workers)."""
    import uvicorn

    from accord.errors import ConfigError
    from accord.store.connection import parse_url

    engine = parse_url(url).engine
    if engine == "spark":
        raise ConfigError(
            "`accord serve` needs DuckDB or PostgreSQL: Spark is a batch engine (score and attribute with "
            "the CLI, then serve from a DuckDB or PostgreSQL store)"
        )
    if engine == "duckdb" and workers > 1:
        raise ConfigError("a DuckDB store is served by one process (it holds the file): use --workers 1")
    if url is not None:
        os.environ["ACCORD_URL"] = url
    from accord.service.nodelay import NoDelayHTTP

    console.print(f"accord serving {engine} on http://{host}:{port} (docs at /docs)")
    uvicorn.run(
        "accord.service.app:factory",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
        http=NoDelayHTTP,
    )


def _rows(url: str | None):  # type: ignore[no-untyped-def]
    from accord.store import connect
    from accord.store.rows import Rows

    store = connect(url)
    return store, Rows(store)


@keys_app.command("create")
@friendly
def create_command(
    role: Annotated[str, typer.Option(help="admin, marketing, sales, viewer or ingest.")],
    name: Annotated[str, typer.Option(help="Who or what holds the key (crm-sync, head-of-sales).")],
    url: UrlOpt = None,
) -> None:
    """Make a key; it is printed once, alone on the last line, and stored only as a hash."""
    from accord.workflows.access import create_key
    from accord.workflows.live import now

    store, rows = _rows(url)
    try:
        key = create_key(rows, name, role, now=now())
    finally:
        rows.close()
        store.close()
    console.print(f"key {key.name!r} ({key.role}); keep it now, it is not shown again:")
    print(key.key)  # noqa: T201 - the key alone on stdout's last line, for scripts


@keys_app.command("list")
@friendly
def list_command(url: UrlOpt = None) -> None:
    """Every key: name, role, prefix, when made, whether revoked."""
    from rich.table import Table

    from accord.workflows.access import list_keys

    store, rows = _rows(url)
    try:
        found = list_keys(rows)
    finally:
        rows.close()
        store.close()
    if not found:
        console.print("no keys yet: `accord keys create --role admin --name NAME`")
        return
    table = Table("name", "role", "prefix", "created", "state", box=None, padding=(0, 2))
    for k in found:
        state = f"revoked {k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "valid"
        table.add_row(k.name, k.role, k.prefix + "…", f"{k.created_at:%Y-%m-%d %H:%M}", state)
    console.print(table)


@keys_app.command("revoke")
@friendly
def revoke_command(name: Annotated[str, typer.Argument(help="The key's name.")], url: UrlOpt = None) -> None:
    """Revoke a key: its next request is refused."""
    from accord.workflows.access import revoke_key
    from accord.workflows.live import now

    store, rows = _rows(url)
    try:
        k = revoke_key(rows, name, now=now())
    finally:
        rows.close()
        store.close()
    console.print(f"revoked {k.name!r} ({k.role}) at {k.revoked_at:%Y-%m-%d %H:%M:%S}")
