"""Learning benchmark on a simulated world whose acceptance model is known: nbo against baselines.

What it measures. A seeded ground truth (:mod:`bench.sim_world`: 48 offers sharing category /
price tier / term, 5,000 customers, channels web / app / call_center, customer x offer-attribute x
channel interactions, mean acceptance of a random offer 4%) answers every decision. For each
decision we know the truth's probability of the chosen offer, so each arm is scored by its
*expected* acceptance (no sampling noise in the score), against:

- oracle: the best eligible offer by the truth;
- random: the uniform random eligible offer (its expected acceptance is the mean over eligible);
- eps-greedy: a plain epsilon-greedy logistic baseline (``models.EpsilonGreedyPolicy``, epsilon
  0.1, no control group) on its own ``models.BanditModel(own_dims=0, half_life=None)``
  (``--baseline bandit``, default: the shared part alone, i.e. a variance-preconditioned SGD
  logistic regression over customer x offer-attribute crosses, nbo's own model before the
  hybrid) or on ``models.RiverCrossModel`` (``--baseline river``: river's
  ``LogisticRegression`` itself), learning from its own delayed outcomes on the same stream of
  customers, with the same random numbers for acceptance, delay and loss.

Scripted events: a new offer at ``--new-offer-at`` that is clearly (about 2.5x) the best offer for
one segment, and a drift at ``--drift-at`` (for two segments, one category's appeal rises strongly
and their previous favourite falls). Responses arrive after a random delay counted in decisions
(geometric, mean ``--delay-mean``, at most ``--delay-max``); a share ``--missing`` never arrives and
is learned as "ignored" (not accepted) when the outcome window closes.

Per window of ``--window`` decisions it prints each arm's mean expected acceptance, nbo's ratio to
the oracle and to random (and eps-greedy's to the oracle), nbo's observed acceptance rate, and after
the new offer the share of its segment that nbo / eps-greedy / the oracle give it. The summary gives
the targets and whether each is met:

- after warm-up (``--warmup``), nbo >= 85% of the oracle and >= 2.3x random (sums of expected
  acceptance over every decision after warm-up, events included; the same without the 2,000
  decisions after each event is printed too);
- drift: decisions after the drift until nbo's ratio to the oracle, over the trailing 150 decisions
  of the drifted segments' customers, reaches 75% (target: within 2,000) and 90%;
- new offer: decisions until nbo gives it to half of its segment (trailing 100 decisions of that
  segment; target: within ``--new-offer-target``, 3,000);
- nbo ahead of eps-greedy on all three (ratio to oracle after warm-up; ratio to oracle on the
  drifted segments in the 2,000 decisions after the drift; share of the new offer's segment given
  it in its first ``--new-offer-target`` decisions).

References printed beside them: the oracle without each customer's own taste (the ceiling of any
model of the features), and two rules chosen in hindsight (the best single offer per channel, the
best offer per segment and channel), to tell personalisation from popularity. It also prints the
seeds (all derived from ``--seed``; the truth and the stream of customers are the same in both
modes) and the elapsed time. The exit code is 0 whatever the figures: this is a benchmark.

Other worlds: ``--offers``, ``--segments``, ``--customers``, ``--base-rate``, ``--drift-segments``,
``--drift-rise``, ``--drift-drop``, ``--new-offer-lift`` (defaults: the world above), e.g.
``--offers 80 --segments 10 --customers 8000 --base-rate 0.03 --drift-segments 3 --drift-rise 1.2
--drift-drop 0.8``. ``--aggregates``: in-process contexts also carry the all-zero real-time
aggregates that the service adds to every context (as service mode sees them).
``--model-kw name=value,...``: more keyword arguments of nbo's ``BanditModel``. ``--sampling
joint``: nbo's Thompson sampling draws the offers' logits jointly (``Snapshot.score_joint``), not
each from its own marginal as the service does.

Two modes::

    # in-process (about 30 s): models.BanditModel + models.ThompsonPolicy, scored through an
    # exported Snapshot that is refreshed every --snapshot-every outcomes (the service's cadence)
    python bench/simulate.py --mode inprocess --decisions 30000 --seed 1

    # against a running service, as a real client over HTTP (start a fresh one: the benchmark
    # assumes the service's model and catalogue start empty)
    NBO_DATA_DIR=/tmp/sim/.nbo NBO_ADMIN_KEY=simkey nbo serve --port 8765 &
    python bench/simulate.py --mode service --url http://127.0.0.1:8765 --key simkey \\
        --decisions 20000

In service mode the script PUTs the offers (value 1.0, ``outcome_window_s`` from
``--outcome-window-s``, ``default_outcome`` "ignored") and the customers, then POSTs decisions
at ``--rate`` per second and, after their delay, outcomes (accepted / declined), at most
``--concurrency`` requests at a time. Missing responses are by default never reported: the
service's outcome window closes and it learns "ignored" itself (``--missing-as window``);
``--missing-as explicit`` reports "ignored" ``--ignore-after`` decisions later instead. The window
is in seconds and the in-process run's is in decisions, so the decisions are paced: at a fixed
rate the window is ``--ignore-after`` decisions long in both modes (by default
``--outcome-window-s`` is ``--ignore-after / --rate``, rounded; the summary says what the achieved
rate made of it). Unpaced (``--rate 0``) the window in decisions would follow the machine's
speed. The oracle and random arms are computed from the truth on the same customers; the
epsilon-greedy baseline runs in-process on the same stream.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import heapq
import itertools
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sim_world import CHANNELS, Context, World, WorldConfig  # noqa: E402

from decisioning import DecisionRequest, decision_context  # noqa: E402
from decisioning.aggregates import aggregate_features  # noqa: E402
from models import (  # noqa: E402
    BanditModel,
    EpsilonGreedyPolicy,
    OfferMatrix,
    Policy,
    RiverCrossModel,
    Snapshot,
    ThompsonPolicy,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

RECOVERY_WINDOW = 150
"""Trailing window (decisions of the drifted segments) over which recovery is measured."""
ADOPTION_WINDOW = 100
"""Trailing window (decisions of the new offer's segment) over which adoption is measured."""


# ------------------------------------------------------------------------------------ the stream


@dataclass
class Stream:
    """Everything random about the decisions, drawn up front: the same for every arm."""

    contexts: list[Context]
    u_accept: FloatArray
    missing: npt.NDArray[np.bool_]
    delay: npt.NDArray[np.int64]

    @classmethod
    def draw(cls, world: World, args: argparse.Namespace, seed: int) -> Stream:
        # one generator per quantity: the first k decisions do not depend on --decisions
        rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4)]
        n = args.decisions
        contexts = world.draw_contexts(rngs[0], n)
        u_accept = rngs[1].random(n)
        missing = rngs[2].random(n) < args.missing
        p = 1.0 / max(args.delay_mean, 1.0)
        delay = np.minimum(rngs[3].geometric(p, size=n), args.delay_max)
        return cls(contexts, u_accept, missing, delay.astype(np.int64))


