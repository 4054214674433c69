"""The SQL archive: customer history lines, joined interactions, erasures.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def _position() -> list[sa.Column[int]]:
    return [
        sa.Column("shard", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("stream_ms", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("stream_seq", sa.Integer, primary_key=True, autoincrement=False),
    ]


def upgrade() -> None:
    op.create_table(
        "customer_history",
        *_position(),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("line", sa.Text, nullable=False),
    )
    op.create_index(
        "ix_customer_history_customer",
        "customer_history",
        ["customer_id", "stream_ms", "stream_seq"],
    )
    op.create_table(
        "interactions",
        *_position(),
        sa.Column("decision_id", sa.String(64), nullable=False),
        sa.Column("offer_id", sa.String(128), nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("learned", sa.Boolean, nullable=False),
        sa.Column("control_group", sa.Boolean, nullable=False),
        sa.Column("explored", sa.Boolean, nullable=False),
        sa.Column("probability", sa.Float, nullable=True),
        sa.Column("propensity", sa.Float, nullable=True),
        sa.Column("value", sa.Float, nullable=True),
        sa.Column("model_version", sa.Integer, nullable=False),
        sa.Column("decided_ms", sa.BigInteger, nullable=False),
        sa.Column("context", sa.JSON, nullable=False),
        sa.Column("attributes", sa.JSON, nullable=False),
        sa.Column("candidates", sa.JSON, nullable=True),
    )
    op.create_index("ix_interactions_customer_id", "interactions", ["customer_id"])
    op.create_index("ix_interactions_decided", "interactions", ["decided_ms"])
    op.create_index("ix_interactions_offer", "interactions", ["offer_id", "decided_ms"])
    op.create_table(
        "erasures",
        sa.Column("customer_id", sa.String(128), primary_key=True),
        sa.Column("erased_ms", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("erasures")
    op.drop_table("interactions")
    op.drop_table("customer_history")
