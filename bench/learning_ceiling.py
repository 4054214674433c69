"""What the learner extracts from a log, against a batch fit of the same model: a fast loop.

``bench/simulate.py`` measures the whole bandit (policy, delays, events) in about 40 s a run. This
measures the learner alone, in seconds: it draws a *uniformly* logged stream from the simulator's
world (:mod:`bench.sim_world`: each interaction shows a random eligible offer, accepted with the
truth's probability), learns it in order with ``models.BanditModel`` (in batches of 500, as the
learner does) and, at each checkpoint, prints the greedy choice's expected acceptance (the
eligible offer ranked first by the posterior mean) over the oracle's, on fresh interactions.

With ``--batch`` it also fits the same crosses (the normalised context tokens x the offer tokens,
as :mod:`models.features` encodes them) by MAP logistic regression on the whole log (scipy's
L-BFGS; scipy comes with river), for a grid of prior variances, one for the crosses with an
offer's id and one for the crosses with its shared attributes: what this model family can get
from this much data, whatever the online learning.

    python bench/learning_ceiling.py --seed 1 [--batch] [--decisions 20000] [--model-kw k=v,...]

World options as ``bench/simulate.py`` (``--offers --segments --customers --base-rate``).
Measured (see the record in ``models.BanditModel``'s docstring): on 20,000 uniform outcomes of
the default world, seed 1, the online model's greedy reaches 0.714 of the oracle; the batch fit
0.71 to 0.78 over the grid (0.726 with the model's own prior). One log's figures are noisy (at
3,000 outcomes two logs gave 0.57 and 0.71): compare variants on the same log and several seeds.
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sim_world import Context, World, WorldConfig  # noqa: E402
from simulate import context_of, model_kwargs  # noqa: E402

from models import BanditModel  # noqa: E402
from models.features import encode, encode_offer  # noqa: E402

FloatArray = npt.NDArray[np.float64]
NOW = datetime(2026, 1, 5, 14, tzinfo=UTC)


class Log:
    """A uniformly logged stream: contexts, the offer shown, the outcome."""

    def __init__(self, world: World, n: int, seed: int) -> None:
        # one generator per quantity: the first k outcomes do not depend on n
        draws, picks, accepts = (
            np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3)
        )
        self.contexts: list[dict[str, Any]] = []
        self.offers: list[int] = []
        self.accepted: list[bool] = []
        for ctx in world.draw_contexts(draws, n):
            j = int(picks.choice(world.eligible[ctx.channel]))
            self.contexts.append(context_of(world, ctx, NOW, "sim-"))
            self.offers.append(j)
            self.accepted.append(bool(accepts.random() < world.probabilities(ctx)[j]))


class Judge:
    """Greedy choices on fresh interactions against the oracle's."""

    def __init__(self, world: World, n: int, seed: int) -> None:
        self.world = world
        self.interactions: list[Context] = world.draw_contexts(np.random.default_rng(seed), n)
        self.contexts = [context_of(world, c, NOW, "sim-") for c in self.interactions]
        self.probs = [world.probabilities(c) for c in self.interactions]
        self.eligible = [world.eligible[c.channel] for c in self.interactions]
        self.oracle = sum(float(p[e].max()) for p, e in zip(self.probs, self.eligible, strict=True))

    def ratio(self, means: list[FloatArray]) -> float:
        """``means[k]``: the logits of interaction k's eligible offers."""
        got = sum(
            float(p[e[int(np.argmax(m))]])
            for p, e, m in zip(self.probs, self.eligible, means, strict=True)
        )
        return got / self.oracle


def attributes(world: World) -> list[dict[str, Any]]:
    return [{"id": o.offer_id, "kind": "offer"} | o.attributes() for o in world.offers]


def online(
    world: World, log: Log, judge: Judge, spec: str, checkpoints: list[int]
) -> list[tuple[int, float]]:
    model = BanditModel(**model_kwargs(spec))
    offers = attributes(world)
    examples = [{f"offer.{k}": v for k, v in a.items()} for a in offers]
    out = []
    done = 0
    for cp in checkpoints:
        for lo in range(done, cp, 500):
            hi = min(lo + 500, cp)
            model.learn_pairs(
                log.contexts[lo:hi], [offers[j] for j in log.offers[lo:hi]], log.accepted[lo:hi]
            )
        done = cp
        snapshot = model.export()
        matrix = snapshot.encode_offers(examples)
        means = [
            snapshot.score(c, matrix.take(e))[0]
            for c, e in zip(judge.contexts, judge.eligible, strict=True)
        ]
        out.append((cp, judge.ratio(means)))
    return out


def _context_tokens(context: dict[str, Any]) -> list[tuple[str, float]]:
    tokens = encode(context)
    norm = math.sqrt(sum(v * v for _, v in tokens))
    return [(t, v / norm) for t, v in tokens]


