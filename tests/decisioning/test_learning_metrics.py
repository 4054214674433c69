"""Lift and its interval on constructed counters whose answer is known."""

from __future__ import annotations

import math

import pytest

from decisioning.learning_metrics import lift_interval, summarise


def test_lift_and_katz_interval_on_a_constructed_case() -> None:
    stats = {
        "decisions": 1100, "control:decisions": 100,
        "shown:a": 600, "shown:b": 500, "accepted:a": 90, "accepted:b": 30,
        "control:accepted": 5, "declined:a": 10,
    }  # fmt: skip
    summary = summarise(stats)
    assert summary.model_decisions == 1000 and summary.model_accepted == 115
    assert summary.control_decisions == 100 and summary.control_accepted == 5
    value, low, high = summary.lift
    assert value == pytest.approx((115 / 1000) / (5 / 100))  # 2.3
    se = math.sqrt(1 / 115 - 1 / 1000 + 1 / 5 - 1 / 100)
    assert low == pytest.approx(2.3 * math.exp(-1.96 * se))
    assert high == pytest.approx(2.3 * math.exp(1.96 * se))
    assert low < 1.0 < high  # five control acceptances cannot prove a lift
    a = next(o for o in summary.offers if o.offer_id == "a")
    assert (a.impressions, a.accepted, a.declined, a.acceptance_rate) == (600, 90, 10, 0.15)


def test_lift_is_unknown_without_acceptances_in_a_group() -> None:
    assert lift_interval(model_accepted=10, model_n=100, control_accepted=0, control_n=50) == (
        None, None, None,
    )  # fmt: skip
