"""What each dashboard page shows, as typed results: live rows from the store, kept insights beside.

The pages only lay these out. Live parts (the queue, a lead, this month's MQLs, the score
distribution) are read per request; slow parts (the review, attribution) are kept results
(`workflows.insights`) with their age, and the job refreshing them if one runs.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel

from accord.errors import UnknownLeadError
from accord.model.json_types import Instant
from accord.model.vocab import Conversion
from accord.pact.registry import PactVersion
from accord.pact.words import PactWords
from accord.store.rows import Rows
from accord.store.sql import ident
from accord.workflows.insights import REVIEW, Kept, credit_key, kept
from accord.workflows.jobs import Job, latest
from accord.workflows.live import AccountView, LeadHistory, LeadView, Live, QueueRow
from accord.workflows.pacts import PactDiffView
from accord.workflows.review import CreditSection, ProposalSection, Review

RETRY = timedelta(minutes=10)
"""A failed or interrupted refresh is not started again by a page before this."""


class Freshness(BaseModel):
    """How current a kept result is, and the job that refreshes it."""

    stale: bool
    """Missing, computed with another active pact, or more than a day old."""
    running: Job | None
    failed: Job | None
    """The last attempt, when it failed."""
    due: bool
    """Stale, no job running, and no attempt in the last ten minutes: a page starts one."""


def freshness(rows: Rows, key: str, found: Kept[Any] | None, basis: str | None, at: datetime) -> Freshness:
    """What a page says about a kept result's age, and whether it should start a refresh."""
    stale = found is None or found.stale(basis, at)
    last = latest(rows, f"insight:{key}")
    running = last if last is not None and last.state in ("queued", "running") else None
    failed = last if last is not None and last.state == "failed" else None
    recent = last is not None and last.state != "done" and at - last.created_at < RETRY
    return Freshness(
        stale=stale, running=running, failed=failed, due=stale and running is None and not recent
    )


class MonthCount(BaseModel):
    """MQLs that entered the stage in one month."""

    month: str
    mqls: int


class Overview(BaseModel):
    """The home page: the funnel (kept review) and this month's MQLs against capacity (live)."""

    review: Kept[Review] | None
    fresh: Freshness
    month: str
    """The month counted: the current one, or the data's last month when the data ends earlier."""
    current: bool
    """Whether `month` is the current month (so far) rather than the data's last."""
    mqls_this_month: int
    capacity: float | None
    by_month: list[MonthCount]


class QueueItem(BaseModel):
    """A queue row with the lead's sentence now."""

    row: QueueRow
    sentence: str


class QueueView(BaseModel):
    """A page of the MQL queue and what its buttons may send."""

    items: list[QueueItem]
    next_cursor: str | None
    reasons: list[str]
    """The pact's reasons for a rejection or a recycle (empty: any words)."""


class TouchOut(BaseModel):
    """One touch on the lead's timeline."""

    id: str
    occurred_at: Instant
    channel: str
    campaign: str | None
    touch_type: str
    team: str | None


class VerdictOut(BaseModel):
    """One verdict sales gave on the lead."""

    given_at: Instant
    actor: str | None
    action: str
    reason: str | None
    points: float | None


class LeadPage(BaseModel):
    """One lead: its score now rule by rule, its score over time, touches, verdicts and colleagues."""

    view: LeadView
    history: LeadHistory
    touches: list[TouchOut]
    verdicts: list[VerdictOut]
    account: AccountView | None
    reasons: list[str]


class ScoreBucket(BaseModel):
    """Leads whose current score falls in [low, low + 10)."""

    low: float
    leads: int
    mqls: int


class GradeBand(BaseModel):
    """Leads with one grade and band now."""

    grade: str
    band: int
    leads: int


class ScoresView(BaseModel):
    """The current distribution (live) and the back-test of the pact in force (kept review)."""

    pact: str
    leads: int
    buckets: list[ScoreBucket]
    grid: list[GradeBand]
    review: Kept[Review] | None
    fresh: Freshness


class AttributionView(BaseModel):
    """One choice of the selectors and its kept result (or the job computing it)."""

    conversion: str
    lookback_days: float | None
    by: str
    model: str | None
    credit: Kept[CreditSection] | None
    fresh: Freshness


class PactPage(BaseModel):
    """The pact in force in words, a draft against it, approvals, and whether activation may go."""

    active: PactVersion | None
    words: PactWords | None
    versions: list[PactVersion]
    draft: PactVersion | None
    diff: PactDiffView | None
    proposal: ProposalSection | None
    """The draft's back-test beside the active one, when the kept review weighed this draft."""
    proposal_note: str | None
    can_activate: bool
    why_not: str | None


class FeedbackView(BaseModel):
    """Sales' verdicts (kept review) and the reasons the pact offers."""

    review: Kept[Review] | None
    fresh: Freshness