@dataclass
class Record:
    """Per decision: each arm's expected acceptance (value) and what it chose."""

    n: int
    n_offers: int
    oracle: FloatArray = field(init=False)
    feature_oracle: FloatArray = field(init=False)
    random: FloatArray = field(init=False)
    nbo: FloatArray = field(init=False)
    eps: FloatArray = field(init=False)
    segment: IntArray = field(init=False)
    nbo_new: npt.NDArray[np.bool_] = field(init=False)
    eps_new: npt.NDArray[np.bool_] = field(init=False)
    oracle_new: npt.NDArray[np.bool_] = field(init=False)
    nbo_accepted: npt.NDArray[np.bool_] = field(init=False)
    eps_accepted: npt.NDArray[np.bool_] = field(init=False)
    done: npt.NDArray[np.bool_] = field(init=False)
    channel: IntArray = field(init=False)
    ev_all: FloatArray = field(init=False)
    """(n, offers) expected value of every offer, NaN where not eligible or not yet introduced."""
    nbo_pick: IntArray = field(init=False)
    nbo_greedy: FloatArray = field(init=False)
    """In-process: expected value of the offer nbo's model ranks first by its mean (no
    exploration); NaN in service mode. Splits nbo's regret into model error and exploration."""

    def __post_init__(self) -> None:
        self.channel = np.zeros(self.n, dtype=np.intp)
        self.nbo_greedy = np.full(self.n, np.nan)
        self.ev_all = np.full((self.n, self.n_offers), np.nan)
        self.nbo_pick = np.full(self.n, -1, dtype=np.intp)
        for name in ("oracle", "feature_oracle", "random", "nbo", "eps"):
            setattr(self, name, np.zeros(self.n))
        self.segment = np.zeros(self.n, dtype=np.intp)
        for name in ("nbo_new", "eps_new", "oracle_new", "nbo_accepted", "eps_accepted", "done"):
            setattr(self, name, np.zeros(self.n, dtype=bool))


@dataclass(frozen=True)
class Truth:
    """The truth of one decision, fixed when it is made (drift happens between decisions)."""

    probs: FloatArray
    learnable: FloatArray
    eligible: IntArray
    values: FloatArray


def truth_of(world: World, ctx: Context) -> Truth:
    return Truth(
        world.probabilities(ctx),
        world.learnable_logits(ctx),
        world.eligible[ctx.channel],
        world.values.copy(),
    )


def score_truth(rec: Record, i: int, world: World, ctx: Context, truth: Truth) -> None:
    ev = truth.probs[truth.eligible] * truth.values[truth.eligible]
    best = int(truth.eligible[int(np.argmax(ev))])
    rec.oracle[i] = float(ev.max())
    # what the best feature-based model could do: the oracle's choice without the customer's taste
    learnable = truth.learnable[truth.eligible] + np.log(truth.values[truth.eligible])
    rec.feature_oracle[i] = float(ev[int(np.argmax(learnable))])
    rec.random[i] = float(ev.mean())
    rec.segment[i] = world.segment(ctx)
    rec.channel[i] = ctx.channel
    rec.ev_all[i, truth.eligible] = ev
    rec.oracle_new[i] = best == world.new_offer_index


def context_of(
    world: World, ctx: Context, now: datetime, id_prefix: str, *, aggregates: bool = False
) -> dict[str, Any]:
    """The flat context as the service builds it (customer features + request); with
    ``aggregates``, also the real-time aggregates of a customer with no events (all zero), which
    the service adds to every context."""
    request = DecisionRequest(
        customer_id=f"{id_prefix}c{ctx.customer:05d}",
        channel=world.channel(ctx),
        interaction=world.interaction(ctx),
        context={"intent": world.intent(ctx)},
    )
    features = world.features(ctx)
    if aggregates:
        features = features | aggregate_features({}, int(now.timestamp() * 1000))
    return decision_context(features, request, now)


# ------------------------------------------------------------------------------ in-process arm


@dataclass(order=True)
class Pending:
    due: int
    seq: int
    context: dict[str, Any] = field(compare=False)
    offer: int = field(compare=False)
    accepted: bool = field(compare=False)


class LearnerArm:
    """A policy on a learner, served from exported snapshots, learning delayed outcomes."""

    def __init__(
        self, model: Any, policy: Policy, snapshot_every: int, *, joint: bool = False
    ) -> None:
        self.model = model
        self.policy = policy
        self.snapshot_every = snapshot_every
        self.joint = joint
        """Pass the policy the factor of the offers' joint posterior (Snapshot.score_joint)."""
        self.version = 0
        self.snapshot: Snapshot = model.export(version=0)
        self.offers: list[dict[str, Any]] = []
        self._attributes: list[dict[str, Any]] = []
        self._matrix: OfferMatrix | None = None
        self._by_channel: dict[int, OfferMatrix] = {}
        self._pending: list[Pending] = []
        self._seq = itertools.count()
        self.learned = 0
        self.last_greedy = -1
        """The offer the last ``choose`` would have shown with no exploration (its mean's best)."""

    def set_offers(self, examples: list[dict[str, Any]]) -> None:
        self.offers = list(examples)
        self._attributes = [
            {k.removeprefix("offer."): v for k, v in o.items() if k.startswith("offer.")}
            for o in self.offers
        ]
        self._refresh()

    def _refresh(self) -> None:
        self._matrix = self.snapshot.encode_offers(self.offers)
        self._by_channel.clear()

    def choose(self, context: dict[str, Any], ctx: Context, truth: Truth) -> int:
        assert self._matrix is not None
        om = self._by_channel.get(ctx.channel)
        if om is None:
            om = self._by_channel[ctx.channel] = self._matrix.take(truth.eligible)
        factor = None
        if self.joint:
            mean, var, factor = self.snapshot.score_joint(context, om)
            factor = factor * math.sqrt(om.sampling_scale)  # as om.exploring scales var
        else:
            mean, var = self.snapshot.score(context, om)
        weights = np.maximum(truth.values[truth.eligible], 0.01)
        choice = self.policy.choose(mean, om.exploring(var), weights, limit=1, factor=factor)
        greedy = Snapshot.calibrated(mean, var) * weights
        self.last_greedy = int(truth.eligible[int(np.argmax(greedy))])
        return int(truth.eligible[choice.picks[0].index])

    def schedule(self, due: int, context: dict[str, Any], offer: int, accepted: bool) -> None:
        heapq.heappush(self._pending, Pending(due, next(self._seq), context, offer, accepted))

    def deliver(self, step: int) -> None:
        """Learn every outcome that has arrived by decision ``step``."""
        pending = self._pending
        batch: list[Pending] = []
        while pending and pending[0].due <= step:
            batch.append(heapq.heappop(pending))
            # learned in batches as the service's learner does (the same model as one at a
            # time), cut where a snapshot is due
            if (self.learned + len(batch)) % self.snapshot_every == 0:
                self._learn(batch)
                batch = []
                self.version += 1
                self.snapshot = self.model.export(version=self.version)
                self._refresh()
        self._learn(batch)

    def _learn(self, batch: list[Pending]) -> None:
        if not batch:
            return
        if isinstance(self.model, BanditModel):
            offers = [self._attributes[item.offer] for item in batch]
            self.model.learn_pairs(
                [item.context for item in batch], offers, [item.accepted for item in batch]
            )
        else:
            for item in batch:
                self.model.learn_one(item.context | self.offers[item.offer], item.accepted)
        self.learned += len(batch)


