"""The instruments registry: certificates, offsets and the audit trail of every change.

A ``reference`` is unique across both kinds (checked by the store; each table also
has its own unique index). Quantities are kept as decimal text, so what the registry
says is what is counted, to the last digit, on every backend.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base
from app.db.types import UtcDateTime

TEXT_MAX = 200  # registry, serial, reference, project
QUANTITY_MAX = 40


class CertificateRow(Base):
    """A retired energy attribute certificate, claimed for a local consumption period."""

    __tablename__ = "instrument_certificates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    reference: Mapped[str] = mapped_column(String(TEXT_MAX), unique=True)
    instrument_type: Mapped[str] = mapped_column(String(16))
    generation_first: Mapped[date] = mapped_column(Date)
    generation_last: Mapped[date] = mapped_column(Date)
    claimed_first: Mapped[date] = mapped_column(Date)
    claimed_last: Mapped[date] = mapped_column(Date)
    quantity: Mapped[str] = mapped_column(String(QUANTITY_MAX), doc="decimal text")
    unit: Mapped[str] = mapped_column(String(8))
    registry_name: Mapped[str] = mapped_column("registry", String(TEXT_MAX))
    serial: Mapped[str] = mapped_column(String(TEXT_MAX))
    retired_on: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class OffsetRow(Base):
    """A retired carbon credit; voided ones stay listed and count nowhere."""

    __tablename__ = "instrument_offsets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    reference: Mapped[str] = mapped_column(String(TEXT_MAX), unique=True)
    standard: Mapped[str] = mapped_column(String(32))
    project: Mapped[str] = mapped_column(String(TEXT_MAX))
    vintage: Mapped[int] = mapped_column(Integer)
    quantity: Mapped[str] = mapped_column(String(QUANTITY_MAX), doc="decimal text")
    unit: Mapped[str] = mapped_column(String(8))
    registry_name: Mapped[str] = mapped_column("registry", String(TEXT_MAX))
    serial: Mapped[str] = mapped_column(String(TEXT_MAX))
    retired_on: Mapped[date | None] = mapped_column(Date, nullable=True, doc="site-local date")
    retired_at: Mapped[datetime | None] = mapped_column(
        UtcDateTime, nullable=True, doc="or the instant"
    )
    voided_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    void_reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class InstrumentAuditRow(Base):
    """One create or void: when, by whom, what, and the detail."""

    __tablename__ = "instrument_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))
    reference: Mapped[str] = mapped_column(String(TEXT_MAX))
    detail: Mapped[str] = mapped_column(Text)
