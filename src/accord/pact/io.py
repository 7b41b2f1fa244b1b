"""Read a pact from YAML, refusing a wrong one with file, line, rule, problem and valid choices."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from accord.errors import PactError
from accord.pact.operators import OPERATORS
from accord.pact.schema import FIT_FIELD_TABLES, Pact, ScoreModel, fit_field_columns

Lines = dict[tuple[str | int, ...], int]


def _compose(text: str, where: str) -> tuple[Any, Lines]:
    """Parse YAML into Python values plus the line of every key and list item."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise PactError(f"{where}{line}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    lines: Lines = {}

    def walk(n: Any, path: tuple[str | int, ...]) -> Any:
        lines[path] = n.start_mark.line + 1
        if isinstance(n, yaml.MappingNode):
            out: dict[Any, Any] = {}
            for k, v in n.value:
                key = _scalar(k)
                if key in out:
                    raise PactError(f"{where}:{k.start_mark.line + 1}: key {key!r} appears twice")
                lines[(*path, key)] = k.start_mark.line + 1
                out[key] = walk(v, (*path, key))
            return out
        if isinstance(n, yaml.SequenceNode):
            return [walk(v, (*path, i)) for i, v in enumerate(n.value)]
        return _scalar(n)

    return (walk(node, ()) if node is not None else {}), lines


def _scalar(n: Any) -> Any:
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(n, deep=True)
    finally:
        loader.dispose()


def _line(lines: Lines, path: tuple[str | int, ...]) -> int | None:
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return lines.get(())


class _Errors:
    """Collects every problem with its location, to refuse a pact once with all of them."""

    def __init__(self, where: str, data: Any, lines: Lines) -> None:
        self.where, self.data, self.lines = where, data, lines
        self.items: list[str] = []

    def add(self, path: tuple[str | int, ...], message: str) -> None:
        line = _line(self.lines, path)
        rule = _rule_id(self.data, path)
        loc = f"{self.where}:{line}" if line else self.where
        self.items.append(f"{loc}: {f'rule {rule!r}: ' if rule else ''}{message}")

    def raise_if_any(self) -> None:
        if self.items:
            raise PactError("\n".join(self.items))


def _rule_id(data: Any, path: tuple[str | int, ...]) -> str | None:
    """The id of the rule a path points into, if any."""
    node = data
    found = None
    for p in path:
        try:
            node = node[p]
        except (KeyError, IndexError, TypeError):
            break
        if isinstance(node, dict) and "id" in node and isinstance(p, int):
            found = str(node["id"])
    return found


def _lift_operators(data: Any, errors: _Errors) -> None:
    """Turn each fit rule's one operator key (`in: [...]`) into `op` and `operand`."""
    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, dict):
        return
    for mname, model in models.items():
        rules = (model or {}).get("fit", {}).get("rules", []) if isinstance(model, dict) else []
        for i, rule in enumerate(rules if isinstance(rules, list) else []):
            if not isinstance(rule, dict):
                continue
            path = ("models", mname, "fit", "rules", i)
            known = {"id", "description", "field", "points", "op", "operand"}
            ops = [k for k in rule if k not in known]
            if "op" in rule:
                continue
            if len(ops) != 1:
                what = "no operator" if not ops else f"several operators ({', '.join(ops)})"
                errors.add(path, f"has {what}; give exactly one of: {', '.join(OPERATORS)}")
                rule["op"] = "equals"
                continue
            op = ops[0]
            if op not in OPERATORS:
                errors.add((*path, op), f"unknown operator {op!r}; valid: {', '.join(OPERATORS)}")
            rule["operand"] = rule.pop(op)
            rule["op"] = op


