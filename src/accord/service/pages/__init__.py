"""The dashboard: pages for reps and marketers, rendered from the use cases' typed results.

Signing in with an API key makes a session cookie (HttpOnly, SameSite=Strict). Pages read
through `workflows.dashboard`; their buttons call the JSON API with the session's CSRF token,
so the API's role checks are the only ones. Scripts and styles are served from the package.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from importlib import resources
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from accord.errors import AccordError, outcome
from accord.model.vocab import Conversion
from accord.report import charts as ch
from accord.service.deps import COOKIE, AppState, State, signed_in
from accord.workflows.access import Permission, Session, sign_in, sign_out
from accord.workflows.live import now

router = APIRouter(include_in_schema=False)
T = TypeVar("T")

VENDOR = {"vega": "vendor/vega-6.2.0.min.js", "vega_lite": "vendor/vega-lite-6.4.1.min.js"}
STATIC_MAX_AGE = 86_400
CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-eval'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
"""Vega compiles chart expressions with `Function`: hence 'unsafe-eval'; nothing inline, nothing remote."""

NAV = [
    ("/", "Overview"),
    ("/queue", "MQL queue"),
    ("/scores", "Scores"),
    ("/attribution", "Attribution"),
    ("/pact", "Pact"),
    ("/feedback", "Feedback"),
]


def _env() -> Environment:
    folder = str(resources.files("accord.service.pages") / "templates")
    env = Environment(
        loader=FileSystemLoader(folder),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
    )
    env.filters["pct"] = ch.pct
    env.filters["num"] = ch.num
    env.filters["day"] = lambda d: "\u2013" if d is None else f"{d:%d %b %Y}"
    env.filters["when"] = lambda d: "\u2013" if d is None else f"{d:%d %b %Y %H:%M}"
    env.filters["signed"] = lambda x: f"{x:+.1f}"
    return env


ENV = _env()


def html(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A page from its template, with the layout's context (who is signed in, the nav, the token)."""
    t = ENV.get_template(name)
    user: Session | None = getattr(request.state, "session", None)
    context.setdefault("title", "Sign in" if user is None else "Accord")
    body = t.render(
        user=user,
        nav=NAV,
        path=request.url.path,
        vendor=VENDOR,
        may_feedback=user is not None and user.who.may(Permission.FEEDBACK),
        may_approve=user is not None and user.who.may(Permission.PACT_APPROVE),
        may_activate=user is not None and user.who.may(Permission.PACT_ACTIVATE),
        **context,
    )
    headers = {"Content-Security-Policy": CSP, "Cache-Control": "no-store"}
    began = getattr(request.state, "began", None)
    if began is not None:  # from the sign-in check to the rendered page: what the benchmark reads
        headers["Server-Timing"] = f"app;dur={(time.perf_counter() - began) * 1000:.1f}"
    return HTMLResponse(body, status, headers=headers)


_FIGURES: dict[tuple[str, Any, str], list[ch.Figure]] = {}
_FIGURES_KEPT = 64


def kept_figures(kept: Any, name: str, build: Callable[[], list[ch.Figure]]) -> list[ch.Figure]:
    """Charts of a kept result, built once per computation of it (Altair takes 20-40 ms a chart)."""
    key = (kept.key, kept.computed_at, name)
    found = _FIGURES.get(key)
    if found is None:
        found = _FIGURES[key] = build()
        while len(_FIGURES) > _FIGURES_KEPT:
            _FIGURES.pop(next(iter(_FIGURES)))
    return found


class SignIn(Exception):
    """Raised by a page without a session: the handler sends the browser to /login."""

    def __init__(self, target: str) -> None:
        super().__init__(target)
        self.target = target


