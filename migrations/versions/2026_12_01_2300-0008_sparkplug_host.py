"""Sparkplug B host: meters declared offline by their edge node, the host's births

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 23:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "meter_state",
        sa.Column("offline_since", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "sparkplug_births",
        sa.Column("host_id", sa.String(length=255), nullable=False),
        sa.Column("topic", sa.String(length=1024), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("host_id", "topic"),
    )


def downgrade() -> None:
    op.drop_table("sparkplug_births")
    op.drop_column("meter_state", "offline_since")