def record_choice(
    arm: LearnerArm,
    i: int,
    offer: int,
    context: dict[str, Any],
    truth: Truth,
    stream: Stream,
    args: argparse.Namespace,
) -> tuple[float, bool]:
    """Expected value of an in-process arm's pick; schedules its outcome. Returns (ev, accepted)."""
    p = float(truth.probs[offer])
    accepted = bool(stream.u_accept[i] < p)
    if stream.missing[i]:
        arm.schedule(i + args.ignore_after, context, offer, False)
    else:
        arm.schedule(i + int(stream.delay[i]), context, offer, accepted)
    return p * float(truth.values[offer]), accepted


def model_kwargs(text: str) -> dict[str, Any]:
    """``name=value,...`` as BanditModel keyword arguments (numbers, true/false, none)."""
    out: dict[str, Any] = {}
    for item in filter(None, text.split(",")):
        name, _, value = item.partition("=")
        low = value.lower()
        if low in ("true", "false"):
            out[name] = low == "true"
        elif low == "none":
            out[name] = None
        else:
            number = float(value)
            out[name] = int(number) if number.is_integer() and "." not in value else number
    return out


def nbo_policy_seed(args: argparse.Namespace) -> int:
    """The seed of nbo's Thompson draws in-process: ``--policy-seed`` varies them alone (the
    service's draws are not seeded, so its runs of one world differ by them)."""
    return int(args.seed + 11 if args.policy_seed is None else args.policy_seed)


def make_arms(args: argparse.Namespace) -> tuple[LearnerArm | None, LearnerArm]:
    nbo = None
    if args.mode == "inprocess":
        nbo = LearnerArm(
            BanditModel(
                own_dims=args.own_dims,
                own_prior_variance=args.own_prior_variance,
                half_life=args.half_life or None,
                scale_numeric=args.scale_numeric,
                learning_rate=args.learning_rate,
                **model_kwargs(args.model_kw),
            ),
            ThompsonPolicy(
                seed=nbo_policy_seed(args), control_share=args.control_share, floor=args.floor
            ),
            args.snapshot_every,
            joint=args.sampling == "joint",
        )
    base_model: Any = (
        RiverCrossModel()
        if args.baseline == "river"
        else BanditModel(own_dims=0, half_life=None, scale_numeric=args.scale_numeric)
    )
    eps = LearnerArm(
        base_model,
        EpsilonGreedyPolicy(floor=args.epsilon, control_share=0.0, seed=args.seed + 13),
        args.snapshot_every,
    )
    return nbo, eps


# ------------------------------------------------------------------------------ reporting


class Reporter:
    """Prints one row per complete window of decisions, in order (service decisions finish out of
    order)."""

    def __init__(self, world: World, rec: Record, args: argparse.Namespace) -> None:
        self.world = world
        self.rec = rec
        self.args = args
        self.next_window = 0
        self.header_printed = False

    def header(self) -> None:
        print(
            f"{'decisions':>9} {'nbo':>7} {'oracle':>7} {'random':>7} {'eps-gr':>7} "
            f"{'nbo/orc':>7} {'nbo/rnd':>7} {'eps/orc':>7} {'nbo obs':>7}  "
            f"{'new-offer seg: nbo / eps / orc':>30}  event"
        )

    def poll(self) -> None:
        """Print every complete window, in order."""
        w, n = self.args.window, self.rec.n
        while self.next_window * w < n:
            lo, hi = self.next_window * w, min(n, (self.next_window + 1) * w)
            if not self.rec.done[lo:hi].all():
                return
            if not self.header_printed:
                self.header()
                self.header_printed = True
            self.row(lo, hi)
            self.next_window += 1

    def row(self, lo: int, hi: int) -> None:
        r, a = self.rec, self.args
        s = slice(lo, hi)
        nbo, orc, rnd, eps = (
            r.nbo[s].mean(),
            r.oracle[s].mean(),
            r.random[s].mean(),
            r.eps[s].mean(),
        )
        obs = r.nbo_accepted[s].mean()
        new = ""
        if hi > a.new_offer_at and self.world.new_offer_segment >= 0:
            seg = r.segment[s] == self.world.new_offer_segment
            seg &= np.arange(lo, hi) >= a.new_offer_at
            if seg.any():
                new = (
                    f"{r.nbo_new[s][seg].mean():6.0%} / {r.eps_new[s][seg].mean():4.0%} / "
                    f"{r.oracle_new[s][seg].mean():4.0%}"
                )
        event = []
        if lo <= a.new_offer_at < hi:
            event.append(f"new offer @{a.new_offer_at}")
        if lo <= a.drift_at < hi:
            event.append(f"drift @{a.drift_at}")
        print(
            f"{hi:>9} {nbo:7.4f} {orc:7.4f} {rnd:7.4f} {eps:7.4f} {nbo / orc:7.2f} "
            f"{nbo / rnd:7.2f} {eps / orc:7.2f} {obs:7.4f}  {new:>30}  {', '.join(event)}",
            flush=True,
        )


def first_reaching(
    arm: FloatArray, oracle: FloatArray, idx: IntArray, k: int, threshold: float
) -> int | None:
    """Position in ``idx`` where the trailing-``k`` ratio arm / oracle first reaches threshold."""
    if len(idx) < k:
        return None
    a = np.concatenate([[0.0], np.cumsum(arm[idx])])
    o = np.concatenate([[0.0], np.cumsum(oracle[idx])])
    ratio = (a[k:] - a[:-k]) / np.maximum(o[k:] - o[:-k], 1e-12)
    hits = np.flatnonzero(ratio >= threshold)
    return None if len(hits) == 0 else int(hits[0]) + k - 1


