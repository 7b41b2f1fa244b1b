"""Loading files: rejects with reasons, idempotence, bad files, mappings, formats."""

from __future__ import annotations

import csv
import json
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from accord.errors import BadFileError, MappingError
from accord.store import Mapping, Store, load_file, load_mapping
from conftest import write


def _accounts(path: Path, n: int, broken: dict[int, str]) -> Path:
    rows = ["id,name,domain,industry,employees,annual_revenue,country,tier"]
    for i in range(n):
        rows.append(broken.get(i, f"a{i},Company {i},c{i}.com,saas,{10 + i},{1000.0 * i},US,gold"))
    return write(path, "\n".join(rows) + "\n")


def test_1000_rows_with_5_broken_load_995_and_report_each(duck: Store, tmp_path: Path) -> None:
    broken = {
        10: "a10,Company 10,c10.com,saas,-3,1000,US,gold",  # negative
        200: ",No id,x.com,saas,5,1,US,gold",  # missing id
        300: "a5,Dup,dup.com,saas,5,1,US,gold",  # duplicate id (first at row 6)
        400: "a400,Company 400,c400.com,saas,many,1,US,gold",  # wrong type
        999: "a999,Company 999,c999.com,saas,12.5,1,US,gold",  # not a whole number
    }
    path = _accounts(tmp_path / "accounts.csv", 1000, broken)
    r = load_file(duck, "accounts", path)
    assert r.loaded == 995 and r.rejected == 5 and r.write.inserted == 995
    assert duck.table("accounts").count().execute() == 995
    with open(r.rejects_path or "", newline="") as fh:
        rejects = list(csv.DictReader(fh))
    assert [(x["location"], x["column"], x["reason"]) for x in rejects] == [
        ("line 12", "employees", "negative value -3 (must be 0 or more)"),
        ("line 202", "id", "missing required value"),
        ("line 302", "id", "duplicate key id=a5 (first at line 7)"),
        ("line 402", "employees", "cannot read 'many' as a whole number"),
        ("line 1001", "employees", "cannot read '12.5' as a whole number"),
    ]
    assert rejects[0]["name"] == "Company 10"  # the original row travels with its reason
    again = load_file(duck, "accounts", path)
    assert (again.write.inserted, again.write.updated, again.write.unchanged) == (0, 0, 995)
    assert duck.table("accounts").count().execute() == 995


