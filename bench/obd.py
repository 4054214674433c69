"""Load the Open Bandit Dataset sample into numpy arrays; turn its rows into nbo's feature dicts.

The sample (10,000 rows per logging policy and campaign, from the ``obp`` 0.5.7 package) is real
logged bandit feedback with the logging policy's true propensities, which is what lets the
off-policy estimators in :mod:`models.offline` be checked against known answers. See
``shared/data/README.md`` for the columns and for how to evaluate on it fairly.

Data by ZOZO, Inc. Cite: Yuta Saito, Shunsuke Aihara, Megumi Matsutani, Yusuke Narita. *Open Bandit
Dataset and Pipeline: Towards Realistic and Reproducible Off-Policy Evaluation.* NeurIPS 2021
Datasets and Benchmarks Track. arXiv:2008.07146.

Only the stdlib ``csv`` and ``gzip`` modules read the files, so the bench needs no pandas.

    python bench/obd.py [--data DIR]     # prints rows, clicks and CTR of every file

The data directory is ``--data``, else ``$NBO_OBD_DIR``, else ``../shared/data/obd`` next to the
repository.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "CAMPAIGNS",
    "POLICIES",
    "ItemContext",
    "ObdLog",
    "default_data_dir",
    "load_obd",
    "offer_dicts",
    "row_context",
]

POLICIES = ("random", "bts")
CAMPAIGNS = ("all", "men", "women")
USER_FEATURES = 4
AFFINITY_PREFIX = "user-item_affinity_"

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
StrArray = npt.NDArray[np.str_]


@dataclass(frozen=True, slots=True)
class ItemContext:
    """The campaign's items, row ``k`` describing item ``k``."""

    item_id: IntArray
    feature_0: FloatArray
    """Numeric attribute, standardised over the campaign's items."""
    categorical: StrArray
    """(K, 3) hashed categorical attributes ``item_feature_1..3``."""

    def __len__(self) -> int:
        return len(self.item_id)


@dataclass(frozen=True, slots=True)
class ObdLog:
    """One (logging policy, campaign) log, in timestamp order."""

    policy: str
    campaign: str
    timestamp: npt.NDArray[np.datetime64]
    item_id: IntArray
    position: IntArray
    click: IntArray
    propensity: FloatArray
    user_features: StrArray
    """(n, 4) hashed categorical user attributes."""
    affinity: FloatArray
    """(n, K) user-item affinities (small counts of past clicks), almost all zero."""
    items: ItemContext

    def __len__(self) -> int:
        return len(self.item_id)

    @property
    def n_items(self) -> int:
        return len(self.items)


