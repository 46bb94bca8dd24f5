"""The alert feature's tables: alerts, the webhook outbox, rule overrides and cursors.

They share ``Base`` (and so its naming convention and metadata) with ``app.db.models``;
``app.schema`` imports both, so ``Base.metadata`` knows every table wherever the
whole schema is needed (migrations, autogenerate comparisons, test clean-up).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base
from app.db.types import UtcDateTime


class AlertRow(Base):
    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    condition_key: Mapped[str] = mapped_column(String(256))
    kind: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)
    site_id: Mapped[str] = mapped_column(String(64), index=True)
    area_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    meter_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    message: Mapped[str] = mapped_column(Text)
    observed: Mapped[float | None] = mapped_column(Float, nullable=True)
    expected: Mapped[float | None] = mapped_column(Float, nullable=True)
    threshold: Mapped[float | None] = mapped_column(Float, nullable=True)
    unit: Mapped[str | None] = mapped_column(String(16), nullable=True)
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    acknowledged_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    details: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)

    __table_args__ = (
        # one open (or acknowledged) alert per condition
        Index(
            "uq_alerts_open_condition",
            "condition_key",
            unique=True,
            sqlite_where=text("status != 'resolved'"),
            postgresql_where=text("status != 'resolved'"),
        ),
    )


class AlertDeliveryRow(Base):
    """One webhook notification of one alert transition (the outbox).

    Written in the transaction that changes the alert, so a crash never loses a
    notification; delivered and retried by the alert engine. ``next_attempt_at`` is
    ``None`` once delivered or given up.
    """

    __tablename__ = "alert_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(String(36), doc="sent as X-GreenPulse-Delivery")
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    event: Mapped[str] = mapped_column(String(16), doc="opened | acknowledged | resolved | updated")
    url: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text, doc="the exact JSON posted (and signed) every attempt")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True, index=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)


class AlertRuleOverrideRow(Base):
    """Alert rules set at runtime through the API for a site, an area or a meter.

    ``target_id`` is the site id, ``site/area`` for an area (area ids are unique per
    site only), or the meter id. ``rules`` holds the non-null ``AlertRules`` fields.
    """

    __tablename__ = "alert_rule_overrides"

    scope: Mapped[str] = mapped_column(String(8), primary_key=True)
    target_id: Mapped[str] = mapped_column(String(140), primary_key=True)
    rules: Mapped[dict[str, object]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_by: Mapped[str | None] = mapped_column(String(128), nullable=True)


class AlertCursorRow(Base):
    """How far the alert engines have read an append-only table (``meter_events``).

    Advanced by compare-and-set, so of several engines exactly one handles each event.
    """

    __tablename__ = "alert_cursors"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
