"""Off-policy evaluation on the Open Bandit Dataset sample: estimator checks, then four policies.

    python bench/replay_obd.py [--campaign all] [--seeds 5] [--n-boot 1000] [--data DIR]

First it reproduces the known answers of ``shared/data/README.md`` (campaign ``all``: the uniform
random policy's value is the random log's mean click, 0.380%, Wilson 95% CI 0.277-0.521%; the BTS
logging policy's on-policy CTR is 0.420%), checks that SNIPS of uniform random on the random log
gives that same value, and estimates random's value off-policy from the BTS log (true propensities,
huge weights).

Then it replays four policies on the uniform-random log, in timestamp order (Li et al. 2011):
uniform random, a per-item Beta-Bernoulli Thompson sampling baseline, an epsilon-greedy baseline
(both context-free, written here) and nbo's own learned policy (``models.BanditModel`` scored
through an exported ``Snapshot`` and chosen by ``models.ThompsonPolicy``). A policy learns only
from the rows it matched, and never sees a row's click before choosing. Each gets a replay CTR
(matched rows, Wilson interval) and a SNIPS value (every row, weighted by the probability the
policy gave the logged item before seeing the outcome; percentile bootstrap over rows), each with
its ratio to random's value (the "relative CTR" of the OBD paper; MOVER-R interval, see
:func:`models.offline.ratio_to_baseline`). Position is treated as context: every row is a one-slot
decision at its logged position, among all of the campaign's items.

What this can and cannot show: on ``all`` a replay run counts only about 125 matched events (1 in
80 rows), that is 0 to 2 clicks, so every interval spans several times the value itself. This
checks the estimators and the data path end to end; it cannot rank learners.

Data by ZOZO, Inc. (Saito, Aihara, Matsutani, Narita, *Open Bandit Dataset and Pipeline*, NeurIPS
2021 Datasets and Benchmarks, arXiv:2008.07146).
"""

from __future__ import annotations

import argparse
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from obd import CAMPAIGNS, ObdLog, load_obd, offer_dicts, row_context

from models import BanditModel, OfferMatrix, Snapshot, ThompsonPolicy
from models.offline import (
    Estimate,
    doubly_robust,
    effective_sample_size,
    ips,
    ratio_to_baseline,
    replay,
    snips,
    wilson_interval,
)

FloatArray = npt.NDArray[np.float64]

KNOWN = {  # shared/data/README.md, campaign "all"
    "random": (0.00380, 0.00277, 0.00521),
    "bts": (0.00420, 0.00311, 0.00567),
}


# --- policies under replay ----------------------------------------------------------------------


class ReplayPolicy(ABC):
    """A policy as the replay walk sees it: a distribution over items, a pick, an update."""

    name: str

    def __init__(self, n_items: int, seed: int) -> None:
        self.n_items = n_items
        self.rng = np.random.default_rng(seed)

    @abstractmethod
    def probabilities(self, log: ObdLog, i: int) -> FloatArray:
        """Probability of showing each item on row ``i``, given only what was learned so far."""

    def choose(self, log: ObdLog, i: int, probs: FloatArray) -> int:  # noqa: ARG002
        return int(self.rng.choice(self.n_items, p=probs))

    def learn(self, log: ObdLog, i: int, item: int, click: bool) -> None:  # noqa: B027
        """Update on a matched row (the default policy learns nothing)."""


class UniformRandom(ReplayPolicy):
    name = "uniform random"

    def probabilities(self, log: ObdLog, i: int) -> FloatArray:  # noqa: ARG002
        return np.full(self.n_items, 1.0 / self.n_items)


class BetaBernoulliCounts(ReplayPolicy, ABC):
    """Per-item click and show counts with a Beta(1, 1) prior; ignores the context and position."""

    def __init__(self, n_items: int, seed: int) -> None:
        super().__init__(n_items, seed)
        self.clicks = np.zeros(n_items)
        self.shows = np.zeros(n_items)
        self._probs: FloatArray | None = None

    def learn(self, log: ObdLog, i: int, item: int, click: bool) -> None:  # noqa: ARG002
        self.clicks[item] += click
        self.shows[item] += 1
        self._probs = None  # the distribution changes only when the counts do

    def probabilities(self, log: ObdLog, i: int) -> FloatArray:  # noqa: ARG002
        if self._probs is None:
            self._probs = self._distribution()
        return self._probs

    @abstractmethod
    def _distribution(self) -> FloatArray: ...


