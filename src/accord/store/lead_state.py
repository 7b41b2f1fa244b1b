"""Each lead's latest stage and latest score on PostgreSQL, kept by the database itself.

The MQL queue needs, for every lead, its latest stage and its latest score with the active
pact. Computed from `stage_changes` and `lead_scores` at each request, that is a pass over
every stage change (0.2 s on 100k leads). Two small tables hold the answer instead, and
statement-level triggers with transition tables keep them: every writer (the service, a
batch run's COPY, a CLI load, an erasure) updates them in its own transaction, in one
set-based statement per write, so they are never behind the tables they summarise.

A table replaced by a batch load loses its triggers: `ensure` finds that from the catalog
(a fraction of a millisecond) and rebuilds both tables before the queue reads them.
"""

from __future__ import annotations

from accord.store.rows import Rows

STAGE = "accord_lead_stage"
SCORE = "accord_lead_score"

_TABLES = f"""
CREATE TABLE IF NOT EXISTS {STAGE} (
    lead_id TEXT PRIMARY KEY, stage TEXT NOT NULL, changed_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS {SCORE} (
    pact TEXT NOT NULL, pact_version BIGINT NOT NULL, model TEXT NOT NULL, lead_id TEXT NOT NULL,
    as_of TIMESTAMP NOT NULL, score DOUBLE PRECISION, grade TEXT, band BIGINT,
    fit DOUBLE PRECISION, engagement DOUBLE PRECISION, stage TEXT,
    PRIMARY KEY (pact, pact_version, model, lead_id)
);
CREATE INDEX IF NOT EXISTS accord_ix_lead_score_queue
    ON {SCORE} (pact, pact_version, model, stage, score DESC, lead_id);
"""
"""The stage sits beside each score too: the queue reads one index range, MQLs by score."""

# The latest stage: by time, then by stage name (as the queue always ordered them).
_STAGE_UPSERT = f"""
    INSERT INTO {STAGE} (lead_id, stage, changed_at)
    SELECT DISTINCT ON (lead_id) lead_id, to_stage, changed_at FROM {{source}} n
    WHERE lead_id IS NOT NULL AND to_stage IS NOT NULL AND changed_at IS NOT NULL {{only_n}}
    ORDER BY lead_id, changed_at DESC, to_stage DESC
    ON CONFLICT (lead_id) DO UPDATE SET stage = EXCLUDED.stage, changed_at = EXCLUDED.changed_at
    WHERE (EXCLUDED.changed_at, EXCLUDED.stage) > ({STAGE}.changed_at, {STAGE}.stage);
    UPDATE {SCORE} s SET stage = (SELECT st.stage FROM {STAGE} st WHERE st.lead_id = s.lead_id)
    WHERE TRUE {{only_s}}
"""

_SCORE_UPSERT = f"""
    INSERT INTO {SCORE} (
        pact, pact_version, model, lead_id, as_of, score, grade, band, fit, engagement, stage
    )
    SELECT DISTINCT ON (n.pact, n.pact_version, n.model, n.lead_id)
           n.pact, n.pact_version, n.model, n.lead_id, n.as_of, n.score, n.grade, n.band, n.fit,
           n.engagement, st.stage
    FROM {{source}} n LEFT JOIN {STAGE} st ON st.lead_id = n.lead_id
    WHERE n.lead_id IS NOT NULL AND n.pact IS NOT NULL AND n.pact_version IS NOT NULL
          AND n.model IS NOT NULL AND n.as_of IS NOT NULL {{only_n}}
    ORDER BY n.pact, n.pact_version, n.model, n.lead_id, n.as_of DESC
    ON CONFLICT (pact, pact_version, model, lead_id) DO UPDATE SET
        as_of = EXCLUDED.as_of, score = EXCLUDED.score, grade = EXCLUDED.grade, band = EXCLUDED.band,
        fit = EXCLUDED.fit, engagement = EXCLUDED.engagement, stage = EXCLUDED.stage
    WHERE EXCLUDED.as_of >= {SCORE}.as_of
"""