def first_share(flags: npt.NDArray[np.bool_], k: int, threshold: float) -> int | None:
    if len(flags) < k:
        return None
    c = np.concatenate([[0.0], np.cumsum(flags.astype(float))])
    share = (c[k:] - c[:-k]) / k
    hits = np.flatnonzero(share >= threshold)
    return None if len(hits) == 0 else int(hits[0]) + k - 1


def fmt_count(n: int | None) -> str:
    return "never" if n is None else f"{n:,}"


class Lines:
    """The summary's lines: text, and for targets the target and whether it is met."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, bool | None]] = []

    def add(self, text: str, target: str = "", ok: bool | None = None) -> None:
        self.rows.append((text, target, ok))

    def print(self, title: str) -> None:
        bar = "=" * 100
        print(f"\n{bar}\n{title}\n{bar}")
        for text, target, ok in self.rows:
            mark = "" if ok is None else ("MET" if ok else "NOT MET")
            tail = f"  [target {target}]" if target else ""
            print(f"{mark:8}{text}{tail}")
        print(bar, flush=True)


def ratio(arm: FloatArray, base: FloatArray, s: slice | IntArray) -> float:
    return float(arm[s].sum() / max(float(base[s].sum()), 1e-12))


def summary(world: World, rec: Record, args: argparse.Namespace, extra: dict[str, str]) -> None:
    n, warm = rec.n, min(args.warmup, rec.n - 1)
    unit = "acceptance" if args.offer_values == "unit" else "value"
    out = Lines()
    after = slice(warm, n)
    nbo_orc, eps_orc = ratio(rec.nbo, rec.oracle, after), ratio(rec.eps, rec.oracle, after)
    nbo_rnd, eps_rnd = ratio(rec.nbo, rec.random, after), ratio(rec.eps, rec.random, after)
    out.add(
        f"after warm-up ({warm:,}..{n:,}), mean expected {unit}: nbo {rec.nbo[after].mean():.4f}, "
        f"oracle {rec.oracle[after].mean():.4f}, random {rec.random[after].mean():.4f}, "
        f"eps-greedy {rec.eps[after].mean():.4f}"
    )
    out.add(
        f"  reference: the oracle without each customer's own taste (the best any model of the "
        f"features can do) = {ratio(rec.feature_oracle, rec.oracle, after):.3f} of the oracle"
    )
    fixed, by_segment = hindsight_rules(rec, after)
    out.add(
        f"  reference: the best single offer per channel for everyone, chosen in hindsight = "
        f"{ratio(fixed, rec.oracle, after):.3f} of the oracle; the best offer per segment and "
        f"channel = {ratio(by_segment, rec.oracle, after):.3f}"
    )
    picks = rec.nbo_pick[after]
    picks = picks[picks >= 0]
    if len(picks):
        top = np.bincount(picks).max() / len(picks)
        out.add(
            f"  nbo's most shown offer got {top:.0%} of the decisions after warm-up; nbo's choice "
            f"agreed with the oracle's in {agreement(rec, after):.0%} of them"
        )
    if not np.isnan(rec.nbo_greedy[after]).any():
        explored = float((rec.nbo_greedy[after] != rec.nbo[after]).mean())
        greedy_orc = ratio(rec.nbo_greedy, rec.oracle, after)
        out.add(
            f"  regret split after warm-up: nbo's model ranked by its mean alone would reach "
            f"{greedy_orc:.3f} of the oracle (model error {1 - greedy_orc:.3f}); exploration "
            f"costs {greedy_orc - nbo_orc:.3f}; {explored:.0%} of nbo's decisions differ in value "
            "from that greedy pick"
        )
    out.add(
        f"nbo / oracle after warm-up = {nbo_orc:.3f} (eps-greedy {eps_orc:.3f})",
        ">= 0.85",
        nbo_orc >= 0.85,
    )
    out.add(
        f"nbo / random after warm-up = {nbo_rnd:.2f}x (eps-greedy {eps_rnd:.2f}x)",
        ">= 2.3x",
        nbo_rnd >= 2.3,
    )
    steady = np.zeros(n, dtype=bool)
    steady[warm:] = True
    for at in (args.new_offer_at, args.drift_at):
        steady[at : at + 2000] = False
    st = np.flatnonzero(steady)
    if len(st):
        out.add(
            f"  without the 2,000 decisions after each event: nbo / oracle "
            f"{ratio(rec.nbo, rec.oracle, st):.3f}, / random {ratio(rec.nbo, rec.random, st):.2f}x "
            f"(eps-greedy {ratio(rec.eps, rec.oracle, st):.3f}, "
            f"{ratio(rec.eps, rec.random, st):.2f}x)"
        )
    ahead = [("after warm-up", nbo_orc, eps_orc, ".3f")]
    drift = drift_lines(world, rec, args, out)
    if drift is not None:
        ahead.append(("drifted segments, 2,000 after the drift", *drift, ".3f"))
    new = new_offer_lines(world, rec, args, out)
    if new is not None:
        ahead.append((f"new-offer share, first {args.new_offer_target:,}", *new, ".1%"))
    detail = "; ".join(f"{name} {a:{f}} vs {b:{f}}" for name, a, b, f in ahead)
    out.add(
        f"nbo ahead of eps-greedy: {detail}",
        f"ahead on all {len(ahead)}",
        all(a > b for _, a, b, _ in ahead),
    )
    for key, value in extra.items():
        out.add(f"{key}: {value}")
    model = "RiverCrossModel" if args.baseline == "river" else "BanditModel"
    out.print(
        f"SUMMARY  mode={args.mode}  decisions={n:,}  window={args.window:,}  "
        f"missing={args.missing:.0%}  nbo=BanditModel+ThompsonPolicy  "
        f"baseline=EpsilonGreedyPolicy({args.epsilon:g})+{model}"
    )


def hindsight_rules(rec: Record, s: slice) -> tuple[FloatArray, FloatArray]:
    """Expected value, per decision, of two non-learning rules chosen in hindsight over ``s``.

    The best single offer per channel (no personalisation), and the best offer per segment and
    channel (what a rule engine keyed on segment could do at best).
    """
    fixed = np.zeros(rec.n)
    by_segment = np.zeros(rec.n)
    rows = np.zeros(rec.n, dtype=bool)
    rows[s] = True
    for result, keys in ((fixed, (rec.channel,)), (by_segment, (rec.channel, rec.segment))):
        key = np.zeros(rec.n, dtype=np.int64)
        for k in keys:
            key = key * 100 + k
        for value in np.unique(key[rows]):
            group = np.flatnonzero(rows & (key == value))
            ev = np.nan_to_num(rec.ev_all[group], nan=0.0)  # not eligible / not yet there: 0
            result[group] = ev[:, int(np.argmax(ev.sum(axis=0)))]
    return fixed, by_segment


def agreement(rec: Record, s: slice) -> float:
    """Share of nbo's decisions in ``s`` that picked the oracle's offer."""
    idx = np.arange(rec.n)[s]
    idx = idx[rec.nbo_pick[idx] >= 0]
    if not len(idx):
        return float("nan")
    best = np.nanargmax(rec.ev_all[idx], axis=1)
    return float((best == rec.nbo_pick[idx]).mean())


def drift_lines(
    world: World, rec: Record, args: argparse.Namespace, out: Lines
) -> tuple[float, float] | None:
    """Recovery after the drift, on the drifted segments' decisions; (nbo, eps) ratio to oracle."""
    n, at = rec.n, args.drift_at
    if at >= n or not world.drifted_segments:
        return None
    steps = np.arange(n)
    drifted = np.isin(rec.segment, world.drifted_segments)
    idx = np.flatnonzero(drifted & (steps >= at))
    before = np.flatnonzero(drifted & (steps < at) & (steps >= at - 3000))
    k = RECOVERY_WINDOW
    out.add(f"drift @{at:,}: {world.drift_description}")
    if len(before):
        out.add(
            f"  drifted segments, 3,000 decisions before the drift: nbo / oracle "
            f"{ratio(rec.nbo, rec.oracle, before):.3f} "
            f"(eps-greedy {ratio(rec.eps, rec.oracle, before):.3f})"
        )
    if len(idx) < k:
        return None
    a = np.concatenate([[0.0], np.cumsum(rec.nbo[idx])])
    o = np.concatenate([[0.0], np.cumsum(rec.oracle[idx])])
    worst = float(np.min((a[k:] - a[:-k]) / np.maximum(o[k:] - o[:-k], 1e-12)))
    out.add(
        f"  measured over the trailing {k} decisions of the drifted segments (first full window "
        f"{int(idx[k - 1]) - at + 1:,} decisions after the drift); nbo / oracle at worst "
        f"{worst:.3f}"
    )
    reach: dict[tuple[str, float], int | None] = {}
    pre = {"nbo": ratio(rec.nbo, rec.oracle, before), "eps": ratio(rec.eps, rec.oracle, before)}
    for name, arm in (("nbo", rec.nbo), ("eps", rec.eps)):
        for thr in (0.75, 0.9, -1.0):  # -1: back to within 10% of its own level before the drift
            m = first_reaching(arm, rec.oracle, idx, k, thr if thr > 0 else 0.9 * pre[name])
            reach[name, thr] = None if m is None else int(idx[m]) - at + 1
    out.add(
        f"  decisions after the drift until nbo >= 90% of the oracle: "
        f"{fmt_count(reach['nbo', 0.9])} (eps-greedy {fmt_count(reach['eps', 0.9])})"
    )
    if len(before):
        out.add(
            f"  decisions after the drift until nbo is back within 10% of its own pre-drift ratio: "
            f"{fmt_count(reach['nbo', -1.0])} (eps-greedy {fmt_count(reach['eps', -1.0])})"
        )
    r75 = reach["nbo", 0.75]
    out.add(
        f"  decisions after the drift until nbo >= 75% of the oracle: {fmt_count(r75)} "
        f"(eps-greedy {fmt_count(reach['eps', 0.75])})",
        "<= 2,000",
        r75 is not None and r75 <= 2000,
    )
    first = idx[idx < at + 2000]
    result = ratio(rec.nbo, rec.oracle, first), ratio(rec.eps, rec.oracle, first)
    out.add(
        f"  first 2,000 decisions after the drift: nbo / oracle {result[0]:.3f} "
        f"(eps-greedy {result[1]:.3f})"
    )
    return result


