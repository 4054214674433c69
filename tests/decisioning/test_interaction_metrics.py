"""Metrics over archived interactions, checked on logs whose answer is known."""

from __future__ import annotations

from typing import Any

import pytest

from decisioning.interaction_metrics import exact_auc, off_policy_estimate, summarise_interactions


def _row(decision: int, offer: str, outcome: str, **extra: Any) -> dict[str, Any]:
    row = {
        "decision_id": f"d{decision}",
        "offer_id": offer,
        "outcome": outcome,
        "source": "response",
        "control_group": False,
        "explored": False,
        "propensity": 0.1,
        "decided_ms": 0,
    }
    row.update(extra)
    return row


def test_lift_over_the_control_group_with_its_interval() -> None:
    # the model: 120 of 1,000 accepted; the control group: 40 of 1,000 -> lift 3.0
    rows = [_row(n, "A", "accepted" if n < 120 else "declined") for n in range(1000)]
    rows += [
        _row(1000 + n, "B", "accepted" if n < 40 else "ignored", control_group=True)
        for n in range(1000)
    ]
    summary = summarise_interactions(rows)
    value, low, high = summary.lift
    assert (summary.model_decisions, summary.model_accepted) == (1000, 120)
    assert (summary.control_decisions, summary.control_accepted) == (1000, 40)
    assert value == pytest.approx(3.0)
    # Katz log interval: se = sqrt(1/120 - 1/1000 + 1/40 - 1/1000) = 0.17701
    assert low == pytest.approx(3.0 * 0.70685, rel=1e-3)
    assert high == pytest.approx(3.0 * 1.41474, rel=1e-3)


def test_auc_calibration_late_and_exploration() -> None:
    rows = [
        _row(1, "A", "accepted", propensity=0.9),
        _row(2, "A", "declined", propensity=0.2),
        _row(3, "A", "accepted", propensity=0.3, explored=True),
        _row(4, "A", "ignored", propensity=0.4, source="window"),
        _row(4, "A", "accepted", propensity=0.4, source="late"),
    ]
    summary = summarise_interactions(rows)
    [offer] = summary.offers
    # positives {0.9, 0.3} against negatives {0.2, 0.4}: 3 of 4 pairs ordered right
    assert offer.auc == 0.75 and offer.impressions == 4 and offer.accepted == 2
    assert offer.late == 1  # the late answer is reported, not counted a second time
    assert summary.exploration_share == pytest.approx(1 / 4)
    by_bucket = {(b["bucket_low"], b["bucket_high"]): b for b in summary.calibration}
    assert by_bucket[(0.75, 1.0)]["observed"] == 1.0 and by_bucket[(0.75, 1.0)]["n"] == 1
    assert by_bucket[(0.3, 0.5)]["n"] == 1 and by_bucket[(0.3, 0.5)]["observed"] == 0.0


def test_exact_auc_agrees_with_counting_pairs() -> None:
    scores = [0.1, 0.5, 0.5, 0.7, 0.2, 0.9, 0.3]
    labels = [False, True, False, True, False, True, False]
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]
    pairs = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg)
    assert exact_auc(scores, labels) == pytest.approx(round(pairs / (len(pos) * len(neg)), 4))
    assert exact_auc([0.3], [True]) is None


def test_off_policy_estimate_reads_a_stream_once_and_picks_once_per_decision() -> None:
    """Control decisions showed 2 of 4 candidates; the policy always picks "A". Each decision's
    rows come apart in the stream (outcomes arrive at different times)."""
    candidates = ["A", "B", "C", "D"]
    shown = {1: ("A", "B"), 2: ("B", "C"), 3: ("A", "D"), 4: ("C", "D")}
    accepted = {(1, "A"), (2, "B"), (4, "C")}
    rows = [
        _row(d, offer, "accepted" if (d, offer) in accepted else "declined",
             control_group=True, candidates=candidates, context={"n": d})
        for position in (0, 1)
        for d, offers in shown.items()
        for offer in offers[position:position + 1]
    ]  # fmt: skip
    rows.append(_row(5, "A", "accepted", candidates=candidates, context={"n": 5}))  # not control
    picks: list[int] = []

    def choose(context: Any, offered: Any) -> str:
        assert list(offered) == candidates
        picks.append(context["n"])
        return "A"

    found = off_policy_estimate(iter(rows), choose, model_version=7, n_boot=50)
    assert found is not None and found.model_version == 7
    assert sorted(picks) == [1, 2, 3, 4]  # once per control decision
    assert (found.control_decisions, found.matched) == (4, 2)  # A shown in decisions 1 and 3
    # IPS: shown with probability 2/4; A accepted once (decision 1) -> 1 / 0.5 / 4 decisions
    assert found.ips.value == pytest.approx(0.5)
    assert found.snips.value == pytest.approx(0.5)  # 1 accepted of the 2 matched
