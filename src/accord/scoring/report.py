"""Summaries of a scoring run for people: the top MQLs with their one-line explanation."""

from __future__ import annotations

from datetime import datetime

from accord.pact.schema import Pact
from accord.scoring.lookup import explain_leads
from accord.store.connection import Store


def top_mqls(
    store: Store, pact: Pact, as_of: datetime, model: str = "default", n: int = 10
) -> list[tuple[str, float, str]]:
    """The `n` highest-scoring MQLs of the stored run at `as_of`: (lead id, score, sentence)."""
    ls = store.table("lead_scores")
    top = (
        ls.filter(
            (ls.as_of == as_of)
            & (ls.model == model)
            & (ls.pact == pact.pact)
            & (ls.pact_version == pact.version)
            & ls.is_mql
        )
        .order_by([ls.score.desc(), ls.engagement.desc(), ls.fit.desc(), ls.lead_id])
        .limit(n)
        .select("lead_id", "score")
        .to_pyarrow()
        .to_pylist()
    )
    explained = explain_leads(store, pact, [r["lead_id"] for r in top], as_of, model)
    return [(r["lead_id"], r["score"], explained[r["lead_id"]].sentence) for r in top]
