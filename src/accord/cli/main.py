"""The `accord` Typer application: one command per module, registered here."""

from __future__ import annotations

import os

import typer

from accord.cli._attribute import attribute_command
from accord.cli._demo import demo_command
from accord.cli._doctor import doctor_command
from accord.cli._evaluate import compare_command, evaluate_command
from accord.cli._generate import generate_command
from accord.cli._learn import learn_command
from accord.cli._load import load_command
from accord.cli._pact import pact_app
from accord.cli._report import report_command
from accord.cli._runs import runs_app, scores_app
from accord.cli._score import explain_command, feedback_command, score_command
from accord.cli._serve import keys_app, serve_command
from accord.cli._spark import spark_app

app = typer.Typer(
    rich_markup_mode=None,
    name="accord",
    help="Lead scoring and multi-touch attribution that sales and marketing agree on.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def main(
    verbose: bool = typer.Option(
        False, "--verbose", help="Show the engine's own logs and progress bars (Spark's are hidden)."
    ),
) -> None:
    """Lead scoring and multi-touch attribution that sales and marketing agree on."""
    if verbose:
        from accord.store.connection import VERBOSE

        os.environ[VERBOSE] = "1"


app.command("demo")(demo_command)
app.command("generate")(generate_command)
app.command("load")(load_command)
app.command("doctor")(doctor_command)
app.command("score")(score_command)
app.command("explain")(explain_command)
app.command("feedback")(feedback_command)
app.command("attribute")(attribute_command)
app.command("evaluate")(evaluate_command)
app.command("compare")(compare_command)
app.command("learn")(learn_command)
app.command("report")(report_command)
app.command("serve")(serve_command)
app.add_typer(keys_app, name="keys")
app.add_typer(pact_app, name="pact")
app.add_typer(runs_app, name="runs")
app.add_typer(scores_app, name="scores")
app.add_typer(spark_app, name="spark")

if __name__ == "__main__":  # pragma: no cover
    app()
