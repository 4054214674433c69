"""Online learning for nbo: the propensity model, exploration policies, snapshots, the learner loop.

Learn with river, one event at a time, in the learner; serve from exported numpy weights in the API
workers. Nothing here knows about Redis or HTTP: the learner loop is typed against small Protocols
(:mod:`models.base`) that ``feature_store`` satisfies.
"""

from __future__ import annotations

from .bandit_model import BanditModel
from .base import CheckpointStore, Learner, OutcomeRecord, OutcomeSource, SnapshotSink
from .features import OFFER_PREFIX, describe_token, encode, split_example
from .learner import LearnerLoop, LearnerState, stream_id_key
from .policy import Choice, EpsilonGreedyPolicy, Pick, Policy, ThompsonPolicy
from .river_model import RiverCrossModel
from .snapshot import OfferMatrix, Snapshot

__all__ = [
    "OFFER_PREFIX",
    "BanditModel",
    "CheckpointStore",
    "Choice",
    "EpsilonGreedyPolicy",
    "Learner",
    "LearnerLoop",
    "LearnerState",
    "OfferMatrix",
    "OutcomeRecord",
    "OutcomeSource",
    "Pick",
    "Policy",
    "RiverCrossModel",
    "Snapshot",
    "SnapshotSink",
    "ThompsonPolicy",
    "describe_token",
    "encode",
    "split_example",
    "stream_id_key",
]
