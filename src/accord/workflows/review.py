"""The quarterly review: everything the meeting reads, computed once, as one typed result.

`review(store, spec)` back-tests the pact in force (and a draft against it), attributes the
period's conversions with every model, reads sales' verdicts and the pact's history, and says in
sentences what the numbers say. The report renders it; nothing downstream computes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from accord.errors import AccordError, ConfigError, EvaluationError
from accord.evaluation.funnel import STAGE_NAMES, FunnelReport
from accord.evaluation.results import BacktestMetrics, Comparison
from accord.model.json_types import Instant, Number
from accord.model.vocab import Conversion
from accord.pact.registry import PactEvent, PactVersion, Signature
from accord.pact.words import PactWords
from accord.workflows.attribution import AttributionResult

if TYPE_CHECKING:
    import pandas as pd

    from accord.evaluation import Backtest
    from accord.evaluation.backtest import History
    from accord.pact.schema import Pact
    from accord.store.connection import Store

Progress = Callable[[str, float], None]


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True, ser_json_inf_nan="null")


@dataclass
class ReviewSpec:
    """What to review: which pact, against which draft, over which period."""

    pact: str | None = None
    """A version reference (`3`, `NAME@3`, a content hash) or a pact file; default: the active pact."""
    draft: Path | None = None
    """A draft pact file to weigh against it; default: the newest version waiting for approval."""
    start: datetime | None = None
    end: datetime | None = None
    """The period (leads created, deals opened and closed in it); default: the 12 months up to
    the data's last activity."""
    capacity: float | None = None
    """MQLs sales can work a month."""
    every_days: float = 30.0
    """Days between the snapshots the pact is replayed at, over the whole history."""
    conversion: Conversion = Conversion.WON
    """What the credit section attributes (won deals carry revenue, so ROI)."""


class Summary(_Result):
    """The first page: the period, its volumes, the pact in force and the findings."""

    store: str
    start: Instant
    end: Instant
    leads: int
    mqls: int
    opportunities_opened: int
    pipeline: Number
    deals_won: int
    revenue: Number
    pact: str
    approvals: list[Signature]
    activated_at: Instant | None
    activated_by: str | None
    findings: list[str]


class FunnelSection(_Result):
    """Lead to won over the period."""

    says: list[str]
    report: FunnelReport


class HistorySection(_Result):
    """The pact in force replayed on history."""

    says: list[str]
    pact: str
    metrics: BacktestMetrics
    capacity: Number | None


class ProposalSection(_Result):
    """A draft against the pact in force, on the same snapshots."""

    says: list[str]
    draft: str
    origin: str
    """Where the draft came from: a file, a version in the store, or learned from history."""
    changes: list[str]
    comparison: Comparison
    added_converted: Number | None
    dropped_converted: Number | None


class TeamRow(_Result):
    """Conversions and value a team sourced (first touch) and influenced (any touch)."""

    team: str
    sourced_conversions: Number
    sourced_value: Number
    influenced_conversions: Number
    influenced_value: Number


class TeamCredit(_Result):
    """One model's credit to one team."""

    model: str
    team: str
    conversions: Number
    value: Number


class RoiRow(_Result):
    """Spend against one model's credit for one channel."""

    channel: str
    spend: Number
    conversions: Number
    value: Number
    cost_per_conversion: Number | None
    roas: Number | None


class CampaignRow(_Result):
    """A campaign's credit under one model, and its spend where the spend table names it."""

    channel: str
    campaign: str
    conversions: Number
    value: Number
    spend: Number | None
    roas: Number | None


class PathOut(_Result):
    """A frequent conversion path."""

    path: str
    touches: int
    journeys: int
    conversions: Number
    value: Number


