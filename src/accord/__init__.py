"""Accord: lead scoring and multi-touch attribution that sales and marketing agree on.

The front door::

    import accord
    store = accord.connect()                       # accord.duckdb in the working directory
    accord.load_file(store, "leads", "contacts.csv", "hubspot-contacts")
    funnel = accord.generate(leads=20_000, seed=7)  # synthetic data with ground truth

Scoring lives in :mod:`accord.scoring` (with the pact in :mod:`accord.pact`), attribution in
:mod:`accord.attribution` (``journeys_from_store``, ``run_models``), and the evidence for the
review meeting in :mod:`accord.evaluation` (``backtest``, ``compare_pacts``, ``learn_from_store``).
"""

from accord.errors import AccordError
from accord.model import TABLES
from accord.store import Store, connect, load_file, load_folder
from accord.synth import generate

__version__ = "0.1.0"

__all__ = [
    "TABLES",
    "AccordError",
    "Store",
    "__version__",
    "connect",
    "generate",
    "load_file",
    "load_folder",
]
