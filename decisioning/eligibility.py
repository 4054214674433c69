"""Evaluate an offer's eligibility rules against the decision's context.

The context is one flat dict: customer features by name, request context under ``context.<key>``,
and ``channel`` / ``interaction``. List-valued features (products held) read naturally: ``in``
means "holds any of", ``not_in`` "holds none of", ``eq`` "holds".

Examples
--------
>>> from decisioning.offers import Rule
>>> ctx = {"products_held": ["mobile", "tv"], "tenure_months": 30, "channel": "web"}
>>> rules = [Rule("products_held", "not_in", ["fibre"]), Rule("tenure_months", "gte", 12)]
>>> failing_rule(rules, ctx)
>>> failing_rule([Rule("channel", "eq", "app")], ctx)
Rule(feature='channel', op='eq', value='app')
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .offers import Rule

__all__ = ["describe", "failing_rule", "holds"]


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


def holds(rule: Rule, context: Mapping[str, Any]) -> bool:
    present = rule.feature in context and context[rule.feature] is not None
    if rule.op == "exists":
        return present == (rule.value is not False)
    if not present:
        return rule.op in ("ne", "not_in")
    actual = context[rule.feature]
    items = actual if isinstance(actual, list) else [actual]
    if rule.op == "eq":
        return rule.value in items
    if rule.op == "ne":
        return rule.value not in items
    if rule.op == "in":
        return any(item in rule.value for item in items)
    if rule.op == "not_in":
        return not any(item in rule.value for item in items)
    return not isinstance(actual, list) and _compare(actual, rule.value, rule.op)


def failing_rule(rules: Iterable[Rule], context: Mapping[str, Any]) -> Rule | None:
    """The first rule the context breaks, or None when the offer is eligible."""
    for rule in rules:
        if not holds(rule, context):
            return rule
    return None


def describe(rule: Rule, context: Mapping[str, Any]) -> str:
    """The reason in words, for explanations: what was required and what the customer has."""
    actual = context.get(rule.feature, "nothing")
    return f"requires {rule.feature} {rule.op} {rule.value!r}, has {actual!r}"
