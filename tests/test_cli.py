"""The CLI: exit codes, one-sentence errors, and what it prints."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from accord.cli.main import app
from accord.store import connect
from conftest import write

runner = CliRunner()


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ACCORD_URL", raising=False)


def test_load_reports_counts_and_exits_zero_with_some_rejects(tmp_path: Path) -> None:
    path = write(tmp_path / "acc.csv", "id,employees\na1,5\na2,-1\n")
    res = runner.invoke(app, ["load", "accounts", str(path)])
    assert res.exit_code == 0, res.output
    assert "1 loaded (1 new, 0 updated, 0 unchanged), 1 rejected" in res.output
    assert "employees: negative value" in res.output
    store = connect()  # the default embedded store in the working directory
    assert store.table("accounts").count().execute() == 1
    assert (tmp_path / "accord.duckdb").exists()


def test_load_exits_one_when_nothing_loads(tmp_path: Path) -> None:
    path = write(tmp_path / "acc.csv", "id,employees\na1,-5\n")
    res = runner.invoke(app, ["load", "accounts", str(path)])
    assert res.exit_code == 1
    assert "nothing could be loaded" in res.output


def test_bad_file_is_one_sentence_not_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "deck.csv"
    path.write_bytes(b"%PDF-1.4 binary")
    res = runner.invoke(app, ["load", "leads", str(path)])
    assert res.exit_code == 2
    assert "is a PDF document, not a CSV file" in res.output
    assert "Traceback" not in res.output


def test_unknown_table_lists_the_valid_ones(tmp_path: Path) -> None:
    res = runner.invoke(app, ["load", "contacts", str(write(tmp_path / "x.csv", "a\n1\n"))])
    assert res.exit_code == 2
    assert "unknown table 'contacts'; canonical tables: accounts, leads, touchpoints" in res.output


def test_generate_writes_tables_and_truth(tmp_path: Path) -> None:
    res = runner.invoke(app, ["generate", "--leads", "300", "--seed", "3", "--out", "gen", "--format", "csv"])
    assert res.exit_code == 0, res.output
    for name in (
        "accounts",
        "leads",
        "touchpoints",
        "opportunities",
        "stage_changes",
        "feedback",
        "spend",
    ):
        assert (tmp_path / "gen" / f"{name}.csv").exists()
    assert (tmp_path / "gen" / "ground_truth.json").exists()


def test_demo_generates_and_loads_everything(tmp_path: Path) -> None:
    res = runner.invoke(app, ["demo", "d", "--leads", "500"])
    assert res.exit_code == 0, res.output
    store = connect(f"duckdb://{tmp_path / 'd' / 'accord.duckdb'}")
    assert store.table("leads").count().execute() == 500
    assert store.table("touchpoints").count().execute() > 3000
    assert "0 rejected" in res.output and "ground truth" in res.output
    for text in (
        "Top 10 MQLs",
        "revenue credited",
        "markov",
        "shapley",
        "incrementality",
        "teams: sourced",
        "distance to the true incremental",
        "example pact back-tested",
        "learned pact",
        "same history, same snapshots",
    ):
        assert text in res.output, text
    # the demo's learned pact reads in a meeting: 40 rules at most, 0 to 100, no rule against its own words
    from accord.pact import load_pact
    from test_learn import _contradictions, _readable

    learned = load_pact(tmp_path / "d" / "pact.learned.yaml")
    _readable(learned)
    assert _contradictions(learned) == []
    # Every surface can serve the store at once: the learned draft waits for both teams, the
    # review is kept for the dashboard, and a key per role signs in.
    from accord.pact import registry
    from accord.store.rows import Rows
    from accord.workflows.access import verify
    from accord.workflows.insights import REVIEW, kept
    from accord.workflows.review import Review

    status = registry.status(store)
    assert [v.pact for v in status.pending] == ["demo-scoring-learned"]
    keys = tmp_path / "d" / "keys.txt"
    assert keys.stat().st_mode & 0o777 == 0o600
    rows = Rows(store)
    try:
        found = kept(rows, REVIEW, Review)
        assert found is not None and found.basis == registry.active_pact(store).content_hash  # type: ignore[union-attr]
        assert found.value.proposal is not None and found.value.proposal.draft == "demo-scoring-learned v2"
        lines = [line.split() for line in keys.read_text().splitlines() if not line.startswith("#")]
        assert [(role, verify(rows, key).role) for role, _, key in lines] == [  # type: ignore[union-attr]
            (r, r) for r in ("sales", "marketing", "viewer", "admin")
        ]
    finally:
        rows.close()
    assert "keys.txt" in res.output


def test_demo_refuses_a_non_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("keep me")
    res = runner.invoke(app, ["demo", "full"])
    assert res.exit_code == 2 and "is not empty" in res.output
    assert (tmp_path / "full" / "x").read_text() == "keep me"


def test_doctor_reports_engines(tmp_path: Path) -> None:
    res = runner.invoke(app, ["doctor"])
    assert "ibis-framework" in res.output and "duckdb" in res.output and "store" in res.output
    assert "not created yet" in res.output
    assert res.exit_code == 0, res.output
    assert not (tmp_path / "accord.duckdb").exists()  # checking creates nothing


def test_load_all_loads_a_folder_parents_first_and_again_changes_nothing(tmp_path: Path) -> None:
    assert runner.invoke(app, ["generate", "--leads", "60", "--seed", "4", "--out", "gen"]).exit_code == 0
    first = runner.invoke(app, ["load", "all", "gen"])
    assert first.exit_code == 0, first.output
    loaded = [line for line in first.output.splitlines() if " loaded (" in line]
    assert [line.split(":")[0] for line in loaded] == [
        "accounts", "leads", "touchpoints", "opportunities", "stage_changes", "feedback", "spend"
    ]  # fmt: skip
    assert all(" rejected," in line and "(0 new," not in line for line in loaded)
    again = runner.invoke(app, ["load", "all", "gen"])
    assert all("(0 new, 0 updated, " in line for line in again.output.splitlines() if " loaded (" in line)
    empty = runner.invoke(app, ["load", "all", str(tmp_path)])
    assert empty.exit_code == 2 and "has no table files" in empty.output
    mapped = runner.invoke(app, ["load", "all", "gen", "--mapping", "hubspot-contacts"])
    assert mapped.exit_code == 2 and "no --mapping or --rejects" in mapped.output