def new_offer_lines(
    world: World, rec: Record, args: argparse.Namespace, out: Lines
) -> tuple[float, float] | None:
    """Adoption of the new offer in its segment; (nbo, eps) share in the first target decisions."""
    n, at = rec.n, args.new_offer_at
    if at >= n or world.new_offer_segment < 0:
        return None
    seg = world.new_offer_segment
    idx = np.flatnonzero((rec.segment == seg) & (np.arange(n) >= at))
    k = ADOPTION_WINDOW
    offer = world.offers[world.new_offer_index]
    out.add(
        f"new offer @{at:,}: {offer.offer_id} ({offer.category}, {offer.price_tier} price, term "
        f"{offer.term}), best for segment {world.segment_names[seg]} (the oracle gives it to "
        f"{rec.oracle_new[idx].mean():.0%} of that segment)"
    )
    half: dict[str, int | None] = {}
    for name, flags in (("nbo", rec.nbo_new), ("eps", rec.eps_new)):
        m = first_share(flags[idx], k, 0.5)
        half[name] = None if m is None else int(idx[m]) - at + 1
    out.add(
        f"  decisions until nbo gives it to >= half of the segment (trailing {k} decisions of "
        f"the segment): {fmt_count(half['nbo'])} (eps-greedy {fmt_count(half['eps'])})",
        f"<= {args.new_offer_target:,}",
        half["nbo"] is not None and half["nbo"] <= args.new_offer_target,
    )
    first = idx[idx < at + args.new_offer_target]
    if not len(first):
        return None
    result = float(rec.nbo_new[first].mean()), float(rec.eps_new[first].mean())
    out.add(
        f"  share of the segment given the new offer in its first {args.new_offer_target:,} "
        f"decisions: nbo {result[0]:.0%} (eps-greedy {result[1]:.0%}); over the rest of the run: "
        f"nbo {rec.nbo_new[idx].mean():.0%} (eps-greedy {rec.eps_new[idx].mean():.0%})"
    )
    return result


# ------------------------------------------------------------------------------ in-process run


