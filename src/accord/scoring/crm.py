"""Write-back files: each lead's latest score in the import format of the CRM it came from.

- HubSpot: a contacts import CSV keyed by `Email`; the lifecycle stage in HubSpot's internal
  values and the score in custom contact properties (create them once, as below).
- Salesforce: a Data Loader *Update* CSV keyed by the record `Id`, custom fields by API name,
  checkboxes `true`/`false` and date-times in ISO 8601 UTC.
- Marketo: a lead import list keyed by `Email Address`, the score in `Lead Score` (an integer)
  and the grade and band in custom fields.

Lead ids are the source records' ids (the presets map `Record ID` and `Id` to `id`), so every
exported row keys back to the record it came from. A CRM keyed by email leaves out the leads
without one, and says how many.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

HUBSPOT_STAGES = {
    "lead": "lead",
    "mql": "marketingqualifiedlead",
    "sal": "marketingqualifiedlead",
    "sql": "salesqualifiedlead",
    "opportunity": "opportunity",
    "customer": "customer",
}
"""Accord's stages in HubSpot's lifecycle values (HubSpot has no SAL: it stays an MQL there)."""
SALESFORCE_STATUS = {
    "lead": "Open - Not Contacted",
    "mql": "Open - Not Contacted",
    "sal": "Working - Contacted",
    "sql": "Working - Contacted",
    "recycled": "Open - Not Contacted",
    "disqualified": "Closed - Not Converted",
}
"""Accord's stages in Salesforce's default Lead Status picklist (a converted lead is not updated)."""


@dataclass(frozen=True)
class CrmFormat:
    """One CRM's write-back file: its key, its columns, and how a score row becomes a line."""

    name: str
    key: str
    """The lead column the CRM matches records on: `email` or `id`."""
    headers: tuple[str, ...]
    line: Callable[[dict[str, Any]], list[str]]


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _graded(r: dict[str, Any]) -> list[str]:
    """Grade, band and MQL as every format writes them."""
    return [r["grade"] or "", str(r["band"] or ""), "true" if r["is_mql"] else "false"]


def _hubspot(r: dict[str, Any]) -> list[str]:
    stage = HUBSPOT_STAGES.get(r["stage"] or "lead", "")
    return [r["email"], f"{r['score']:.0f}", *_graded(r), stage, r["as_of"].strftime("%Y-%m-%d")]


def _salesforce(r: dict[str, Any]) -> list[str]:
    status = SALESFORCE_STATUS.get(r["stage"] or "lead", "")
    return [r["id"], f"{r['score']:.2f}", *_graded(r), status, _iso(r["as_of"])]


def _marketo(r: dict[str, Any]) -> list[str]:
    return [r["email"], f"{r['score']:.0f}", *_graded(r), _iso(r["as_of"])]


FORMATS: dict[str, CrmFormat] = {
    f.name: f
    for f in (
        CrmFormat(
            "hubspot",
            "email",
            (
                "Email",
                "Accord Score",
                "Accord Grade",
                "Accord Engagement Band",
                "Accord MQL",
                "Lifecycle Stage",
                "Accord Scored On",
            ),
            _hubspot,
        ),
        CrmFormat(
            "salesforce",
            "id",
            (
                "Id",
                "Accord_Score__c",
                "Accord_Grade__c",
                "Accord_Band__c",
                "Accord_MQL__c",
                "Status",
                "Accord_Scored_At__c",
            ),
            _salesforce,
        ),
        CrmFormat(
            "marketo",
            "email",
            ("Email Address", "Lead Score", "Accord Grade", "Accord Band", "Accord MQL", "Accord Scored At"),
            _marketo,
        ),
    )
}
"""Every CRM write-back format by name (what `--to` takes)."""


def write_crm_file(rows: list[dict[str, Any]], fmt: CrmFormat, output: Path) -> tuple[int, int]:
    """Write `rows` (lead id, email, stage and latest score) in `fmt`; rows written and left out."""
    output.parent.mkdir(parents=True, exist_ok=True)
    written = skipped = 0
    with output.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(fmt.headers)
        for r in rows:
            if not (r.get(fmt.key) or "").strip():
                skipped += 1
                continue
            out.writerow(fmt.line(r))
            written += 1
    return written, skipped
