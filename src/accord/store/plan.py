"""The SQL that turns a source file into canonical rows, and records every failed check.

Runs in the loader's local DuckDB: `convert` builds the table `conv` (a raw-text
and a typed column per canonical column, plus `properties`), `resolve_references`
fills and checks references against the store, `check_rows` writes one row per
failed check into `rej`, and `valid_rows`/`rejects` read the outcome.
"""

from __future__ import annotations

import re
from collections import Counter

import duckdb
import pyarrow as pa

from accord.errors import MappingError
from accord.model.tables import DEFAULT_TEAM_BY_TOUCH_TYPE, TABLES, Column, TableSpec
from accord.store.connection import Store
from accord.store.files import ROW, SourceFile
from accord.store.mapping import ColumnSource, Mapping
from accord.store.sql import ident, literal
from accord.store.writer import WriteResult, upsert, upsert_sql

_TRUE = ("true", "t", "yes", "y", "1", "on")
_FALSE = ("false", "f", "no", "n", "0", "off")
_TYPE_WORDS = {
    "string": "text",
    "int": "a whole number",
    "float": "a number",
    "bool": "true/false",
    "timestamp": "a date/time",
    "json": "a JSON object",
}


class Plan:
    """The SQL that turns the source table `src` into canonical rows, run in a local DuckDB."""

    def __init__(
        self,
        spec: TableSpec,
        mapping: Mapping,
        src: SourceFile,
        con: duckdb.DuckDBPyConnection,
        *,
        shared: bool = False,
    ) -> None:
        self.spec, self.mapping, self.src, self.con = spec, mapping, src, con
        self.shared = shared
        """True when `con` is the store's own DuckDB: rows then move by SQL, not Arrow."""
        self._by_lower = {c.lower(): c for c in src.columns}
        self.used: set[str] = set()
        self.typed_props: list[str] = []
        self.warnings: Counter[str] = Counter()
        """Rows that load repaired, by what was repaired (see `_repair_order`)."""
        con.execute(f"CREATE OR REPLACE TEMP TABLE rej ({ROW} BIGINT, col VARCHAR, reason VARCHAR)")

    # -- resolving sources ------------------------------------------------------
    def _source_col(self, name: str, what: str) -> str:
        found = self._by_lower.get(name.lower())
        if found is None:
            cols = ", ".join(self.src.columns[:40])
            hint = ""
            if len(self.src.columns) == 1 and any(d in self.src.columns[0] for d in ";\t|"):
                delim = next(d for d in ";\t|" if d in self.src.columns[0])
                hint = (
                    f" The header is a single column, so the delimiter looks like {delim!r}: "
                    f"set `csv: {{delimiter: {delim!r}}}` in the mapping."
                )
            raise MappingError(
                f"{self.src.path}: {what} needs source column {name!r}, which the file does not have; "
                f"its columns: {cols}.{hint}"
            )
        self.used.add(found)
        return found

    def _text(self, src: ColumnSource, what: str) -> str:
        """SQL for the source value as trimmed text (NULL when empty), after map and default."""
        if src.hash is not None:
            parts = ", ".join(
                f"coalesce(trim(CAST({ident(self._source_col(h, what))} AS VARCHAR)), '')" for h in src.hash
            )
            expr = f"'h' || left(md5(concat_ws('|', {parts})), 20)"
        elif src.row:
            expr = f"'row-' || CAST({ROW} AS VARCHAR)"
        elif src.source is not None:
            col = ident(self._source_col(src.source, what))
            expr = f"nullif(trim(CAST({col} AS VARCHAR)), '')"
        else:
            expr = "CAST(NULL AS VARCHAR)" if src.value is None else f"CAST({literal(src.value)} AS VARCHAR)"
        if src.map:
            whens = " ".join(
                f"WHEN {literal(k)} THEN CAST({literal(v)} AS VARCHAR)" for k, v in src.map.items()
            )
            other = expr if src.otherwise is None else f"CAST({literal(src.otherwise)} AS VARCHAR)"
            expr = f"(CASE {expr} {whens} WHEN NULL THEN NULL ELSE {other} END)"
        if src.default is not None:
            expr = f"coalesce({expr}, CAST({literal(src.default)} AS VARCHAR))"
        if src.only_if is not None:
            expr = f"(CASE WHEN {self._only_if(src.only_if, what)} THEN {expr} END)"
        return expr

    def _only_if(self, only_if: str | dict[str, list[str]], what: str) -> str:
        """SQL for the rows a value is kept on (see ColumnSource.only_if)."""
        if isinstance(only_if, str):
            flag = ident(self._source_col(only_if, what))
            true = ", ".join(literal(v) for v in _TRUE)
            return f"lower(trim(CAST({flag} AS VARCHAR))) IN ({true})"
        tests = []
        for column, values in only_if.items():
            col = ident(self._source_col(column, what))
            tests.append(f"trim(CAST({col} AS VARCHAR)) IN ({', '.join(literal(v) for v in values)})")
        return " AND ".join(tests) or "TRUE"

    def _passthrough(self, src: ColumnSource, kind: str) -> str | None:
        """A typed source column used as is (Parquet timestamps, numbers), skipping text parsing."""
        if src.source is None or src.map or src.format or src.default is not None or src.only_if:
            return None
        col = self._by_lower.get(src.source.lower())
        if col is None:
            return None
        stype = self.src.types.get(col, "VARCHAR").upper()
        ok = {
            "timestamp": stype.startswith("TIMESTAMP") and "TIME ZONE" not in stype,
            "float": stype in {"DOUBLE", "FLOAT", "REAL"} or stype.startswith("DECIMAL"),
            "int": stype in {"BIGINT", "INTEGER", "SMALLINT", "TINYINT"},
            "bool": stype == "BOOLEAN",
        }.get(kind, False)
        if not ok:
            return None
        self.used.add(col)
        target = {"timestamp": "TIMESTAMP", "float": "DOUBLE", "int": "BIGINT", "bool": "BOOLEAN"}
        return f"CAST({ident(col)} AS {target[kind]})"

    @staticmethod
    def _typed(text: str, kind: str, formats: list[str] | None) -> str:
        """SQL converting text to `kind`, NULL where it cannot."""
        if kind == "string":
            return text
        if kind == "float":
            return f"TRY_CAST({text} AS DOUBLE)"
        if kind == "int":
            d = f"TRY_CAST({text} AS DOUBLE)"
            return f"(CASE WHEN {d} = trunc({d}) THEN TRY_CAST({d} AS BIGINT) END)"
        if kind == "bool":
            t = ", ".join(literal(v) for v in _TRUE)
            f = ", ".join(literal(v) for v in _FALSE)
            return f"(CASE WHEN lower({text}) IN ({t}) THEN TRUE WHEN lower({text}) IN ({f}) THEN FALSE END)"
        if kind == "timestamp":
            if formats and formats[0] in {"epoch", "epoch_ms"}:
                scale = 1000.0 if formats[0] == "epoch_ms" else 1.0
                return f"CAST(to_timestamp(TRY_CAST({text} AS DOUBLE) / {scale}) AS TIMESTAMP)"
            if formats:
                fl = ", ".join(literal(f) for f in formats)
                return f"CAST(try_strptime({text}, [{fl}]) AS TIMESTAMP)"
            return f"CAST(TRY_CAST({text} AS TIMESTAMPTZ) AS TIMESTAMP)"
        raise AssertionError(kind)

    # -- conversion -------------------------------------------------------------
    def convert(self) -> None:
        """Create `conv`: one raw-text and one typed column per canonical column."""
        selects = [ROW]
        # (relation, raw text expr, typed expr, column, kind): a row fails where raw is set but typed is not.
        self.raw_checks: list[tuple[str, str, str, str, str]] = []
        for col in self.spec.columns:
            if col.name == "properties":
                continue
            src = self.mapping.columns.get(col.name)
            if src is None and col.name.lower() in self._by_lower:
                src = ColumnSource(**{"from": col.name})
            if src is None:
                if col.required and not (col.name == "team" and self.spec.name == "touchpoints"):
                    raise MappingError(
                        f"{self.src.path}: no source for required column {col.name!r} of "
                        f"{self.spec.name}; map it in the mapping's `columns:` "
                        f"(file columns: {', '.join(self.src.columns[:40])})"
                    )
                selects.append(f"CAST(NULL AS {_duck_type(col)}) AS {ident(col.name)}")
                continue
            direct = self._passthrough(src, col.type)
            if direct is not None:
                selects.append(f"{direct} AS {ident(col.name)}")
                continue
            text = self._text(src, f"column {col.name!r}")
            if col.allowed is not None or col.name == "touch_type":
                text = f"replace(lower({text}), ' ', '_')"
            elif col.name in {"email", "domain"}:
                text = f"lower({text})"
            if col.type == "string":  # text needs no parsing, so no raw copy to check against
                selects.append(f"{text} AS {ident(col.name)}")
                continue
            raw = ident("_raw_" + col.name)
            selects.append(f"{text} AS {raw}")
            selects.append(f"{self._typed(raw, col.type, src.format)} AS {ident(col.name)}")
            self.raw_checks.append(("conv", raw, ident(col.name), col.name, col.type))
        if self.spec.has_properties:
            selects.append(f"{self._properties()} AS properties")
        where = " WHERE NOT _bad_json" if self.src.format == "jsonl" else ""
        if self.src.format == "jsonl":
            self.con.execute(
                f"INSERT INTO rej SELECT {ROW}, NULL, 'not a valid JSON object' FROM src WHERE _bad_json"
            )
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE conv AS SELECT {', '.join(selects)} FROM src{where}")
        if self.spec.name == "touchpoints":
            whens = " ".join(
                f"WHEN {literal(k)} THEN {literal(v.value)}" for k, v in DEFAULT_TEAM_BY_TOUCH_TYPE.items()
            )
            self.con.execute(
                f"UPDATE conv SET team = CASE touch_type {whens} ELSE 'marketing' END WHERE team IS NULL"
            )

    def _properties(self) -> str:
        props: dict[str, ColumnSource] = dict(self.mapping.properties)
        base = "'{}'"
        own = self._by_lower.get("properties")
        if own is not None and "properties" not in {n.lower() for n in props}:
            # The file already carries a properties JSON object: merge into it.
            self.used.add(own)
            text = f"nullif(trim(CAST({ident(own)} AS VARCHAR)), '')"
            base = f"coalesce({text}, '{{}}')"
            is_obj = f"CASE WHEN json_valid({text}) AND json_type({text}) = 'OBJECT' THEN 1 END"
            self.raw_checks.append(("src", text, is_obj, "properties", "json"))
        for name, src in props.items():
            self._text(src, f"property {name!r}")  # resolves (and marks used) its source columns
        if self.mapping.unmapped == "properties":
            for c in self.src.columns:
                if c not in self.used and c.lower() not in {n.lower() for n in props}:
                    props[c] = ColumnSource(**{"from": c})
        if not props:
            return f"CAST(json_merge_patch({base}, '{{}}') AS VARCHAR)" if base != "'{}'" else base
        kinds = self._infer_types(props)
        pairs = []
        for name, src in props.items():
            kind = kinds[name]
            text = self._text(src, f"property {name!r}")
            typed = self._typed(text, kind, src.format)
            if kind == "timestamp":
                typed = f"strftime({typed}, '%Y-%m-%dT%H:%M:%S')"
            if src.type != "auto" and kind != "string":
                self.raw_checks.append(("src", text, typed, f"properties.{name}", kind))
            pairs.append(f"{literal(name)}, {typed}")
        # json_merge_patch drops keys whose value is null, so empty cells leave no key.
        return f"CAST(json_merge_patch({base}, json_object({', '.join(pairs)})) AS VARCHAR)"

    def _infer_types(self, props: dict[str, ColumnSource]) -> dict[str, str]:
        kinds: dict[str, str] = {n: s.type for n, s in props.items()}
        auto = [n for n, k in kinds.items() if k == "auto"]
        if not auto:
            return kinds
        aggs = []
        for n in auto:
            t = self._text(props[n], f"property {n!r}")
            aggs += [
                f"count({t})",
                f"count({self._typed(t, 'int', None)})",
                f"count({self._typed(t, 'float', None)})",
                f"count(CASE WHEN lower({t}) IN ('true', 'false') THEN 1 END)",
            ]
        row = self.con.execute(f"SELECT {', '.join(aggs)} FROM src").fetchone() or ()
        for i, n in enumerate(auto):
            total, ints, floats, bools = row[4 * i : 4 * i + 4]
            kinds[n] = (
                "string"
                if total == 0
                else "int"
                if ints == total
                else "float"
                if floats == total
                else "bool"
                if bools == total
                else "string"
            )
        return kinds

    # -- references -------------------------------------------------------------
    def resolve_references(self, store: Store) -> dict[str, int]:
        """Fill denormalised columns from the store and check or create referenced rows."""
        refs = [c for c in self.spec.columns if c.references]
        if not refs:
            return {}
        created: dict[str, int] = {}
        parents = {c.references for c in refs if c.references}
        for parent in sorted(parents):
            cols = ["id", "account_id"] if parent == "leads" else ["id"]
            if self.shared:
                store.ensure_table(TABLES[parent])
                self.con.execute(
                    f"CREATE OR REPLACE TEMP TABLE ref_{parent} AS "
                    f"SELECT {', '.join(cols)} FROM {ident(parent)}"
                )
                continue
            data = store.table(parent).select(*cols).to_pyarrow()
            self.con.register(f"_ref_{parent}_arrow", data)
            self.con.execute(
                f"CREATE OR REPLACE TEMP TABLE ref_{parent} AS SELECT * FROM _ref_{parent}_arrow"
            )
            self.con.unregister(f"_ref_{parent}_arrow")
        if self.mapping.on_unknown_reference == "create":
            created = self._create_parents(store, refs)
        if "leads" in parents and "account_id" in self.spec.column_names:
            lead_col = "lead_id" if "lead_id" in self.spec.column_names else "primary_lead_id"
            self.con.execute(
                f"UPDATE conv SET account_id = ref_leads.account_id FROM ref_leads "
                f"WHERE conv.account_id IS NULL AND conv.{lead_col} = ref_leads.id"
            )
        self.refs = refs
        return created

    def _create_parents(self, store: Store, refs: list[Column]) -> dict[str, int]:
        created: dict[str, int] = {}
        ts = next((c.name for c in self.spec.columns if c.type == "timestamp"), None)
        # Accounts first: a created lead may point at a created account.
        for col in sorted(refs, key=lambda c: c.references != "accounts"):
            parent = TABLES[str(col.references)]
            ts_expr = f"min({ident(ts)})" if ts else "NULL"
            extra = ""
            if parent.name == "leads" and "account_id" in self.spec.column_names and col.name != "account_id":
                extra = ", any_value(account_id) AS account_id"
            rows = self.con.execute(
                f"SELECT {ident(col.name)} AS id, {ts_expr} AS _ts{extra} FROM conv "
                f"WHERE {ident(col.name)} IS NOT NULL "
                f"AND {ident(col.name)} NOT IN (SELECT id FROM ref_{parent.name}) "
                f"GROUP BY 1"
            ).to_arrow_table()
            if rows.num_rows == 0:
                continue
            n = rows.num_rows
            columns: dict[str, pa.Array | pa.ChunkedArray] = {}
            for pc in parent.columns:
                if pc.name == "id":
                    columns["id"] = rows["id"]
                elif pc.name == "properties":
                    columns["properties"] = pa.array(['{"created_by": "accord load"}'] * n)
                elif pc.type == "timestamp" and pc.required:
                    columns[pc.name] = rows["_ts"]
                elif pc.name == "account_id" and "account_id" in rows.column_names:
                    columns[pc.name] = rows["account_id"]
                else:
                    columns[pc.name] = pa.nulls(n, pc.ibis_type.to_pyarrow())
            upsert(store, parent, pa.table(columns))
            self.con.register("_new_ids", rows.select(["id"]))
            self.con.execute(f"INSERT INTO ref_{parent.name} (id) SELECT id FROM _new_ids")
            self.con.unregister("_new_ids")
            created[parent.name] = n
        return created

    # -- checks -----------------------------------------------------------------
    def check_rows(self) -> None:
        """Record every failed check in `rej`: types, required, ranges, sets, order, duplicates, refs."""
        x = self.con.execute
        for relation, raw, typed, where, kind in self.raw_checks:
            x(
                f"INSERT INTO rej SELECT {ROW}, {literal(where)}, "
                f"'cannot read ''' || left({raw}, 60) || ''' as {_TYPE_WORDS[kind]}' "
                f"FROM {relation} WHERE {raw} IS NOT NULL AND {typed} IS NULL"
            )
        for col in self.spec.columns:
            name = ident(col.name)
            if col.required:
                x(
                    f"INSERT INTO rej SELECT {ROW}, {literal(col.name)}, 'missing required value' "
                    f"FROM conv WHERE {name} IS NULL AND "
                    f"{ROW} NOT IN (SELECT {ROW} FROM rej WHERE col = {literal(col.name)})"
                )
            if col.non_negative:
                x(
                    f"INSERT INTO rej SELECT {ROW}, {literal(col.name)}, "
                    f"'negative value ' || CAST({name} AS VARCHAR) || ' (must be 0 or more)' "
                    f"FROM conv WHERE {name} < 0"
                )
            if col.allowed is not None:
                allowed = ", ".join(literal(a) for a in col.allowed)
                x(
                    f"INSERT INTO rej SELECT {ROW}, {literal(col.name)}, "
                    f"'''' || {name} || ''' is not one of: {', '.join(col.allowed)}' "
                    f"FROM conv WHERE {name} IS NOT NULL AND {name} NOT IN ({allowed})"
                )
        for early, late in self.spec.order_checks:
            x(
                f"INSERT INTO rej SELECT {ROW}, {literal(late)}, "
                f"'{late} ' || CAST({ident(late)} AS VARCHAR) || "
                f"' is before {early} ' || CAST({ident(early)} AS VARCHAR) "
                f"FROM conv WHERE {ident(late)} < {ident(early)}"
            )
        self._repair_order()
        self._check_duplicates()
        self._check_references()

    def _repair_order(self) -> None:
        """Load rows whose dates are in the wrong order for a known reason, flagged (see TableSpec)."""
        for early, late in self.spec.order_repairs:
            wrong = f"{ident(late)} < {ident(early)} AND {ROW} NOT IN (SELECT {ROW} FROM rej)"
            (n,) = self.con.execute(f"SELECT count(*) FROM conv WHERE {wrong}").fetchone() or (0,)
            if not n:
                continue
            kept = f"{early}_in_source"
            self.con.execute(
                f"UPDATE conv SET properties = CAST(json_merge_patch(coalesce(properties, '{{}}'), "
                f"json_object({literal(kept)}, strftime({ident(early)}, '%Y-%m-%dT%H:%M:%S'))) AS VARCHAR), "
                f"{ident(early)} = {ident(late)} WHERE {wrong}"
            )
            self.warnings[
                f"{late} before {early} (a migrated record?): loaded with {early} = {late}, "
                f"the original kept as properties.{kept}"
            ] = int(n)

    def _check_duplicates(self) -> None:
        key = ", ".join(ident(k) for k in self.spec.key)
        described = " || ', ' || ".join(
            f"'{k}=' || coalesce(CAST({ident(k)} AS VARCHAR), 'null')" for k in self.spec.key
        )
        dups = self.con.execute(
            f"SELECT {ROW}, {described} AS k, first_value({ROW}) OVER w AS first, "
            f"row_number() OVER w AS n FROM conv WHERE {ROW} NOT IN (SELECT {ROW} FROM rej) "
            f"WINDOW w AS (PARTITION BY {key} ORDER BY {ROW}) QUALIFY n > 1"
        ).fetchall()
        if dups:
            self.con.executemany(
                "INSERT INTO rej VALUES (?, ?, ?)",
                [
                    (
                        row,
                        ", ".join(self.spec.key),
                        f"duplicate key {k} (first at {self.src.location(first)})",
                    )
                    for row, k, first, _ in dups
                ],
            )

    def _check_references(self) -> None:
        for col in getattr(self, "refs", []):
            parent = col.references
            self.con.execute(
                f"INSERT INTO rej SELECT {ROW}, {literal(col.name)}, "
                f"'unknown {str(parent).rstrip('s')} ''' || {ident(col.name)} || "
                f"''' (not in {parent}; load {parent} first)' "
                f"FROM conv WHERE {ident(col.name)} IS NOT NULL "
                f"AND {ident(col.name)} NOT IN (SELECT id FROM ref_{parent}) "
                f"AND {ROW} NOT IN (SELECT {ROW} FROM rej)"
            )

    # -- results ----------------------------------------------------------------
    def valid_query(self) -> str:
        """SELECT of the rows that passed every check, in canonical columns."""
        cols = ", ".join(ident(c) for c in self.spec.column_names)
        return f"SELECT {cols} FROM conv WHERE {ROW} NOT IN (SELECT {ROW} FROM rej)"

    def write(self, store: Store, batch_rows: int = 1_000_000) -> WriteResult:
        """Upsert the valid rows into the store: by SQL in the store's DuckDB, else as Arrow batches."""
        (n,) = self.con.execute(f"SELECT count(*) FROM ({self.valid_query()})").fetchone() or (0,)
        if self.shared:
            return upsert_sql(store, self.spec, self.valid_query(), int(n))
        schema = self.spec.schema.to_pyarrow()
        reader = self.con.execute(self.valid_query()).to_arrow_reader(batch_rows)
        batches = (b.cast(schema) for b in reader)
        return upsert(store, self.spec, pa.RecordBatchReader.from_batches(schema, batches), int(n))

    def rejects(self) -> tuple[list[tuple[int, str, str]], Counter[str]]:
        """One entry per rejected record: (row, columns, reasons), plus reason counts."""
        rows = self.con.execute(
            f"SELECT {ROW}, string_agg(coalesce(col, ''), ' | ' ORDER BY col), "
            f"string_agg(reason, ' | ' ORDER BY col) FROM rej GROUP BY {ROW} ORDER BY {ROW}"
        ).fetchall()
        out = [(int(r), str(c), str(why)) for r, c, why in rows]
        reasons: Counter[str] = Counter()
        for c, why in self.con.execute("SELECT col, reason FROM rej").fetchall():
            reasons[f"{c}: {_family(why)}" if c else _family(why)] += 1
        for _, _, why in self.src.bad_lines:
            reasons[f"unparsable line: {_family(why)}"] += 1
        return out, reasons


def _family(reason: str) -> str:
    """A reason without its particular values, for counting: cannot read 'x' -> cannot read …."""
    return re.sub(r"'[^']*'", "…", reason).split(" (first at")[0]


def _duck_type(col: Column) -> str:
    return {
        "string": "VARCHAR",
        "json": "VARCHAR",
        "int": "BIGINT",
        "float": "DOUBLE",
        "bool": "BOOLEAN",
        "timestamp": "TIMESTAMP",
    }[col.type]


SCRATCH = ("src", "src_lines", "conv", "rej", "rej_rows", "reject_errors", "reject_scans")


def drop_scratch(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the loader's temporary tables and views (they may live in the store's own DuckDB)."""
    names = [
        r[0]
        for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_catalog = 'temp'"
        ).fetchall()
    ]
    for name in names:
        if name in SCRATCH or name.startswith("ref_"):
            kind = "VIEW" if name == "src" and _is_view(con, name) else "TABLE"
            con.execute(f"DROP {kind} IF EXISTS temp.{ident(name)}")


def _is_view(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    row = con.execute(
        "SELECT table_type FROM information_schema.tables WHERE table_catalog = 'temp' AND table_name = ?",
        [name],
    ).fetchone()
    return bool(row and row[0] == "VIEW")