class CreditSection(_Result):
    """Who gets credit: every model side by side, the teams, the money and the paths."""

    says: list[str]
    conversion: str
    lookback_days: Number | None = None
    """Touches this many days before the conversion count; none: all of them."""
    by: str = "channel"
    """What credit goes to: channel, campaign, touch_type or team."""
    result: AttributionResult
    reference_model: str
    """The model the ROI and campaign tables use."""
    teams: list[TeamRow]
    team_credit: list[TeamCredit]
    roi: list[RoiRow]
    campaigns: list[CampaignRow]
    paths: list[PathOut]


class VerdictMonth(_Result):
    """Sales' verdicts in one month."""

    month: str
    verdicts: int
    accept_rate: Number
    reject_rate: Number
    recycle_rate: Number
    top_reason: str
    """The reason given most for rejecting or recycling that month."""


class VerdictRates(_Result):
    """Verdict rates for one value of a dimension (a source, a rep, a band)."""

    key: str
    verdicts: int
    accept_rate: Number
    reject_rate: Number
    recycle_rate: Number
    top_reject_reason: str


class ReasonRow(_Result):
    """How often sales gave one reason."""

    action: str
    reason: str
    verdicts: int


class RuleVerdict(_Result):
    """What outcomes and verdicts say about one rule."""

    rule_id: str
    section: str
    points: Number
    rows_hit: int
    """Snapshot rows (a lead at one snapshot) the rule fired for."""
    conversion_when_hit: Number | None
    conversion_otherwise: Number | None
    lift: Number | None
    reject_rate_when_hit: Number | None
    recycle_rate_when_hit: Number | None
    top_reason_when_hit: str
    disagrees: bool
    """Its points and the outcomes point opposite ways, by at least two standard errors."""


class FeedbackSection(_Result):
    """What sales' verdicts say."""

    says: list[str]
    verdicts: int
    by_month: list[VerdictMonth]
    by_source: list[VerdictRates]
    by_rep: list[VerdictRates]
    by_band: list[VerdictRates]
    reasons: list[ReasonRow]
    rules: list[RuleVerdict]


class VersionRow(_Result):
    """One submitted version of the pact."""

    version: int
    content_hash: str
    submitted_at: Instant
    author: str | None
    approvals: list[Signature]
    active: bool


class AgreementSection(_Result):
    """The agreement itself, in words, with its approvals and history."""

    says: list[str]
    words: PactWords
    versions: list[VersionRow]
    events: list[PactEvent]


class Review(_Result):
    """The quarterly review, section by section."""

    generated_at: Instant
    summary: Summary
    funnel: FunnelSection
    history: HistorySection
    proposal: ProposalSection | None
    proposal_missing: str | None
    """Why there is no proposal section, when there is none."""
    credit: CreditSection | None
    credit_missing: str | None
    feedback: FeedbackSection | None
    feedback_missing: str | None
    agreement: AgreementSection


# ------------------------------------------------------------------------------------ helpers
def _pct(x: float | None) -> str:
    return "n/a" if x is None or x != x else f"{x:.1%}"


def _money(x: float) -> str:
    return f"{x:,.0f}"


def _top(values: pd.Series) -> str:
    counts = values[values != "(none)"].value_counts()
    return str(counts.index[0]) if len(counts) else ""


def _float(x: object) -> float | None:
    try:
        v = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if v != v else v


