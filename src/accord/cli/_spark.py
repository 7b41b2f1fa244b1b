"""`accord spark start|stop|status`: keep a Spark store's session warm between commands."""

from __future__ import annotations

from typing import Annotated

import typer

from accord.cli._console import console, friendly

UrlOpt = Annotated[
    str | None, typer.Option(help="Spark store URL (default $ACCORD_URL), e.g. spark://local[2].")
]

spark_app = typer.Typer(
    rich_markup_mode=None,
    help="A warm Spark Connect server for a Spark store: commands skip the JVM's start.",
    no_args_is_help=True,
)


@spark_app.command("start")
@friendly
def start_command(url: UrlOpt = None) -> None:
    """Start a Spark Connect server for the store; later commands on it run in that server."""
    from accord.store.connection import parse_url
    from accord.store.spark_server import start

    parsed = parse_url(url)
    server, new = start(parsed)
    said = "started" if new else "already running:"
    console.print(
        f"{said} {server.describe()} for {server.master}, warehouse {server.warehouse}; "
        "commands on this store now run in it (`accord spark stop` ends it)",
        highlight=False,
    )


@spark_app.command("stop")
@friendly
def stop_command(url: UrlOpt = None) -> None:
    """Stop the store's Spark Connect server; commands start their own Spark again."""
    from accord.store.connection import parse_url
    from accord.store.spark_server import stop

    server = stop(parse_url(url))
    console.print(f"stopped {server.describe()}" if server else "no warm server was running", highlight=False)


@spark_app.command("status")
@friendly
def status_command(url: UrlOpt = None) -> None:
    """Say whether the store's Spark Connect server runs, and where."""
    from accord.store.connection import parse_url
    from accord.store.spark_server import require_local, running

    parsed = parse_url(url)
    require_local(parsed)
    server = running(parsed)
    if server is None:
        said = f"no warm server for {parsed.target}: each command starts its own Spark"
        console.print(said, highlight=False)
        raise typer.Exit(3)
    said = f"running: {server.describe()} for {server.master}, warehouse {server.warehouse}"
    console.print(said, highlight=False)