def parse_pact(text: str, where: str = "<pact>") -> Pact:
    """Parse and validate pact YAML text; raise PactError naming every problem."""
    data, lines = _compose(text, where)
    if not isinstance(data, dict):
        raise PactError(f"{where}: a pact is a YAML mapping with keys pact, version, models, definitions")
    errors = _Errors(where, data, lines)
    _lift_operators(data, errors)
    errors.raise_if_any()
    try:
        pact = Pact.model_validate(data)
    except ValidationError as exc:
        for e in exc.errors():
            path = tuple(e["loc"])
            msg = e["msg"].removeprefix("Value error, ")
            if e["type"] == "extra_forbidden":
                msg = f"unknown key {path[-1]!r}"
            elif e["type"] == "literal_error":
                msg = f"{msg} (got {e.get('input')!r})"
            elif e["type"] == "missing":
                msg = f"missing required key {path[-1]!r}"
            errors.add(path, f"{'.'.join(str(p) for p in path)}: {msg}")
        errors.raise_if_any()
        raise
    _check_semantics(pact, errors)
    errors.raise_if_any()
    return pact


def load_pact(path: str | Path) -> Pact:
    """Read and validate a pact file."""
    p = Path(path)
    if not p.exists():
        raise PactError(f"{p}: no such pact file")
    return parse_pact(p.read_text(encoding="utf-8"), str(p))


def _check_semantics(pact: Pact, errors: _Errors) -> None:
    seen: dict[str, tuple[str | int, ...]] = {}
    for mname, model in pact.models.items():
        for section in ("fit", "engagement"):
            for i, rule in enumerate(getattr(model, section).rules):
                path: tuple[str | int, ...] = ("models", mname, section, "rules", i)
                if rule.id in seen:
                    errors.add(
                        (*path, "id"),
                        f"duplicate rule id {rule.id!r} (also at line {_line(errors.lines, seen[rule.id])})",
                    )
                else:
                    seen[rule.id] = path
        for i, fr in enumerate(model.fit.rules):
            path = ("models", mname, "fit", "rules", i)
            parts = fr.field.split(".")
            if parts[0] not in FIT_FIELD_TABLES or len(parts) < 2:
                errors.add(
                    (*path, "field"),
                    f"unknown field {fr.field!r}: use lead.<column>, account.<column> "
                    "or lead.properties.<name>",
                )
                continue
            cols = fit_field_columns(parts[0])
            if parts[1] not in cols or (parts[1] == "properties") != (len(parts) == 3) or len(parts) > 3:
                valid = ", ".join(f"{parts[0]}.{c}" for c in cols if c != "properties")
                errors.add(
                    (*path, "field"),
                    f"unknown field {fr.field!r}; valid: {valid}, {parts[0]}.properties.<name>",
                )
                continue
            op = OPERATORS.get(fr.op)
            if op is not None and (problem := op(fr.operand).check()):
                errors.add((*path, fr.op), f"operator {fr.op!r} {problem}")
    mql = pact.definitions.mql
    if mql.model not in pact.models:
        errors.add(
            ("definitions", "mql", "model"), f"no score model {mql.model!r}; models: {', '.join(pact.models)}"
        )
        return
    model = pact.models[mql.model]
    if mql.min_score is not None:
        best = max_score(model)
        if mql.min_score > best:
            errors.add(
                ("definitions", "mql", "min_score"),
                f"MQL threshold {mql.min_score:g} is unreachable: the most a lead can score in model "
                f"{mql.model!r} is {best:g}",
            )
    if mql.grades is not None:
        fit_max = sum(max(r.points, 0) for r in model.fit.rules)
        need = min((model.fit.grades.get(g, -math.inf) for g in mql.grades if g != "D"), default=-math.inf)
        if "D" not in mql.grades and fit_max < need:
            errors.add(
                ("definitions", "mql", "grades"),
                f"MQL grades {mql.grades} are unreachable: the best fit is {fit_max:g}, "
                f"below the {need:g} they need",
            )


def max_score(model: ScoreModel) -> float:
    """The most any lead can score (infinite when a positive engagement rule has no cap)."""
    fit = sum(max(r.points, 0) for r in model.fit.rules)
    eng = 0.0
    for r in model.engagement.rules:
        if r.points <= 0:
            continue
        if r.cap is None:
            eng = math.inf
            break
        windows = math.ceil(model.engagement.lookback_days / r.cap.per_days)
        eng += r.points * r.cap.max * windows
    total = fit + eng
    if model.total.ceiling is not None:
        total = min(total, model.total.ceiling)
    return total
