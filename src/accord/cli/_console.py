"""Shared console, error handling and progress for CLI commands."""

from __future__ import annotations

import functools
import math
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from accord.errors import AccordError, outcome

if TYPE_CHECKING:
    import pandas as pd

# Piped or captured output gets room for the side-by-side tables (Rich assumes 80 columns).
console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, soft_wrap=True)
F = TypeVar("F", bound=Callable[..., Any])


DEBUG = "ACCORD_DEBUG"
"""Set it to see the traceback of an unexpected error."""


def friendly(fn: F) -> F:
    """Turn any error into one red sentence and its exit code (errors.OUTCOMES), never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except AccordError as exc:
            err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True, markup=True)
            raise typer.Exit(outcome(exc).exit_code) from None
        except (typer.Exit, typer.Abort, typer.TyperException, KeyboardInterrupt):
            raise
        except Exception as exc:
            if os.environ.get(DEBUG):
                raise
            first = (str(exc).strip().splitlines() or [""])[0]
            err.print(
                f"[bold red]error:[/] unexpected {type(exc).__name__}: {first} "
                f"(a bug in Accord: run again with {DEBUG}=1 for the details and report them)",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(outcome(exc).exit_code) from None

    return wrapper  # type: ignore[return-value]


@contextmanager
def progress_bar(description: str) -> Iterator[Callable[[str, float], None]]:
    """A Rich progress bar driven by (step name, fraction done) callbacks, on stderr at a terminal."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    ) as bar:
        task = bar.add_task(description, total=1.0)

        def tick(step: str, frac: float) -> None:
            bar.update(task, completed=frac, description=f"{description}: {step}")

        yield tick


def format_number(x: Any, digits: int = 1) -> str:
    """A number with thousands separators, or blank when missing."""
    if isinstance(x, str):
        return x
    try:
        value = float(x)
    except (TypeError, ValueError):  # None, pandas' NA and NaT
        return ""
    return "" if math.isnan(value) else f"{value:,.{digits}f}"


def print_frame(title: str, df: pd.DataFrame, columns: list[tuple[str, str, int | None]]) -> None:
    """Print `df` with (heading, column, digits) columns; digits None means text."""
    table = Table(title=title, box=None, padding=(0, 1), title_justify="left")
    for heading, _, digits in columns:
        table.add_column(heading, justify="left" if digits is None else "right")
    values = [df[col].tolist() for _, col, _ in columns]
    for row in zip(*values, strict=True):
        table.add_row(
            *[str(v) if d is None else format_number(v, d) for v, (_, _, d) in zip(row, columns, strict=True)]
        )
    console.print(table)


@contextmanager
def work_bar(description: str) -> Iterator[Callable[[str, float], None]]:
    """A progress bar on stderr when it is a terminal; silent when piped or captured."""
    if not err.is_terminal:
        yield lambda _step, _frac: None
        return
    with progress_bar(description) as tick:
        yield tick