# ------------------------------------------------------------------------------------ sections
def _funnel_says(f: FunnelReport) -> list[str]:
    by = {s.stage: s for s in f.stages}
    says = [
        f"{by['lead'].leads:,} leads were created from {f.start:%d %b %Y} to {f.end:%d %b %Y}; "
        + (f"{_pct(by['mql'].share_of_leads)} became MQLs" if "mql" in by else "no MQL was recorded")
        + (f" and {_pct(by['won'].share_of_leads)} closed won." if "won" in by else ".")
    ]
    steps = [s for s in f.stages if s.from_previous is not None]
    if steps:
        worst = min(steps, key=lambda s: s.from_previous or 0.0)
        says.append(
            f"The narrowest step is into {STAGE_NAMES[worst.stage]}: {_pct(worst.from_previous)} of the "
            "leads at the stage before get there"
            + (
                f", after a median {worst.median_days_from_previous:.0f} days."
                if worst.median_days_from_previous is not None
                else "."
            )
        )
    sources = [r for r in f.by_source if r.leads >= max(50, 0.02 * by["lead"].leads)]
    if len(sources) >= 2:
        best = max(sources, key=lambda r: r.lead_to_won or 0.0)
        worst_s = min(sources, key=lambda r: r.lead_to_won or 0.0)
        says.append(
            f"By source, {best.key} converts best to won ({_pct(best.lead_to_won)}) and "
            f"{worst_s.key} worst ({_pct(worst_s.lead_to_won)})."
        )
    won_days = next((s.median_days_from_previous for s in f.stages if s.stage == "won"), None)
    young = [r for r in f.by_month if r.key >= (f.end - timedelta(days=90)).strftime("%Y-%m")]
    if young and "won" in f.recorded:
        says.append(
            f"Leads of the last {len(young)} months have had less time to close"
            + (f" (a won deal takes a median {won_days:.0f} days from the opportunity)" if won_days else "")
            + ": their won rates will still rise."
        )
    missing = [STAGE_NAMES[s] for s in ("sal", "sql") if s not in f.recorded]
    if missing:
        says.append(f"The store records no {' or '.join(missing)} stage: those steps are left out.")
    return says


def _history_says(m: BacktestMetrics, capacity: float | None, every_days: float) -> list[str]:
    monthly = every_days == 30
    spacing = (
        "monthly snapshots of history" if monthly else f"snapshots of history, {every_days:g} days apart"
    )
    says = [
        f"Replayed on {m.snapshots} {spacing}, the pact ranks leads with an AUC of "
        f"{m.auc:.2f} (0.5 is a coin toss, 1 is perfect): {_pct(m.precision_at_mql)} of its MQLs converted "
        f"within the horizon, and it caught {_pct(m.recall_at_mql)} of the leads that did."
    ]
    if m.gains:
        says.append(
            f"The top tenth of leads by score converted {m.gains[0].lift:.1f} times as often as the "
            "average lead."
        )
    per_month = m.funnel.mqls_per_month
    if capacity:
        over = sum(1 for v in m.volume if v.over_capacity)
        says.append(
            f"It makes {per_month:,.0f} MQLs a month against a sales capacity of {capacity:,.0f}"
            + (f"; {over} of {len(m.volume)} months were over capacity." if over else ", within capacity.")
        )
    else:
        says.append(f"It makes {per_month:,.0f} new MQLs a month (give --capacity to compare with sales').")
    return says


def _proposal(
    store: Store,
    active: Pact,
    spec: ReviewSpec,
    old: Backtest,
    history: History,
    pending: list[PactVersion],
    tick: Progress,
) -> tuple[ProposalSection | None, str | None]:
    from accord.evaluation.compare import compare_pacts
    from accord.pact import load_pact
    from accord.pact.diff import diff_pacts

    if spec.draft is not None:
        draft, origin = load_pact(spec.draft), f"the file {spec.draft}"
    else:
        if not pending:
            return None, (
                "No draft to weigh: no version waits for approval. Propose one with `accord learn` and "
                "`accord pact submit`, or pass --draft FILE."
            )
        newest = max(pending, key=lambda v: v.submitted_at)
        draft, origin = newest.to_pact(), f"version {newest.version} in the store, waiting for approval"
    tick("back-testing the draft", 0.55)
    cmp = compare_pacts(store, active, draft, old.spec, old_result=old, history=history)
    result = cmp.result()
    d = diff_pacts(active, draft)
    changes = [f"Added: {x}" for x in d.added] + [f"Removed: {x}" for x in d.removed]
    changes += [f"Changed: {x}" for x in d.changed] + [f"Threshold: {x}" for x in d.thresholds]
    rows = {r.metric: r for r in result.metrics}
    says = [f"The draft {draft.pact} v{draft.version} ({origin}) " + cmp.sentence.removeprefix("NEW ") + "."]
    auc = rows.get("AUC")
    prec = rows.get("MQL precision (converted)")
    if auc is not None and prec is not None:
        says.append(
            f"On the same snapshots its AUC is {auc.new:.2f} against {auc.old:.2f} today, and its MQL "
            f"precision {_pct(prec.new)} against {_pct(prec.old)}."
        )
    says.append(
        f"{len(changes)} rule or threshold change{'s' if len(changes) != 1 else ''}."
        if changes
        else "It scores exactly as the pact in force."
    )
    return (
        ProposalSection(
            says=says,
            draft=f"{draft.pact} v{draft.version}",
            origin=origin,
            changes=changes,
            comparison=result,
            added_converted=_float(cmp.added.converted.mean()) if len(cmp.added) else None,
            dropped_converted=_float(cmp.dropped.converted.mean()) if len(cmp.dropped) else None,
        ),
        None,
    )


