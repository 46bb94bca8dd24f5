"""TimescaleDB: readings hypertable; on the community licence also continuous aggregates,
compression and retention. Does nothing on SQLite, plain PostgreSQL, or when disabled.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 20:10:00
"""

from collections.abc import Sequence

from alembic import context, op
from sqlalchemy import text

from app.db.timescale import StorageMode, detect_storage, try_create_extension

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# continuous aggregates at the zoom levels the history API serves
CAGGS = {"readings_1m": "1 minute", "readings_1h": "1 hour", "readings_1d": "1 day"}


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql" or not context.config.attributes.get("timescaledb", True):
        return
    if try_create_extension(conn) is not None:
        return
    conn.execute(
        text(
            "SELECT create_hypertable('readings', by_range('time', INTERVAL '1 day'), "
            "migrate_data => true, create_default_indexes => false, if_not_exists => true)"
        )
    )
    if detect_storage(conn).mode is not StorageMode.TIMESCALE_COMMUNITY:
        return
    for name, width in CAGGS.items():
        conn.execute(
            text(
                f"CREATE MATERIALIZED VIEW IF NOT EXISTS {name} WITH (timescaledb.continuous) AS "
                f"SELECT meter_id, time_bucket(INTERVAL '{width}', time) AS bucket, "
                "sum(quantity) AS quantity, count(quantity) AS samples, "
                "min(value) AS value_min, max(value) AS value_max "
                "FROM readings GROUP BY meter_id, bucket WITH NO DATA"
            )
        )
        conn.execute(
            text(
                f"SELECT add_continuous_aggregate_policy('{name}', "
                f"start_offset => INTERVAL '30 days', end_offset => INTERVAL '{width}', "
                f"schedule_interval => INTERVAL '{width}', if_not_exists => true)"
            )
        )
    conn.execute(
        text(
            "ALTER TABLE readings SET (timescaledb.compress, "
            "timescaledb.compress_segmentby = 'meter_id', timescaledb.compress_orderby = 'time')"
        )
    )
    conn.execute(
        text("SELECT add_compression_policy('readings', INTERVAL '30 days', if_not_exists => true)")
    )
    # raw readings are kept five years; the rollups and aggregates outlive them
    for table, keep in (("readings", "5 years"), ("readings_1m", "1 year")):
        conn.execute(
            text(
                f"SELECT add_retention_policy('{table}', INTERVAL '{keep}', if_not_exists => true)"
            )
        )


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    has_timescale = conn.execute(
        text("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'")
    ).scalar()
    if not has_timescale:
        return
    # policies first: a retention job on a dropped aggregate, or a compression job on
    # readings, would otherwise be left behind and fail (or double) after an upgrade
    community = detect_storage(conn).mode is StorageMode.TIMESCALE_COMMUNITY
    if community:
        conn.execute(text("SELECT remove_retention_policy('readings', if_exists => true)"))
        conn.execute(text("SELECT remove_compression_policy('readings', if_exists => true)"))
    for name in CAGGS:
        conn.execute(text(f"DROP MATERIALIZED VIEW IF EXISTS {name}"))
    if community:
        conn.execute(
            text(
                "SELECT decompress_chunk(c, if_compressed => true) "
                "FROM show_chunks('readings') AS c"
            )
        )
        conn.execute(text("ALTER TABLE readings SET (timescaledb.compress = false)"))
    # readings stays a hypertable (turning it back would rewrite every row); upgrade
    # accepts that with if_not_exists, and the table goes with 0001's downgrade
