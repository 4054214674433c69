"""``ContextLookup`` gives exactly what ``encode`` and a lookup in the token index give.

Serving caches each feature value's rows instead of building token strings; the cache must never
change a decision's numbers, whether a value is seen for the first time or the thousandth, known
to the index or not, and after the bounded caches are cleared.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest

from models.features import BIAS, ContextLookup, encode


def _reference(
    index: Mapping[str, int], context: Mapping[str, Any]
) -> tuple[list[int], list[float], float]:
    rows, xs, unknown_sq = [], [], 0.0
    for token, value in encode(context):
        row = index.get(token)
        if row is None:
            unknown_sq += value * value
        else:
            rows.append(row)
            xs.append(value)
    return rows, xs, unknown_sq


def _contexts(rng: random.Random, n: int) -> list[dict[str, Any]]:
    out = []
    for _ in range(n):
        out.append(
            {
                "segment": rng.choice(["youth", "family", "senior", "never-seen"]),
                "is_student": rng.random() < 0.5,
                "tenure_months": rng.choice([0, 1, 5, 89, 3000]),
                "monthly_revenue": round(rng.lognormvariate(3, 1), 2),
                "balance": rng.choice([-12.5, 0.0, 7.25, math.nan, math.inf]),
                "products_held": rng.sample(["data", "voice", "tv", "new-thing"], 2),
                "score_np": np.float64(rng.random()),
                "note": None,
                "page": f"/p/{rng.randrange(50)}",
            }
        )
    return out


@pytest.mark.parametrize("limit", [100_000, 3])
def test_lookup_equals_encoding_then_looking_up(limit: int) -> None:
    rng = random.Random(5)
    contexts = _contexts(rng, 400)
    tokens = {t for c in contexts[:200] for t, _ in encode(c)}  # half the values never indexed
    index = {t: n for n, t in enumerate(sorted(tokens - {"page=/p/7", "tenure_months#b6"}))}
    lookup = ContextLookup(index, limit=limit)
    for context in contexts + contexts:  # the second pass comes from the caches
        rows: list[int] = []
        xs: list[float] = []
        unknown_sq = lookup.entries(context, rows, xs)
        expected_rows, expected_xs, expected_unknown = _reference(index, context)
        assert rows == expected_rows
        assert xs == expected_xs
        assert unknown_sq == expected_unknown


def test_an_index_without_the_bias_counts_it_unknown() -> None:
    index = {"segment=youth": 0}
    rows: list[int] = []
    xs: list[float] = []
    assert BIAS not in index
    unknown_sq = ContextLookup(index).entries({"segment": "youth", "age": 3}, rows, xs)
    assert rows == [0] and xs == [1.0]
    assert unknown_sq == pytest.approx(1.0 + math.log1p(3) ** 2 + 1.0)