class BetaThompson(BetaBernoulliCounts):
    """Thompson sampling: show the item whose Beta posterior draw is highest.

    Its probability of showing an item has no closed form; it is estimated from ``draws`` posterior
    draws, once per update (the posterior is context-free, so it holds for every row until then).
    """

    name = "Beta-Bernoulli TS"
    draws = 2000

    def _sample(self, size: int) -> FloatArray:
        sample: FloatArray = self.rng.beta(
            1.0 + self.clicks, 1.0 + self.shows - self.clicks, size=(size, self.n_items)
        )
        return sample

    def _distribution(self) -> FloatArray:
        top = np.argmax(self._sample(self.draws), axis=1)
        return np.bincount(top, minlength=self.n_items) / self.draws

    def choose(self, log: ObdLog, i: int, probs: FloatArray) -> int:  # noqa: ARG002
        return int(np.argmax(self._sample(1)[0]))


class EpsilonGreedy(BetaBernoulliCounts):
    """Show the item with the best posterior mean; a uniformly random one with probability eps."""

    epsilon = 0.1
    name = f"epsilon-greedy (eps={epsilon})"

    def _distribution(self) -> FloatArray:
        mean = (1.0 + self.clicks) / (2.0 + self.shows)
        best = np.flatnonzero(mean == mean.max())
        probs = np.full(self.n_items, self.epsilon / self.n_items)
        probs[best] += (1.0 - self.epsilon) / len(best)
        return probs


class NboPolicy(ReplayPolicy):
    """nbo's model and policy as the service runs them: learn one event, export, score, choose.

    The snapshot is re-exported after every learned event (the most favourable freshness). The
    probability of each item is ``ThompsonPolicy.probabilities``: the mixture of control group,
    floor and Thompson sampling, the last estimated from ``draws`` posterior draws.
    """

    name = "nbo BanditModel + ThompsonPolicy"
    draws = 256

    def __init__(self, n_items: int, seed: int, offers: list[dict[str, Any]]) -> None:
        super().__init__(n_items, seed)
        self.model = BanditModel(seed=seed)
        self.policy = ThompsonPolicy(seed=seed, draws=self.draws)
        self.offers = offers
        self._refresh()
        self._scored: tuple[int, FloatArray, FloatArray] = (-1, np.zeros(0), np.zeros(0))

    def _refresh(self) -> None:
        self.snapshot: Snapshot = self.model.export(version=self.model.n_learned)
        self.matrix: OfferMatrix = self.snapshot.encode_offers(self.offers)

    def _score(self, log: ObdLog, i: int) -> tuple[FloatArray, FloatArray]:
        if self._scored[0] != i:
            mean, var = self.snapshot.score(row_context(log, i), self.matrix)
            self._scored = (i, mean, var)
        return self._scored[1], self._scored[2]

    def probabilities(self, log: ObdLog, i: int) -> FloatArray:
        mean, var = self._score(log, i)
        return self.policy.probabilities(mean, var)

    def choose(self, log: ObdLog, i: int, probs: FloatArray) -> int:  # noqa: ARG002
        mean, var = self._score(log, i)
        choice = self.policy.choose(mean, var, weights=np.ones(self.n_items), limit=1)
        return choice.picks[0].index

    def learn(self, log: ObdLog, i: int, item: int, click: bool) -> None:
        self.model.learn_one({**row_context(log, i), **self.offers[item]}, click)
        self._refresh()


# --- the replay walk ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Run:
    matched: npt.NDArray[np.bool_]
    target_probs: FloatArray
    """The policy's probability of each row's logged item, before that row's outcome."""


def walk(policy: ReplayPolicy, log: ObdLog) -> Run:
    """Replay ``policy`` on ``log`` in timestamp order; it learns only from rows it matched."""
    n = len(log)
    matched = np.zeros(n, dtype=bool)
    target = np.empty(n)
    for i in range(n):
        probs = policy.probabilities(log, i)
        logged = int(log.item_id[i])
        target[i] = probs[logged]
        if policy.choose(log, i, probs) == logged:
            matched[i] = True
            policy.learn(log, i, logged, bool(log.click[i]))
    return Run(matched, target)


# --- output -------------------------------------------------------------------------------------