def _basis(live: Live) -> str | None:
    try:
        return live.active().content_hash
    except Exception:  # no active pact: kept results are shown without a basis to compare
        return None


def _review(rows: Rows, live: Live, at: datetime) -> tuple[Kept[Review] | None, Freshness]:
    r = kept(rows, REVIEW, Review)
    return r, freshness(rows, REVIEW, r, _basis(live), at)


def _month(at: datetime) -> datetime:
    return at.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def overview(rows: Rows, live: Live, capacity: float | None, at: datetime) -> Overview:
    """The home page's figures."""
    r, fresh = _review(rows, live, at)
    stages = ident("stage_changes")
    last = rows.query(f"SELECT max(changed_at) AS m FROM {stages} WHERE to_stage = 'mql'")
    latest = last[0]["m"] if last and last[0]["m"] is not None else at
    month = _month(min(latest, at))
    y, m = divmod(month.year * 12 + month.month - 12, 12)
    start = month.replace(year=y, month=m + 1)
    counts = rows.query(
        f"SELECT date_trunc('month', changed_at) AS m, count(DISTINCT lead_id) AS n FROM {stages} "
        "WHERE to_stage = 'mql' AND changed_at >= ? GROUP BY 1 ORDER BY 1",
        [start],
    )
    by_month = [MonthCount(month=f"{c['m']:%Y-%m}", mqls=int(c["n"])) for c in counts]
    this = next((m.mqls for m in by_month if m.month == f"{month:%Y-%m}"), 0)
    cap = capacity if capacity is not None else (r.value.history.capacity if r is not None else None)
    return Overview(
        review=r,
        fresh=fresh,
        month=f"{month:%Y-%m}",
        current=month == _month(at),
        mqls_this_month=this,
        capacity=cap,
        by_month=by_month,
    )


def _reasons(live: Live) -> list[str]:
    try:
        return list(live.active().recycle.reasons or [])
    except Exception:  # no active pact: any words
        return []


def queue(live: Live, **filters: Any) -> QueueView:
    """A page of the queue, each lead's sentence explaining the score shown (as of when it was scored)."""
    page = live.queue(**filters)
    when: dict[datetime, list[str]] = {}
    for r in page.items:
        when.setdefault(r.scored_at, []).append(r.lead_id)
    said: dict[str, str] = {}
    for at, ids in when.items():
        said.update(live.sentences(ids, at))
    return QueueView(
        items=[QueueItem(row=r, sentence=said.get(r.lead_id, "")) for r in page.items],
        next_cursor=page.next_cursor,
        reasons=_reasons(live),
    )


def lead_page(rows: Rows, live: Live, lead_id: str, at: datetime) -> LeadPage:
    """Everything the lead page shows."""
    view = live.lead(lead_id, at)
    touches = rows.query(
        f"SELECT id, occurred_at, channel, campaign, touch_type, team FROM {ident('touchpoints')} "
        "WHERE lead_id = ? ORDER BY occurred_at, id",
        [lead_id],
    )
    verdicts = rows.query(
        f"SELECT given_at, actor, action, reason, points FROM {ident('feedback')} "
        "WHERE lead_id = ? ORDER BY given_at",
        [lead_id],
    )
    account = None
    if view.account_id:
        try:
            account = live.account(view.account_id, at)
        except (UnknownLeadError, LookupError, ValueError):
            account = None
    return LeadPage(
        view=view,
        history=live.history(lead_id),
        touches=[TouchOut.model_validate(t) for t in touches],
        verdicts=[VerdictOut.model_validate(v) for v in verdicts],
        account=account,
        reasons=_reasons(live),
    )


_LATEST = """
SELECT score, grade, band, is_mql FROM (
  SELECT score, grade, band, is_mql,
         row_number() OVER (PARTITION BY lead_id ORDER BY as_of DESC) AS rn
  FROM {scores} WHERE pact = ? AND pact_version = ? AND model = ?
) latest WHERE rn = 1
"""


def scores(rows: Rows, live: Live, at: datetime) -> ScoresView:
    """Current scores by bucket and by grade and band; the kept back-test beside them."""
    pact = live.active()
    latest = _LATEST.format(scores=ident("lead_scores"))
    params = [pact.pact, pact.version, live.model]
    buckets = rows.query(
        f"SELECT least(floor(score / 10), 9) * 10 AS low, count(*) AS leads, "
        f"sum(CASE WHEN is_mql THEN 1 ELSE 0 END) AS mqls FROM ({latest}) s GROUP BY 1 ORDER BY 1",
        params,
    )
    grid = rows.query(
        f"SELECT grade, band, count(*) AS leads FROM ({latest}) s "
        "WHERE grade IS NOT NULL AND band IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2",
        params,
    )
    r, fresh = _review(rows, live, at)
    return ScoresView(
        pact=f"{pact.pact} v{pact.version}",
        leads=sum(int(b["leads"]) for b in buckets),
        buckets=[
            ScoreBucket(low=float(b["low"]), leads=int(b["leads"]), mqls=int(b["mqls"] or 0)) for b in buckets
        ],
        grid=[GradeBand(grade=str(g["grade"]), band=int(g["band"]), leads=int(g["leads"])) for g in grid],
        review=r,
        fresh=fresh,
    )