def credit_section(
    store: Store,
    conversion: Conversion,
    end: datetime | None,
    tick: Progress,
    *,
    lookback_days: float | None = None,
    by: str = "channel",
) -> CreditSection:
    """Every model's credit for `conversion` up to `end`, grouped `by`, with teams, ROI, campaigns, paths."""
    from accord.attribution import JourneySpec, journeys_from_store, run_models, spend_by_channel
    from accord.attribution.compare import spend_by_campaign, team_credit, team_report
    from accord.attribution.paths import top_paths
    from accord.evaluation.results import rows_of
    from accord.workflows.attribution import typed_result

    spend = spend_by_channel(store, end=end) if by == "channel" else None
    journeys = JourneySpec(conversion=conversion, as_of=end, lookback_days=lookback_days)
    with journeys_from_store(store, journeys) as j:
        tick("attributing credit", 0.7)
        result = run_models(j, by=by, spend=spend)
        teams = team_report(j) if j.has_times else None
        split = team_credit(result, j) if teams is not None else None
        tick("campaigns and paths", 0.8)
        reference = "markov" if "markov" in result.models else next(iter(result.models))
        by_campaign = run_models(j, [reference], by="campaign")
        paths = top_paths(j, 10)
    typed = typed_result(result, by, j.source)
    roi: list[RoiRow] = []
    if spend is not None:
        frame = result.roi(reference).reset_index().rename(columns={"index": "channel"})
        roi = [
            RoiRow(
                channel=str(r["channel"]),
                spend=float(r["spend"]),
                conversions=float(r["conversions"]),
                value=float(r["value"]),
                # No spend recorded: neither a cost nor a return to speak of.
                cost_per_conversion=_float(r["cost_per_conversion"]) if r["spend"] > 0 else None,
                roas=_float(r["roas"]) if r["spend"] > 0 else None,
            )
            for r in frame.to_dict(orient="records")
        ]
    camp = by_campaign.credit.sort_values("value", ascending=False).head(15)
    cost = spend_by_campaign(store, end=end).set_index(["channel", "campaign"]).spend
    campaigns = []
    for r in camp.to_dict(orient="records"):
        paid = _float(cost.get((r["channel"], r["campaign"])))
        campaigns.append(
            CampaignRow(
                channel=str(r["channel"]),
                campaign=str(r["campaign"]),
                conversions=float(r["conversions"]),
                value=float(r["value"]),
                spend=paid,
                roas=float(r["value"]) / paid if paid else None,
            )
        )
    team_rows = rows_of(teams, TeamRow) if teams is not None else []
    split_rows = rows_of(split, TeamCredit) if split is not None else []
    says = _credit_says(typed, team_rows, roi, reference)
    return CreditSection(
        says=says,
        conversion=conversion.value,
        lookback_days=lookback_days,
        by=by,
        result=typed,
        reference_model=reference,
        teams=team_rows,
        team_credit=split_rows,
        roi=roi,
        campaigns=campaigns,
        paths=[PathOut(**p.model_dump()) for p in paths],
    )