def batch(
    world: World, log: Log, judge: Judge, grid: list[tuple[float, float]]
) -> list[tuple[float, float, float]]:
    """MAP fits of the crosses for each (attribute prior variance, id prior variance)."""
    from scipy import sparse
    from scipy.optimize import minimize

    rows: dict[str, int] = {"1": 0}
    cols: dict[str, int] = {"1": 0}
    offer_tokens = [encode_offer(a) for a in attributes(world)]
    for tokens in offer_tokens:
        for t, _ in tokens:
            cols.setdefault(t, len(cols))
    events: list[int] = []
    cells: list[tuple[int, int]] = []
    values: list[float] = []
    for k, (context, j) in enumerate(zip(log.contexts, log.offers, strict=True)):
        for t, x in _context_tokens(context):
            r = rows.setdefault(t, len(rows))
            for u, a in offer_tokens[j]:
                events.append(k)
                cells.append((r, cols[u]))
                values.append(x * a)
    n_rows, n_cols = len(rows), len(cols)
    flat = [r * n_cols + c for r, c in cells]
    design = sparse.csr_matrix((values, (events, flat)), shape=(len(log.offers), n_rows * n_cols))
    y = np.asarray(log.accepted, dtype=np.float64)
    is_id = np.zeros(n_rows * n_cols, dtype=bool)
    for t, c in cols.items():
        if t.startswith("id="):
            is_id[np.arange(n_rows) * n_cols + c] = True
    offers_matrix = np.zeros((len(offer_tokens), n_cols))
    for j, tokens in enumerate(offer_tokens):
        for u, a in tokens:
            offers_matrix[j, cols[u]] = a
    x_eval = np.zeros((len(judge.contexts), n_rows))
    for k, context in enumerate(judge.contexts):
        for t, x in _context_tokens(context):
            if t in rows:
                x_eval[k, rows[t]] = x
    out = []
    for attr_var, id_var in grid:
        precision = np.where(is_id, 1.0 / id_var, 1.0 / attr_var)
        precision[0] = 0.0  # bias x bias: the intercept

        def loss(w: FloatArray, precision: FloatArray = precision) -> tuple[float, FloatArray]:
            z = design @ w
            value = float((np.logaddexp(0.0, z) - y * z).sum() + 0.5 * (precision * w * w).sum())
            grad = design.T @ (1.0 / (1.0 + np.exp(-z)) - y) + precision * w
            return value, grad

        w0 = np.zeros(n_rows * n_cols)
        w0[0] = math.log(y.mean() / (1.0 - y.mean()))
        fit = minimize(loss, w0, jac=True, method="L-BFGS-B", options={"maxiter": 1000})
        logits = x_eval @ fit.x.reshape(n_rows, n_cols) @ offers_matrix.T
        means = [logits[k, e] for k, e in enumerate(judge.eligible)]
        out.append((attr_var, id_var, judge.ratio(means)))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--decisions", type=int, default=20000, help="outcomes in the uniform log")
    p.add_argument("--checkpoints", default="3000,6000,10000", help="and --decisions itself")
    p.add_argument("--eval", type=int, default=3000, help="fresh interactions judged")
    p.add_argument("--model-kw", action="append", default=[], help="a model variant (repeatable)")
    p.add_argument("--batch", action="store_true", help="also the batch MAP fits")
    p.add_argument("--attr-variances", default="1,4,16", help="batch: attribute crosses' priors")
    p.add_argument("--id-variances", default="1,4", help="batch: id crosses' prior variances")
    defaults = WorldConfig()
    p.add_argument("--offers", type=int, default=defaults.offers)
    p.add_argument("--segments", type=int, default=defaults.segments)
    p.add_argument("--customers", type=int, default=defaults.customers)
    p.add_argument("--base-rate", type=float, default=defaults.base_rate)
    args = p.parse_args(argv)
    config = WorldConfig(
        customers=args.customers,
        offers=args.offers,
        segments=args.segments,
        base_rate=args.base_rate,
    )
    world = World(config, seed=args.seed)
    log = Log(world, args.decisions, args.seed + 5)
    judge = Judge(world, args.eval, args.seed + 99)
    checkpoints = sorted(
        {int(c) for c in args.checkpoints.split(",") if c and int(c) < args.decisions}
        | {args.decisions}
    )
    print(
        f"# seed {args.seed}, {len(world.offers)} offers, {args.decisions:,} uniform outcomes "
        f"({np.mean(log.accepted):.3f} accepted); greedy / oracle on {args.eval:,} fresh "
        "interactions"
    )
    for spec in args.model_kw or [""]:
        started = time.perf_counter()
        figures = " ".join(
            f"{cp:,}: {r:.3f}" for cp, r in online(world, log, judge, spec, checkpoints)
        )
        print(f"online {spec or '(defaults)'}: {figures} ({time.perf_counter() - started:.1f} s)")
    if args.batch:
        grid = list(
            itertools.product(
                [float(v) for v in args.attr_variances.split(",")],
                [float(v) for v in args.id_variances.split(",")],
            )
        )
        for attr_var, id_var, r in batch(world, log, judge, grid):
            print(f"batch MAP, prior variance attributes {attr_var:g}, ids {id_var:g}: {r:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
