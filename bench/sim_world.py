"""The ground truth of ``bench/simulate.py``: customers, offers, channels and who accepts what.

Everything is drawn from one seeded generator with a fixed parametric form; nothing is tuned to
nbo's model. The acceptance probability of offer ``o`` for customer ``c`` reached on channel ``h``
with intent ``i`` is ``sigmoid(logit)`` with

    logit = b0                                   intercept, set so the mean acceptance is base_rate
          + resp[c]                              the customer's general responsiveness
          + chan[h]                              the channel's general acceptance level
          + seg_cat[segment(c), cat(o)]          segment x category
          + age_cat[age_band(c), cat(o)]         age band x category
          + region_cat[region(c), cat(o)]        region x category (small)
          + chan_cat[h, cat(o)]                  channel x category
          + intent_cat[i, cat(o)]                intent of the interaction x category
          + sum_f z_f(c) * num_cat[f, cat(o)]    standardised numeric features x category
          + sum_p held_p(c) * held_cat[p, cat(o)] products held x category (own product: negative)
          - price_sens[value_tier(c)] * price_level(o)      price sensitivity by value tier
          + term_tenure[term(o)] * z_tenure(c)   contract term x tenure
          + offer_eff[o]                         per-offer idiosyncratic appeal
          + seg_offer[segment(c), o]             per-offer, per-segment idiosyncratic appeal
          + taste[c, cat(o)]                     the customer's own taste (no feature explains it)

Each block is a normal draw with the scale given in :class:`WorldConfig` (``price_sens`` is drawn
per value tier from ordered ranges: low-value customers mind price most). Customers' demographics
(segment mix, age bands, value tiers, products, channel and intent preferences) are drawn from the
same generator. Two scripted events sit on top of the random truth:

- :meth:`World.add_new_offer`: a new offer (category, price tier and term drawn at random) whose
  appeal for one segment (drawn at random) is raised until, on average over that segment's
  interactions, its acceptance is ``new_offer_lift`` times that of the best existing offer.
- :meth:`World.apply_drift`: for ``drift_segments`` segments (drawn at random, never the new
  offer's), the previously favourite category loses ``drift_drop`` on the logit and another
  category (drawn at random) gains ``drift_rise``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["CHANNELS", "Context", "Offer", "World", "WorldConfig"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

CHANNELS = ("web", "app", "call_center")
INTERACTION = {"web": "visit", "app": "session", "call_center": "call"}
INTENTS = ("browse", "upgrade", "billing", "support", "cancel")
SEGMENTS = ("youth", "family", "professional", "senior", "budget", "business")
AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55-64", "65+")
REGIONS = ("north", "south", "east", "west", "capital")
VALUE_TIERS = ("low", "mid", "high")
CATEGORIES = ("data", "voice", "broadband", "tv", "device", "roaming", "insurance", "streaming")
PRODUCTS = ("mobile", "broadband", "tv", "device", "insurance", "streaming")
OWN_PRODUCT = {
    "data": "mobile",
    "voice": "mobile",
    "broadband": "broadband",
    "tv": "tv",
    "device": "device",
    "roaming": "mobile",
    "insurance": "insurance",
    "streaming": "streaming",
}
PRICE_TIERS = ("low", "mid", "high")
TERMS = ("none", "12m", "24m")
NUMERIC = (
    "tenure_months",
    "monthly_spend",
    "data_usage_gb",
    "handset_age_months",
    "contract_end_months",
)


@dataclass(frozen=True)
class WorldConfig:
    """Sizes and the scales of the truth's random blocks (logit units)."""

    customers: int = 5000
    offers: int = 48
    segments: int = 6
    """Customer segments (the first six are named; more are ``segment6``, ...)."""
    base_rate: float = 0.04
    """Mean acceptance of a uniformly random eligible offer (sets the intercept)."""
    resp_sd: float = 0.4
    chan_sd: float = 0.3
    seg_cat_sd: float = 0.55
    age_cat_sd: float = 0.2
    region_cat_sd: float = 0.1
    chan_cat_sd: float = 0.35
    intent_cat_sd: float = 0.4
    num_cat_sd: float = 0.2
    held_cat_sd: float = 0.15
    own_product_mean: float = -0.3
    own_product_sd: float = 0.3
    price_sens_ranges: tuple[tuple[float, float], ...] = ((0.4, 0.7), (0.1, 0.3), (-0.15, 0.05))
    term_tenure_sd: float = 0.3
    offer_sd: float = 0.35
    seg_offer_sd: float = 0.15
    taste_sd: float = 0.25
    channel_exclusion: float = 0.2
    """Probability that an offer is not available on one (random) channel."""
    new_offer_lift: float = 2.5
    drift_segments: int = 2
    drift_rise: float = 1.8
    drift_drop: float = 1.2


