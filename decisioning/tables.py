"""The SQL tables: what must be durable and queryable. Alembic migrations create them.

- ``offers``: the catalogue, source of truth (bodies as marketers PUT them).
- ``api_keys``: hashed API keys and their roles (never the keys themselves).
- ``model_versions``: every snapshot the learner published, for history and rollback.
- ``policies``: channel-wide policies marketers edit (the contact policy).
- ``triggers``: outbound triggers (event type and name -> a decision on an outbound channel).
- ``customer_history``: every customer history line (decisions, outcomes, events, outbound),
  archived off the hot path from the archive stream; outlives Redis TTLs and eviction.
- ``interactions``: every joined outcome (the decision's logged features, the offer, its
  probability and propensity, the response), archived from the outcome stream: the analysts'
  fact table behind filtered metrics, off-policy estimates and exports.
- ``erasures``: customers erased, and when: archivers drop their lines logged before that.

The archive tables are keyed by their stream position (shard, ms, seq), so an entry delivered
twice (a crash between the insert and the acknowledgement) is stored once.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
)

__all__ = [
    "api_keys",
    "customer_history",
    "erasures",
    "interactions",
    "metadata",
    "model_versions",
    "offers",
    "policies",
    "triggers",
]

metadata = MetaData()

offers = Table(
    "offers",
    metadata,
    Column("offer_id", String(128), primary_key=True),
    Column("body", JSON, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("revoked", Boolean, nullable=False, default=False),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("n_learned", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

triggers = Table(
    "triggers",
    metadata,
    Column("trigger_id", String(128), primary_key=True),
    Column("event_type", String(64), nullable=False, index=True),
    Column("body", JSON, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

policies = Table(
    "policies",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("body", JSON, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

customer_history = Table(
    "customer_history",
    metadata,
    Column("shard", Integer, primary_key=True, autoincrement=False),
    Column("stream_ms", BigInteger, primary_key=True, autoincrement=False),
    Column("stream_seq", Integer, primary_key=True, autoincrement=False),
    Column("customer_id", String(128), nullable=False),
    Column("type", String(16), nullable=False),
    Column("line", Text, nullable=False),
    Index("ix_customer_history_customer", "customer_id", "stream_ms", "stream_seq"),
)

interactions = Table(
    "interactions",
    metadata,
    Column("shard", Integer, primary_key=True, autoincrement=False),
    Column("stream_ms", BigInteger, primary_key=True, autoincrement=False),
    Column("stream_seq", Integer, primary_key=True, autoincrement=False),
    Column("decision_id", String(64), nullable=False),
    Column("offer_id", String(128), nullable=False),
    Column("customer_id", String(128), nullable=False, index=True),
    Column("channel", String(32), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("source", String(16), nullable=False),
    Column("learned", Boolean, nullable=False),
    Column("control_group", Boolean, nullable=False),
    Column("explored", Boolean, nullable=False),
    Column("probability", Float, nullable=True),
    Column("propensity", Float, nullable=True),
    Column("value", Float, nullable=True),
    Column("model_version", Integer, nullable=False),
    Column("decided_ms", BigInteger, nullable=False),
    Column("context", JSON, nullable=False),
    Column("attributes", JSON, nullable=False),
    Column("candidates", JSON, nullable=True),
    Index("ix_interactions_decided", "decided_ms"),
    Index("ix_interactions_offer", "offer_id", "decided_ms"),
)

erasures = Table(
    "erasures",
    metadata,
    Column("customer_id", String(128), primary_key=True),
    Column("erased_ms", BigInteger, nullable=False),
)
