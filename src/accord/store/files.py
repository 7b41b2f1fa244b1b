"""Read a CSV, Parquet or JSON Lines file into a local DuckDB table, or say clearly why not.

Files are parsed by an in-process DuckDB whatever the target engine: it sniffs
dialects, reads in parallel, and keeps malformed CSV lines as rejects with
their line number instead of failing the whole file.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import duckdb

from accord.errors import BadFileError, LoadError
from accord.store.mapping import CsvOptions

FileFormat = Literal["csv", "parquet", "jsonl"]

_EXTENSIONS: dict[str, FileFormat] = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}

_MAGIC: list[tuple[bytes, str]] = [
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (an Excel .xlsx workbook?); export the sheet as CSV"),
    (b"\xd0\xcf\x11\xe0", "an old Excel/Office document; export the sheet as CSV"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x1f\x8b", "gzip-compressed; name it .csv.gz or decompress it first"),
    (b"SQLite format 3", "an SQLite database"),
]

ROW = "_row"
"""Column holding each record's 1-based position in the file."""


@dataclass
class SourceFile:
    """A file read into the local DuckDB table `src`, with what was learned reading it."""

    path: Path
    format: FileFormat
    columns: list[str]
    """Source column names in file order (without `_row`)."""
    types: dict[str, str]
    """DuckDB type of each source column (VARCHAR for CSV)."""
    rows: int
    bad_lines: list[tuple[int, str, str]] = field(default_factory=list)
    """CSV lines that could not be parsed: (line, raw text, why)."""
    encoding: str = "utf-8"
    """The text encoding the file was read with (cp1252 or latin-1 when it was not UTF-8)."""

    def location(self, row: int) -> str:
        """How to point a person at a record: a line for text files, a row for Parquet."""
        if self.format == "parquet":
            return f"row {row}"
        if self.format == "jsonl":
            return f"line {row}"
        line = row + 1  # header
        for bad, _, _ in sorted(self.bad_lines):
            if bad <= line:
                line += 1
        return f"line {line}"


def detect_format(path: Path, declared: FileFormat | None) -> FileFormat:
    """Decide the file's format from its first bytes, its extension and what was declared."""
    if not path.exists():
        raise LoadError(f"{path}: no such file")
    if path.is_dir():
        raise BadFileError(f"{path} is a folder, not a file")
    if path.stat().st_size == 0:
        raise BadFileError(f"{path} is empty: expected a header row and data")
    with path.open("rb") as fh:
        head = fh.read(8192)
    ext = "".join(path.suffixes[-2:]) if path.suffix == ".gz" else path.suffix.lower()
    if head.startswith(b"PAR1"):
        return "parquet"
    gz = ext.endswith(".gz")
    for magic, what in _MAGIC:
        if head.startswith(magic) and not (gz and magic == b"\x1f\x8b"):
            raise BadFileError(f"{path} is {what}, not a {_claimed(path, declared)} file")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise BadFileError(f"{path} is UTF-16 text: re-save it as UTF-8 (or set csv.encoding: utf-16)")
    if b"\x00" in head and not gz:
        raise BadFileError(f"{path} is binary, not a {_claimed(path, declared)} file")
    fmt = declared or _EXTENSIONS.get(ext.removesuffix(".gz"))
    if fmt is None:
        stripped = head.lstrip()
        fmt = "jsonl" if stripped.startswith(b"{") else "csv"
    if fmt == "parquet":
        raise BadFileError(f"{path} is named or declared Parquet but is not a Parquet file")
    if fmt == "jsonl" and not head.lstrip().startswith(b"{") and not gz:
        raise BadFileError(f"{path} does not start with a JSON object: JSON Lines needs one object per line")
    return fmt


def _claimed(path: Path, declared: FileFormat | None) -> str:
    claimed = declared or _EXTENSIONS.get(path.suffix.lower()) or "data"
    return claimed.upper().replace("JSONL", "JSON Lines")


def read_source(con: duckdb.DuckDBPyConnection, path: Path, fmt: FileFormat, csv: CsvOptions) -> SourceFile:
    """Read `path` into the temp table `src` with a `_row` column; raise BadFileError if unreadable."""
    spath = str(path).replace("'", "''")
    try:
        if fmt == "csv":
            return _read_csv(con, path, spath, csv)
        if fmt == "parquet":
            # A view, not a copy: Parquet numbers its own rows, and is cheap to read twice.
            con.execute(
                f"CREATE OR REPLACE TEMP VIEW src AS SELECT file_row_number + 1 AS {ROW}, "
                f"* EXCLUDE (file_row_number) FROM read_parquet('{spath}', file_row_number = true)"
            )
        else:
            _read_jsonl(con, spath)
    except duckdb.Error as exc:
        raise BadFileError(f"{path} cannot be read as {fmt.upper()}: {_first_line(exc)}") from None
    return _describe(con, path, fmt, [])


def _read_csv(con: duckdb.DuckDBPyConnection, path: Path, spath: str, csv: CsvOptions) -> SourceFile:
    try:
        return _read_csv_as(con, path, spath, csv)
    except _NotUtf8:
        if csv.encoding is not None:
            raise BadFileError(
                f"{path} is not {csv.encoding} text: set another `csv: {{encoding: ...}}` in the mapping"
            ) from None
    # Excel and CRM exports are often Windows-1252: read a UTF-8 copy, with the same lines.
    with tempfile.TemporaryDirectory(prefix="accord-") as folder:
        copy = Path(folder) / path.name
        encoding = _transcode(path, copy)
        source = _read_csv_as(con, path, str(copy).replace("'", "''"), csv)
    source.encoding = encoding
    return source