def _credit_says(r: AttributionResult, teams: list[TeamRow], roi: list[RoiRow], reference: str) -> list[str]:
    total = r.journeys.get("value") or 0.0
    conv = r.journeys.get("conversions") or 0.0
    says = [
        f"{conv:,.0f} conversions worth {_money(total)} on {r.journeys.get('journeys', 0):,.0f} journeys, "
        f"credited by {len(r.models)} models on the same journeys."
    ]
    by_model: dict[str, dict[str, float]] = {}
    for c in r.credit:
        by_model.setdefault(c.model, {})
        by_model[c.model][c.channel] = by_model[c.model].get(c.channel, 0.0) + c.value
    spreads = []
    for ch in sorted({c.channel for c in r.credit}):
        shares = {m: v.get(ch, 0.0) / total for m, v in by_model.items()} if total else {}
        if shares:
            lo, hi = min(shares, key=shares.__getitem__), max(shares, key=shares.__getitem__)
            spreads.append((shares[hi] - shares[lo], ch, lo, shares[lo], hi, shares[hi]))
    if spreads:
        _, ch, lo_m, lo_share, hi_m, hi_share = max(spreads)
        says.append(
            f"The models disagree most on {ch}: {lo_share:.0%} of the value under {lo_m}, {hi_share:.0%} "
            f"under {hi_m}. "
            "That gap is the budget argument."
        )
    if teams:
        mk = next((t for t in teams if t.team == "marketing"), None)
        sl = next((t for t in teams if t.team == "sales"), None)
        if mk and sl and total:
            says.append(
                f"Marketing sourced {mk.sourced_value / total:.0%} of the value (first touch) and sales "
                f"{sl.sourced_value / total:.0%}; marketing touched journeys worth "
                f"{mk.influenced_value / total:.0%}."
            )
    paid = [x for x in roi if x.spend > 0 and x.roas is not None]
    if len(paid) >= 2:
        best = max(paid, key=lambda x: x.roas or 0.0)
        worst = min(paid, key=lambda x: x.roas or 0.0)
        says.append(
            f"Under {reference}, {best.channel} returns {best.roas:.1f} per unit spent and {worst.channel} "
            f"{worst.roas:.1f}."
        )
    if r.budget:
        says.append(r.budget[0].upper() + r.budget[1:] + ".")
    return says