def user(request: Request, s: AppState) -> Session:
    """The signed-in user of a page, or a redirect to the sign-in page."""
    request.state.began = time.perf_counter()
    token = request.cookies.get(COOKIE)
    found = signed_in(s, token) if token else None
    if found is None:
        raise SignIn(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
    request.state.session = found
    return found


User = Annotated[Session, Depends(user)]


async def _show(request: Request, name: str, build: Callable[[], dict[str, Any]]) -> HTMLResponse:
    """Build a page's context off the event loop; an Accord error becomes a page that says it."""
    try:
        context = await run_in_threadpool(build)
    except AccordError as exc:
        o = outcome(exc)
        return html(request, "error.html.j2", o.http_status, title=o.title, detail=str(exc))
    return html(request, name, **context)


# ------------------------------------------------------------------------------ sign in
_NEXT = re.compile(r"^/(?!/)[^\s\\]*$")


def _safe_next(target: str | None) -> str:
    return target if target and _NEXT.match(target) and not target.startswith("/login") else "/"


LOGIN_COOKIE = "accord_login"
"""The sign-in form's own token (double submit): a form posted from another site cannot sign you in."""


def _login_form(request: Request, status: int, target: str, error: str | None) -> HTMLResponse:
    import secrets

    token = secrets.token_urlsafe(24)
    out = html(request, "login.html.j2", status, target=target, error=error, login_token=token)
    out.set_cookie(LOGIN_COOKIE, token, max_age=3600, httponly=True, samesite="strict", path="/login")
    return out


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, next: str | None = None) -> HTMLResponse:
    """The sign-in form."""
    return _login_form(request, 200, _safe_next(next), None)


