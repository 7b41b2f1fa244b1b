"""Score and explain one lead straight from a store (the real-time path, and `accord explain`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from accord.errors import UnknownLeadError
from accord.pact.schema import Pact
from accord.scoring.explain import Explanation, explain
from accord.scoring.online import Feedback, OnlineScorer, Touch
from accord.store.connection import Store


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
    found = explain_leads(store, pact, [lead_id], as_of, model)
    if lead_id not in found:
        raise UnknownLeadError(f"no lead {lead_id!r} in {store.describe()}")
    return found[lead_id]


def explain_leads(
    store: Store, pact: Pact, lead_ids: list[str], as_of: datetime, model: str = "default"
) -> dict[str, Explanation]:
    """Explain several leads, reading the store once for all of them (four queries, whatever their number).

    Leads the store does not have are left out of the answer.
    """
    if not lead_ids:
        return {}
    leads = store.table("leads")
    chosen = leads.filter(leads.id.isin(lead_ids)).to_pyarrow().to_pylist()
    account_ids = sorted({r["account_id"] for r in chosen if r["account_id"] is not None})
    people = chosen
    accounts: dict[str, dict[str, Any]] = {}
    if account_ids:
        acc = store.table("accounts")
        accounts = {r["id"]: r for r in acc.filter(acc.id.isin(account_ids)).to_pyarrow().to_pylist()}
        mates = leads.filter(leads.account_id.isin(account_ids) & ~leads.id.isin(lead_ids))
        people = chosen + mates.to_pyarrow().to_pylist()
    ids = [p["id"] for p in people]
    tp, fb = store.table("touchpoints"), store.table("feedback")
    touches = _touches(tp.filter(tp.lead_id.isin(ids) & (tp.occurred_at <= as_of)).to_pyarrow().to_pylist())
    feedback = _feedback(fb.filter(fb.lead_id.isin(ids)).to_pyarrow().to_pylist())
    scorer = OnlineScorer(pact, model)
    by_account: dict[str, list[dict[str, Any]]] = {}
    for p in people:
        if p["account_id"] is not None:
            by_account.setdefault(p["account_id"], []).append(p)
    engagement = {
        p["id"]: scorer.score(
            p, accounts.get(p["account_id"]), touches.get(p["id"], []), as_of, feedback.get(p["id"], [])
        ).engagement
        for p in people
        if p["account_id"] is not None
    }
    out = {}
    for lead in chosen:
        lid, account_id = lead["id"], lead["account_id"]
        account = accounts.get(account_id) if account_id is not None else None
        colleagues = [engagement[p["id"]] for p in by_account.get(account_id, []) if p["id"] != lid]
        mine = touches.get(lid, [])
        score = scorer.score(lead, account, mine, as_of, feedback.get(lid, []), colleagues)
        out[lid] = explain(pact, score, lead, account, mine, as_of, model, feedback.get(lid, []))
    return out