_KEPT = (("stage_changes", STAGE, _STAGE_UPSERT), ("lead_scores", SCORE, _SCORE_UPSERT))


def _fill(upsert: str, source: str, *changed: str) -> str:
    """The upsert from `source`, for the leads of the transition tables `changed` (none: every lead)."""
    leads = " UNION ".join(f"SELECT lead_id FROM {c}" for c in changed)
    only = {f"only_{a}": f"AND {a}.lead_id IN ({leads})" if changed else "" for a in ("n", "s")}
    return upsert.format(source=source, **only)


def _function(name: str, body: str) -> str:
    return f"""
CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
BEGIN
    {body}
    RETURN NULL;
END $$;"""


def _functions() -> str:
    out = []
    for base, state, upsert in _KEPT:
        fn = f"accord_keep_{state}"
        made = [
            _function(
                f"{fn}_insert",
                "IF NOT EXISTS (SELECT 1 FROM new_rows) THEN RETURN NULL; END IF;\n"
                f"{_fill(upsert, 'new_rows', 'new_rows')};",
            ),
            _function(
                f"{fn}_delete",
                "IF NOT EXISTS (SELECT 1 FROM old_rows) THEN RETURN NULL; END IF;\n"
                f"DELETE FROM {state} WHERE lead_id IN (SELECT lead_id FROM old_rows);\n"
                f"{_fill(upsert, base, 'old_rows')};",
            ),
            _function(
                f"{fn}_update",
                f"DELETE FROM {state} "
                "WHERE lead_id IN (SELECT lead_id FROM old_rows UNION SELECT lead_id FROM new_rows);\n"
                f"{_fill(upsert, base, 'old_rows', 'new_rows')};",
            ),
            _function(
                f"{fn}_truncate",
                f"TRUNCATE {state};" + (f" UPDATE {SCORE} SET stage = NULL;" if state == STAGE else ""),
            ),
        ]
        out.append("\n".join(made))
        out.append(f"""
DROP TRIGGER IF EXISTS {fn}_i ON {base};
DROP TRIGGER IF EXISTS {fn}_d ON {base};
DROP TRIGGER IF EXISTS {fn}_u ON {base};
DROP TRIGGER IF EXISTS {fn}_t ON {base};
CREATE TRIGGER {fn}_i AFTER INSERT ON {base} REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION {fn}_insert();
CREATE TRIGGER {fn}_d AFTER DELETE ON {base} REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION {fn}_delete();
CREATE TRIGGER {fn}_u AFTER UPDATE ON {base} REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION {fn}_update();
CREATE TRIGGER {fn}_t AFTER TRUNCATE ON {base} FOR EACH STATEMENT EXECUTE FUNCTION {fn}_truncate();
TRUNCATE {state};
{_fill(upsert, base)};
""")
    return "\n".join(out)


_TRIGGERS = 8
"""Four per summarised table: insert, delete, update, truncate."""

_COUNT = """
    SELECT count(*) AS n FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
    JOIN pg_namespace ns ON ns.oid = c.relnamespace
    WHERE ns.nspname = current_schema() AND c.relname IN ('stage_changes', 'lead_scores')
          AND t.tgname LIKE 'accord_keep_%' AND NOT t.tgisinternal
"""


def ensure(rows: Rows) -> bool:
    """Make sure the triggers are in place (rebuilding both tables when they were not); whether it did."""
    if rows.engine != "postgres":
        return False
    found = rows.query(_COUNT)
    if found and int(found[0]["n"]) == _TRIGGERS:
        return False
    with rows.exclusive():
        found = rows.query(_COUNT)  # another worker may have made them meanwhile
        if found and int(found[0]["n"]) == _TRIGGERS:
            return False
        rows.script(_TABLES + _functions() + f"ANALYZE {STAGE}; ANALYZE {SCORE};")
    return True
