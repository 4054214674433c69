"""A comparison rule with a string takes an ISO date when saved; a catalogue saved before that
check still loads (the rule compares as text, as it did)."""

from __future__ import annotations

import pytest

from decisioning import InvalidInput
from decisioning.offers import Offer

TEXT_RULE = {"feature": "plan", "op": "gt", "value": "m"}


def test_a_new_comparison_with_a_plain_string_is_refused() -> None:
    with pytest.raises(InvalidInput) as refused:
        Offer.from_body("x", {"name": "X", "eligibility": [TEXT_RULE]})
    assert refused.value.field == "eligibility[0].value"


def test_a_stored_one_still_loads_and_compares_as_before() -> None:
    offer = Offer.from_body("x", {"name": "X", "eligibility": [TEXT_RULE]}, stored=True)
    assert offer.failing_rule({"plan": "s"}) is None
    assert offer.failing_rule({"plan": "a"}) == offer.eligibility[0]
