"""The hybrid model's own part and its forgetting: what they are for, checked on small worlds."""

from __future__ import annotations

import pickle
import random
from typing import Any

import numpy as np
import pytest

from models import BanditModel, Snapshot

OFFERS = [{"id": "o1", "category": "tv"}, {"id": "o2", "category": "tv"}]


def _score(model: BanditModel, segment: str) -> tuple[Any, Any]:
    snapshot = model.export()
    return snapshot.score({"segment": segment}, snapshot.encode_offers(OFFERS))


def test_an_offers_own_preference_is_learned_apart_from_its_shared_attributes() -> None:
    """Two offers with the same attributes, each liked by another segment: only ids tell them."""
    rng = random.Random(3)
    model = BanditModel()
    for _ in range(3000):
        segment = rng.choice("AB")
        offer = rng.choice(OFFERS)
        liked = (segment == "A") == (offer["id"] == "o1")
        model.learn_pair({"segment": segment}, offer, rng.random() < (0.3 if liked else 0.03))
    mean_a, _ = _score(model, "A")
    mean_b, _ = _score(model, "B")
    assert mean_a[0] > mean_a[1] + 1.0
    assert mean_b[1] > mean_b[0] + 1.0


@pytest.mark.parametrize(("half_life", "grows"), [(500.0, True), (None, False)])
def test_old_evidence_is_forgotten_only_with_a_half_life(
    half_life: float | None, grows: bool
) -> None:
    model = BanditModel(half_life=half_life)
    for n in range(500):
        model.learn_pair({"segment": "A"}, OFFERS[0], n % 10 == 0)
    _, before = _score(model, "A")
    for n in range(2000):  # only the other offer is shown now
        model.learn_pair({"segment": "A"}, OFFERS[1], n % 10 == 0)
    _, after = _score(model, "A")
    assert bool(after[0] > 1.5 * before[0]) == grows
    assert grows or after[0] <= before[0]


def test_the_snapshot_scores_the_own_part_like_the_model_and_round_trips() -> None:
    rng = random.Random(5)
    model = BanditModel()
    for _ in range(400):
        model.learn_pair({"segment": rng.choice("ABC")}, rng.choice(OFFERS), rng.random() < 0.2)
    snapshot = model.export(version=2)
    offers = snapshot.encode_offers([*OFFERS, {"id": "new", "category": "tv"}])
    assert sorted(offers.own[:2].tolist()) == [0, 1] and offers.own[2] == -1
    mean, var = snapshot.score({"segment": "B"}, offers)
    for n, offer in enumerate([*OFFERS, {"id": "new", "category": "tv"}]):
        x = {"segment": "B"} | {f"offer.{k}": v for k, v in offer.items()}
        expected = model.predict_proba_one(x)
        assert Snapshot.calibrated(mean, var)[n] == pytest.approx(expected, rel=1e-9)
    assert var[2] > var[0]  # the offer never learned is the least known
    loaded = Snapshot.from_bytes(snapshot.to_bytes())
    mean2, var2 = loaded.score({"segment": "B"}, loaded.encode_offers(OFFERS))
    assert np.allclose(mean2, mean[:2], atol=1e-4) and np.allclose(var2, var[:2], rtol=1e-4)
    assert loaded.drivers(OFFERS[0])  # the own weights count among the drivers


def _split(examples: list[tuple[dict[str, Any], bool]]) -> tuple[list[Any], list[Any], list[bool]]:
    contexts = [{k: v for k, v in x.items() if not k.startswith("offer.")} for x, _ in examples]
    offers = [{k[6:]: v for k, v in x.items() if k.startswith("offer.")} for x, _ in examples]
    return contexts, offers, [y for _, y in examples]


