"""Attribution models, one small class each, found by name in :data:`MODELS`."""

from __future__ import annotations

import re
from typing import Any

from accord.attribution.models.base import AttributionModel
from accord.attribution.models.incrementality import Incrementality
from accord.attribution.models.markov import Markov
from accord.attribution.models.rules import RULE_MODELS, RuleModel
from accord.attribution.models.shapley import Shapley
from accord.errors import AttributionError

_ALL: tuple[type[AttributionModel], ...] = (*RULE_MODELS, Markov, Shapley, Incrementality)
MODELS: dict[str, type[AttributionModel]] = {cls.lookup_name: cls for cls in _ALL}
"""Every model by its lookup name (the one name tables and reports print)."""
ALIASES: dict[str, str] = {
    alias.lower(): cls.lookup_name
    for cls in _ALL
    for alias in (*cls.aliases, "u_shaped" if cls.lookup_name == "position" else "")
    if alias
}
"""Other names `-m` accepts: `first` for `first_touch`, `U` for `position`, ..."""

DEFAULT_COMPARISON = (
    "first_touch",
    "last_touch",
    "last_non_direct",
    "linear",
    "time_decay",
    "position",
    "w_shaped",
    "full_path",
    "markov",
    "shapley",
    "incrementality",
)
"""What `--compare` runs (models that need what the journeys lack are skipped with a note)."""

_SPEC = re.compile(r"^\s*([A-Za-z_]+)\s*(?:\((.*)\))?\s*$")


def _value(text: str) -> Any:
    text = text.strip()
    low = text.lower()
    if low in ("true", "yes"):
        return True
    if low in ("false", "no"):
        return False
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def make_model(spec: str | AttributionModel, **params: Any) -> AttributionModel:
    """A model from a name and parameters, e.g. ``markov(order=2)`` or ``time_decay(half_life_days=14)``."""
    if isinstance(spec, AttributionModel):
        return spec
    m = _SPEC.match(spec)
    if not m:
        raise AttributionError(f"cannot read model {spec!r}: write NAME or NAME(param=value, ...)")
    name, args = m.group(1), m.group(2)
    name = name if name in MODELS else ALIASES.get(name.lower(), name)
    cls = MODELS.get(name)
    if cls is None:
        raise AttributionError(f"unknown attribution model {name!r}; models: {', '.join(MODELS)}")
    kwargs = dict(params)
    for part in filter(None, (p.strip() for p in (args or "").split(","))):
        if "=" not in part:
            raise AttributionError(f"model {name}: parameter {part!r} needs a value (param=value)")
        key, val = part.split("=", 1)
        kwargs[key.strip()] = _value(val)
    try:
        return cls(**kwargs)
    except TypeError as exc:
        import inspect

        allowed = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
        raise AttributionError(f"model {name}: {exc}; parameters: {', '.join(allowed) or 'none'}") from None


def split_models(text: str) -> list[str]:
    """Split `a,b(x=1,y=2),c` at top-level commas."""
    out, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur)
    return [s.strip() for s in out if s.strip()]


__all__ = [
    "ALIASES",
    "DEFAULT_COMPARISON",
    "MODELS",
    "AttributionModel",
    "Incrementality",
    "Markov",
    "RuleModel",
    "Shapley",
    "make_model",
    "split_models",
]
