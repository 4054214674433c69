"""Evaluate an offer's eligibility rules against the decision's context.

The context is one flat dict: customer features by name, request context under ``context.<key>``,
and ``channel`` / ``interaction``. List-valued features (products held) read naturally: ``in``
means "holds any of", ``not_in`` "holds none of", ``eq`` "holds".

Examples
--------
>>> from decisioning.offers import Rule
>>> ctx = {"products_held": ["mobile", "tv"], "tenure_months": 30, "channel": "web"}
>>> rules = [Rule("products_held", "not_in", ["fibre"]), Rule("tenure_months", "gte", 12)]
>>> [compile_rule(rule)(ctx) for rule in rules]
[True, True]
>>> compile_rule(Rule("channel", "eq", "app"))(ctx)
False
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .offers import Rule

__all__ = [
    "Predicate",
    "compile_rule",
    "describe",
]

Predicate = Callable[[Mapping[str, Any]], bool]


def _compare(left: Any, right: Any, op: str) -> bool:
    if isinstance(left, bool) or isinstance(right, bool):
        return False
    if isinstance(left, int | float) and isinstance(right, int | float):
        pass
    elif isinstance(left, str) and isinstance(right, str):
        pass  # ISO dates compare as strings
    else:
        return False
    if op == "gt":
        return bool(left > right)
    if op == "gte":
        return bool(left >= right)
    if op == "lt":
        return bool(left < right)
    return bool(left <= right)


def compile_rule(rule: Rule) -> Predicate:
    """Turn a rule into a closure specialised for its op, built once per catalogue load.

    The funnel evaluates every rule of every candidate on every decision, so the op dispatch
    and the set of allowed values are resolved here, not per call.
    """
    feature, op, value = rule.feature, rule.op, rule.value
    if op == "exists":
        want = value is not False
        return lambda c: (c.get(feature) is not None) == want
    if op in ("in", "not_in"):
        allowed = frozenset(v for v in value if not isinstance(v, bool)) | frozenset(
            v for v in value if isinstance(v, bool)
        )
        inside = op == "in"

        def member(c: Mapping[str, Any]) -> bool:
            actual = c.get(feature)
            if actual is None:
                return not inside
            try:  # sets do the membership test in C; only odd values need the slow path
                hit = (
                    not allowed.isdisjoint(actual)
                    if isinstance(actual, list)
                    else actual in allowed
                )
            except TypeError:  # an unhashable value (a nested object) matches nothing
                hit = isinstance(actual, list) and any(
                    _hashable(item) and item in allowed for item in actual
                )
            return hit == inside

        return member
    if op in ("eq", "ne"):
        equal = op == "eq"

        def same(c: Mapping[str, Any]) -> bool:
            actual = c.get(feature)
            if actual is None:
                return not equal
            hit = value in actual if isinstance(actual, list) else actual == value
            return hit == equal

        return same

    def compare(c: Mapping[str, Any]) -> bool:
        actual = c.get(feature)
        return actual is not None and not isinstance(actual, list) and _compare(actual, value, op)

    return compare


def _hashable(value: Any) -> bool:
    return isinstance(value, str | int | float | bool)


def describe(rule: Rule, context: Mapping[str, Any]) -> str:
    """The reason in words, for explanations: what was required and what the customer has."""
    actual = context.get(rule.feature, "nothing")
    return f"requires {rule.feature} {rule.op} {rule.value!r}, has {actual!r}"
