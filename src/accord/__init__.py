"""Accord: lead scoring and multi-touch attribution that sales and marketing agree on.

The front door::

    import accord
    with accord.connect() as store:                    # accord.duckdb in the working directory
        accord.load_file(store, "leads", "contacts.csv", "hubspot-contacts")
    funnel = accord.generate(leads=20_000, seed=7)     # synthetic data with ground truth

Scoring lives in :mod:`accord.scoring` (with the pact in :mod:`accord.pact`), attribution in
:mod:`accord.attribution` (``journeys_from_store``, ``run_models``), the evidence for the
review meeting in :mod:`accord.evaluation` (``backtest``, ``learn_from_store``, and
``compare_pacts`` in :mod:`accord.evaluation.compare`), and the use cases every surface calls
in :mod:`accord.workflows`. Names load on first use, so ``import accord`` stays quick.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_WHERE = {
    "TABLES": "accord.model",
    "AccordError": "accord.errors",
    "Store": "accord.store",
    "connect": "accord.store",
    "load_file": "accord.store",
    "load_folder": "accord.store",
    "generate": "accord.synth",
}

__all__ = ["TABLES", "AccordError", "Store", "__version__", "connect", "generate", "load_file", "load_folder"]

if TYPE_CHECKING:
    from accord.errors import AccordError
    from accord.model import TABLES
    from accord.store import Store, connect, load_file, load_folder
    from accord.synth import generate


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'accord' has no attribute {name!r}")
