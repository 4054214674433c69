"""Outbound triggers: an event type (and name) that starts a decision on an outbound channel.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.create_table(
        "triggers",
        sa.Column("trigger_id", sa.String(128), primary_key=True),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("body", sa.JSON, nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    op.create_index("ix_triggers_event_type", "triggers", ["event_type"])


def downgrade() -> None:
    op.drop_index("ix_triggers_event_type", table_name="triggers")
    op.drop_table("triggers")