def _world(n: int, seed: int) -> list[tuple[dict[str, Any], bool]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        x: dict[str, Any] = {
            "segment": rng.choice("ABC"),
            "tenure_months": rng.randint(0, 120),
            "products_held": rng.sample(["mobile", "tv", "fibre", "tv"], 2),  # may repeat
            "spend": rng.lognormvariate(4, 1) * rng.choice([1, -1]),
            "offer.id": f"o{rng.randint(0, 5)}",
            "offer.category": rng.choice(["tv", "data"]),
        }
        out.append((x, rng.random() < (0.3 if x["segment"] == "A" else 0.05)))
    return out


@pytest.mark.parametrize("scale_numeric", [False, True])
def test_learning_a_batch_is_learning_its_outcomes_one_at_a_time(scale_numeric: bool) -> None:
    """The learner's batch path must not change the maths: same model as one at a time."""
    examples = _world(1300, seed=11)
    # own dims cover every token here: which tokens are "the first met" may differ in a batch
    one, batched = (
        BanditModel(own_dims=64, half_life=300.0, scale_numeric=scale_numeric) for _ in range(2)
    )
    for x, y in examples:
        one.learn_one(x, y)
    for start in range(0, len(examples), 500):  # forgetting fires inside batches
        batched.learn_pairs(*_split(examples[start : start + 500]))
    assert batched.n_learned == one.n_learned == 1300
    probes = [x for x, _ in _world(30, seed=12)]
    got = np.array([batched.predict_proba_one(x) for x in probes])
    want = np.array([one.predict_proba_one(x) for x in probes])
    if scale_numeric:  # the numeric scales are updated per batch, not per outcome: close
        assert np.allclose(got, want, rtol=0.05)
    else:
        assert np.allclose(got, want, rtol=1e-9)


def test_numeric_tokens_are_scaled_to_unit_rms_in_the_model_and_the_snapshot() -> None:
    model = BanditModel(scale_numeric=True)
    examples = _world(400, seed=13)
    model.learn_pairs(*_split(examples))
    snapshot = model.export()
    scale = snapshot.row_scale[snapshot.row_index["spend"]]
    spends = np.array([np.log1p(abs(x["spend"])) for x, _ in examples])
    assert scale == pytest.approx(1.0 / np.sqrt(np.mean(spends**2)))
    assert snapshot.row_scale[snapshot.row_index["segment=A"]] == 1.0
    x = examples[0][0]
    context = {k: v for k, v in x.items() if not k.startswith("offer.")}
    offers = snapshot.encode_offers([{k: v for k, v in x.items() if k.startswith("offer.")}])
    mean, var = snapshot.score(context, offers)
    assert Snapshot.calibrated(mean, var)[0] == pytest.approx(model.predict_proba_one(x), rel=1e-9)


def test_a_checkpoint_of_the_previous_model_loads_and_learns_on() -> None:
    """Learners restart from pickled checkpoints: one written before the batch path (own part
    grown with the tokens, no numeric statistics) must load, predict the same and learn."""
    model = BanditModel(own_dims=32)
    examples = _world(300, seed=21)
    model.learn_pairs(*_split(examples))
    state = pickle.loads(pickle.dumps(model.__getstate__()))  # its own arrays
    for name in ("_numeric", "_sq_sum", "_sq_n", "scale_numeric"):
        del state[name]
    used = len(model._rows)  # the previous model's own part covered only the tokens seen
    state["_theta"] = state["_theta"][:, :used].copy()
    state["_cov"] = state["_cov"][:, :used, :used].copy()
    old = BanditModel.__new__(BanditModel)
    old.__setstate__(state)
    probe = examples[0][0]
    assert old.predict_proba_one(probe) == pytest.approx(model.predict_proba_one(probe), rel=1e-9)
    assert old.own_dims == 32 and old._cov.shape[1:] == (32, 32)
    old.learn_pairs(*_split(examples[:50]))
    model.learn_pairs(*_split(examples[:50]))
    assert old.predict_proba_one(probe) == pytest.approx(model.predict_proba_one(probe), rel=1e-6)


def test_a_zero_numeric_adds_no_token_in_learning_or_serving() -> None:
    """Zero counts (the service's real-time aggregates, mostly 0) must not dilute the context:
    a context with zeros added learns and scores exactly as the one without them."""
    zeros = {f"visits_{w}": 0 for w in ("1h", "24h", "7d")} | {"spend_30d": 0.0}
    plain, padded = BanditModel(), BanditModel()
    rng = random.Random(9)
    for _ in range(300):
        context = {"segment": rng.choice("AB"), "tenure_months": rng.randint(1, 60)}
        offer, y = rng.choice(OFFERS), rng.random() < 0.2
        plain.learn_pair(context, offer, y)
        padded.learn_pairs([context | zeros], [offer], [y])
    assert not any(name in padded._rows or f"{name}#b0" in padded._rows for name in zeros)
    probe = {"segment": "A", "tenure_months": 7}
    want = plain.predict_proba_one(probe | {"offer.id": "o1", "offer.category": "tv"})
    got = padded.predict_proba_one(probe | zeros | {"offer.id": "o1", "offer.category": "tv"})
    assert got == pytest.approx(want, rel=1e-12)
    snapshot = padded.export()
    mean, var = snapshot.score(probe | zeros, snapshot.encode_offers(OFFERS[:1]))
    assert Snapshot.calibrated(mean, var)[0] == pytest.approx(want, rel=1e-9)