def default_data_dir() -> Path:
    """``$NBO_OBD_DIR`` if set, else ``shared/data/obd`` beside the repository."""
    env = os.environ.get("NBO_OBD_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "shared" / "data" / "obd"


def _rows(path: Path) -> Iterator[dict[str, str]]:
    opener: Any = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", newline="", encoding="utf-8") as handle:
        yield from csv.DictReader(handle)


def _timestamp(text: str) -> np.datetime64:
    """ISO 8601 with an offset -> a naive UTC ``datetime64[us]`` (numpy has no time zones)."""
    moment = datetime.fromisoformat(text).astimezone(UTC).replace(tzinfo=None)
    return np.datetime64(moment, "us")


def load_items(path: Path) -> ItemContext:
    """Read an ``item_context.csv``, ordered by item id (which is 0..K-1)."""
    rows = sorted(_rows(path), key=lambda row: int(row["item_id"]))
    item_id = np.array([int(row["item_id"]) for row in rows], dtype=np.int64)
    if not np.array_equal(item_id, np.arange(len(rows))):
        raise ValueError(f"{path}: item ids are not 0..K-1")
    return ItemContext(
        item_id=item_id,
        feature_0=np.array([float(row["item_feature_0"]) for row in rows]),
        categorical=np.array(
            [[row[f"item_feature_{j}"] for j in (1, 2, 3)] for row in rows], dtype=np.str_
        ),
    )


def load_obd(policy: str, campaign: str, data_dir: Path | None = None) -> ObdLog:
    """Read ``{policy}/{campaign}/{campaign}.csv.gz`` and its item context, in timestamp order.

    Examples
    --------
    >>> log = load_obd("random", "all")  # doctest: +SKIP
    >>> len(log), log.n_items, int(log.click.sum())  # doctest: +SKIP
    (10000, 80, 38)
    """
    if policy not in POLICIES:
        raise ValueError(f"policy: expected one of {POLICIES}, got {policy!r}")
    if campaign not in CAMPAIGNS:
        raise ValueError(f"campaign: expected one of {CAMPAIGNS}, got {campaign!r}")
    folder = (data_dir or default_data_dir()) / policy / campaign
    log_path = folder / f"{campaign}.csv.gz"
    if not log_path.exists():
        raise FileNotFoundError(f"{log_path} not found: pass --data or set NBO_OBD_DIR")
    items = load_items(folder / "item_context.csv")
    k = len(items)
    affinity_columns = [f"{AFFINITY_PREFIX}{j}" for j in range(k)]
    user_columns = [f"user_feature_{j}" for j in range(USER_FEATURES)]

    stamps: list[np.datetime64] = []
    item_id: list[int] = []
    position: list[int] = []
    click: list[int] = []
    propensity: list[float] = []
    users: list[list[str]] = []
    affinity: list[list[float]] = []
    for row in _rows(log_path):
        stamps.append(_timestamp(row["timestamp"]))
        item_id.append(int(row["item_id"]))
        position.append(int(row["position"]))
        click.append(int(row["click"]))
        propensity.append(float(row["propensity_score"]))
        users.append([row[c] for c in user_columns])
        affinity.append([float(row[c]) for c in affinity_columns])

    timestamp = np.array(stamps, dtype="datetime64[us]")
    order = np.argsort(timestamp, kind="stable")
    items_logged = np.array(item_id, dtype=np.int64)[order]
    if items_logged.size and (items_logged.min() < 0 or items_logged.max() >= k):
        raise ValueError(f"{log_path}: item_id outside 0..{k - 1}")
    return ObdLog(
        policy=policy,
        campaign=campaign,
        timestamp=timestamp[order],
        item_id=items_logged,
        position=np.array(position, dtype=np.int64)[order],
        click=np.array(click, dtype=np.int64)[order],
        propensity=np.array(propensity)[order],
        user_features=np.array(users, dtype=np.str_).reshape(-1, USER_FEATURES)[order],
        affinity=np.array(affinity).reshape(-1, k)[order],
        items=items,
    )


def row_context(log: ObdLog, i: int) -> dict[str, Any]:
    """Row ``i``'s context as nbo sees a customer: user features, position, non-zero affinities.

    Position is context here (each row is a one-slot decision at its logged position). Only the
    non-zero affinities are passed, as numeric features: a context dict is shared by all offers,
    so "affinity to *this* offer" cannot be expressed; the model can still cross each affinity
    with the offer id.
    """
    context: dict[str, Any] = {
        f"user_feature_{j}": str(value) for j, value in enumerate(log.user_features[i])
    }
    context["position"] = str(int(log.position[i]))
    for k in np.flatnonzero(log.affinity[i]):
        context[f"affinity_{int(k)}"] = float(log.affinity[i, k])
    return context


def offer_dicts(items: ItemContext) -> list[dict[str, Any]]:
    """The campaign's items as nbo offers: ``offer.id`` plus the item attributes."""
    offers: list[dict[str, Any]] = []
    for k in range(len(items)):
        offer: dict[str, Any] = {
            "offer.id": str(int(items.item_id[k])),
            "offer.item_feature_0": float(items.feature_0[k]),
        }
        for j, value in enumerate(items.categorical[k], start=1):
            offer[f"offer.item_feature_{j}"] = str(value)
        offers.append(offer)
    return offers


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, default=None, help="OBD sample directory")
    args = parser.parse_args(argv)
    print(f"{'log':<14}{'rows':>7}{'items':>7}{'clicks':>8}{'CTR':>9}   time span (UTC)")
    for policy in POLICIES:
        for campaign in CAMPAIGNS:
            log = load_obd(policy, campaign, args.data)
            span = f"{log.timestamp[0]!s:.16} .. {log.timestamp[-1]!s:.16}"
            print(
                f"{policy + '/' + campaign:<14}{len(log):>7}{log.n_items:>7}"
                f"{int(log.click.sum()):>8}{100 * log.click.mean():>8.3f}%   {span}"
            )


if __name__ == "__main__":
    main()