def run_inprocess(world: World, stream: Stream, rec: Record, args: argparse.Namespace) -> None:
    nbo, eps = make_arms(args)
    assert nbo is not None
    arms = (nbo, eps)
    for arm in arms:
        arm.set_offers([o.example() for o in world.offers])
    reporter = Reporter(world, rec, args)
    now = datetime.now(UTC)

    def catalogue_changed() -> None:
        for arm in arms:
            arm.set_offers([o.example() for o in world.offers])

    for i in range(rec.n):
        events(world, i, args, catalogue_changed)
        for arm in arms:
            arm.deliver(i)
        ctx = stream.contexts[i]
        truth = truth_of(world, ctx)
        score_truth(rec, i, world, ctx, truth)
        context = context_of(world, ctx, now, args.id_prefix, aggregates=args.aggregates)
        pick = rec.nbo_pick[i] = nbo.choose(context, ctx, truth)
        rec.nbo[i], rec.nbo_accepted[i] = record_choice(nbo, i, pick, context, truth, stream, args)
        rec.nbo_greedy[i] = float(truth.probs[nbo.last_greedy] * truth.values[nbo.last_greedy])
        rec.nbo_new[i] = pick == world.new_offer_index
        pick = eps.choose(context, ctx, truth)
        rec.eps[i], rec.eps_accepted[i] = record_choice(eps, i, pick, context, truth, stream, args)
        rec.eps_new[i] = pick == world.new_offer_index
        rec.done[i] = True
        if (i + 1) % args.window == 0 or i + 1 == rec.n:
            reporter.poll()


def events(world: World, i: int, args: argparse.Namespace, on_new: Callable[[], None]) -> None:
    if i == args.new_offer_at:
        offer = world.add_new_offer()
        print(
            f"# decision {i:,}: new offer {offer.offer_id} ({offer.name}), best for segment "
            f"{world.segment_names[world.new_offer_segment]}",
            flush=True,
        )
        on_new()
    if i == args.drift_at:
        print(f"# decision {i:,}: drift: {world.apply_drift()}", flush=True)


# ------------------------------------------------------------------------------ service run


@dataclass(order=True)
class Outcome:
    due: int
    seq: int
    decision_id: str = field(compare=False)
    offer_id: str = field(compare=False)
    outcome: str = field(compare=False)


@dataclass
class ServiceStats:
    decisions: int = 0
    errors: int = 0
    empty: int = 0
    foreign: int = 0
    outcomes: int = 0
    late: int = 0
    duplicates: int = 0
    outcome_errors: int = 0
    latencies: list[float] = field(default_factory=list)


def offer_body(world: World, index: int, args: argparse.Namespace) -> dict[str, Any]:
    offer = world.offers[index]
    return {
        "name": offer.name,
        "kind": "offer",
        "channels": list(offer.channels),
        "value": offer.value,
        "attributes": offer.attributes(),
        "outcome_window_s": args.outcome_window_s,
        "default_outcome": "ignored",
        "active": True,
    }


