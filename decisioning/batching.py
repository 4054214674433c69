"""Decisions that reach arbitration in the same turn of the event loop are scored together.

Under load a worker has many decisions in flight, and their Redis replies arrive together (one
connection, multiplexed: :mod:`feature_store.wire`), so many of them resume in the same turn of
the event loop. Scored one by one, each costs a few dozen small numpy calls (the offers' means and
variances, one Thompson draw, the shown offer's probability), whose fixed cost per call is most of
their time with 100 offers. :class:`ArbitrationBatch` queues each decision's scoring and choice,
and at the end of the turn runs them as one batch (:meth:`models.Snapshot.score_batch`,
:meth:`models.Policy.choose_batch`): a few matrix products for all. A decision alone in its turn
is a batch of one; it waits for nothing but the end of the turn it is already in.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from models import Choice, OfferMatrix, Policy, Snapshot

__all__ = ["ArbitrationBatch", "Scored"]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class Scored:
    """One decision's share of a batch: its offers' logit means and variances, and its choice
    (pick indices are columns of the offer matrix)."""

    mean: FloatArray
    var: FloatArray
    choice: Choice


@dataclass(frozen=True, slots=True)
class _Waiting:
    policy: Policy
    snapshot: Snapshot
    offers: OfferMatrix
    context: Mapping[str, Any]
    eligible: BoolArray
    weights: FloatArray
    future: asyncio.Future[Scored]


class ArbitrationBatch:
    """Scores and chooses (one offer, exploring) for the decisions queued in one loop turn."""

    def __init__(self) -> None:
        self._waiting: dict[asyncio.AbstractEventLoop, list[_Waiting]] = {}
        self.batches = 0
        """Batches run (with :attr:`decisions`, the mean batch size: for benchmarks)."""
        self.decisions = 0

    async def choose(
        self,
        policy: Policy,
        snapshot: Snapshot,
        offers: OfferMatrix,
        context: Mapping[str, Any],
        eligible: BoolArray,
        weights: FloatArray,
    ) -> Scored:
        """Score ``offers`` for ``context`` and let ``policy`` choose one where ``eligible``
        holds, with ``weights`` (value x lever) as the business weights."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Scored] = loop.create_future()
        queue = self._waiting.setdefault(loop, [])
        queue.append(_Waiting(policy, snapshot, offers, context, eligible, weights, future))
        if len(queue) == 1:
            loop.call_soon(self._run, loop)
        return await future

    def _run(self, loop: asyncio.AbstractEventLoop) -> None:
        waiting = self._waiting.pop(loop, [])
        groups: dict[tuple[int, int, int], list[_Waiting]] = {}
        for item in waiting:
            if not item.future.done():  # a decision cancelled meanwhile is left out
                key = (id(item.policy), id(item.snapshot), id(item.offers))
                groups.setdefault(key, []).append(item)
        for group in groups.values():
            first = group[0]
            try:
                if len(group) == 1:  # alone: the sparse path is cheaper than a dense row
                    one_mean, one_var = first.snapshot.score(first.context, first.offers)
                    mean, var = one_mean[None, :], one_var[None, :]
                else:
                    contexts = [w.context for w in group]
                    mean, var = first.snapshot.score_batch(contexts, first.offers)
                choices = first.policy.choose_batch(
                    mean,
                    first.offers.exploring(var),  # a newcomer's novelty: exploring only
                    np.stack([w.weights for w in group]),
                    np.stack([w.eligible for w in group]),
                )
            except Exception as exc:  # each decision fails as it would have alone
                for item in group:
                    item.future.set_exception(exc)
                continue
            self.batches += 1
            self.decisions += len(group)
            for row, item in enumerate(group):
                item.future.set_result(Scored(mean[row], var[row], choices[row]))