class _NotUtf8(Exception):
    """DuckDB refused the bytes as UTF-8."""


def _transcode(path: Path, out: Path) -> str:
    """Copy `path` to `out` as UTF-8, reading it as Windows-1252 (else Latin-1); the encoding used."""
    for encoding in ("cp1252", "latin-1"):
        try:
            with (
                path.open("r", encoding=encoding, newline="") as src,
                out.open("w", encoding="utf-8", newline="") as dst,
            ):
                shutil.copyfileobj(src, dst, 1 << 20)
            return encoding
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes every byte")


def _read_csv_as(con: duckdb.DuckDBPyConnection, path: Path, spath: str, csv: CsvOptions) -> SourceFile:
    opts = ["all_varchar=true", "store_rejects=true", f"header={str(csv.header).lower()}"]
    if csv.delimiter is not None:
        opts.append(f"delim='{_sql_char(csv.delimiter)}'")
    # RFC 4180's double quote unless the mapping says otherwise: a sniffed quote
    # character can take apostrophes in text ('O''Brien') for quoting.
    quote = csv.quote if csv.quote is not None else '"'
    opts.append(f"quote='{_sql_char(quote)}'")
    if csv.encoding is not None:
        opts.append(f"encoding='{_sql_char(csv.encoding)}'")
    con.execute("DROP TABLE IF EXISTS temp.reject_errors; DROP TABLE IF EXISTS temp.reject_scans")
    try:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE src AS SELECT row_number() OVER () AS {ROW}, * "
            f"FROM read_csv('{spath}', {', '.join(opts)})"
        )
    except duckdb.Error as exc:
        msg = _first_line(exc)
        if "unicode" in msg.lower() or "utf" in msg.lower():
            raise _NotUtf8(msg) from None
        raise BadFileError(f"{path} cannot be read as CSV: {msg}") from None
    # DuckDB reports a short line once per missing column: one bad line is one reject, with
    # its first error, and its text as it stands in the file (without the line break before it).
    bad = [
        (int(line), str(raw or "").lstrip("\r\n"), _plain_error(str(err or "")))
        for line, raw, err in con.execute(
            "SELECT line, arg_min(csv_line, column_idx), arg_min(error_message, column_idx) "
            "FROM reject_errors GROUP BY line ORDER BY line"
        ).fetchall()
    ]
    if any("invalid unicode" in why.lower() for _, _, why in bad):
        raise _NotUtf8(next(why for _, _, why in bad if "unicode" in why.lower()))
    source = _describe(con, path, "csv", bad)
    if source.rows == 0 and bad:
        raise BadFileError(
            f"{path}: no line could be parsed as CSV (first problem, line {bad[0][0]}: {bad[0][2]})"
        )
    return source


_COLUMNS = re.compile(r"Expected Number of Columns: (\d+) Found: (\d+)")


def _plain_error(message: str) -> str:
    """DuckDB's CSV error in words: `has 3 fields where the header has 6`."""
    m = _COLUMNS.search(message)
    if m:
        return f"has {m.group(2)} fields where the header has {m.group(1)}"
    return message.strip()


def _read_jsonl(con: duckdb.DuckDBPyConnection, spath: str) -> None:
    # Read lines as text first, so a malformed line becomes a reject, not a failure.
    # Invalid lines are swapped for '{}' before any JSON function sees them.
    con.execute(
        "CREATE OR REPLACE TEMP TABLE src_lines AS SELECT line, bad, "
        "CASE WHEN bad THEN '{}' ELSE text END AS j FROM ("
        "SELECT row_number() OVER () AS line, column0 AS text, "
        "NOT coalesce(json_valid(column0) AND left(trim(column0), 1) = '{', false) AS bad "
        f"FROM read_csv('{spath}', columns={{'column0': 'VARCHAR'}}, delim='\\x1e', quote='', "
        "escape='', header=false, auto_detect=false)) WHERE trim(coalesce(text, '')) <> ''"
    )
    keys = [
        r[0]
        for r in con.execute(
            "SELECT key FROM (SELECT unnest(json_keys(j)) AS key, line FROM src_lines) "
            "GROUP BY key ORDER BY min(line)"
        ).fetchall()
    ]
    cols = ", ".join(
        f"CASE WHEN json_type(j, '$.\"{_sql_key(k)}\"') IN ('OBJECT', 'ARRAY') "
        f"THEN json_extract(j, '$.\"{_sql_key(k)}\"')::VARCHAR "
        f'ELSE json_extract_string(j, \'$."{_sql_key(k)}"\') END AS "{_sql_ident(k)}"'
        for k in keys
    )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE src AS SELECT line AS {ROW}"
        + (f", {cols}" if cols else "")
        + ", bad AS _bad_json FROM src_lines"
    )


def _describe(
    con: duckdb.DuckDBPyConnection, path: Path, fmt: FileFormat, bad: list[tuple[int, str, str]]
) -> SourceFile:
    desc = con.execute("DESCRIBE src").fetchall()
    types = {str(r[0]): str(r[1]) for r in desc if r[0] not in {ROW, "_bad_json"}}
    (rows,) = con.execute("SELECT count(*) FROM src").fetchone() or (0,)
    return SourceFile(path, fmt, list(types), types, int(rows), bad)


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _sql_char(s: str) -> str:
    return s.replace("'", "''")


def _sql_key(s: str) -> str:
    return s.replace("'", "''").replace('"', '\\"')


def _sql_ident(s: str) -> str:
    return s.replace('"', '""')
