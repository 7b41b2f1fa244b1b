"""The made-up B2B world the generator draws from, and its true causal effects.

Everything the ground truth reports is defined here, in one place, so a test
or a reader can see which attributes and touches really move conversion.
"""

from __future__ import annotations

from dataclasses import dataclass

from accord.model.tables import Team


@dataclass(frozen=True)
class Channel:
    """A channel: which touch types it produces, what a touch costs, and its true effect."""

    name: str
    team: Team
    touch_types: tuple[tuple[str, float], ...]
    cost_per_touch: float
    weight_cold: float
    """Share of touches from this channel for a lead with little interest."""
    weight_hot: float
    """Share for a lead with strong interest (retargeting and sales follow interest)."""
    effect: float
    """True log-odds effect on opportunity creation per log(1 + touches)."""
    monthly_fixed_cost: float = 0.0


CHANNELS: tuple[Channel, ...] = (
    Channel(
        "organic_search",
        Team.MARKETING,
        (("web_visit", 0.8), ("content_download", 0.2)),
        0.0,
        14,
        8,
        0.10,
    ),
    Channel("paid_search", Team.MARKETING, (("ad_click", 1.0),), 4.5, 12, 9, 0.22),
    Channel(
        "paid_social",
        Team.MARKETING,
        (("ad_click", 0.6), ("social_engagement", 0.4)),
        2.2,
        10,
        5,
        0.04,
    ),
    # Display follows interest (retargeting) but causes nothing: removal-effect
    # models credit it for being on converting paths; the truth gives it zero.
    Channel("display", Team.MARKETING, (("ad_impression", 0.85), ("ad_click", 0.15)), 0.6, 6, 16, 0.0),
    Channel(
        "email",
        Team.MARKETING,
        (("email_open", 0.62), ("email_click", 0.35), ("unsubscribe", 0.03)),
        0.05,
        16,
        12,
        0.07,
    ),
    Channel("webinar", Team.MARKETING, (("webinar", 1.0),), 35.0, 3, 7, 0.35, 2500.0),
    Channel("events", Team.MARKETING, (("event", 1.0),), 160.0, 1, 4, 0.45, 12000.0),
    Channel("content_syndication", Team.MARKETING, (("content_download", 1.0),), 28.0, 8, 3, 0.03),
    Channel("referral", Team.MARKETING, (("web_visit", 0.75), ("form_fill", 0.25)), 0.0, 3, 4, 0.30),
    Channel(
        "partner",
        Team.MARKETING,
        (("form_fill", 0.5), ("web_visit", 0.5)),
        40.0,
        2,
        3,
        0.28,
        4000.0,
    ),
    Channel("direct", Team.MARKETING, (("web_visit", 0.85), ("form_fill", 0.15)), 0.0, 9, 12, 0.12),
    Channel(
        "sales_outreach",
        Team.SALES,
        (("sales_email", 0.5), ("sales_call", 0.3), ("meeting", 0.14), ("demo", 0.06)),
        14.0,
        5,
        14,
        0.40,
    ),
)

PRICING_PAGE_EFFECT = 0.30
"""Extra log-odds per log(1 + visits to the pricing page), on top of the channel effect."""
UNSUBSCRIBE_EFFECT = -0.9
"""Log-odds of having unsubscribed (a negative signal the pact should learn)."""
PAGES: tuple[tuple[str, float, float], ...] = (
    # page, share for cold leads, share for hot leads
    ("/", 0.35, 0.15),
    ("/blog", 0.40, 0.20),
    ("/docs", 0.15, 0.25),
    ("/pricing", 0.10, 0.40),
)

INDUSTRIES: tuple[tuple[str, float, float, float], ...] = (
    # name, share, revenue per employee, log-odds effect
    ("fintech", 0.12, 310_000, 0.45),
    ("saas", 0.18, 240_000, 0.50),
    ("healthcare", 0.11, 180_000, 0.10),
    ("manufacturing", 0.14, 210_000, -0.10),
    ("retail", 0.13, 150_000, -0.30),
    ("education", 0.07, 90_000, -0.55),
    ("logistics", 0.08, 200_000, 0.05),
    ("media", 0.07, 160_000, -0.15),
    ("government", 0.04, 120_000, -0.45),
    ("consulting", 0.06, 190_000, 0.20),
)

SENIORITIES: tuple[tuple[str, float, float, str], ...] = (
    # level, share, log-odds effect, title word
    ("c_level", 0.05, 0.70, "Chief"),
    ("vp", 0.09, 0.75, "VP"),
    ("director", 0.16, 0.55, "Director"),
    ("manager", 0.28, 0.25, "Manager"),
    ("individual", 0.34, 0.0, "Specialist"),
    ("student", 0.08, -2.2, "Student"),
)

DEPARTMENTS: tuple[tuple[str, float, float], ...] = (
    ("marketing", 0.24, 0.35),
    ("sales", 0.18, 0.30),
    ("it", 0.16, 0.25),
    ("finance", 0.10, 0.05),
    ("operations", 0.12, 0.0),
    ("engineering", 0.12, 0.10),
    ("hr", 0.08, -0.35),
)

BUDGET: tuple[tuple[str, float, float], ...] = (
    ("approved", 0.15, 0.65),
    ("planned", 0.25, 0.30),
    ("none", 0.25, -0.55),
    ("unknown", 0.35, 0.0),
)
TIMELINE: tuple[tuple[str, float, float], ...] = (
    ("0-3 months", 0.12, 0.55),
    ("3-6 months", 0.18, 0.25),
    ("6-12 months", 0.20, 0.0),
    ("12+ months", 0.15, -0.40),
    ("unknown", 0.35, 0.0),
)
COUNTRIES: tuple[tuple[str, float], ...] = (
    ("US", 0.42),
    ("GB", 0.12),
    ("DE", 0.10),
    ("FR", 0.07),
    ("CA", 0.06),
    ("NL", 0.04),
    ("AU", 0.05),
    ("IN", 0.06),
    ("BR", 0.04),
    ("ES", 0.04),
)
FREE_MAIL_DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "hotmail.com")
FREE_MAIL_SHARE = 0.12
FREE_MAIL_EFFECT = -0.60
COMPETITOR_DOMAINS = ("rivalmetrics.com", "leadlytics.io")
COMPETITOR_SHARE = 0.006
COMPETITOR_EFFECT = -4.0
EMPLOYEE_SWEET_SPOT = (200, 5_000)
"""Accounts in this head-count range convert best (+0.45); under 20 worst (-0.6)."""

LEGACY_POINTS: dict[str, float] = {
    # The points of the marketing-automation score the company used to set MQLs.
    "web_visit": 2,
    "email_open": 1,
    "email_click": 4,
    "form_fill": 15,
    "content_download": 10,
    "webinar": 15,
    "event": 20,
    "ad_impression": 0,
    "ad_click": 3,
    "social_engagement": 2,
    "sales_email": 0,
    "sales_call": 5,
    "meeting": 10,
    "demo": 25,
    "unsubscribe": -20,
}
LEGACY_MQL_THRESHOLD = 60.0
REJECT_REASONS = (
    "no budget",
    "wrong persona",
    "not reachable",
    "student or job seeker",
    "competitor",
    "personal email",
    "already a customer",
    "timing: next year",
)
CAMPAIGN_THEMES = ("brand", "product", "retarget", "nurture")
