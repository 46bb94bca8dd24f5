"""drop the continuous aggregates an earlier 0002 created, and their policies

They bucketed readings by timestamp and UTC day, while GreenPulse's rollups spread each
interval over the buckets it covers and keep site-local days, so the two disagreed by
design, and nothing read the aggregates. Dropping a continuous aggregate removes its
refresh and retention policies with it. Compression and retention of ``readings`` stay.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 22:20:00
"""

from collections.abc import Sequence

from alembic import op
from sqlalchemy import text

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DROPPED = ("readings_1m", "readings_1h", "readings_1d")


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    timescale = conn.execute(
        text("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'")
    ).scalar()
    found = "SELECT matviewname FROM pg_matviews"
    if timescale:
        found += " UNION SELECT view_name FROM timescaledb_information.continuous_aggregates"
    existing = {str(name) for name in conn.execute(text(found)).scalars()}
    for name in DROPPED:
        if name in existing:
            conn.execute(text(f"DROP MATERIALIZED VIEW {name} CASCADE"))


def downgrade() -> None:
    """Nothing to restore: the aggregates served nothing."""
