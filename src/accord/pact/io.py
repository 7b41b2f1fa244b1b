"""Read a pact from YAML, refusing a wrong one with file, line, rule, problem and valid choices."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from accord.errors import PactError
from accord.pact.operators import OPERATORS
from accord.pact.schema import FIT_FIELD_TABLES, Condition, Pact, ScoreModel, fit_field_columns

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
        path = self.yaml_path(path)
        line = _line(self.lines, path)
        rule = _rule_id(self.data, path)
        loc = f"{self.where}:{line}" if line else self.where
        self.items.append(f"{loc}: {f'rule {rule!r}: ' if rule else ''}{message}")

    def yaml_path(self, path: tuple[str | int, ...]) -> tuple[str | int, ...]:
        """A validated path as the YAML spells it: a rule's `conditions` are its `all:` or `any:`."""
        if "conditions" not in path:
            return path
        k = path.index("conditions")
        node = self.data
        for p in path[:k]:
            try:
                node = node[p]
            except (KeyError, IndexError, TypeError):
                return path
        combine = node.get("combine") if isinstance(node, dict) else None
        return (*path[:k], combine, *path[k + 1 :]) if combine in ("all", "any") else path

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
    """Turn each fit rule's one operator key (`in: [...]`) into `op` and `operand`.

    A compound rule's `all:` or `any:` list becomes its `conditions`, each lifted the same way;
    an engagement rule's list of touch conditions becomes its `conditions` too.
    """
    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, dict):
        return
    for mname, model in models.items():
        rules = (model or {}).get("fit", {}).get("rules", []) if isinstance(model, dict) else []
        for i, rule in enumerate(rules if isinstance(rules, list) else []):
            if not isinstance(rule, dict):
                continue
            path = ("models", mname, "fit", "rules", i)
            if _lift_compound(rule, path, errors, "conditions, each {field: ..., OPERATOR: ...}"):
                for j, cond in enumerate(rule.get("conditions", ())):
                    _lift_one(cond, (*path, rule["combine"], j), {"field"}, errors)
                    if not isinstance(cond.get("field"), str):
                        errors.add(
                            (*path, rule["combine"], j),
                            "a condition needs a field (lead.<column>, account.<column>)",
                        )
                continue
            _lift_one(rule, path, {"id", "description", "field", "points", "conditions", "combine"}, errors)
        rules = (model or {}).get("engagement", {}).get("rules", []) if isinstance(model, dict) else []
        for i, rule in enumerate(rules if isinstance(rules, list) else []):
            if isinstance(rule, dict):
                path = ("models", mname, "engagement", "rules", i)
                _lift_compound(rule, path, errors, "touch conditions, each {touch_type: ..., ...}")


def _lift_compound(rule: dict[str, Any], path: tuple[str | int, ...], errors: _Errors, shape: str) -> bool:
    """Whether a rule is compound: its `all:` or `any:` list becomes its `conditions` and `combine`.

    A wrong one is said in `errors` and counts as compound (there is nothing more to read in it).
    """
    compound = [k for k in ("all", "any") if k in rule]
    if len(compound) > 1:
        errors.add(path, "has both all: and any:; give one")
        return True
    if not compound:
        return False
    key = compound[0]
    conditions = rule.pop(key)
    if not isinstance(conditions, list) or not all(isinstance(c, dict) for c in conditions):
        errors.add((*path, key), f"{key}: takes a list of {shape}")
        return True
    rule["conditions"] = conditions
    rule["combine"] = key
    return True


def _lift_one(node: dict[str, Any], path: tuple[str | int, ...], known: set[str], errors: _Errors) -> None:
    if "op" in node:
        return
    ops = [k for k in node if k not in known | {"op", "operand"}]
    if len(ops) != 1:
        what = "no operator" if not ops else f"several operators ({', '.join(ops)})"
        errors.add(path, f"has {what}; give exactly one of: {', '.join(OPERATORS)}, or all: / any:")
        node["op"] = "equals"
        return
    op = ops[0]
    if op not in OPERATORS:
        errors.add((*path, op), f"unknown operator {op!r}; valid: {', '.join(OPERATORS)}")
    node["operand"] = node.pop(op)
    node["op"] = op


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
            path = errors.yaml_path(tuple(e["loc"]))
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
            for j, cond in enumerate(fr.tests):
                _check_condition(cond, (*path, fr.combine, j) if fr.conditions else path, errors)
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


def _check_condition(c: Condition, path: tuple[str | int, ...], errors: _Errors) -> None:
    parts = c.field.split(".")
    if parts[0] not in FIT_FIELD_TABLES or len(parts) < 2:
        errors.add(
            (*path, "field"),
            f"unknown field {c.field!r}: use lead.<column>, account.<column> or lead.properties.<name>",
        )
        return
    cols = fit_field_columns(parts[0])
    if parts[1] not in cols or (parts[1] == "properties") != (len(parts) == 3) or len(parts) > 3:
        valid = ", ".join(f"{parts[0]}.{col}" for col in cols if col != "properties")
        errors.add(
            (*path, "field"), f"unknown field {c.field!r}; valid: {valid}, {parts[0]}.properties.<name>"
        )
        return
    op = OPERATORS.get(c.op)
    if op is not None and (problem := op(c.operand).check()):
        errors.add((*path, c.op), f"operator {c.op!r} {problem}")


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
