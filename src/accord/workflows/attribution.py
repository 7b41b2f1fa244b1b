"""Attribution use cases: every model on journeys from a file or the store, as typed results."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict

from accord.errors import AttributionError
from accord.model.json_types import Number
from accord.model.vocab import Conversion

if TYPE_CHECKING:
    import pandas as pd

    from accord.attribution import Attribution
    from accord.store.connection import Store


class CreditRow(BaseModel):
    """What one model credits one channel (or campaign, touch type, team) with."""

    model_config = ConfigDict(frozen=True, ser_json_inf_nan="null")

    model: str
    channel: str
    group: str | None = None
    """The campaign, touch type or team, when credit is broken down by one."""
    conversions: Number
    value: Number


class AttributionResult(BaseModel):
    """Every model's credit on the same journeys, with what the journeys held and what was left out."""

    model_config = ConfigDict(frozen=True, ser_json_inf_nan="null")

    source: str
    by: str
    journeys: dict[str, Number]
    """journeys, touches, conversions, value, non-conversions."""
    models: list[str]
    """The models that ran, by their one name (what `-m` takes)."""
    credit: list[CreditRow]
    skipped: dict[str, str]
    """Models left out, and why (a path file has no touch times for time decay, ...)."""
    notes: list[str]
    budget: str | None = None
    """The budget shift the incrementality intervals support, if any."""


@dataclass
class Attributed:
    """The typed result, and the domain objects a surface may render further (tables, team splits)."""

    result: AttributionResult
    attribution: Attribution
    teams: pd.DataFrame | None
    """Sourced and influenced conversions and value per team (store journeys with times)."""
    team_split: pd.DataFrame | None


def attribute(
    store_or_url: Store | str | None,
    source: Path | None,
    models: list[str],
    *,
    conversion: Conversion = Conversion.OPPORTUNITY,
    per: Literal["lead", "account"] = "lead",
    lookback_days: Number | None = None,
    lookback_touches: int | None = None,
    as_of: datetime | None = None,
    by: str = "channel",
    sep: str = ">",
    spend_file: Path | None = None,
    strict: bool = True,
    teams: bool = False,
    details: Path | None = None,
) -> Attributed:
    """Run `models` on journeys from `source` (a file) or the store, side by side."""
    from accord.attribution import (
        JourneySpec,
        journeys_from_file,
        journeys_from_store,
        run_models,
        spend_by_channel,
        team_credit,
        team_report,
    )
    from accord.attribution.compare import spend_from_file, write_details
    from accord.store import connect

    spec = JourneySpec(
        conversion=conversion,
        per=per,
        lookback_days=lookback_days,
        lookback_touches=lookback_touches,
        as_of=as_of,
    )
    spend = spend_from_file(str(spend_file)) if spend_file else None
    owned = None
    try:
        if source is not None:
            if conversion is not Conversion.OPPORTUNITY or per != "lead" or store_or_url is not None:
                raise AttributionError(
                    "--conversion, --per and --url apply to the store; a journey file carries its own "
                    "conversions (drop them, or omit the file to attribute the store)"
                )
            journeys = journeys_from_file(source, sep=sep, spec=spec)
        else:
            store = store_or_url if not isinstance(store_or_url, str | None) else connect(store_or_url)
            owned = store if store is not store_or_url else None
            journeys = journeys_from_store(store, spec)
            if spend is None:
                spend = spend_by_channel(store, end=spec.as_of)
        with journeys:
            where = journeys.source
            result = run_models(journeys, models, by=by, spend=spend, strict=strict)
            team_table = team_report(journeys) if teams and journeys.has_times and source is None else None
            split = team_credit(result, journeys) if team_table is not None else None
    finally:
        if owned is not None:
            owned.close()
    if details is not None:
        write_details(result, details)
    return Attributed(typed_result(result, by, where), result, team_table, split)


def typed_result(result: Attribution, by: str, source: str) -> AttributionResult:
    """The typed result of an attribution run (what the service returns and the report renders)."""
    group = by if by != "channel" and by in result.credit.columns else None
    rows = [
        CreditRow(
            model=str(r["model"]),
            channel=str(r["channel"]),
            group=None if group is None else str(r[group]),
            conversions=float(r["conversions"]),
            value=float(r["value"]),
        )
        for r in result.credit.to_dict(orient="records")
    ]
    return AttributionResult(
        source=source,
        by=by,
        journeys={k: float(v) for k, v in result.journeys.items() if isinstance(v, int | float)},
        models=list(result.models),
        credit=rows,
        skipped=dict(result.skipped),
        notes=list(result.notes),
        budget=result.budget_suggestion(),
    )