async def run_service(
    world: World, stream: Stream, rec: Record, args: argparse.Namespace
) -> dict[str, str]:
    import httpx

    _, eps = make_arms(args)
    eps.set_offers([o.example() for o in world.offers])
    stats = ServiceStats()
    reporter = Reporter(world, rec, args)
    prefix = args.id_prefix
    offer_index = {prefix + o.offer_id: n for n, o in enumerate(world.offers)}
    headers = {"Authorization": f"Bearer {args.key}"}
    limits = httpx.Limits(
        max_connections=args.concurrency + 4, max_keepalive_connections=args.concurrency + 4
    )
    async with httpx.AsyncClient(
        base_url=args.url.rstrip("/"), headers=headers, timeout=30.0, limits=limits
    ) as client:
        ready = await client.get("/readyz")
        if ready.status_code != 200:
            raise SystemExit(f"{args.url}/readyz answered {ready.status_code}: {ready.text}")
        existing = await client.get("/v1/offers")
        existing.raise_for_status()
        listed = existing.json()
        items = listed if isinstance(listed, list) else listed.get("offers", [])
        others = [
            o.get("offer_id")
            for o in items
            if o.get("active", True) and not str(o.get("offer_id", "")).startswith(prefix)
        ]
        if others:
            print(
                f"# WARNING: the service has {len(others)} other active offers "
                f"({', '.join(map(str, others[:5]))}...): they compete with the simulated ones "
                "and the oracle does not know them; use a fresh service",
                flush=True,
            )
        initial = {prefix + o.offer_id for o in world.offers}
        for stale in (o.get("offer_id") for o in items):
            if str(stale).startswith(prefix) and stale not in initial:
                print(f"# deleting {stale}, left by an earlier run", flush=True)
                (await client.delete(f"/v1/offers/{stale}")).raise_for_status()
        learning = await client.get("/v1/metrics/learning")
        if learning.status_code == 200 and learning.json().get("outcomes_learned", 0):
            print(
                f"# WARNING: the service's model has already learned "
                f"{learning.json()['outcomes_learned']} outcomes: not a cold start",
                flush=True,
            )

        sem = asyncio.Semaphore(args.concurrency)

        async def put(path: str, body: dict[str, Any]) -> None:
            async with sem:
                r = await client.put(path, json=body)
                if r.status_code >= 300:
                    raise SystemExit(f"PUT {path}: {r.status_code} {r.text}")

        t0 = time.perf_counter()
        await asyncio.gather(
            *(
                put(f"/v1/offers/{prefix}{o.offer_id}", offer_body(world, n, args))
                for n, o in enumerate(world.offers)
            )
        )
        await asyncio.gather(
            *(
                put(f"/v1/customers/{prefix}c{c:05d}", {"features": f})
                for c, f in enumerate(world.customer_features)
            )
        )
        print(
            f"# loaded {len(world.offers)} offers and {len(world.customer_features):,} customers "
            f"in {time.perf_counter() - t0:.1f} s; waiting {args.settle_s:g} s for the "
            "catalogue refresh",
            flush=True,
        )
        await asyncio.sleep(args.settle_s)

        queue: asyncio.Queue[tuple[str, Any] | None] = asyncio.Queue(maxsize=2 * args.concurrency)
        outcomes: list[Outcome] = []
        seq = itertools.count()
        now = datetime.now(UTC)

        async def decide(i: int, ctx: Context, truth: Truth) -> None:
            body = {
                "customer_id": f"{prefix}c{ctx.customer:05d}",
                "channel": world.channel(ctx),
                "interaction": world.interaction(ctx),
                "context": {"intent": world.intent(ctx)},
            }
            started = time.perf_counter()
            try:
                r = await client.post("/v1/decisions", json=body)
                ok = r.status_code == 200
            except httpx.HTTPError:
                ok = False
            stats.latencies.append(time.perf_counter() - started)
            stats.decisions += 1
            if not ok:
                stats.errors += 1
                rec.done[i] = True
                return
            answer = r.json()
            if not answer.get("offers"):
                stats.empty += 1
                rec.done[i] = True
                return
            offer_id = answer["offers"][0]["offer_id"]
            index = offer_index.get(offer_id)
            if index is None:
                stats.foreign += 1
                rec.done[i] = True
                return
            if index >= len(truth.probs):  # the new offer, served to a decision sent just before
                truth = truth_of(world, ctx)  # its introduction: judge it by the current truth
            p = float(truth.probs[index])
            accepted = bool(stream.u_accept[i] < p)
            rec.nbo[i] = p * float(truth.values[index])
            rec.nbo_accepted[i] = accepted
            rec.nbo_new[i] = index == world.new_offer_index
            rec.nbo_pick[i] = index
            rec.done[i] = True
            if not stream.missing[i]:
                result = "accepted" if accepted else "declined"
                due = i + int(stream.delay[i])
            elif args.missing_as == "explicit":
                result, due = "ignored", i + args.ignore_after
            else:
                return  # never reported: the service's outcome window closes and learns "ignored"
            heapq.heappush(
                outcomes, Outcome(due, next(seq), answer["decision_id"], offer_id, result)
            )

        async def report(item: Outcome) -> None:
            try:
                r = await client.post(
                    f"/v1/decisions/{item.decision_id}/outcomes",
                    json={"offer_id": item.offer_id, "outcome": item.outcome},
                )
            except httpx.HTTPError:
                stats.outcome_errors += 1
                return
            stats.outcomes += 1
            if r.status_code != 202:
                stats.outcome_errors += 1
                return
            status = r.json().get("status")
            stats.late += status == "late"
            stats.duplicates += status == "duplicate"

        async def worker() -> None:
            while True:
                job = await queue.get()
                try:
                    if job is None:
                        return
                    kind, payload = job
                    if kind == "decide":
                        await decide(*payload)
                    else:
                        await report(payload)
                finally:
                    queue.task_done()

        workers = [asyncio.create_task(worker()) for _ in range(args.concurrency)]
        t_run = time.perf_counter()

        async def put_new_offer() -> None:
            index = world.new_offer_index
            await put(
                f"/v1/offers/{prefix}{world.offers[index].offer_id}", offer_body(world, index, args)
            )
            offer_index[prefix + world.offers[index].offer_id] = index

        for i in range(rec.n):
            new_offer = i == args.new_offer_at
            events(world, i, args, lambda: eps.set_offers([o.example() for o in world.offers]))
            if new_offer:
                await put_new_offer()
            eps.deliver(i)
            ctx = stream.contexts[i]
            truth = truth_of(world, ctx)
            score_truth(rec, i, world, ctx, truth)
            context = context_of(world, ctx, now, prefix)
            pick = eps.choose(context, ctx, truth)
            rec.eps[i], rec.eps_accepted[i] = record_choice(
                eps, i, pick, context, truth, stream, args
            )
            rec.eps_new[i] = pick == world.new_offer_index
            if args.rate > 0:  # paced: the outcome window is a fixed number of decisions
                await asyncio.sleep(t_run + i / args.rate - time.perf_counter())
            await queue.put(("decide", (i, ctx, truth)))
            while outcomes and outcomes[0].due <= i:
                await queue.put(("report", heapq.heappop(outcomes)))
            if (i + 1) % args.window == 0:
                reporter.poll()
        await queue.join()
        while outcomes:
            await queue.put(("report", heapq.heappop(outcomes)))
        for _ in workers:
            await queue.put(None)
        await asyncio.gather(*workers)
        elapsed = time.perf_counter() - t_run
        reporter.poll()

        extra: dict[str, str] = {}
        lat = np.sort(np.asarray(stats.latencies)) * 1000
        extra["service"] = (
            f"{stats.decisions:,} decisions in {elapsed:.1f} s ({stats.decisions / elapsed:.0f}/s, "
            f"paced at {args.rate:g}/s, "
            f"with {stats.outcomes:,} outcome reports, concurrency {args.concurrency}); decision "
            f"latency p50 {np.quantile(lat, 0.5):.1f} ms, p99 {np.quantile(lat, 0.99):.1f} ms"
        )
        extra["service errors"] = (
            f"decisions failed {stats.errors}, empty {stats.empty}, unknown offers "
            f"{stats.foreign}; outcome reports failed {stats.outcome_errors}, late "
            f"{stats.late} (learned as the default, not as reported), duplicates "
            f"{stats.duplicates}"
        )
        achieved = stats.decisions / elapsed
        extra["missing responses"] = (
            "never reported: the service's outcome window "
            f"({args.outcome_window_s} s, {args.outcome_window_s * achieved:,.0f} decisions at "
            f"the achieved rate; in-process: {args.ignore_after:,}) closes and it learns 'ignored'"
            if args.missing_as == "window"
            else f"reported as 'ignored' {args.ignore_after} decisions after the decision"
        )
        await asyncio.sleep(1.5)
        learning = await client.get("/v1/metrics/learning")
        if learning.status_code == 200:
            m = learning.json()
            lift = m.get("lift") or {}
            control = m.get("control") or {}
            extra["service's own metrics"] = (
                f"model v{m.get('model_version')}, outcomes learned {m.get('outcomes_learned')}, "
                f"control decisions {control.get('decisions')} (acceptance "
                f"{control.get('acceptance_rate')}), lift {lift.get('value')} "
                f"[{lift.get('ci_low')}, {lift.get('ci_high')}]"
            )
    return extra