def _feedback(store: Store, pact: Pact, b: Backtest) -> tuple[FeedbackSection | None, str | None]:
    from accord.evaluation.feedback_analysis import feedback_report

    fr = feedback_report(store, pact, b)
    v = fr.verdicts
    if v.empty:
        return None, "Sales gave no verdict (accept, reject or recycle) in the store: nothing to read yet."
    v = v.assign(month=v.given_at.dt.strftime("%Y-%m"))
    months = []
    for month, g in v.groupby("month", sort=True):
        n = len(g)
        months.append(
            VerdictMonth(
                month=str(month),
                verdicts=n,
                accept_rate=float((g.action == "accept").mean()),
                reject_rate=float((g.action == "reject").mean()),
                recycle_rate=float((g.action == "recycle").mean()),
                top_reason=_top(g[g.action != "accept"].reason),
            )
        )

    def rates(frame: pd.DataFrame, key: str) -> list[VerdictRates]:
        return [
            VerdictRates(
                key=str(r[key]),
                verdicts=int(r["verdicts"]),
                accept_rate=float(r["accept_rate"]),
                reject_rate=float(r["reject_rate"]),
                recycle_rate=float(r["recycle_rate"]),
                top_reject_reason=str(r["top_reject_reason"]),
            )
            for r in frame.head(15).to_dict(orient="records")
        ]

    fit_ids = {r.id for r in pact.model(b.spec.model).fit.rules}
    rules = [
        RuleVerdict(
            rule_id=str(r["rule"]),
            section="fit" if r["rule"] in fit_ids else "engagement",
            points=float(r["points"]),
            rows_hit=int(r["rows_hit"]),
            conversion_when_hit=_float(r["rate_hit"]),
            conversion_otherwise=_float(r["rate_not_hit"]),
            lift=_float(r["lift"]),
            reject_rate_when_hit=_float(r["reject_rate_when_hit"]),
            recycle_rate_when_hit=_float(r["recycle_rate_when_hit"]),
            top_reason_when_hit=str(r["top_reason_when_hit"] or ""),
            disagrees=bool(r["disagrees"]),
        )
        for r in fr.rules.to_dict(orient="records")
    ]
    n = len(v)
    says = [
        f"Sales gave {n:,} verdicts: {_pct((v.action == 'accept').mean())} accepted, "
        f"{_pct((v.action == 'reject').mean())} rejected and {_pct((v.action == 'recycle').mean())} recycled."
    ]
    if not fr.reasons.empty:
        # A reason counts over rejects and recycles together: the rows split it by action.
        by_reason = fr.reasons.pivot_table(index="reason", columns="action", values="verdicts", aggfunc="sum")
        by_reason = (
            by_reason.fillna(0).assign(total=lambda f: f.sum(axis=1)).sort_values("total", ascending=False)
        )
        top_reason, top = str(by_reason.index[0]), by_reason.iloc[0]
        parts = ", ".join(f"{int(top[a]):,} {a}s" for a in ("reject", "recycle") if top.get(a))
        says.append(f"The most common reason is \u201c{top_reason}\u201d ({int(top.total):,}: {parts}).")
    against = [r for r in rules if r.disagrees]
    if against:
        words = [
            f"{r.rule_id} ({r.points:+g} points: {_pct(r.conversion_when_hit)} of the leads it fires for "
            f"converted, {_pct(r.conversion_otherwise)} of the others)"
            for r in against
        ]
        says.append("Outcomes contradict the points of " + "; ".join(words) + ": review them first.")
    else:
        says.append("Outcomes contradict no rule's points.")
    return (
        FeedbackSection(
            says=says,
            verdicts=n,
            by_month=months,
            by_source=rates(fr.by["source"], "source"),
            by_rep=rates(fr.reps, "rep"),
            by_band=rates(fr.by["band"], "band"),
            reasons=[
                ReasonRow(action=str(r["action"]), reason=str(r["reason"]), verdicts=int(r["verdicts"]))
                for r in fr.reasons.head(15).to_dict(orient="records")
            ],
            rules=rules,
        ),
        None,
    )


def _agreement(store: Store, pact: Pact, all_versions: list[PactVersion]) -> AgreementSection:
    from accord.pact import registry
    from accord.pact.words import pact_words

    versions = [
        VersionRow(
            version=v.version,
            content_hash=v.content_hash,
            submitted_at=v.submitted_at,
            author=v.author,
            approvals=v.approvals,
            active=v.active,
        )
        for v in all_versions
        if v.pact == pact.pact
    ]
    events = [e for e in registry.history(store) if e.pact == pact.pact]
    words = pact_words(pact)
    says = [
        f"{words.label} is the agreement in force: {len(words.rules)} rules, "
        f"an MQL is {words.definitions['MQL']}",
        f"{len(versions)} version{'s' if len(versions) != 1 else ''} submitted, "
        f"{sum(1 for e in events if e.what == 'approved')} approvals recorded.",
    ]
    return AgreementSection(says=says, words=words, versions=versions, events=events)


def _findings(
    funnel: FunnelSection,
    history: HistorySection,
    proposal: ProposalSection | None,
    credit: CreditSection | None,
    feedback: FeedbackSection | None,
) -> list[str]:
    """The three findings the meeting should start with, picked from the sections' own sentences."""
    picks: list[str] = []
    if feedback is not None and any(r.disagrees for r in feedback.rules):
        picks.append(feedback.says[-1])
    if proposal is not None:
        picks.append(proposal.says[0])
    if credit is not None and len(credit.says) > 1:
        picks.append(credit.says[1])
    picks.append(history.says[0])
    if len(funnel.says) > 1:
        picks.append(funnel.says[1])
    return picks[:3]


