"""Fit-rule operators: one small class each, in a registry keyed by the YAML word.

Each operator knows how to test a value in Python (the online scorer) and how
to build the same test as an Ibis expression (the batch scorer), so the two
can never disagree about what a rule means.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import ibis
import ibis.expr.types as ir
from typing_extensions import override

from accord.model.fields import number_expr, number_value


class Operator:
    """A test of one field against the rule's operand."""

    lookup_name: ClassVar[str]
    numeric: ClassVar[bool] = False
    """Whether the field is compared as a number."""

    def __init__(self, operand: Any) -> None:
        self.operand = operand

    def check(self) -> str | None:
        """What is wrong with the operand, or None."""
        return None

    def test(self, value: Any) -> bool:
        """The rule's test on one Python value (None when the field is missing)."""
        raise NotImplementedError

    def expr(self, value: ir.Value) -> ir.BooleanValue:
        """The same test as an Ibis expression (null-safe: a missing value is False)."""
        raise NotImplementedError


def _norm(v: Any) -> Any:
    return v.lower() if isinstance(v, str) else v


class Equals(Operator):
    """The field equals the operand (numbers as numbers, text case-insensitively)."""

    lookup_name = "equals"

    @override
    def test(self, value: Any) -> bool:
        if _is_number(value):
            target = number_value(self.operand)
            return target is not None and float(value) == target
        return value is not None and _norm(_as_text(value)) == _norm(_as_text(self.operand))

    @override
    def expr(self, value: ir.Value) -> ir.BooleanValue:
        if value.type().is_numeric():
            target = number_value(self.operand)
            if target is None:
                return ibis.literal(False)
            return (value.cast("float64") == target).fill_null(False)
        return (value.cast("string").lower() == str(_as_text(self.operand)).lower()).fill_null(False)


class In(Operator):
    """The field is one of a list (case-insensitive)."""

    lookup_name = "in"

    @override
    def check(self) -> str | None:
        return None if isinstance(self.operand, list) and self.operand else "needs a non-empty list"

    def _values(self) -> list[str]:
        return [str(_as_text(v)).lower() for v in self.operand]

    def _numbers(self) -> list[float]:
        return [n for n in (number_value(v) for v in self.operand) if n is not None]

    @override
    def test(self, value: Any) -> bool:
        if _is_number(value):
            return float(value) in self._numbers()
        return value is not None and str(_as_text(value)).lower() in self._values()

    @override
    def expr(self, value: ir.Value) -> ir.BooleanValue:
        if value.type().is_numeric():
            nums = self._numbers()
            return value.cast("float64").isin(nums).fill_null(False) if nums else ibis.literal(False)
        return value.cast("string").lower().isin(self._values()).fill_null(False)


class NotIn(In):
    """The field is present and not one of a list."""

    lookup_name = "not_in"

    @override
    def test(self, value: Any) -> bool:
        return value is not None and not super().test(value)

    @override
    def expr(self, value: ir.Value) -> ir.BooleanValue:
        return (~super().expr(value)) & value.notnull()


class Between(Operator):
    """min <= field <= max; either bound may be null (open)."""

    lookup_name = "between"
    numeric = True

    @override
    def check(self) -> str | None:
        ok = (
            isinstance(self.operand, list)
            and len(self.operand) == 2
            and all(b is None or isinstance(b, int | float) for b in self.operand)
            and any(b is not None for b in self.operand)
        )
        if not ok:
            return "needs [min, max] with numbers (null for an open end)"
        lo, hi = self.operand
        if lo is not None and hi is not None and lo > hi:
            return f"min {lo} is above max {hi}"
        return None

    @override
    def test(self, value: Any) -> bool:
        x = number_value(value)
        if x is None:
            return False
        lo, hi = self.operand
        return (lo is None or x >= lo) and (hi is None or x <= hi)

    @override
    def expr(self, value: ir.Value) -> ir.BooleanValue:
        x = number_expr(value)
        lo, hi = self.operand
        cond = ibis.literal(True)
        if lo is not None:
            cond = cond & (x >= lo)
        if hi is not None:
            cond = cond & (x <= hi)
        return cond.fill_null(False)


class Contains(Operator):
    """The field contains the text (case-insensitive)."""

    lookup_name = "contains"

    @override
    def test(self, value: Any) -> bool:
        return value is not None and str(self.operand).lower() in str(_as_text(value)).lower()

    @override
    def expr(self, value: ir.Value) -> ir.BooleanValue:
        return value.cast("string").lower().contains(str(self.operand).lower()).fill_null(False)


class Regex(Operator):
    """The field matches a regular expression (case-insensitive, anywhere)."""

    lookup_name = "regex"

    @override
    def check(self) -> str | None:
        try:
            re.compile(str(self.operand))
        except re.error as exc:
            return f"is not a valid regular expression: {exc}"
        return None

    @override
    def test(self, value: Any) -> bool:
        return value is not None and re.search(str(self.operand), str(_as_text(value)), re.I) is not None

    @override
    def expr(self, value: ir.Value) -> ir.BooleanValue:
        # (?i) is understood alike by DuckDB (RE2), PostgreSQL and Spark (Java).
        return value.cast("string").re_search(f"(?i){self.operand}").fill_null(False)


class IsMissing(Operator):
    """The field is empty (operand true) or present (operand false)."""

    lookup_name = "is_missing"

    @override
    def check(self) -> str | None:
        return None if isinstance(self.operand, bool) else "needs true or false"

    @override
    def test(self, value: Any) -> bool:
        missing = value is None or (isinstance(value, str) and value.strip() == "")
        return missing if self.operand else not missing

    @override
    def expr(self, value: ir.Value) -> ir.BooleanValue:
        missing = value.isnull() | (value.cast("string").strip() == "")
        return missing.fill_null(True) if self.operand else ~missing.fill_null(True)


class EmailDomainIn(In):
    """The email's domain is one of a list (free mail, competitors)."""

    lookup_name = "email_domain_in"

    @override
    def test(self, value: Any) -> bool:
        if value is None or "@" not in str(value):
            return False
        domain = str(value).rsplit("@", 1)[1].lower()
        return domain != "" and domain in self._values()

    @override
    def expr(self, value: ir.Value) -> ir.BooleanValue:
        # The text after the last "@" is a domain d (non-empty, no "@") exactly when the address
        # ends with "@d": suffix tests, far cheaper on engines than extracting it with a regex.
        text = value.cast("string").lower()
        ends = [text.endswith("@" + d) for d in self._values() if d and "@" not in d]
        return ibis.or_(*ends).fill_null(False) if ends else ibis.literal(False)


OPERATORS: dict[str, type[Operator]] = {
    cls.lookup_name: cls for cls in (Equals, In, NotIn, Between, Contains, Regex, IsMissing, EmailDomainIn)
}
"""Every fit-rule operator by its YAML name."""


def _as_text(v: Any) -> Any:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return v if isinstance(v, str) else str(v)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)
