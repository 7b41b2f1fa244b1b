"""Attribution: who gets credit for conversions and revenue, by every model, side by side.

Journeys are built on the engine (:mod:`.journeys`, :mod:`.inputs`); models are
small classes in a registry (:mod:`.models`); :mod:`.compare` runs them together.
"""

from accord.attribution.compare import Attribution, run_models, spend_by_channel, team_credit, team_report
from accord.attribution.inputs import journeys_from_file
from accord.attribution.journeys import (
    Conversion,
    Journeys,
    JourneySpec,
    journeys_from_store,
)
from accord.attribution.models import DEFAULT_COMPARISON, MODELS, make_model
from accord.errors import AttributionError

__all__ = [
    "DEFAULT_COMPARISON",
    "MODELS",
    "Attribution",
    "AttributionError",
    "Conversion",
    "JourneySpec",
    "Journeys",
    "journeys_from_file",
    "journeys_from_store",
    "make_model",
    "run_models",
    "spend_by_channel",
    "team_credit",
    "team_report",
]