@router.post("/login", response_model=None)
async def login(
    request: Request,
    s: AppState,
    key: Annotated[str, Form(max_length=200)],
    token: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    """Trade an API key for a session cookie."""
    import secrets

    sent = request.cookies.get(LOGIN_COOKIE, "")
    if not (sent and token and secrets.compare_digest(sent.encode(), token.encode())):
        why = "This sign-in form has expired or came from another page: sign in again."
        return _login_form(request, 403, _safe_next(next), why)
    made = await run_in_threadpool(lambda: sign_in(s.rows, key.strip(), now=now()))
    if made is None:
        return _login_form(request, 401, _safe_next(next), "This key is unknown or revoked.")
    token, session = made
    out = RedirectResponse(_safe_next(next), status_code=303)
    out.delete_cookie(LOGIN_COOKIE, path="/login")
    out.set_cookie(
        COOKIE,
        token,
        max_age=int((session.expires_at - now()).total_seconds()),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return out


@router.post("/logout", response_model=None)
async def logout(
    request: Request, s: AppState, who: User, csrf: Annotated[str, Form(max_length=200)]
) -> Response:
    """End the session (the form carries the CSRF token)."""
    import secrets

    if not secrets.compare_digest(csrf.encode(), who.csrf.encode()):
        return html(
            request, "error.html.j2", 403, title="Forbidden", detail="The sign-out form was not this page's."
        )
    token = request.cookies.get(COOKIE, "")
    await run_in_threadpool(lambda: sign_out(s.rows, token, now=now()))
    s.sessions.clear()
    out = RedirectResponse("/login", status_code=303)
    out.delete_cookie(COOKIE, path="/")
    return out


# ------------------------------------------------------------------------------ pages
def _capacity(s: State) -> float | None:
    return s.settings.capacity


@router.get("/", response_class=HTMLResponse)
async def overview_page(request: Request, s: AppState, who: User) -> HTMLResponse:
    """The funnel and this month's MQLs against capacity."""
    from accord.workflows import dashboard as d

    def build() -> dict[str, Any]:
        at = now()
        v = d.overview(s.rows, s.live, _capacity(s), at)
        job = v.fresh.running or (_auto_review(s, who) if v.fresh.due else None)
        figs = [ch.mqls_by_month(v.by_month, v.capacity)]
        if v.review is not None:
            f = v.review.value.funnel.report
            figs += kept_figures(
                v.review,
                "funnel",
                lambda: [ch.funnel_stages(f), ch.funnel_by_month(f), ch.funnel_by_source(f)],
            )
        return {"v": v, "figs": figs, "job": job, "title": "Overview"}

    return await _show(request, "overview.html.j2", build)


def _auto_review(s: State, who: Session) -> Any:
    """Start recomputing the review (the page shows the kept one meanwhile)."""
    from accord.workflows.insights import refresh_review
    from accord.workflows.review import ReviewSpec

    try:
        basis = s.live.active().content_hash
    except AccordError:
        return None  # no active pact: nothing to review yet
    return refresh_review(s.rows, s.store, ReviewSpec(capacity=_capacity(s)), basis, by=who.who.name, now=now)


@router.get("/queue", response_class=HTMLResponse)
async def queue_page(
    request: Request,
    s: AppState,
    _: User,
    owner: Annotated[str | None, Query(max_length=200)] = None,
    grade: Annotated[str | None, Query(max_length=1)] = None,
    band: Annotated[str | None, Query(max_length=1)] = None,
    account: Annotated[str | None, Query(max_length=200)] = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> HTMLResponse:
    """The MQLs sales should call, best first, with their sentences and verdict buttons."""
    from accord.workflows import dashboard as d

    filters = {
        "owner": owner or None,
        "grade": grade if grade in ("A", "B", "C", "D") else None,
        "band": int(band) if band in ("1", "2", "3", "4") else None,
        "account": account or None,
    }

    def build() -> dict[str, Any]:
        v = d.queue(s.live, cursor=cursor or None, limit=25, **filters)
        return {"v": v, "filters": filters, "title": "MQL queue"}

    return await _show(request, "queue.html.j2", build)


@router.get("/leads/{lead_id}", response_class=HTMLResponse)
async def lead_page(request: Request, lead_id: str, s: AppState, _: User) -> HTMLResponse:
    """One lead: the explanation, the score over time, touches, verdicts, colleagues."""
    from accord.workflows import dashboard as d

    def build() -> dict[str, Any]:
        v = d.lead_page(s.rows, s.live, lead_id, now())
        figs = [ch.score_over_time(v.history), ch.touch_timeline(v.touches)]
        return {"v": v, "figs": figs, "title": f"Lead {lead_id}"}

    return await _show(request, "lead.html.j2", build)


@router.get("/scores", response_class=HTMLResponse)
async def scores_page(request: Request, s: AppState, who: User) -> HTMLResponse:
    """Score distribution now; conversion by grade and band and calibration on history."""
    from accord.workflows import dashboard as d

    def build() -> dict[str, Any]:
        v = d.scores(s.rows, s.live, now())
        job = v.fresh.running or (_auto_review(s, who) if v.fresh.due else None)
        figs = [ch.score_distribution(v.buckets), ch.grade_band_counts(v.grid)]
        if v.review is not None:
            m = v.review.value.history.metrics
            figs += kept_figures(
                v.review, "history", lambda: [ch.grade_band_heatmap(m), ch.calibration(m), ch.gains(m)]
            )
        return {"v": v, "figs": figs, "job": job, "title": "Scores"}

    return await _show(request, "scores.html.j2", build)


@router.get("/attribution", response_class=HTMLResponse)
async def attribution_page(
    request: Request,
    s: AppState,
    who: User,
    conversion: Annotated[Conversion, Query()] = Conversion.WON,
    lookback: Annotated[str, Query(max_length=10)] = "all",
    by: Annotated[str, Query(max_length=20)] = "channel",
    model: Annotated[str | None, Query(max_length=60)] = None,
) -> HTMLResponse:
    """Every model side by side for the chosen conversion, lookback and grouping."""
    from accord.workflows import dashboard as d
    from accord.workflows.insights import GROUPINGS, LOOKBACKS, refresh_credit

    days = None if lookback == "all" else _float(lookback)
    days = days if days in LOOKBACKS else None
    group = by if by in GROUPINGS else "channel"

    def build() -> dict[str, Any]:
        v = d.attribution(s.rows, s.live, now(), conversion, days, group, model)
        job = v.fresh.running
        if job is None and v.fresh.due:
            try:
                basis = s.live.active().content_hash
            except AccordError:
                basis = None
            job = refresh_credit(s.rows, s.store, conversion, days, group, basis, by=who.who.name, now=now)
        figs: list[ch.Figure] = []
        chosen, table = None, []
        if v.credit is not None:
            c = v.credit.value
            chosen = model if model in c.result.models else c.reference_model
            table = d.model_credit(c, chosen)
            total = float(c.result.journeys.get("value") or 0.0)

            def credit_figures() -> list[ch.Figure]:
                out = [ch.credit_heatmap(d.top_groups(c), total)]
                if c.teams:
                    out.append(ch.team_bars(c.teams, total))
                if c.roi:
                    out.append(ch.roi_bars(c.roi, c.reference_model))
                return out

            figs = kept_figures(v.credit, "credit", credit_figures)
        return {
            "v": v,
            "figs": figs,
            "job": job,
            "chosen": chosen,
            "table": table,
            "groupings": GROUPINGS,
            "lookbacks": LOOKBACKS,
            "conversions": [c.value for c in Conversion],
            "title": "Attribution",
        }

    return await _show(request, "attribution.html.j2", build)


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


@router.get("/pact", response_class=HTMLResponse)
async def pact_page(
    request: Request, s: AppState, _: User, draft: Annotated[str | None, Query(max_length=100)] = None
) -> HTMLResponse:
    """The pact in force in words; a draft's diff and back-test; approvals; approve and activate."""
    from accord.service.api.pacts import heavy
    from accord.workflows import dashboard as d

    try:
        v = await heavy(s, lambda: d.pact_page(s.rows, s.store, s.live, draft))
    except AccordError as exc:
        o = outcome(exc)
        return html(request, "error.html.j2", o.http_status, title=o.title, detail=str(exc))
    figs = [ch.proposal_metrics(v.proposal.comparison)] if v.proposal is not None else []
    return html(request, "pact.html.j2", v=v, figs=figs, title="Pact")


@router.get("/feedback", response_class=HTMLResponse)
async def feedback_page(request: Request, s: AppState, who: User) -> HTMLResponse:
    """Rejection and recycle reasons over time, by rule and rep; rules the outcomes contradict."""
    from accord.workflows import dashboard as d

    def build() -> dict[str, Any]:
        v = d.feedback(s.rows, s.live, now())
        job = v.fresh.running or (_auto_review(s, who) if v.fresh.due else None)
        figs: list[ch.Figure] = []
        f = v.review.value.feedback if v.review is not None else None
        if f is not None:
            fb = f
            figs = kept_figures(
                v.review,
                "feedback",
                lambda: (
                    [ch.verdicts_by_month(fb.by_month)] + ([ch.reasons(fb.reasons)] if fb.reasons else [])
                ),
            )
        return {"v": v, "f": f, "figs": figs, "job": job, "title": "Feedback"}

    return await _show(request, "feedback.html.j2", build)


@router.get("/report", response_model=None)
async def report(request: Request, s: AppState, _: User) -> Response:
    """The kept quarterly review as an HTML file to download."""
    from accord.workflows.insights import kept_report

    found = await run_in_threadpool(kept_report, s.rows)
    if found is None:
        return html(
            request,
            "error.html.j2",
            404,
            title="No review yet",
            detail="The review is being computed; the overview shows its progress. Try again in a minute.",
        )
    body, at = found
    name = f"accord-review-{at:%Y-%m-%d}.html"
    return HTMLResponse(body, headers={"Content-Disposition": f'attachment; filename="{name}"'})


def mount(app: Any) -> None:
    """Add the pages, their static files, and the sign-in redirect to `app`."""
    from fastapi.staticfiles import StaticFiles

    static = StaticFiles(directory=str(resources.files("accord.service.pages") / "static"))

    async def cached_static(scope: Any, receive: Any, send: Any) -> None:
        async def send_cached(message: Any) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"].append((b"cache-control", f"public, max-age={STATIC_MAX_AGE}".encode()))
            await send(message)

        await static(scope, receive, send_cached)

    app.mount("/static", cached_static, name="static")
    app.include_router(router)

    async def to_login(_: Request, exc: Exception) -> Response:
        from urllib.parse import quote

        target = exc.target if isinstance(exc, SignIn) else "/"
        return RedirectResponse(f"/login?next={quote(target, safe='/')}", status_code=303)

    app.add_exception_handler(SignIn, to_login)