def pct(e: Estimate) -> str:
    if math.isnan(e.value):
        return f"{'n/a':>7} {'':>17}"
    return f"{100 * e.value:6.3f}% [{100 * e.ci_low:5.3f}, {100 * e.ci_high:5.3f}]"


def times(e: Estimate) -> str:
    if math.isnan(e.value):
        return f"{'n/a':>5} {'':>14}"
    high = "inf" if math.isinf(e.ci_high) else f"{e.ci_high:5.2f}"
    return f"{e.value:5.2f} [{e.ci_low:4.2f}, {high:>5}]"


def known_answers(random_log: ObdLog, bts_log: ObdLog, n_boot: int) -> Estimate:
    """Check the estimators against values known exactly; returns random's value (the baseline)."""
    k = random_log.n_items
    if not np.allclose(random_log.propensity, 1.0 / k):
        raise SystemExit(f"random log: propensities are not 1/K = {1 / k}")
    campaign = random_log.campaign
    print(f"== Known answers (campaign {campaign!r}, {len(random_log)} rows, K = {k} items)")
    print("   values in % with 95% CI; 'README' is the value stated in shared/data/README.md")

    def line(label: str, e: Estimate, known: tuple[float, float, float] | None) -> None:
        note = ""
        if known is not None and campaign == "all":
            v, lo, hi = known
            ok = all(
                abs(a - b) < 5e-6
                for a, b in zip((e.value, e.ci_low, e.ci_high), known, strict=True)
            )
            verdict = "matches" if ok else "DIFFERS"
            note = f"  README {100 * v:.3f}% [{100 * lo:.3f}, {100 * hi:.3f}]: {verdict}"
        print(f"   {label:<63}{pct(e)}  n={e.n:<6}{note}".rstrip())

    random_value = replay(random_log.click)
    line("uniform random, on-policy (mean click, Wilson)", random_value, KNOWN["random"])
    line("BTS logging policy, on-policy (mean click, Wilson)", replay(bts_log.click), KNOWN["bts"])

    uniform = np.full(len(random_log), 1.0 / k)
    by_snips = snips(random_log.click, uniform, random_log.propensity, n_boot=n_boot)
    by_ips = ips(random_log.click, uniform, random_log.propensity, n_boot=n_boot)
    line("SNIPS of uniform random on the random log (bootstrap)", by_snips, None)
    line("IPS of uniform random on the random log (bootstrap)", by_ips, None)
    if not math.isclose(by_snips.value, random_value.value, rel_tol=1e-12):
        raise SystemExit("SNIPS of the logging policy differs from the log's mean")

    # off-policy: random's value estimated from the BTS log, with its true propensities
    target = np.full(len(bts_log), 1.0 / bts_log.n_items)
    weights = target / bts_log.propensity
    print(
        f"   off-policy, from the BTS log (weights up to {weights.max():,.0f}, "
        f"Kish ESS {effective_sample_size(weights):,.0f} of {len(bts_log)} rows):"
    )
    for clip in (None, 100.0):
        tag = "" if clip is None else f", weights clipped at {clip:g} (biased)"
        e = snips(bts_log.click, target, bts_log.propensity, clip=clip, n_boot=n_boot)
        line(f"  SNIPS of uniform random{tag}", e, None)
        e = ips(bts_log.click, target, bts_log.propensity, clip=clip, n_boot=n_boot)
        line(f"  IPS of uniform random{tag}", e, None)
    q_logged, q_target = cross_fitted_item_ctr(bts_log)
    e = doubly_robust(bts_log.click, target, bts_log.propensity, q_logged, q_target, n_boot=n_boot)
    line("  DR of uniform random (per-item CTR, 2-fold cross-fit)", e, None)
    print(f"   (compare with uniform random's on-policy value {pct(random_value)})")
    return random_value


def cross_fitted_item_ctr(log: ObdLog, pseudo_rows: float = 100.0) -> tuple[FloatArray, FloatArray]:
    """A per-item CTR reward model for DR, fit on the other half (in time) of the log.

    Each item's CTR is shrunk towards the half's overall CTR by ``pseudo_rows`` pseudo-rows, so
    an item shown a few times does not get a CTR of 0 or 1.
    """
    n, k = len(log), log.n_items
    half = np.arange(n) >= n // 2
    q_logged = np.empty(n)
    q_target = np.empty(n)
    for fold in (False, True):
        fit = half != fold
        clicks = np.bincount(log.item_id[fit], weights=log.click[fit], minlength=k)
        shows = np.bincount(log.item_id[fit], minlength=k)
        overall = clicks.sum() / shows.sum()
        ctr = (clicks + pseudo_rows * overall) / (shows + pseudo_rows)
        rows = half == fold
        q_logged[rows] = ctr[log.item_id[rows]]
        q_target[rows] = ctr.mean()  # uniform random's expected reward under the model
    return q_logged, q_target


