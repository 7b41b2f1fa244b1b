"""Loading counts that add up: one reject per bad line, kept as it was; other encodings; CRM quirks."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accord.store import Store, connect, load_file

HEADER = "id,account_id,email,job_title,country,created_at"


def _row(i: int) -> str:
    return f"L{i},,p{i}@x.io,VP,US,2024-01-{1 + i % 28:02d}"


def _rejects(path: Path | None) -> list[dict[str, str]]:
    assert path is not None
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_the_issue_file_counts_each_bad_line_once(duck: Store, tmp_path: Path) -> None:
    rows = [_row(i) for i in range(1000)]
    rows[10] = ",,p10@x.io,VP,US,2024-01-11"  # no id
    rows[20] = rows[19]  # duplicate id
    rows[30] = "L30,,p30@x.io,VP,US,notadate"
    rows[40] = "L40,,p40@x.io,VP,US,2024-13-45"
    rows[50] = "L50,,p50@x.io"  # cut to 3 fields
    path = tmp_path / "leads.csv"
    path.write_text(HEADER + "\n" + "\n".join(rows) + "\n")
    r = load_file(duck, "leads", path)
    assert (r.loaded, r.rejected) == (995, 5)
    rejects = _rejects(r.rejects_path)
    assert len(rejects) == 5
    short = [x for x in rejects if x["location"] == "line 52"]
    assert len(short) == 1 and short[0]["reason"] == "unparsable line: has 3 fields where the header has 6"
    assert short[0]["id"] == "L50,,p50@x.io"  # the line exactly as it was, no stray line break


@st.composite
def broken_files(draw: st.DrawFn) -> tuple[list[str], int]:
    """A leads CSV with random defects, and how many of its data lines must be rejected."""
    n = draw(st.integers(5, 60))
    rows = [_row(i) for i in range(n)]
    bad = 0
    # The first row stays valid: a "dup" repeats it, so exactly one of the two is the duplicate.
    for i in draw(st.lists(st.integers(1, n - 1), unique=True, max_size=n // 2)):
        kind = draw(st.sampled_from(["short", "long", "date", "no_id", "dup", "quote"]))
        rows[i] = {
            "short": ",".join(_row(i).split(",")[: draw(st.integers(1, 5))]),
            "long": _row(i) + ",extra,fields",
            "date": f"L{i},,p{i}@x.io,VP,US,31/31/2024",
            "no_id": f",,p{i}@x.io,VP,US,2024-01-01",
            "dup": _row(0),
            "quote": f'L{i},,p{i}@x.io,"VP, Sales",US,2024-01-01',  # quoted comma: a valid row
        }[kind]
        bad += kind != "quote"
    return rows, bad


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=broken_files())
def test_loaded_plus_rejected_is_every_data_line(
    tmp_path_factory: pytest.TempPathFactory, case: tuple[list[str], int]
) -> None:
    rows, bad = case
    folder = tmp_path_factory.mktemp("broken")
    path = folder / "leads.csv"
    path.write_text(HEADER + "\n" + "\n".join(rows) + "\n")
    with connect(f"duckdb://{folder / 's.duckdb'}") as store:
        r = load_file(store, "leads", path)
        assert r.loaded + r.rejected == len(rows)
        assert r.rejected == bad
        assert store.table("leads").count().execute() == r.loaded
    if bad:
        rejects = _rejects(r.rejects_path)
        assert len(rejects) == bad
        for x in rejects:
            if x["reason"].startswith("unparsable line"):
                line = int(x["location"].removeprefix("line "))
                assert x["id"] == rows[line - 2]  # the raw line, as it was


def test_a_windows_1252_export_loads_its_accents(duck: Store, tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    text = (
        "id,job_title,created_at\nL1,Gerente \u2013 São Paulo,2024-01-01\nL2,Directeur général €,2024-01-02\n"
    )
    path.write_bytes(text.encode("cp1252"))
    r = load_file(duck, "leads", path)
    assert (r.loaded, r.rejected, r.encoding) == (2, 0, "cp1252")
    titles = {x["id"]: x["job_title"] for x in duck.table("leads").to_pyarrow().to_pylist()}
    assert titles == {"L1": "Gerente \u2013 São Paulo", "L2": "Directeur général €"}


def test_salesforce_data_loader_deals_closed_before_created_load_flagged(duck: Store, tmp_path: Path) -> None:
    """A Data Loader export: upper-case quoted headers, ISO times with Z, true/false, empty strings."""
    lines = ['"ID","ACCOUNTID","NAME","STAGENAME","AMOUNT","CLOSEDATE","ISWON","ISCLOSED","CREATEDDATE"']
    for i in range(38):
        won = "true" if i % 3 else "false"
        amount = "" if i == 5 else f"{1000 + i}.00"
        lines.append(
            f'"0065g00000Abc{i:03d}","","Deal {i}","Closed {"Won" if won == "true" else "Lost"}",'
            f'"{amount}","2015-0{1 + i % 9}-1{i % 10}","{won}","true","2019-06-0{1 + i % 9}T10:1{i % 10}:00.000Z"'
        )
    path = tmp_path / "Opportunity.csv"
    path.write_text("\n".join(lines) + "\n")
    r = load_file(duck, "opportunities", path, "salesforce-opportunities")
    assert (r.loaded, r.rejected) == (38, 0)
    assert sum(r.warnings.values()) == 38 and "closed_at before created_at" in next(iter(r.warnings))
    rows = {x["id"]: x for x in duck.table("opportunities").to_pyarrow().to_pylist()}
    deal = rows["0065g00000Abc001"]
    assert deal["created_at"] == deal["closed_at"]  # the earliest the deal is known to exist
    assert json.loads(deal["properties"])["created_at_in_source"] == "2019-06-02T10:11:00"
    assert deal["is_won"] is True and rows["0065g00000Abc000"]["is_won"] is False
    assert rows["0065g00000Abc005"]["amount"] is None


def test_salesforce_open_deals_have_no_close_date(duck: Store, tmp_path: Path) -> None:
    path = tmp_path / "Opportunity.csv"
    path.write_text(
        "Id,AccountId,StageName,Amount,CloseDate,IsWon,IsClosed,CreatedDate\n"
        "o1,,Prospecting,100,2031-01-31,false,false,2030-01-02T10:00:00.000Z\n"
        "o2,,Closed Won,200,2030-03-01,true,true,2030-01-02T10:00:00.000Z\n"
    )
    r = load_file(duck, "opportunities", path, "salesforce-opportunities")
    assert (r.loaded, r.rejected, sum(r.warnings.values())) == (2, 0, 0)
    rows = {x["id"]: x for x in duck.table("opportunities").to_pyarrow().to_pylist()}
    assert rows["o1"]["closed_at"] is None and rows["o2"]["closed_at"].year == 2030
