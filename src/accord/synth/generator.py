"""A seeded, vectorised generator of a B2B funnel, with the truth that produced it.

`generate(leads=N, seed=S)` draws accounts, leads, touchpoints across twelve
channels, lifecycle stage changes, opportunities, sales feedback and monthly
spend over 18 months. Whether a lead becomes an opportunity is drawn from a
known logistic model of its fit and its pre-opportunity touches; the model
and each channel's expected incremental opportunities (the same leads with
that channel's touches removed) are returned as ground truth.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from accord.synth import world as W
from accord.synth.truth import GroundTruth

DAY = 86_400.0
START = datetime(2025, 5, 1)
"""Fixed start so a seed gives the same data on any day."""
MONTHS = 18
Progress = Callable[[str, float], None]


@dataclass
class Generated:
    """The generated tables (Arrow) and the ground truth (JSON-ready)."""

    tables: dict[str, pa.Table]
    truth: GroundTruth
    lead_truth: pa.Table
    """Per lead: the true probability of becoming an opportunity, and whether it did."""
    meta: dict[str, Any] = field(default_factory=dict)


def _choice(rng: np.random.Generator, options: tuple[Any, ...], col: int, n: int) -> np.ndarray:
    p = np.array([o[col] for o in options], dtype=float)
    return rng.choice(len(options), size=n, p=p / p.sum())


def _dict_array(indices: np.ndarray, values: list[str] | tuple[str, ...]) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(indices.astype(np.int32)), pa.array(list(values)))


def _ids(prefix: str, n: int, width: int) -> pa.Array:
    nums = pc.cast(pa.array(np.arange(1, n + 1, dtype=np.int64)), pa.string())
    return pc.binary_join_element_wise(prefix, pc.utf8_lpad(nums, width, "0"), "")


def _ts(seconds: np.ndarray) -> pa.Array:
    base = np.datetime64(START, "us")
    us = (seconds * 1e6).astype(np.int64)
    return pa.array(base + us.astype("timedelta64[us]"), pa.timestamp("us"))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    out: np.ndarray = 1.0 / (1.0 + np.exp(-x))
    return out


def _take(index: np.ndarray, *arrays: np.ndarray) -> list[np.ndarray]:
    """The same rows (a mask or an order) of several aligned arrays."""
    return [a[index] for a in arrays]


def generate(
    leads: int = 10_000,
    seed: int = 7,
    touches_per_lead: float = 10.0,
    progress: Progress | None = None,
) -> Generated:
    """Generate a funnel of `leads` leads with about `touches_per_lead` touches each."""
    if leads < 1:
        raise ValueError("leads must be at least 1")
    tick = progress or (lambda _step, _frac: None)
    rng = np.random.default_rng(seed)
    horizon = MONTHS * 30.44 * DAY
    n_chan = len(W.CHANNELS)

    # ---------------------------------------------------------------- accounts
    n_acc = max(1, leads // 3)
    ind = _choice(rng, W.INDUSTRIES, 1, n_acc)
    employees = np.clip(np.round(rng.lognormal(5.3, 1.6, n_acc)), 2, 250_000).astype(np.int64)
    rev_per_emp = np.array([i[2] for i in W.INDUSTRIES])[ind]
    revenue = np.round(employees * rev_per_emp * rng.lognormal(0, 0.35, n_acc), -3)
    acc_country = _choice(rng, W.COUNTRIES, 1, n_acc)
    lo, hi = W.EMPLOYEE_SWEET_SPOT
    size_eff = np.where((employees >= lo) & (employees <= hi), 0.45, np.where(employees < 20, -0.6, 0.0))
    acc_eff = np.array([i[3] for i in W.INDUSTRIES])[ind] + size_eff
    acc_ids = _ids("acc-", n_acc, 6)
    words_a = (
        "North",
        "Blue",
        "Silver",
        "Bright",
        "Iron",
        "Green",
        "Summit",
        "Vertex",
        "Clear",
        "Swift",
    )
    words_b = ("wind", "stone", "field", "bridge", "path", "gate", "line", "point", "wave", "forge")
    kinds = ("Analytics", "Systems", "Labs", "Group", "Health", "Logistics", "Retail", "Capital")
    wa, wb, wk = rng.integers(0, 10, n_acc), rng.integers(0, 10, n_acc), rng.integers(0, 8, n_acc)
    acc_names = [
        f"{words_a[a]}{words_b[b]} {kinds[k]} {i + 1}"
        for i, (a, b, k) in enumerate(zip(wa, wb, wk, strict=True))
    ]
    acc_domains = [
        f"{words_a[a]}{words_b[b]}{i + 1}.com".lower() for i, (a, b) in enumerate(zip(wa, wb, strict=True))
    ]
    tick("accounts", 0.05)

    # ------------------------------------------------------------------- leads
    # A third of leads sit in the 10% largest-pipeline accounts (buying committees).
    hot_acc = rng.random(leads) < 0.33
    lead_acc = np.where(hot_acc, rng.integers(0, max(1, n_acc // 10), leads), rng.integers(0, n_acc, leads))
    sen = _choice(rng, W.SENIORITIES, 1, leads)
    dep = _choice(rng, W.DEPARTMENTS, 1, leads)
    bud = _choice(rng, W.BUDGET, 1, leads)
    tim = _choice(rng, W.TIMELINE, 1, leads)
    email_kind = rng.random(leads)
    free_mail = email_kind < W.FREE_MAIL_SHARE
    competitor = email_kind > 1 - W.COMPETITOR_SHARE
    fit_logit = (
        acc_eff[lead_acc]
        + np.array([s[2] for s in W.SENIORITIES])[sen]
        + np.array([d[2] for d in W.DEPARTMENTS])[dep]
        + np.array([b[2] for b in W.BUDGET])[bud]
        + np.array([t[2] for t in W.TIMELINE])[tim]
        + np.where(free_mail, W.FREE_MAIL_EFFECT, 0.0)
        + np.where(competitor, W.COMPETITOR_EFFECT, 0.0)
    )
    # Interest drives how much a lead engages; it correlates with fit but is
    # not itself causal: only the touches it produces are.
    interest = 0.5 * (fit_logit - fit_logit.mean()) / (fit_logit.std() + 1e-9) + rng.normal(0, 0.85, leads)
    hot = _sigmoid(1.6 * interest)
    # Lead arrival grows over time; each lead is active for a window after it.
    anchor = horizon * np.sqrt(rng.random(leads)) * 0.97
    tick("leads", 0.1)

    # ------------------------------------------------------------- touchpoints
    n_touch = np.maximum(1, rng.poisson(touches_per_lead * np.exp(0.45 * interest - 0.1))).astype(np.int64)
    total = int(n_touch.sum())
    lead_of = np.repeat(np.arange(leads), n_touch)
    u = rng.random(total)
    w_cold = np.array([c.weight_cold for c in W.CHANNELS]) / sum(c.weight_cold for c in W.CHANNELS)
    w_hot = np.array([c.weight_hot for c in W.CHANNELS]) / sum(c.weight_hot for c in W.CHANNELS)
    is_hot_touch = rng.random(total) < hot[lead_of]
    chan = np.where(
        is_hot_touch,
        np.searchsorted(np.cumsum(w_hot), u * w_hot.sum() * 0.999999),
        np.searchsorted(np.cumsum(w_cold), u * 0.999999),
    ).astype(np.int16)
    del u
    # touch type within channel
    tt_names: list[str] = sorted({t for c in W.CHANNELS for t, _ in c.touch_types})
    tt_index = {t: i for i, t in enumerate(tt_names)}
    touch_type = np.empty(total, dtype=np.int16)
    u2 = rng.random(total)
    for ci, c in enumerate(W.CHANNELS):
        m = chan == ci
        probs = np.array([p for _, p in c.touch_types])
        pick = np.searchsorted(np.cumsum(probs / probs.sum()), u2[m] * 0.999999)
        touch_type[m] = np.array([tt_index[t] for t, _ in c.touch_types], dtype=np.int16)[pick]
    del u2
    unsub_code = tt_index["unsubscribe"]
    page = np.full(total, -1, dtype=np.int16)
    visits = touch_type == tt_index["web_visit"]
    p_cold = np.array([p[1] for p in W.PAGES])
    p_hot = np.array([p[2] for p in W.PAGES])
    uv = rng.random(int(visits.sum()))
    hv = is_hot_touch[visits]
    page[visits] = np.where(
        hv,
        np.searchsorted(np.cumsum(p_hot), uv * 0.999999),
        np.searchsorted(np.cumsum(p_cold), uv * 0.999999),
    )
    del is_hot_touch, uv, hv
    tick("touchpoints", 0.35)

    # ------------------------------------------------------------- the outcome
    counts = np.bincount(lead_of * n_chan + chan, minlength=leads * n_chan).reshape(leads, n_chan)
    pricing_by_chan = np.bincount(
        lead_of[page == 3] * n_chan + chan[page == 3], minlength=leads * n_chan
    ).reshape(leads, n_chan)
    unsub = np.bincount(lead_of[touch_type == unsub_code], minlength=leads) > 0
    beta = np.array([c.effect for c in W.CHANNELS])
    pricing = pricing_by_chan.sum(axis=1)
    touch_logit = np.log1p(counts) @ beta + W.PRICING_PAGE_EFFECT * np.log1p(pricing)
    touch_logit += np.where(unsub, W.UNSUBSCRIBE_EFFECT, 0.0)
    noise = rng.normal(0, 0.35, leads)
    partial = fit_logit + touch_logit + noise
    intercept = _calibrate(partial, target=0.085)
    p_opp = _sigmoid(intercept + partial)
    u_opp = rng.random(leads)
    converts = u_opp < p_opp
    # Counterfactuals: the same leads without one channel's touches.
    true_inc = {}
    true_inc_realised = {}
    for ci, c in enumerate(W.CHANNELS):
        without = (
            intercept
            + fit_logit
            + noise
            + touch_logit
            - beta[ci] * np.log1p(counts[:, ci])
            - W.PRICING_PAGE_EFFECT * (np.log1p(pricing) - np.log1p(pricing - pricing_by_chan[:, ci]))
        )
        p_without = _sigmoid(without)
        true_inc[c.name] = float((p_opp - p_without).sum())
        true_inc_realised[c.name] = int((converts & (u_opp >= p_without)).sum())
    win_logit = -1.05 + 0.55 * fit_logit.clip(-3, 3) + rng.normal(0, 0.5, leads)
    p_win = _sigmoid(win_logit)
    won = converts & (rng.random(leads) < p_win)
    tick("outcomes", 0.45)

    # ------------------------------------------------------------- timing
    active = np.minimum(horizon - anchor, rng.gamma(2.0, 45 * DAY, leads) + 20 * DAY)
    conv_delay = np.minimum(0.97 * active, rng.gamma(2.2, 22 * DAY, leads) + 5 * DAY)
    window = np.where(converts, conv_delay, active)
    offset = rng.random(total) * window[lead_of]
    # The first touch of each lead creates it; put one touch at offset 0.
    first_pos = np.concatenate(([0], np.cumsum(n_touch)[:-1]))
    offset[first_pos] = 0.0
    t_sec = anchor[lead_of] + offset
    del offset
    order = np.lexsort((t_sec, lead_of))
    lead_of, chan, touch_type, page, t_sec = (
        lead_of[order],
        chan[order],
        touch_type[order],
        page[order],
        t_sec[order],
    )
    del order
    created = t_sec[first_pos]
    source = chan[first_pos]
    opp_created = created + conv_delay
    tick("timing", 0.55)

    # The legacy MQL rule: first touch at which fit points + cumulative touch points >= 60.
    pts = np.array([W.LEGACY_POINTS.get(t, 0.0) for t in tt_names])[touch_type]
    fit_pts = (
        np.array([25, 22, 15, 8, 2, -30], dtype=float)[sen]
        + np.where(free_mail, -10.0, 0.0)
        + np.where(np.isin(dep, [0, 1, 2]), 5.0, 0.0)
    )
    cs = np.cumsum(pts)
    base = np.concatenate(([0.0], cs[:-1]))[first_pos]
    within = cs - base[lead_of] + fit_pts[lead_of]
    cross = np.where(within >= W.LEGACY_MQL_THRESHOLD, np.arange(total), total)
    first_cross = np.minimum.reduceat(cross, first_pos)
    is_mql = first_cross < total
    mql_at = np.where(is_mql, t_sec[np.minimum(first_cross, total - 1)], np.nan)
    tick("lifecycle", 0.6)

    # ----------------------------------------------- post-opportunity sales touches
    opp_idx = np.flatnonzero(converts)
    cycle = rng.gamma(2.0, 28 * DAY, opp_idx.size) + 7 * DAY
    closed = opp_created[opp_idx] + cycle
    is_closed = closed < horizon
    n_post = rng.poisson(3.0, opp_idx.size) + 1
    post_lead = np.repeat(opp_idx, n_post)
    post_t = np.repeat(opp_created[opp_idx], n_post) + rng.random(int(n_post.sum())) * np.repeat(
        np.minimum(cycle, horizon - opp_created[opp_idx]), n_post
    )
    post_tt = rng.choice(
        [tt_index["meeting"], tt_index["demo"], tt_index["sales_call"], tt_index["sales_email"]],
        size=post_lead.size,
        p=[0.35, 0.2, 0.25, 0.2],
    ).astype(np.int16)
    sales_ci = next(i for i, c in enumerate(W.CHANNELS) if c.name == "sales_outreach")
    lead_all = np.concatenate((lead_of, post_lead))
    chan_all = np.concatenate((chan, np.full(post_lead.size, sales_ci, dtype=np.int16)))
    tt_all = np.concatenate((touch_type, post_tt))
    page_all = np.concatenate((page, np.full(post_lead.size, -1, dtype=np.int16)))
    t_all = np.concatenate((t_sec, post_t))
    keep = t_all < horizon
    lead_all, chan_all, tt_all, page_all, t_all = _take(keep, lead_all, chan_all, tt_all, page_all, t_all)
    order = np.lexsort((t_all, lead_all))
    lead_all, chan_all, tt_all, page_all, t_all = _take(order, lead_all, chan_all, tt_all, page_all, t_all)
    del order, keep, lead_of, chan, touch_type, page, t_sec
    n_all = lead_all.size
    tick("sales touches", 0.7)

    # ------------------------------------------------------------- campaigns, cost
    quarter = np.minimum((t_all / (horizon / 6)).astype(np.int64), 5)
    theme = rng.integers(0, 2, n_all) + np.where(chan_all == 3, 2, 0)  # display runs retargeting
    camp_idx = (chan_all.astype(np.int64) * 6 + quarter) * len(W.CAMPAIGN_THEMES) + theme
    camp_names = []
    for c in W.CHANNELS:
        for q in range(6):
            y, qq = divmod(START.month - 1 + q * 3, 12)
            for th in W.CAMPAIGN_THEMES:
                camp_names.append(f"{c.name}-{START.year + y}Q{qq // 3 + 1}-{th}")
    cost_per = np.array([c.cost_per_touch for c in W.CHANNELS])[chan_all]
    cost = np.round(cost_per * rng.lognormal(0, 0.25, n_all), 2)
    team_of_chan = np.array([0 if c.team == "marketing" else 1 for c in W.CHANNELS])
    sales_tt = np.isin(tt_all, [tt_index[t] for t in ("sales_email", "sales_call", "meeting", "demo")])
    team = np.where(sales_tt, 1, team_of_chan[chan_all])
    lead_ids = _ids("lead-", leads, 7)
    page_json = [None, *[f'{{"page": "{p[0]}"}}' for p in W.PAGES]]
    touchpoints = pa.table(
        {
            "id": _ids("tp-", n_all, 9),
            "lead_id": pc.take(lead_ids, lead_all),
            "account_id": pc.take(acc_ids, lead_acc[lead_all]),
            "occurred_at": _ts(t_all),
            "channel": _dict_array(chan_all, [c.name for c in W.CHANNELS]),
            "campaign": _dict_array(camp_idx, camp_names),
            "touch_type": _dict_array(tt_all, tt_names),
            "team": _dict_array(team, ["marketing", "sales"]),
            "source_system": _dict_array(np.zeros(n_all, dtype=np.int32), ["accord-synth"]),
            "cost": pa.array(np.where(cost > 0, cost, np.nan), pa.float64(), from_pandas=True),
            "properties": _dict_array(page_all + 1, [p or "{}" for p in page_json]),
        }
    )
    tick("touchpoint table", 0.85)

    # ------------------------------------------------------------- small tables
    tables = {
        "accounts": pa.table(
            {
                "id": acc_ids,
                "name": acc_names,
                "domain": acc_domains,
                "industry": _dict_array(ind, [i[0] for i in W.INDUSTRIES]),
                "employees": employees,
                "annual_revenue": revenue,
                "country": _dict_array(acc_country, [c[0] for c in W.COUNTRIES]),
                "properties": ["{}"] * n_acc,
            }
        ),
        "leads": _leads_table(
            rng,
            leads,
            lead_ids,
            acc_ids,
            lead_acc,
            acc_domains,
            acc_country,
            sen,
            dep,
            bud,
            tim,
            free_mail,
            competitor,
            source,
            created,
        ),
        "touchpoints": touchpoints,
    }
    opp_amount = np.round(
        np.clip(employees[lead_acc[opp_idx]], 10, 20_000) ** 0.55 * 900 * rng.lognormal(0, 0.4, opp_idx.size),
        -2,
    )
    tables["opportunities"] = pa.table(
        {
            "id": _ids("opp-", opp_idx.size, 6),
            "account_id": pc.take(acc_ids, lead_acc[opp_idx]),
            "primary_lead_id": pc.take(lead_ids, opp_idx),
            "created_at": _ts(opp_created[opp_idx]),
            "closed_at": _masked_ts(closed, ~is_closed),
            "stage": np.where(is_closed, np.where(won[opp_idx], "closed_won", "closed_lost"), "open"),
            "amount": opp_amount,
            "is_won": pa.array(won[opp_idx] & is_closed),
            "properties": ["{}"] * opp_idx.size,
        }
    )
    tables["stage_changes"], tables["feedback"] = _lifecycle(
        rng,
        lead_ids,
        created,
        is_mql,
        mql_at,
        p_opp,
        converts,
        opp_idx,
        opp_created,
        closed,
        is_closed,
        won,
        sen,
        free_mail,
        competitor,
        bud,
        horizon,
    )
    tables["spend"] = _spend(chan_all, camp_idx, camp_names, t_all, cost, horizon)
    tick("lifecycle tables", 0.95)

    truth = GroundTruth.model_validate(
        {
            "seed": seed,
            "leads": leads,
            "touchpoints": int(n_all),
            "start": START.isoformat(),
            "months": MONTHS,
            "conversion": "opportunity created (a lead's touches before it are its path)",
            "model": "logit P(opportunity) = intercept + fit effects + sum_channel effect * ln(1 + touches) "
            "+ pricing_page * ln(1 + pricing visits) + unsubscribe + N(0, 0.35) noise",
            "intercept": float(intercept),
            "fit_effects": {
                "industry": {i[0]: i[3] for i in W.INDUSTRIES},
                "employees": {"200-5000": 0.45, "<20": -0.6, "other": 0.0},
                "seniority": {s[0]: s[2] for s in W.SENIORITIES},
                "department": {d[0]: d[2] for d in W.DEPARTMENTS},
                "budget": {b[0]: b[2] for b in W.BUDGET},
                "timeline": {t[0]: t[2] for t in W.TIMELINE},
                "free_mail": W.FREE_MAIL_EFFECT,
                "competitor": W.COMPETITOR_EFFECT,
            },
            "touch_effects": {c.name: c.effect for c in W.CHANNELS},
            "pricing_page_effect": W.PRICING_PAGE_EFFECT,
            "unsubscribe_effect": W.UNSUBSCRIBE_EFFECT,
            "opportunities": int(converts.sum()),
            "won": int((won & np.isin(np.arange(leads), opp_idx[is_closed])).sum()),
            "true_incremental_opportunities": true_inc,
            "true_incremental_opportunities_realised": true_inc_realised,
            "true_incremental_share": {k: v / sum(true_inc.values()) for k, v in true_inc.items()},
        }
    )
    lead_truth = pa.table(
        {
            "lead_id": lead_ids,
            "p_opportunity": p_opp,
            "opportunity": converts,
            "p_win_given_opportunity": p_win,
        }
    )
    tick("done", 1.0)
    return Generated(tables, truth, lead_truth)


def _calibrate(partial: np.ndarray, target: float) -> float:
    """The intercept that makes the mean probability `target` (bisection)."""
    lo, hi = -20.0, 20.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if _sigmoid(mid + partial).mean() < target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def _masked_ts(seconds: np.ndarray, mask: np.ndarray) -> pa.Array:
    arr = _ts(np.where(mask, 0.0, seconds))
    return pc.if_else(pa.array(mask), pa.scalar(None, pa.timestamp("us")), arr)


def _leads_table(
    rng: np.random.Generator,
    n: int,
    lead_ids: pa.Array,
    acc_ids: pa.Array,
    lead_acc: np.ndarray,
    acc_domains: list[str],
    acc_country: np.ndarray,
    sen: np.ndarray,
    dep: np.ndarray,
    bud: np.ndarray,
    tim: np.ndarray,
    free_mail: np.ndarray,
    competitor: np.ndarray,
    source: np.ndarray,
    created: np.ndarray,
) -> pa.Table:
    firsts = (
        "ana",
        "ben",
        "chloe",
        "dev",
        "emma",
        "farid",
        "grace",
        "hugo",
        "ines",
        "jon",
        "kira",
        "li",
        "maya",
        "noah",
        "olga",
        "priya",
        "quinn",
        "raj",
        "sara",
        "tom",
    )
    lasts = (
        "diaz",
        "smith",
        "chen",
        "patel",
        "muller",
        "rossi",
        "kim",
        "novak",
        "silva",
        "okafor",
        "berg",
        "haddad",
        "ito",
        "lopez",
        "moreau",
        "walsh",
    )
    fi, la = rng.integers(0, len(firsts), n), rng.integers(0, len(lasts), n)
    free = rng.integers(0, len(W.FREE_MAIL_DOMAINS), n)
    comp = rng.integers(0, len(W.COMPETITOR_DOMAINS), n)
    emails = [
        f"{firsts[a]}.{lasts[b]}{i}@"
        + (W.FREE_MAIL_DOMAINS[f] if fm else W.COMPETITOR_DOMAINS[c] if cm else acc_domains[acc])
        for i, (a, b, f, c, fm, cm, acc) in enumerate(
            zip(fi, la, free, comp, free_mail, competitor, lead_acc, strict=True)
        )
    ]
    dept_titles = ("Marketing", "Sales", "IT", "Finance", "Operations", "Engineering", "People")
    titles = []
    for s, d in zip(sen, dep, strict=True):
        word = W.SENIORITIES[s][3]
        if word == "Chief":
            titles.append(("CMO", "CRO", "CIO", "CFO", "COO", "CTO", "CHRO")[d])
        elif word == "Student":
            titles.append("Student")
        elif word == "Specialist":
            titles.append(f"{dept_titles[d]} Specialist")
        else:
            titles.append(f"{word} of {dept_titles[d]}" if word != "VP" else f"VP {dept_titles[d]}")
    # BANT answers are typed properties; about a third of leads left them blank.
    props = [
        json.dumps({"budget": W.BUDGET[b][0], "timeline": W.TIMELINE[t][0], "authority": bool(s <= 2)})
        for b, t, s in zip(bud, tim, sen, strict=True)
    ]
    moved = rng.random(n) < 0.1
    country = np.where(moved, rng.integers(0, len(W.COUNTRIES), n), acc_country[lead_acc])
    return pa.table(
        {
            "id": lead_ids,
            "account_id": pc.take(acc_ids, lead_acc),
            "email": emails,
            "job_title": titles,
            "seniority": _dict_array(sen, [s[0] for s in W.SENIORITIES]),
            "department": _dict_array(dep, [d[0] for d in W.DEPARTMENTS]),
            "country": _dict_array(country, [c[0] for c in W.COUNTRIES]),
            "source": _dict_array(source, [c.name for c in W.CHANNELS]),
            "created_at": _ts(created),
            "properties": props,
        }
    )


def _lifecycle(
    rng: np.random.Generator,
    lead_ids: pa.Array,
    created: np.ndarray,
    is_mql: np.ndarray,
    mql_at: np.ndarray,
    p_opp: np.ndarray,
    converts: np.ndarray,
    opp_idx: np.ndarray,
    opp_created: np.ndarray,
    closed: np.ndarray,
    is_closed: np.ndarray,
    won: np.ndarray,
    sen: np.ndarray,
    free_mail: np.ndarray,
    competitor: np.ndarray,
    bud: np.ndarray,
    horizon: float,
) -> tuple[pa.Table, pa.Table]:
    """Stage changes and sales feedback consistent with MQL times and outcomes."""
    lead_col: list[np.ndarray] = []
    frm: list[np.ndarray] = []
    to: list[np.ndarray] = []
    at: list[np.ndarray] = []
    actor: list[np.ndarray] = []
    reason: list[np.ndarray] = []

    def add(idx: np.ndarray, f: str, t: str, when: np.ndarray, who: str, why: str) -> None:
        ok = when < horizon
        idx, when = idx[ok], when[ok]
        lead_col.append(idx)
        frm.append(np.full(idx.size, f, dtype=object))
        to.append(np.full(idx.size, t, dtype=object))
        at.append(when)
        actor.append(np.full(idx.size, who, dtype=object))
        reason.append(np.full(idx.size, why, dtype=object))

    # An MQL counts only if it came before the lead's opportunity (if any).
    mql_idx = np.flatnonzero(
        is_mql & (np.nan_to_num(mql_at, nan=np.inf) < np.where(converts, opp_created, np.inf))
    )
    add(mql_idx, "lead", "mql", mql_at[mql_idx], "legacy-scoring", "score crossed 60")
    # Sales reviews each MQL within days; acceptance follows real quality.
    review = mql_at[mql_idx] + rng.gamma(2.0, 1.2 * DAY, mql_idx.size)
    conv_m = converts[mql_idx]
    p_accept = np.clip(0.25 + 2.5 * p_opp[mql_idx], 0, 0.97)
    accept = conv_m | (rng.random(mql_idx.size) < p_accept)
    recycle = ~accept & (rng.random(mql_idx.size) < 0.45)
    reject = ~accept & ~recycle
    add(mql_idx[accept], "mql", "sal", review[accept], "sales", "accepted")
    add(mql_idx[recycle], "mql", "recycled", review[recycle], "sales", "not ready: back to nurture")
    add(mql_idx[reject], "mql", "disqualified", review[reject], "sales", "rejected")
    # Converters: SAL -> SQL -> opportunity; sales-sourced ones skip MQL.
    in_mql = np.zeros(converts.size, dtype=bool)
    in_mql[mql_idx] = True
    opp_from_mql = opp_idx[in_mql[opp_idx]]
    sales_sourced = opp_idx[~in_mql[opp_idx]]
    add(opp_from_mql, "sal", "sql", opp_created[opp_from_mql] - 2 * DAY, "sales", "qualified")
    add(sales_sourced, "lead", "sql", opp_created[sales_sourced] - 2 * DAY, "sales", "sales-sourced")
    add(opp_idx, "sql", "opportunity", opp_created[opp_idx], "sales", "opportunity created")
    w = won[opp_idx] & is_closed
    lost = ~won[opp_idx] & is_closed
    add(opp_idx[w], "opportunity", "customer", closed[w], "sales", "closed won")
    add(opp_idx[lost], "opportunity", "recycled", closed[lost], "sales", "closed lost")
    idx = np.concatenate(lead_col)
    when = np.concatenate(at)
    stage_changes = pa.table(
        {
            "lead_id": pc.take(lead_ids, idx),
            "from_stage": np.concatenate(frm).astype(str),
            "to_stage": np.concatenate(to).astype(str),
            "changed_at": _ts(when),
            "actor": np.concatenate(actor).astype(str),
            "reason": np.concatenate(reason).astype(str),
            "run_id": pa.nulls(idx.size, pa.string()),
        }
    )
    # Feedback: the verdict with a reason drawn from what is wrong with the lead.
    reps = np.array([f"rep-{i:02d}" for i in range(1, 13)])
    rep = reps[rng.integers(0, reps.size, mql_idx.size)]
    action = np.where(accept, "accept", np.where(recycle, "recycle", "reject"))
    why = np.full(mql_idx.size, "", dtype=object)
    s = sen[mql_idx]
    why[~accept] = rng.choice(
        np.array(W.REJECT_REASONS[:3] + W.REJECT_REASONS[6:], dtype=object),
        size=int((~accept).sum()),
    )
    why[~accept & (bud[mql_idx] == 2)] = "no budget"
    why[~accept & (s == 5)] = "student or job seeker"
    why[~accept & free_mail[mql_idx]] = "personal email"
    why[~accept & competitor[mql_idx]] = "competitor"
    why[accept] = ""
    adjust = accept & (rng.random(mql_idx.size) < 0.04)
    fb_idx = np.concatenate((mql_idx, mql_idx[adjust]))
    fb_at = np.concatenate((review, review[adjust] + 3 * DAY))
    ok = fb_at < horizon
    feedback = pa.table(
        {
            "lead_id": pc.take(lead_ids, fb_idx[ok]),
            "given_at": _ts(fb_at[ok]),
            "actor": np.concatenate((rep, rep[adjust]))[ok].astype(str),
            "action": np.concatenate((action, np.full(int(adjust.sum()), "adjust")))[ok].astype(str),
            "reason": pa.array(
                np.concatenate((why, np.full(int(adjust.sum()), "engaged buying committee", dtype=object)))[
                    ok
                ].astype(str)
            ).cast(pa.string()),
            "points": pa.array(
                np.concatenate((np.full(mql_idx.size, np.nan), np.full(int(adjust.sum()), 10.0)))[ok],
                from_pandas=True,
            ),
        }
    )
    feedback = feedback.set_column(
        4,
        "reason",
        pc.if_else(pc.equal(feedback["reason"], ""), pa.scalar(None, pa.string()), feedback["reason"]),
    )
    return stage_changes, feedback


def _spend(
    chan: np.ndarray,
    camp: np.ndarray,
    camp_names: list[str],
    t: np.ndarray,
    cost: np.ndarray,
    horizon: float,
) -> pa.Table:
    """Monthly spend per campaign: touch costs plus each channel's fixed programme cost."""
    month = np.minimum((t / (30.44 * DAY)).astype(np.int64), MONTHS - 1)
    key = camp * MONTHS + month
    amount = np.bincount(key, weights=np.nan_to_num(cost), minlength=len(camp_names) * MONTHS)
    seen = np.bincount(key, minlength=len(camp_names) * MONTHS) > 0
    keys = np.flatnonzero(seen)
    c_idx, m_idx = keys // MONTHS, keys % MONTHS
    chan_of_camp = np.array([i for i, _ in enumerate(W.CHANNELS) for _ in range(6 * len(W.CAMPAIGN_THEMES))])
    fixed = np.array([c.monthly_fixed_cost for c in W.CHANNELS])[chan_of_camp[c_idx]] / 2
    starts = np.array([np.datetime64(START, "M") + np.timedelta64(int(m), "M") for m in range(MONTHS + 1)])
    period_start = starts[m_idx].astype("datetime64[us]")
    period_end = starts[m_idx + 1].astype("datetime64[us]") - np.timedelta64(1, "s")
    return pa.table(
        {
            "channel": [W.CHANNELS[i].name for i in chan_of_camp[c_idx]],
            "campaign": [camp_names[i] for i in c_idx],
            "period_start": pa.array(period_start, pa.timestamp("us")),
            "period_end": pa.array(period_end, pa.timestamp("us")),
            "amount": np.round(amount[keys] + fixed, 2),
            "currency": ["USD"] * keys.size,
        }
    )
