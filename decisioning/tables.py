"""The SQL tables: what must be durable and queryable. Alembic migrations create them.

- ``offers``: the catalogue, source of truth (bodies as marketers PUT them).
- ``api_keys``: hashed API keys and their roles (never the keys themselves).
- ``model_versions``: every snapshot the learner published, for history and rollback.
- ``policies``: channel-wide policies marketers edit (the contact policy).
- ``triggers``: outbound triggers (event type and name -> a decision on an outbound channel).
"""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, DateTime, Integer, MetaData, String, Table, func

__all__ = ["api_keys", "metadata", "model_versions", "offers", "policies", "triggers"]

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