# ------------------------------------------------------------------------------------ the use case
def review(store: Store, spec: ReviewSpec | None = None, progress: Progress | None = None) -> Review:
    """Everything the quarterly review reads, from one store."""
    from accord.evaluation import BacktestSpec, backtest
    from accord.evaluation.backtest import History
    from accord.evaluation.funnel import funnel
    from accord.pact import registry
    from accord.workflows.live import now
    from accord.workflows.pacts import choose_pact

    spec = spec or ReviewSpec()
    tick: Progress = progress or (lambda _s, _f: None)
    tick("reading the pact", 0.02)
    if spec.pact is not None and not Path(spec.pact).is_file():
        pact = registry.resolve(store, spec.pact).to_pact()
    else:
        pact = choose_pact(store, Path(spec.pact) if spec.pact else None).pact
    status = registry.status(store)
    all_versions = registry.versions(store)
    mine = next((v for v in all_versions if v.pact == pact.pact and v.version == pact.version), None)
    tick("reading history", 0.05)
    hist = History.read(store)
    end = spec.end or (hist.activity_end + timedelta(days=1)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    start = spec.start or end - timedelta(days=365)
    if start >= end:
        raise ConfigError(f"the period is empty: --from {start:%Y-%m-%d} is not before --to {end:%Y-%m-%d}")
    tick("the funnel", 0.1)
    f = funnel(store, hist, start, end)
    funnel_section = FunnelSection(says=_funnel_says(f), report=f)
    tick("back-testing the pact", 0.15)
    bspec = BacktestSpec(capacity_per_month=spec.capacity, every_days=spec.every_days)
    try:
        b = backtest(store, pact, bspec, hist, lambda s, x: tick(s, 0.15 + 0.35 * x))
    except EvaluationError as exc:
        raise EvaluationError(f"the review needs a back-test of the pact, and it cannot run: {exc}") from exc
    history = HistorySection(
        says=_history_says(b.metrics, spec.capacity, spec.every_days),
        pact=b.pact,
        metrics=b.metrics,
        capacity=spec.capacity,
    )
    proposal, proposal_missing = _proposal(store, pact, spec, b, hist, status.pending, tick)
    credit: CreditSection | None = None
    credit_missing: str | None = None
    try:
        credit = credit_section(store, spec.conversion, end, tick)
    except AccordError as exc:  # a store with no conversions still gets its review
        credit_missing = f"No credit section: {exc}"
    tick("sales feedback", 0.9)
    feedback, feedback_missing = _feedback(store, pact, b)
    agreement = _agreement(store, pact, all_versions)
    mqls = next((s.leads for s in f.stages if s.stage == "mql"), 0)
    summary = Summary(
        store=store.describe(),
        start=start,
        end=end,
        leads=f.stages[0].leads,
        mqls=mqls,
        opportunities_opened=f.opportunities_opened,
        pipeline=f.pipeline,
        deals_won=f.deals_won,
        revenue=f.revenue,
        pact=f"{pact.pact} v{pact.version}",
        approvals=mine.approvals if mine is not None else [],
        activated_at=status.activated_at if mine is not None and mine.active else None,
        activated_by=status.activated_by if mine is not None and mine.active else None,
        findings=_findings(funnel_section, history, proposal, credit, feedback),
    )
    tick("done", 1.0)
    return Review(
        generated_at=now(),
        summary=summary,
        funnel=funnel_section,
        history=history,
        proposal=proposal,
        proposal_missing=proposal_missing,
        credit=credit,
        credit_missing=credit_missing,
        feedback=feedback,
        feedback_missing=feedback_missing,
        agreement=agreement,
    )