def evaluate(
    make: Callable[[int], ReplayPolicy],
    log: ObdLog,
    baseline: Estimate,
    seeds: int,
    n_boot: int,
) -> None:
    name = make(0).name
    print(f"\n-- {name}")
    print(
        f"   {'seed':<6}{'replay CTR [95% CI]':<27}{'events':>7}  {'ratio [95% CI]':<21}"
        f"{'SNIPS [95% CI]':<27}{'ESS':>7}  {'ratio [95% CI]'}"
    )
    replays: list[float] = []
    values: list[float] = []
    for seed in range(seeds):
        start = time.perf_counter()
        run = walk(make(seed), log)
        by_replay = replay(log.click, matched=run.matched)
        by_snips = snips(log.click, run.target_probs, log.propensity, n_boot=n_boot, seed=seed)
        ess = effective_sample_size(run.target_probs / log.propensity)
        print(
            f"   {seed:<6}{pct(by_replay):<27}{by_replay.n:>7}  "
            f"{times(ratio(by_replay, baseline)):<21}{pct(by_snips):<27}{ess:>7.0f}  "
            f"{times(ratio(by_snips, baseline))}   ({time.perf_counter() - start:.1f}s)"
        )
        replays.append(by_replay.value)
        values.append(by_snips.value)
    print(
        f"   {'mean':<6}{100 * np.nanmean(replays):6.3f}%{'':<20}{'':>7}  "
        f"{np.nanmean(replays) / baseline.value:5.2f}{'':<16}"
        f"{100 * np.mean(values):6.3f}%{'':<20}{'':>7}  {np.mean(values) / baseline.value:5.2f}"
    )


def ratio(e: Estimate, baseline: Estimate) -> Estimate:
    if math.isnan(e.value) or math.isnan(e.ci_low):
        return Estimate(math.nan, math.nan, math.nan, e.n)
    return ratio_to_baseline(e, baseline)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--campaign", choices=CAMPAIGNS, default="all")
    parser.add_argument("--seeds", type=int, default=5, help="runs of each stochastic policy")
    parser.add_argument("--n-boot", type=int, default=1000, help="bootstrap replicates")
    parser.add_argument("--data", type=Path, default=None, help="OBD sample dir ($NBO_OBD_DIR)")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    random_log = load_obd("random", args.campaign, args.data)
    bts_log = load_obd("bts", args.campaign, args.data)
    baseline = known_answers(random_log, bts_log, args.n_boot)

    k = random_log.n_items
    events = round(len(random_log) / k)
    _, high = wilson_interval(0, events)
    print(
        f"\n== Policies replayed on the uniform-random log ({args.campaign!r}), {args.seeds} seeds"
    )
    notes = [
        "Position is context: each row is a one-slot decision at its logged position among all"
        f" {k}",
        f"items. A run matches about 1 row in {k} (~{events} events, ~{events * baseline.value:.1f}"
        " clicks); a run with no click still",
        f"has a 95% upper bound of {100 * high:.1f}%. This checks the estimators and the data path;"
        " it CANNOT rank learners.",
        f"Ratios are to uniform random's value {pct(baseline)} (MOVER-R intervals). SNIPS"
        " weights every row",
        "by the policy's probability of the logged item before its outcome (bootstrap CI; ESS ="
        " Kish effective rows).",
    ]
    for note in notes:
        print("   " + note)
    offers = offer_dicts(random_log.items)
    policies: list[Callable[[int], ReplayPolicy]] = [
        lambda seed: UniformRandom(k, seed),
        lambda seed: BetaThompson(k, seed),
        lambda seed: EpsilonGreedy(k, seed),
        lambda seed: NboPolicy(k, seed, offers),
    ]
    for make in policies:
        evaluate(make, random_log, baseline, args.seeds, args.n_boot)
    print(f"\n(done in {time.perf_counter() - started:.0f}s)")


if __name__ == "__main__":
    main()
