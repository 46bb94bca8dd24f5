"""The energy feature's table: regression baselines refitted on a site's own rollups.

One row per site or area (``area_id`` "" is the whole site). The points and rules
are kept, so the model is refitted exactly on read; the coefficients and
statistics are stored beside them for anyone reading the table directly.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base
from app.db.types import UtcDateTime


class EnergyBaselineRow(Base):
    __tablename__ = "energy_baselines"

    site_id: Mapped[str] = mapped_column(
        ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    area_id: Mapped[str] = mapped_column(String(64), primary_key=True, doc="'' = whole site")
    model_id: Mapped[str] = mapped_column(String(128))
    granularity: Mapped[str] = mapped_column(String(8), doc="'hour' | 'day' | 'month'")
    baseline_start: Mapped[datetime] = mapped_column(UtcDateTime)
    baseline_end: Mapped[datetime] = mapped_column(UtcDateTime)
    points: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    rules: Mapped[dict[str, Any]] = mapped_column(JSON)
    kwh_per_unit: Mapped[float] = mapped_column(Float)
    fixed_kwh_per_period: Mapped[float] = mapped_column(Float)
    r_squared: Mapped[float] = mapped_column(Float)
    cv_rmse: Mapped[float | None] = mapped_column(Float, nullable=True)
    n: Mapped[int] = mapped_column(Integer)
    valid: Mapped[bool] = mapped_column(Boolean)
    fitted_at: Mapped[datetime] = mapped_column(UtcDateTime)
    fitted_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
