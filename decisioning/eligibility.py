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

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from .offers import Offer, Rule

__all__ = [
    "Predicate",
    "Screen",
    "compile_rule",
    "describe",
]

BoolArray = npt.NDArray[np.bool_]

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


class Screen:
    """A channel's candidate offers with their rules compiled to run for all offers at once.

    Offers share rules (a segment, a tenure threshold, "not a holder of"), so each distinct rule
    is evaluated once per decision and a boolean offers x rules matrix says which offers it gates:
    a decision pays one call per distinct rule and a few numpy operations, not a Python loop over
    every rule of every offer (the funnel's largest cost before, bench/load.py). Dates and the
    ``not_for_holders`` check run only for the offers that have them.

    Built once per catalogue version and channel; immutable.

    >>> from decisioning.offers import Offer
    >>> rule = {"feature": "tenure_months", "op": "gte", "value": 12}
    >>> offers = [Offer.from_body(f"o{i}", {"name": "O", "eligibility": [rule] * (i % 2)})
    ...           for i in range(4)]
    >>> screen = Screen(offers, "web")
    >>> screen.passing({"tenure_months": 3}, "2026-01-01T00:00:00+00:00").tolist()
    [True, False, True, False]
    """

    def __init__(self, offers: Sequence[Offer], channel: str) -> None:
        self.offers: tuple[Offer, ...] = tuple(offers)
        self.channel = channel
        self.index = {o.offer_id: n for n, o in enumerate(self.offers)}
        """Position of each offer id in ``offers``."""
        slots: dict[tuple[str, str, str], int] = {}
        checks: list[Predicate] = []
        gates: list[tuple[int, int]] = []
        for n, offer in enumerate(self.offers):
            for rule, check in zip(offer.eligibility, offer.checks, strict=True):
                key = (rule.feature, rule.op, repr(rule.value))
                if key not in slots:
                    slots[key] = len(checks)
                    checks.append(check)
                gates.append((n, slots[key]))
        self._checks = tuple(checks)
        self._gates: BoolArray = np.zeros((len(self.offers), len(checks)), dtype=np.bool_)
        for n, j in gates:
            self._gates[n, j] = True
        self._dated = tuple(n for n, o in enumerate(self.offers) if o.start_at or o.end_at)
        self._for_non_holders = tuple(n for n, o in enumerate(self.offers) if o.not_for_holders)
        self.weights = np.array([max(o.value, 0.01) * o.lever_for(channel) for o in self.offers])
        """Business weight of each offer on this channel: value (at least 0.01) x lever."""
        self.service: BoolArray = np.array([o.kind == "service" for o in self.offers], dtype=bool)

    def __len__(self) -> int:
        return len(self.offers)

    def passing(self, context: Mapping[str, Any], now_iso: str) -> BoolArray:
        """Which offers are live now, not held already, and pass every eligibility rule.

        The same answer as asking each offer ``live``, ``held_by`` and ``failing_rule``.
        """
        ok: BoolArray = np.ones(len(self.offers), dtype=np.bool_)
        failed = [j for j, check in enumerate(self._checks) if not check(context)]
        if failed:
            ok &= ~self._gates[:, failed].any(axis=1)
        offers = self.offers
        for n in self._dated:
            if not offers[n].live(now_iso):
                ok[n] = False
        for n in self._for_non_holders:
            if offers[n].held_by(context):
                ok[n] = False
        return ok