# ------------------------------------------------------------------------------ main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--mode", choices=("inprocess", "service"), default="inprocess")
    p.add_argument("--url", default="http://127.0.0.1:8000")
    p.add_argument("--key", default=None, help="admin API key (service mode)")
    p.add_argument("--decisions", type=int, default=30000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--policy-seed",
        type=int,
        default=None,
        help="in-process: seed of nbo's Thompson draws alone (default: --seed + 11)",
    )
    p.add_argument("--window", type=int, default=1000)
    p.add_argument("--warmup", type=int, default=3000)
    p.add_argument("--new-offer-at", type=int, default=10000)
    p.add_argument(
        "--new-offer-target",
        type=int,
        default=3000,
        help="decisions within which the new offer should win half its segment",
    )
    p.add_argument("--drift-at", type=int, default=20000)
    p.add_argument("--missing", type=float, default=0.2, help="share of responses never sent")
    p.add_argument(
        "--delay-mean", type=float, default=100.0, help="mean response delay (decisions)"
    )
    p.add_argument("--delay-max", type=int, default=400, help="longest response delay (decisions)")
    p.add_argument(
        "--ignore-after",
        type=int,
        default=750,
        help="in-process: decisions until a missing response is learned as 'ignored' (service "
        "mode: the default --outcome-window-s is this many decisions at --rate)",
    )
    p.add_argument(
        "--snapshot-every",
        type=int,
        default=100,
        help="in-process: outcomes between snapshot exports (the service publishes one a second: "
        "at service mode's default --rate, about 200 outcomes)",
    )
    p.add_argument("--control-share", type=float, default=0.02, help="nbo's control group")
    p.add_argument("--floor", type=float, default=0.02, help="nbo's uniform exploration floor")
    p.add_argument(
        "--own-dims", type=int, default=32, help="nbo's BanditModel own_dims (0: shared part only)"
    )
    p.add_argument(
        "--learning-rate", type=float, default=1.0, help="nbo's BanditModel learning_rate"
    )
    p.add_argument(
        "--scale-numeric",
        action="store_true",
        help="both arms' BanditModel: numeric tokens scaled to unit RMS (scale_numeric=True)",
    )
    p.add_argument("--own-prior-variance", type=float, default=0.1, help="nbo's own_prior_variance")
    p.add_argument(
        "--half-life", type=float, default=20000.0, help="nbo's BanditModel half_life (0: never)"
    )
    p.add_argument(
        "--model-kw",
        default="",
        help="more keyword arguments of nbo's BanditModel, e.g. own_dims=64,own_raw=true",
    )
    p.add_argument(
        "--aggregates",
        action="store_true",
        help="in-process: contexts carry the (all-zero) real-time aggregates the service adds",
    )
    p.add_argument(
        "--sampling",
        choices=("joint", "independent"),
        default="independent",
        help="in-process: nbo's Thompson draws from the offers' joint posterior (what they share "
        "moves them together) or from each offer's own marginal",
    )
    p.add_argument("--epsilon", type=float, default=0.1, help="the baseline's epsilon")
    p.add_argument("--baseline", choices=("bandit", "river"), default="bandit")
    p.add_argument("--customers", type=int, default=5000)
    p.add_argument("--offers", type=int, default=48)
    defaults = WorldConfig()
    p.add_argument("--segments", type=int, default=defaults.segments, help="customer segments")
    p.add_argument(
        "--base-rate",
        type=float,
        default=defaults.base_rate,
        help="mean acceptance of a random eligible offer",
    )
    p.add_argument(
        "--drift-segments",
        type=int,
        default=defaults.drift_segments,
        help="segments whose taste drifts",
    )
    p.add_argument(
        "--drift-rise",
        type=float,
        default=defaults.drift_rise,
        help="logit gained by the rising category at the drift",
    )
    p.add_argument(
        "--drift-drop",
        type=float,
        default=defaults.drift_drop,
        help="logit lost by the drifted segments' previous favourite",
    )
    p.add_argument(
        "--new-offer-lift",
        type=float,
        default=defaults.new_offer_lift,
        help="the new offer's acceptance in its segment over the best existing offer's",
    )
    p.add_argument(
        "--offer-values",
        choices=("unit", "varied"),
        default="unit",
        help="unit: every offer is worth 1.0 (arbitration = propensity)",
    )
    p.add_argument("--concurrency", type=int, default=8, help="service: requests in flight")
    p.add_argument(
        "--rate",
        type=float,
        default=200.0,
        help="service: decisions sent per second (0: as fast as --concurrency allows)",
    )
    p.add_argument(
        "--outcome-window-s",
        type=int,
        default=None,
        help="service: offers' window (default: --ignore-after decisions at --rate; 8 unpaced)",
    )
    p.add_argument("--missing-as", choices=("window", "explicit"), default="window")
    p.add_argument(
        "--settle-s", type=float, default=2.0, help="service: wait after loading the catalogue"
    )
    p.add_argument("--id-prefix", default="sim-", help="service: prefix of offer/customer ids")
    args = p.parse_args(argv)
    if args.mode == "service" and not args.key:
        p.error("--mode service needs --key (the service's admin key)")
    if args.outcome_window_s is None:
        args.outcome_window_s = max(1, round(args.ignore_after / args.rate)) if args.rate > 0 else 8
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    world_seed, stream_seed = args.seed, args.seed + 1000
    config = WorldConfig(
        customers=args.customers,
        offers=args.offers,
        segments=args.segments,
        base_rate=args.base_rate,
        drift_segments=args.drift_segments,
        drift_rise=args.drift_rise,
        drift_drop=args.drift_drop,
        new_offer_lift=args.new_offer_lift,
    )
    world = World(config, seed=world_seed)
    if args.offer_values == "varied":
        vrng = np.random.default_rng(args.seed + 2000)
        world.offers = [
            dataclasses.replace(o, value=round(float(vrng.lognormal(0.0, 0.5)), 2))
            for o in world.offers
        ]
        world.values = np.array([o.value for o in world.offers])
    facts = world.describe(np.random.default_rng(args.seed + 3000))
    stream = Stream.draw(world, args, stream_seed)
    rec = Record(args.decisions, len(world.offers) + 1)
    print(
        f"# nbo learning simulation, mode {args.mode}; seeds: world {world_seed}, stream "
        f"{stream_seed}, nbo policy {nbo_policy_seed(args)}, eps-greedy policy {args.seed + 13}"
    )
    print(
        f"# truth: {len(world.offers)} offers, {len(world.customer_features):,} customers, "
        f"channels {'/'.join(CHANNELS)}; acceptance of (context, eligible offer) pairs: mean "
        f"{facts['mean']:.3f}, median {facts['median']:.3f}, {facts['share_1_15']:.0%} within "
        f"1-15%, {facts['share_below_1']:.0%} below, {facts['share_above_15']:.0%} above "
        f"(p99 {facts['p99']:.3f}); oracle {facts['oracle']:.3f} = "
        f"{facts['oracle'] / facts['random']:.1f}x random"
    )
    print(
        f"# responses: delay geometric mean {args.delay_mean:g} decisions (max "
        f"{args.delay_max}), {args.missing:.0%} never arrive (learned as 'ignored')",
        flush=True,
    )
    extra: dict[str, str] = {}
    if args.mode == "inprocess":
        run_inprocess(world, stream, rec, args)
    else:
        extra = asyncio.run(run_service(world, stream, rec, args))
    extra["seeds"] = (
        f"--seed {args.seed}: world {world_seed}, stream {stream_seed}, nbo policy "
        f"{nbo_policy_seed(args)}, eps-greedy policy {args.seed + 13}"
    )
    extra["elapsed"] = f"{time.perf_counter() - started:.1f} s"
    summary(world, rec, args, extra)
    return 0


if __name__ == "__main__":
    sys.exit(main())
