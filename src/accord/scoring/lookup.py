"""Score and explain one lead straight from a store (the real-time path, and `accord explain`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from accord.errors import AccordError
from accord.pact.schema import Pact
from accord.scoring.explain import Explanation, explain
from accord.scoring.online import Feedback, OnlineScorer, Touch
from accord.store.connection import Store


class UnknownLeadError(AccordError, KeyError):
    """No lead with that id in the store."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def _touches(rows: list[dict[str, Any]]) -> dict[str, list[Touch]]:
    out: dict[str, list[Touch]] = {}
    for r in rows:
        out.setdefault(r["lead_id"], []).append(Touch.from_row(r))
    return out


def _feedback(rows: list[dict[str, Any]]) -> dict[str, list[Feedback]]:
    out: dict[str, list[Feedback]] = {}
    for r in rows:
        out.setdefault(r["lead_id"], []).append(Feedback.from_row(r))
    return out


def explain_lead(
    store: Store, pact: Pact, lead_id: str, as_of: datetime, model: str = "default"
) -> Explanation:
    """Score one lead online from the store, with its account's other people for the blend, and explain it."""
    leads = store.table("leads")
    found = leads.filter(leads.id == lead_id).to_pyarrow().to_pylist()
    if not found:
        raise UnknownLeadError(f"no lead {lead_id!r} in {store.describe()}")
    lead = found[0]
    account = None
    people = [lead]
    if lead["account_id"] is not None:
        accounts = store.table("accounts")
        rows = accounts.filter(accounts.id == lead["account_id"]).to_pyarrow().to_pylist()
        account = rows[0] if rows else None
        people = leads.filter(leads.account_id == lead["account_id"]).to_pyarrow().to_pylist()
    ids = [p["id"] for p in people]
    tp, fb = store.table("touchpoints"), store.table("feedback")
    touches = _touches(tp.filter(tp.lead_id.isin(ids) & (tp.occurred_at <= as_of)).to_pyarrow().to_pylist())
    feedback = _feedback(fb.filter(fb.lead_id.isin(ids)).to_pyarrow().to_pylist())
    scorer = OnlineScorer(pact, model)
    colleagues = [
        scorer.score(p, account, touches.get(p["id"], []), as_of, feedback.get(p["id"], [])).engagement
        for p in people
        if p["id"] != lead_id
    ]
    mine = touches.get(lead_id, [])
    score = scorer.score(lead, account, mine, as_of, feedback.get(lead_id, []), colleagues)
    return explain(pact, score, lead, account, mine, as_of, model)
