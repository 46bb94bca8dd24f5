"""SQLAlchemy 2 models: one schema for SQLite, PostgreSQL and TimescaleDB."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base
from app.db.types import UtcDateTime


class SiteRow(Base):
    __tablename__ = "sites"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    regions: Mapped[list[str]] = mapped_column(JSON, doc="factor regions, most specific first")


class AreaRow(Base):
    __tablename__ = "areas"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    parent_id: Mapped[str | None] = mapped_column(
        ForeignKey("areas.id", ondelete="CASCADE"), nullable=True
    )
    name: Mapped[str] = mapped_column(String(200))


class MeterRow(Base):
    __tablename__ = "meters"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    area_id: Mapped[str] = mapped_column(ForeignKey("areas.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    resource: Mapped[str] = mapped_column(String(32))
    register_kind: Mapped[str] = mapped_column(String(16))
    unit: Mapped[str] = mapped_column(String(16))
    multiplier: Mapped[float] = mapped_column(Float, default=1.0)
    rollover: Mapped[float | None] = mapped_column(Float, nullable=True)
    expected_interval_s: Mapped[float] = mapped_column(Float)
    rated_kw: Mapped[float | None] = mapped_column(Float, nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class ReadingRow(Base):
    """What the meter said (raw) and what it means (normalised interval quantity)."""

    __tablename__ = "readings"

    meter_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    time: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)
    raw_value: Mapped[float] = mapped_column(Float)
    raw_unit: Mapped[str] = mapped_column(String(16))
    value: Mapped[float] = mapped_column(
        Float, doc="canonical register value or power (multiplier applied)"
    )
    quantity: Mapped[float | None] = mapped_column(
        Float, nullable=True, doc="canonical quantity in (previous reading, time]; None = unknown"
    )
    quality: Mapped[int] = mapped_column(
        SmallInteger, default=0, doc="app.domain.registers.Quality"
    )
    seq: Mapped[int | None] = mapped_column(Integer, nullable=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)


class MeterStateRow(Base):
    """The newest reading per meter: register continuity, liveness and live power."""

    __tablename__ = "meter_state"

    meter_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_time: Mapped[datetime] = mapped_column(UtcDateTime)
    last_value: Mapped[float] = mapped_column(Float)
    last_quantity: Mapped[float | None] = mapped_column(Float, nullable=True)
    last_rate_per_h: Mapped[float | None] = mapped_column(
        Float, nullable=True, doc="quantity per hour over the last interval (kW for electricity)"
    )
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    offline_since: Mapped[datetime | None] = mapped_column(
        UtcDateTime,
        nullable=True,
        doc="declared offline by its Sparkplug edge node (NDEATH/DDEATH); "
        "cleared by a newer reading",
    )


class SparkplugBirthRow(Base):
    """The Sparkplug host's live sessions (NBIRTH/DBIRTH payloads), kept with each commit
    that changes them so a restarted ingester still resolves the DDATA queued meanwhile."""

    __tablename__ = "sparkplug_births"

    host_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    topic: Mapped[str] = mapped_column(String(1024), primary_key=True)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    position: Mapped[int] = mapped_column(Integer)
    saved_at: Mapped[datetime] = mapped_column(UtcDateTime)


class RollupRow(Base):
    """Quantity per meter and bucket, kept by GreenPulse (15-minute UTC buckets, local days)."""

    __tablename__ = "rollups"

    meter_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    resolution: Mapped[str] = mapped_column(String(8), primary_key=True, doc="'15min' | 'day'")
    bucket_start: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)
    quantity: Mapped[float] = mapped_column(Float)
    samples: Mapped[int] = mapped_column(Integer)
    estimated: Mapped[int] = mapped_column(Integer, default=0, doc="samples flagged estimated")


class MeterEventRow(Base):
    """Resets, rollovers, replacements and jumps detected on a register."""

    __tablename__ = "meter_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    meter_id: Mapped[str] = mapped_column(String(64), index=True)
    time: Mapped[datetime] = mapped_column(UtcDateTime)
    kind: Mapped[str] = mapped_column(String(16))
    previous_value: Mapped[float | None] = mapped_column(Float, nullable=True)
    value: Mapped[float] = mapped_column(Float)
    detail: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (
        Index("uq_meter_events_meter_time_kind", "meter_id", "time", "kind", unique=True),
    )


class RejectedMessageRow(Base):
    """A message ingestion refused, kept for inspection (dead letters)."""

    __tablename__ = "rejected_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    topic: Mapped[str] = mapped_column(String(512))
    meter_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reason: Mapped[str] = mapped_column(String(64), index=True)
    detail: Mapped[str] = mapped_column(Text)
    payload: Mapped[bytes] = mapped_column(LargeBinary)


class EmissionFactorRow(Base):
    __tablename__ = "emission_factors"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    region: Mapped[str] = mapped_column(String(64))
    resource: Mapped[str] = mapped_column(String(32))
    method: Mapped[str] = mapped_column(String(32))
    value: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(32))
    kg_per_unit: Mapped[float] = mapped_column(Float)
    gas_basis: Mapped[str] = mapped_column(String(8))
    data_year: Mapped[int | None] = mapped_column(Integer, nullable=True)
    valid_from: Mapped[date | None] = mapped_column(Date, nullable=True)
    valid_to: Mapped[date | None] = mapped_column(Date, nullable=True)
    source: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    notes: Mapped[str | None] = mapped_column(Text, nullable=True)
    origin: Mapped[str] = mapped_column(String(16), default="catalogue", doc="catalogue | operator")