@dataclass(frozen=True)
class Offer:
    offer_id: str
    name: str
    category: str
    price_tier: str
    term: str
    channels: tuple[str, ...]
    value: float = 1.0

    def attributes(self) -> dict[str, Any]:
        return {"category": self.category, "price_tier": self.price_tier, "term": self.term}

    def example(self) -> dict[str, Any]:
        """The offer side of a learning example, as the service builds it."""
        return {"offer.id": self.offer_id, "offer.kind": "offer"} | {
            f"offer.{k}": v for k, v in self.attributes().items()
        }


@dataclass(frozen=True)
class Context:
    """One interaction: who, where, why."""

    customer: int
    channel: int
    intent: int


def _sigmoid(z: FloatArray) -> FloatArray:
    result: FloatArray = 1.0 / (1.0 + np.exp(-z))
    return result


def _draw_rows(rng: np.random.Generator, probs: FloatArray) -> IntArray:
    """One categorical draw per row of a (rows x categories) probability matrix."""
    u = rng.random((probs.shape[0], 1))
    result: IntArray = np.minimum((np.cumsum(probs, axis=1) < u).sum(axis=1), probs.shape[1] - 1)
    return result


@dataclass
class World:
    config: WorldConfig
    seed: int
    offers: list[Offer] = field(default_factory=list)
    customer_features: list[dict[str, Any]] = field(default_factory=list)
    new_offer_segment: int = -1
    new_offer_index: int = -1
    drifted_segments: tuple[int, ...] = ()
    drift_description: str = ""

    def __post_init__(self) -> None:
        cfg = self.config
        rng = self._rng = np.random.default_rng(self.seed)
        n, k = cfg.customers, len(CATEGORIES)
        extra = tuple(f"segment{i}" for i in range(len(SEGMENTS), cfg.segments))
        self.segment_names: tuple[str, ...] = (SEGMENTS + extra)[: cfg.segments]
        # -- customers
        seg_mix = rng.dirichlet(np.full(len(self.segment_names), 4.0))
        self.seg = rng.choice(len(self.segment_names), size=n, p=seg_mix)
        age_pref = rng.dirichlet(np.full(len(AGE_BANDS), 0.7), size=len(self.segment_names))
        value_pref = rng.dirichlet(np.full(len(VALUE_TIERS), 1.5), size=len(self.segment_names))
        region_mix = rng.dirichlet(np.full(len(REGIONS), 5.0))
        self.age = _draw_rows(rng, age_pref[self.seg])
        self.value = _draw_rows(rng, value_pref[self.seg])
        self.region = rng.choice(len(REGIONS), size=n, p=region_mix)
        product_base = rng.uniform(0.1, 0.6, size=len(PRODUCTS))
        product_tilt = rng.normal(0.0, 0.8, size=(len(self.segment_names), len(PRODUCTS)))
        logit_held = np.log(product_base / (1 - product_base)) + product_tilt[self.seg]
        self.held = rng.random((n, len(PRODUCTS))) < _sigmoid(logit_held)
        tenure = np.clip(rng.lognormal(3.2, 0.9, size=n), 1, 300).astype(int)
        spend = np.round(rng.lognormal(3.0 + 0.7 * self.value, 0.3), 2)
        usage = np.round(rng.lognormal(1.5, 1.0, size=n), 1)
        handset = rng.integers(0, 48, size=n)
        contract_end = rng.integers(0, 25, size=n)
        numeric = np.column_stack([tenure, spend, usage, handset, contract_end]).astype(float)
        logged = np.log1p(numeric)
        self.z_num = (logged - logged.mean(axis=0)) / logged.std(axis=0)
        self.z_tenure = self.z_num[:, 0]
        complaints = rng.poisson(0.3, size=n)
        app_user = (
            rng.random(n) < _sigmoid(rng.normal(0.0, 1.0, size=len(self.segment_names)))[self.seg]
        )
        self.activity = rng.lognormal(0.0, 0.7, size=n)
        self.activity /= self.activity.sum()
        chan_pref = rng.dirichlet(np.full(len(CHANNELS), 2.0), size=len(self.segment_names))
        self.chan_pref = chan_pref
        self.intent_pref = rng.dirichlet(np.full(len(INTENTS), 1.5), size=len(CHANNELS))
        for c in range(n):
            self.customer_features.append(
                {
                    "segment": self.segment_names[self.seg[c]],
                    "age_band": AGE_BANDS[self.age[c]],
                    "region": REGIONS[self.region[c]],
                    "value_tier": VALUE_TIERS[self.value[c]],
                    "products_held": [p for j, p in enumerate(PRODUCTS) if self.held[c, j]],
                    "tenure_months": int(tenure[c]),
                    "monthly_spend": float(spend[c]),
                    "data_usage_gb": float(usage[c]),
                    "handset_age_months": int(handset[c]),
                    "contract_end_months": int(contract_end[c]),
                    "complaints_12m": int(complaints[c]),
                    "app_user": bool(app_user[c]),
                }
            )
        # -- the truth's blocks
        self.resp = rng.normal(0.0, cfg.resp_sd, size=n)
        self.chan = rng.normal(0.0, cfg.chan_sd, size=len(CHANNELS))
        self.seg_cat = rng.normal(0.0, cfg.seg_cat_sd, size=(len(self.segment_names), k))
        self.age_cat = rng.normal(0.0, cfg.age_cat_sd, size=(len(AGE_BANDS), k))
        self.region_cat = rng.normal(0.0, cfg.region_cat_sd, size=(len(REGIONS), k))
        self.chan_cat = rng.normal(0.0, cfg.chan_cat_sd, size=(len(CHANNELS), k))
        self.intent_cat = rng.normal(0.0, cfg.intent_cat_sd, size=(len(INTENTS), k))
        self.num_cat = rng.normal(0.0, cfg.num_cat_sd, size=(len(NUMERIC), k))
        self.held_cat = rng.normal(0.0, cfg.held_cat_sd, size=(len(PRODUCTS), k))
        for j, cat in enumerate(CATEGORIES):
            p = PRODUCTS.index(OWN_PRODUCT[cat])
            self.held_cat[p, j] = rng.normal(cfg.own_product_mean, cfg.own_product_sd)
        self.price_sens = np.array([rng.uniform(lo, hi) for lo, hi in cfg.price_sens_ranges])
        self.term_tenure = rng.normal(0.0, cfg.term_tenure_sd, size=len(TERMS))
        self.taste = rng.normal(0.0, cfg.taste_sd, size=(n, k))
        self.b0 = 0.0
        # -- offers
        self._offer_eff: list[float] = []
        self._seg_offer: list[FloatArray] = []
        for i in range(cfg.offers):
            self._append_offer(self._draw_offer(f"o{i:02d}", exclusion=True))
        self._rebuild()
        self._calibrate()

    # ---------------------------------------------------------------- offers

    def _draw_offer(self, offer_id: str, *, exclusion: bool) -> Offer:
        rng = self._rng
        category = CATEGORIES[int(rng.integers(len(CATEGORIES)))]
        price = PRICE_TIERS[int(rng.integers(len(PRICE_TIERS)))]
        term = TERMS[int(rng.integers(len(TERMS)))]
        channels = list(CHANNELS)
        if exclusion and rng.random() < self.config.channel_exclusion:
            channels.pop(int(rng.integers(len(channels))))
        name = f"{category} {price} {term}"
        return Offer(offer_id, name, category, price, term, tuple(channels))

    def _append_offer(self, offer: Offer) -> None:
        self.offers.append(offer)
        self._offer_eff.append(float(self._rng.normal(0.0, self.config.offer_sd)))
        self._seg_offer.append(
            self._rng.normal(0.0, self.config.seg_offer_sd, size=len(self.segment_names))
        )

    def _rebuild(self) -> None:
        """Precompute the customer part (customers x offers) and the channel / intent parts."""
        cat = np.array([CATEGORIES.index(o.category) for o in self.offers])
        price = np.array([PRICE_TIERS.index(o.price_tier) for o in self.offers], dtype=float)
        term = np.array([TERMS.index(o.term) for o in self.offers])
        seg_offer = np.column_stack(self._seg_offer)  # segments x offers
        base = (
            self.resp[:, None]
            + self.seg_cat[self.seg][:, cat]
            + self.age_cat[self.age][:, cat]
            + self.region_cat[self.region][:, cat]
            + (self.z_num @ self.num_cat)[:, cat]
            + (self.held.astype(float) @ self.held_cat)[:, cat]
            - self.price_sens[self.value][:, None] * price[None, :]
            + self.z_tenure[:, None] * self.term_tenure[term][None, :]
            + np.asarray(self._offer_eff)[None, :]
            + seg_offer[self.seg]
            + self.taste[:, cat]
        )
        self._customer_part: FloatArray = base
        self._taste_part: FloatArray = self.taste[:, cat]
        self._channel_part: FloatArray = self.chan[:, None] + self.chan_cat[:, cat]
        self._intent_part: FloatArray = self.intent_cat[:, cat]
        self.eligible: list[IntArray] = [
            np.array([j for j, o in enumerate(self.offers) if ch in o.channels], dtype=np.intp)
            for ch in CHANNELS
        ]
        self.values = np.array([o.value for o in self.offers])

    def _calibrate(self) -> None:
        """Set the intercept so a uniformly random eligible offer is accepted at base_rate."""
        rng = np.random.default_rng(self.seed + 7919)
        sample = self.draw_contexts(rng, 4000)
        logits = np.stack([self._logits(ctx) for ctx in sample])
        mask = np.zeros_like(logits)
        for row, ctx in enumerate(sample):
            mask[row, self.eligible[ctx.channel]] = 1.0
        mask /= mask.sum(axis=1, keepdims=True) * len(sample)
        lo, hi = -10.0, 5.0
        for _ in range(60):
            mid = (lo + hi) / 2
            mean = float((_sigmoid(logits + mid) * mask).sum())
            lo, hi = (mid, hi) if mean < self.config.base_rate else (lo, mid)
        self.b0 = (lo + hi) / 2

    # ---------------------------------------------------------------- interactions

    def draw_context(self, rng: np.random.Generator) -> Context:
        c = int(rng.choice(len(self.activity), p=self.activity))
        h = int(rng.choice(len(CHANNELS), p=self.chan_pref[self.seg[c]]))
        i = int(rng.choice(len(INTENTS), p=self.intent_pref[h]))
        return Context(c, h, i)

    def draw_contexts(self, rng: np.random.Generator, n: int) -> list[Context]:
        u = rng.random((n, 3))  # row by row: the first k contexts do not depend on n
        customers = np.searchsorted(np.cumsum(self.activity), u[:, 0] * self.activity.sum())
        customers = np.minimum(customers, len(self.activity) - 1)
        chan_cdf = np.cumsum(self.chan_pref, axis=1)
        intent_cdf = np.cumsum(self.intent_pref, axis=1)
        out = []
        for c, a, b in zip(customers.tolist(), u[:, 1].tolist(), u[:, 2].tolist(), strict=True):
            h = min(int(np.searchsorted(chan_cdf[self.seg[c]], a)), len(CHANNELS) - 1)
            i = min(int(np.searchsorted(intent_cdf[h], b)), len(INTENTS) - 1)
            out.append(Context(c, h, i))
        return out

    def _logits(self, ctx: Context) -> FloatArray:
        result: FloatArray = (
            self.b0
            + self._customer_part[ctx.customer]
            + self._channel_part[ctx.channel]
            + self._intent_part[ctx.intent]
        )
        return result

    def learnable_logits(self, ctx: Context) -> FloatArray:
        """The logits without the customer's own taste, which no feature explains."""
        result: FloatArray = self._logits(ctx) - self._taste_part[ctx.customer]
        return result

    def probabilities(self, ctx: Context) -> FloatArray:
        """Acceptance probability of every offer (eligible or not) in this interaction."""
        return _sigmoid(self._logits(ctx))

    def features(self, ctx: Context) -> dict[str, Any]:
        return self.customer_features[ctx.customer]

    def channel(self, ctx: Context) -> str:
        return CHANNELS[ctx.channel]

    def interaction(self, ctx: Context) -> str:
        return INTERACTION[CHANNELS[ctx.channel]]

    def intent(self, ctx: Context) -> str:
        return INTENTS[ctx.intent]

    def segment(self, ctx: Context) -> int:
        return int(self.seg[ctx.customer])

    # ---------------------------------------------------------------- scripted events

    def _segment_contexts(self, segments: tuple[int, ...], n: int) -> list[Context]:
        rng = np.random.default_rng(self.seed + 104729)
        members = np.flatnonzero(np.isin(self.seg, segments))
        weights = self.activity[members] / self.activity[members].sum()
        out = []
        for c in rng.choice(members, size=n, p=weights).tolist():
            h = int(rng.choice(len(CHANNELS), p=self.chan_pref[self.seg[c]]))
            i = int(rng.choice(len(INTENTS), p=self.intent_pref[h]))
            out.append(Context(c, h, i))
        return out

    def add_new_offer(self) -> Offer:
        """Add the new offer: clearly the best for one segment (see the module docstring)."""
        segment = int(self._rng.integers(len(self.segment_names)))
        offer = self._draw_offer(f"o{len(self.offers):02d}new", exclusion=False)
        offer = Offer(
            offer.offer_id,
            f"NEW {offer.name}",
            offer.category,
            offer.price_tier,
            offer.term,
            offer.channels,
            offer.value,
        )
        self._append_offer(offer)
        index = len(self.offers) - 1
        self._rebuild()
        sample = self._segment_contexts((segment,), 3000)
        parts = []
        for ctx in sample:
            z = self._logits(ctx)
            old = self.eligible[ctx.channel][self.eligible[ctx.channel] != index]
            parts.append((z[index], float(_sigmoid(z[old]).max())))
        new_z = np.array([p[0] for p in parts])
        best_old = np.array([p[1] for p in parts])
        lo, hi = -5.0, 10.0
        for _ in range(60):
            mid = (lo + hi) / 2
            lift = float((_sigmoid(new_z + mid) / best_old).mean())
            lo, hi = (mid, hi) if lift < self.config.new_offer_lift else (lo, mid)
        self._seg_offer[index][segment] += (lo + hi) / 2
        self._rebuild()
        self.new_offer_segment, self.new_offer_index = segment, index
        return offer

    def apply_drift(self) -> str:
        """Change the segment x category appeal for some segments (see the module docstring)."""
        cfg = self.config
        choices = [s for s in range(len(self.segment_names)) if s != self.new_offer_segment]
        picked = self._rng.choice(len(choices), size=cfg.drift_segments, replace=False)
        segments = tuple(sorted(choices[int(j)] for j in picked))
        favourites = {s: self._favourite_category(s) for s in segments}
        others = [k for k in range(len(CATEGORIES)) if k not in favourites.values()]
        rising = others[int(self._rng.integers(len(others)))]
        for s, fav in favourites.items():
            self.seg_cat[s, fav] -= cfg.drift_drop
            self.seg_cat[s, rising] += cfg.drift_rise
        self._rebuild()
        self.drifted_segments = segments
        falls = ", ".join(
            f"{self.segment_names[s]}: {CATEGORIES[f]}" for s, f in favourites.items()
        )
        self.drift_description = (
            f"segments {', '.join(self.segment_names[s] for s in segments)}: category "
            f"{CATEGORIES[rising]} +{cfg.drift_rise:g} logit; previous favourite "
            f"-{cfg.drift_drop:g} ({falls})"
        )
        return self.drift_description

    def _favourite_category(self, segment: int) -> int:
        sample = self._segment_contexts((segment,), 1500)
        cat = np.array([CATEGORIES.index(o.category) for o in self.offers])
        totals = np.zeros(len(CATEGORIES))
        counts = np.zeros(len(CATEGORIES))
        for ctx in sample:
            elig = self.eligible[ctx.channel]
            p = self.probabilities(ctx)[elig]
            np.add.at(totals, cat[elig], p)
            np.add.at(counts, cat[elig], 1.0)
        return int(np.argmax(totals / np.maximum(counts, 1.0)))

    # ---------------------------------------------------------------- description

    def describe(self, rng: np.random.Generator, n: int = 5000) -> dict[str, float]:
        """Realism figures of the truth over random interactions (all eligible offers)."""
        ps, best, rand = [], [], []
        for ctx in self.draw_contexts(rng, n):
            p = self.probabilities(ctx)[self.eligible[ctx.channel]]
            ps.append(p)
            best.append(p.max())
            rand.append(p.mean())
        allp = np.concatenate(ps)
        return {
            "mean": float(allp.mean()),
            "median": float(np.median(allp)),
            "share_1_15": float(((allp >= 0.01) & (allp <= 0.15)).mean()),
            "share_below_1": float((allp < 0.01).mean()),
            "share_above_15": float((allp > 0.15).mean()),
            "p99": float(np.quantile(allp, 0.99)),
            "oracle": float(np.mean(best)),
            "random": float(np.mean(rand)),
        }
