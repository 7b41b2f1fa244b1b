"""The front door: a quick start, one sentence per error with its exit code, one name per model."""

from __future__ import annotations

import importlib
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import accord
from accord import errors
from accord.attribution.models import ALIASES, DEFAULT_COMPARISON, MODELS, make_model
from accord.cli.main import app

HEAVY = ("pandas", "ibis", "sklearn", "scipy", "pyspark", "duckdb", "pyarrow", "numpy", "pydantic")


def test_the_cli_imports_no_heavy_library() -> None:
    code = f"import sys, accord.cli.main, accord\nprint(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)  # noqa: S603
    assert out.stdout.strip() == ""


def test_every_public_name_imports() -> None:
    for name in accord.__all__:
        assert getattr(accord, name) is not None
    package = Path(accord.__file__).parent
    for info in pkgutil.walk_packages([str(package)], "accord."):
        if not info.ispkg:
            continue
        module = importlib.import_module(info.name)
        for name in getattr(module, "__all__", []):
            assert getattr(module, name, None) is not None, f"{info.name}.{name}"


def test_every_error_has_one_outcome_and_lives_in_errors() -> None:
    classes = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, errors.AccordError)]
    assert len(classes) >= 17
    for cls in classes:
        assert cls.__module__ == "accord.errors"
        o = errors.outcome(cls("x"))
        assert o.exit_code in (2, 3, 4, 5) and 400 <= o.http_status < 600
    assert errors.outcome(errors.ActivationRefused("x")).http_status == 409
    assert errors.outcome(errors.UnknownLeadError("x")).exit_code == 3
    assert errors.outcome(ValueError("x")).exit_code == 1
    # no AccordError subclass is defined outside errors.py
    src = Path(accord.__file__).parent
    for path in src.rglob("*.py"):
        if path.name != "errors.py":
            text = path.read_text(encoding="utf-8")
            assert not re.search(r"^class \w+\((?:\w+, )*(?:AccordError|\w+Error)\b", text, re.M), path


@pytest.mark.parametrize(
    ("args", "code", "sentence"),
    [
        (["score", "--model", "nope", "--pact", "{pact}"], 2, "no score model 'nope'; models: default"),
        (
            ["feedback", "L1", "accept", "--actor", "x", "--at", "31/12/2018"],
            2,
            "--at '31/12/2018' is not an ISO",
        ),
        (["evaluate", "{pact}", "--from", "2018-13-01"], 2, "--from '2018-13-01' is not an ISO"),
        (["runs", "revert", "run-x"], 3, "no scoring run 'run-x'"),
        (["pact", "activate", "7"], 3, "no pact has been submitted"),
        (["score"], 4, "has no active pact"),
    ],
)
def test_failures_are_one_sentence_with_their_exit_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], code: int, sentence: str
) -> None:
    monkeypatch.chdir(tmp_path)
    pact = Path(__file__).resolve().parents[1] / "examples" / "pact.yaml"
    r = CliRunner().invoke(app, [a.replace("{pact}", str(pact)) for a in args])
    assert r.exit_code == code, r.output
    assert sentence in r.output and "Traceback" not in r.output
    assert r.output.strip().startswith("error:") and r.output.strip().count("\n") == 0


def test_an_unexpected_error_is_one_sentence_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    import accord.workflows.scoring as scoring

    def boom(*_a: object, **_k: object) -> None:
        raise RuntimeError("disk on fire\nsecond line")

    monkeypatch.setattr(scoring, "runs", boom)
    r = CliRunner().invoke(app, ["runs", "list"])
    assert r.exit_code == 1 and "unexpected RuntimeError: disk on fire (a bug in Accord" in r.output
    assert "Traceback" not in r.output and "second line" not in r.output


def test_boolean_options_are_flags_in_help() -> None:
    runner = CliRunner()
    for command in ("score", "attribute", "evaluate", "learn", "scores export", "demo"):
        text = runner.invoke(app, [*command.split(), "--help"]).output
        assert "<bool>" not in text and "BOOLEAN" not in text, command


def test_one_name_per_model_everywhere() -> None:
    for name in DEFAULT_COMPARISON:
        assert make_model(name).label == name  # --compare prints what -m takes
    for alias, name in ALIASES.items():
        assert make_model(alias).label == name
    assert make_model("U").label == "position" and make_model("first").label == "first_touch"
    assert set(ALIASES.values()) <= set(MODELS)


def test_doctor_says_when_the_store_folder_does_not_exist(tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["doctor", "--url", f"duckdb://{tmp_path / 'nope' / 'a.duckdb'}"])
    assert r.exit_code == 1
    assert f"the folder {tmp_path / 'nope'} does not exist" in r.output and "mkdir -p" in r.output


def test_workflow_results_are_typed_and_serialise_for_every_surface(tmp_path: Path) -> None:
    import json

    from accord.workflows.attribution import AttributionResult, attribute
    from test_attribution_store import small_store_url, small_world

    url = small_store_url(tmp_path)
    done = attribute(url, None, ["first_touch", "linear", "markov"], by="team")
    result = AttributionResult.model_validate_json(done.result.model_dump_json())
    assert result.models == ["first_touch", "linear", "markov"] and result.by == "team"
    for m in result.models:
        credited = sum(r.conversions for r in result.credit if r.model == m)
        assert credited == pytest.approx(result.journeys["conversions"])
    assert {r.group for r in result.credit} <= {"marketing", "sales"}
    truth = small_world().truth
    assert json.loads(truth.model_dump_json())["leads"] == 1_500 == truth.leads