def attribution(
    rows: Rows,
    live: Live,
    at: datetime,
    conversion: Conversion,
    lookback_days: float | None,
    by: str,
    model: str | None,
) -> AttributionView:
    """The kept attribution for the selectors (the review's, for its defaults)."""
    key = credit_key(conversion, lookback_days, by)
    c = kept(rows, key, CreditSection)
    return AttributionView(
        conversion=conversion.value,
        lookback_days=lookback_days,
        by=by,
        model=model,
        credit=c,
        fresh=freshness(rows, key, c, _basis(live), at),
    )


def pact_page(rows: Rows, store: Any, live: Live, draft_ref: str | None) -> PactPage:
    """The pact page: in force, in words; the chosen (or newest) draft, its diff and back-test."""
    from accord.pact import registry
    from accord.pact.words import pact_words
    from accord.workflows.pacts import diff_with_active

    versions = registry.versions(store)
    active = next((v for v in versions if v.active), None)
    words = pact_words(active.to_pact(), live.model) if active is not None else None
    pending = [
        v for v in versions if not v.active and (active is None or v.submitted_at > active.submitted_at)
    ]
    draft: PactVersion | None = None
    if draft_ref:
        draft = registry.resolve(store, draft_ref)
    elif pending:
        draft = pending[-1]
    diff = diff_with_active(store, draft.content_hash) if draft is not None else None
    proposal, note = None, None
    if draft is not None:
        r = kept(rows, REVIEW, Review)
        p = r.value.proposal if r is not None else None
        if p is not None and p.draft == f"{draft.pact} v{draft.version}":
            proposal = p
        else:
            note = (
                "The back-test of a draft is computed with the review, which weighs the newest draft "
                "waiting for approval: refresh the review after submitting it."
            )
    why_not = None
    if draft is not None and draft.missing:
        verb = "has" if len(draft.missing) == 1 else "have"
        why_not = f"{' and '.join(draft.missing)} {verb} not approved it yet"
    return PactPage(
        active=active,
        words=words,
        versions=versions,
        draft=draft,
        diff=diff,
        proposal=proposal,
        proposal_note=note,
        can_activate=draft is not None and not draft.missing,
        why_not=why_not,
    )


def feedback(rows: Rows, live: Live, at: datetime) -> FeedbackView:
    """The feedback page: the kept review's verdict analysis."""
    r, fresh = _review(rows, live, at)
    return FeedbackView(review=r, fresh=fresh)


class ModelCredit(BaseModel):
    """What one model credits one group with, its share, and (by channel) spend and return."""

    group: str
    conversions: float
    value: float
    share: float | None
    spend: float | None
    roas: float | None


def _label(row: Any, by: str) -> str:
    return row.channel if by == "channel" or not row.group else f"{row.group} ({row.channel})"


def model_credit(c: CreditSection, model: str) -> list[ModelCredit]:
    """One model's credit per group, largest first, with spend and ROAS where spend is known."""
    mine: dict[str, list[float]] = {}
    for r in c.result.credit:
        if r.model == model:
            got = mine.setdefault(_label(r, c.by), [0.0, 0.0])
            got[0] += float(r.conversions)
            got[1] += float(r.value)
    measure = 1 if any(v[1] for v in mine.values()) else 0
    total = sum(v[measure] for v in mine.values())
    spend = {r.channel: float(r.spend) for r in c.roi} if c.by == "channel" else {}
    out = [
        ModelCredit(
            group=g,
            conversions=v[0],
            value=v[1],
            share=v[measure] / total if total else None,
            spend=spend.get(g),
            roas=v[1] / spend[g] if spend.get(g) else None,
        )
        for g, v in mine.items()
    ]
    return sorted(out, key=lambda x: -(x.value or x.conversions))


def top_groups(c: CreditSection, n: int = 20) -> list[Any]:
    """The credit rows of the `n` groups with the most credit across models, each named by its group."""
    from accord.workflows.attribution import CreditRow

    rows = [
        CreditRow(model=r.model, channel=_label(r, c.by), conversions=r.conversions, value=r.value)
        for r in c.result.credit
    ]
    weight: dict[str, float] = {}
    for r in rows:
        weight[r.channel] = weight.get(r.channel, 0.0) + float(r.value or r.conversions)
    keep = set(sorted(weight, key=lambda g: -weight[g])[:n])
    return [r for r in rows if r.channel in keep]