def test_unparsable_csv_lines_are_rejects_not_failures(duck: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", "id,name\na1,One\na2,Two,extra\na3,Three\n")
    r = load_file(duck, "accounts", path)
    assert r.loaded == 2 and r.rejected == 1
    text = (tmp_path / "a.rejects.csv").read_text()
    assert "line 3" in text and "unparsable line" in text and "a2,Two,extra" in text


def test_references_and_dates(duck: Store, tmp_path: Path) -> None:
    load_file(duck, "accounts", write(tmp_path / "acc.csv", "id\na1\n"))
    leads = write(
        tmp_path / "leads.csv",
        "id,account_id,created_at\nl1,a1,2025-01-02\nl2,zz,2025-01-02\nl3,a1,31/02/2025\nl4,,2025-01-05 10:00:00-05:00\n",
    )
    r = load_file(duck, "leads", leads)
    assert r.loaded == 2
    reasons = sorted(r.reasons)
    assert reasons == [
        "account_id: unknown account … (not in accounts; load accounts first)",
        "created_at: cannot read … as a date/time",
    ]
    l4 = duck.table("leads").filter(duck.table("leads").id == "l4").to_pyarrow().to_pylist()[0]
    assert l4["created_at"] == datetime(2025, 1, 5, 15, 0)


def test_mapping_renames_converts_and_keeps_properties(duck: Store, tmp_path: Path) -> None:
    src = write(
        tmp_path / "export.csv",
        "Lead Id,Signed Up,Origin,Budget,Is Partner,Notes\n"
        "x1,26-02-2018 19:58,paid search,1200.5,yes,hello\n"
        "x2,05-06-2018,,,no,\n"
        "x3,05-13-2018,organic,abc,no,\n",
    )
    mapping = Mapping.model_validate(
        {
            "columns": {
                "id": "Lead Id",
                "created_at": {"from": "Signed Up", "format": ["%d-%m-%Y %H:%M", "%d-%m-%Y"]},
                "source": {
                    "from": "Origin",
                    "map": {"paid search": "paid_search"},
                    "default": "unknown",
                },
                "country": {"value": "BR"},
            },
            "properties": {"budget": {"from": "Budget", "type": "float"}},
        }
    )
    r = load_file(duck, "leads", src, mapping)
    assert (r.loaded, r.rejected) == (2, 1)  # x3: bad date and bad budget
    rows = {x["id"]: x for x in duck.table("leads").to_pyarrow().to_pylist()}
    assert set(rows) == {"x1", "x2"}
    assert rows["x2"]["source"] == "unknown" and json.loads(rows["x2"]["properties"]) == {"Is Partner": "no"}
    x1 = rows["x1"]
    assert x1["created_at"] == datetime(2018, 2, 26, 19, 58)
    assert x1["source"] == "paid_search" and x1["country"] == "BR"
    assert json.loads(x1["properties"]) == {"budget": 1200.5, "Is Partner": "yes", "Notes": "hello"}
    assert sorted(r.reasons) == [
        "created_at: cannot read … as a date/time",
        "properties.budget: cannot read … as a number",
    ]


def test_mapping_default_fills_empty_cells(duck: Store, tmp_path: Path) -> None:
    src = write(tmp_path / "e.csv", "Lead Id,Signed Up,Origin\nx2,05-06-2018,\n")
    mapping = Mapping.model_validate(
        {
            "columns": {
                "id": "Lead Id",
                "created_at": {"from": "Signed Up", "format": "%d-%m-%Y"},
                "source": {"from": "Origin", "default": "unknown"},
            }
        }
    )
    load_file(duck, "leads", src, mapping)
    assert duck.table("leads").source.execute().tolist() == ["unknown"]


def test_parquet_and_jsonl(duck: Store, tmp_path: Path) -> None:
    pq.write_table(
        pa.table({"id": ["a1", "a2"], "employees": pa.array([5, -1], pa.int64()), "extra": [1.5, 2.5]}),
        tmp_path / "acc.parquet",
    )
    r = load_file(duck, "accounts", tmp_path / "acc.parquet")
    assert r.loaded == 1 and r.rejected == 1
    assert "row 2" in (tmp_path / "acc.rejects.csv").read_text()
    jl = write(
        tmp_path / "leads.jsonl",
        '{"id": "l1", "created_at": "2025-01-01T00:00:00Z", "score_hint": {"a": 1}}\n'
        "{not json}\n"
        '{"id": "l2", "created_at": "2025-01-02", "account_id": "a1"}\n',
    )
    r = load_file(duck, "leads", jl)
    assert r.loaded == 2 and r.rejected == 1
    assert "line 2" in (tmp_path / "leads.rejects.csv").read_text()
    props = duck.table("leads").order_by("id").properties.execute().tolist()
    assert json.loads(props[0]) == {"score_hint": '{"a":1}'}


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", b"", "is empty"),
        (
            "report.csv",
            b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj",
            "is a PDF document, not a CSV file",
        ),
        ("book.csv", b"PK\x03\x04\x14\x00\x06\x00", "ZIP archive"),
        ("only-header.csv", b"id,name\n", "has a header but no data rows"),
        ("fake.parquet", b"id,name\na,b\n", "is not a Parquet file"),
        ("fake.jsonl", b"id,name\na,b\n", "does not start with a JSON object"),
    ],
)
def test_bad_files_get_one_clear_sentence(
    duck: Store, tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(BadFileError, match=message):
        load_file(duck, "accounts", path)


def test_wrong_delimiter_is_named(duck: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "semi.csv", "Lead Id;Created\nx1;2025-01-01\n")
    mapping = Mapping.model_validate(
        {"csv": {"delimiter": ","}, "columns": {"id": "Lead Id", "created_at": "Created"}}
    )
    with pytest.raises(MappingError, match=r"delimiter looks like ';'"):
        load_file(duck, "leads", path, mapping)


def test_sniffed_delimiter_just_works(duck: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "semi.csv", "id;created_at\nx1;2025-01-01\nx2;2025-01-02\n")
    assert load_file(duck, "leads", path).loaded == 2


def test_mapping_errors_name_the_valid_choices(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="valid: id, account_id, email"):
        Mapping.model_validate({"columns": {"nope": "x"}}).check_against("leads")
    with pytest.raises(MappingError, match="presets: hubspot-companies"):
        load_mapping("hubspot", table="leads")
    bad = write(tmp_path / "m.yaml", "columns:\n  id: {from: a, value: 3}\n")
    with pytest.raises(MappingError, match="only one of `from`, `hash`, `value` or `row`"):
        load_mapping(bad, table="leads")
    other = write(tmp_path / "o.yaml", "table: accounts\n")
    with pytest.raises(MappingError, match="for table 'accounts', not 'leads'"):
        load_mapping(other, table="leads")


def test_missing_source_column_lists_file_columns(duck: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "x.csv", "a,b\n1,2\n")
    with pytest.raises(MappingError, match=r"required column 'id'.*file columns: a, b"):
        load_file(duck, "accounts", path)


def test_unknown_references_can_create_parents(duck: Store, tmp_path: Path) -> None:
    path = write(
        tmp_path / "j.csv",
        "customer_id,time,interaction,conversion,conversion_value,channel\n"
        "c1,2018-07-02T10:00:00Z,impression,0,0,Facebook\n"
        "c1,2018-07-01T09:00:00Z,impression,0,0,Paid Search\n"
        "c1,2018-07-03T09:00:00Z,conversion,1,12.5,Paid Search\n"
        "c2,2018-07-05T09:00:00Z,impression,0,0,Online Video\n",
    )
    r = load_file(duck, "touchpoints", path, "journeys")
    assert r.loaded == 4 and r.created_parents == {"leads": 2}
    leads = {x["id"]: x for x in duck.table("leads").to_pyarrow().to_pylist()}
    assert leads["c1"]["created_at"] == datetime(2018, 7, 1, 9, 0)  # the first touch
    conv = duck.table("touchpoints").filter(duck.table("touchpoints").touch_type == "conversion")
    (row,) = conv.to_pyarrow().to_pylist()
    assert json.loads(row["properties"]) == {"conversion": 1, "conversion_value": 12.5}
    again = load_file(duck, "touchpoints", path, "journeys")
    assert again.write.unchanged == 4 and again.created_parents == {}


def test_stale_rejects_file_is_removed_once_clean(duck: Store, tmp_path: Path) -> None:
    bad = write(tmp_path / "acc.csv", "id,employees\na1,-1\na2,3\n")
    assert load_file(duck, "accounts", bad).rejects_path == tmp_path / "acc.rejects.csv"
    write(tmp_path / "acc.csv", "id,employees\na1,1\na2,3\n")
    assert load_file(duck, "accounts", bad).rejects_path is None
    assert not (tmp_path / "acc.rejects.csv").exists()


def test_load_log_records_every_load(duck: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "acc.csv", "id\na1\n")
    load_file(duck, "accounts", path)
    load_file(duck, "accounts", path)
    log = duck.table("accord_loads").order_by("loaded_at").to_pyarrow().to_pylist()
    assert [(x["inserted"], x["unchanged"]) for x in log] == [(1, 0), (0, 1)]


def test_apostrophes_are_text_not_quotes(duck: Store, tmp_path: Path) -> None:
    # A sniffer may take ' for the quote character when a file has '' in it; RFC 4180 says ".
    path = write(tmp_path / "acc.csv", "id,name\na1,''\na2,O'Brien's\n")
    assert load_file(duck, "accounts", path).loaded == 2
    names = {r["id"]: r["name"] for r in duck.table("accounts").to_pyarrow().to_pylist()}
    assert names == {"a1": "''", "a2": "O'Brien's"}
