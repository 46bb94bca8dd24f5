"""Reading and saving the refitted baselines (``energy_baselines``); never commits."""

from __future__ import annotations

import math
from dataclasses import asdict
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.domain.enpi_model import BaselineModel, BaselinePoint, ValidityRules, fit_baseline
from app.energy.models import EnergyBaselineRow


def save_baseline(
    session: Session,
    *,
    site_id: str,
    area_id: str | None,
    model: BaselineModel,
    points: list[BaselinePoint],
    rules: ValidityRules,
    granularity: str,
    fitted_at: datetime,
    fitted_by: str | None = None,
) -> EnergyBaselineRow:
    """Insert or replace the baseline of a site (``area_id`` None) or an area."""
    key = (site_id, area_id or "")
    row = session.get(EnergyBaselineRow, key) or EnergyBaselineRow(
        site_id=site_id, area_id=area_id or ""
    )
    row.model_id = model.model_id
    row.granularity = granularity
    row.baseline_start = model.period_start
    row.baseline_end = model.period_end
    row.points = [
        {
            "start": p.start.isoformat(),
            "end": p.end.isoformat(),
            "energy_kwh": p.energy_kwh,
            "production_units": p.production_units,
            "degree_days": p.degree_days,
        }
        for p in points
    ]
    row.rules = asdict(rules)
    row.kwh_per_unit = model.kwh_per_unit
    row.fixed_kwh_per_period = model.fixed_kwh_per_period
    row.r_squared = model.r_squared
    row.cv_rmse = model.cv_rmse if math.isfinite(model.cv_rmse) else None
    row.n = model.n
    row.valid = model.valid
    row.fitted_at = fitted_at
    row.fitted_by = fitted_by
    session.add(row)
    session.flush()
    return row


def stored_baseline(
    session: Session, site_id: str, area_id: str | None
) -> tuple[BaselineModel, tuple[BaselinePoint, ...], EnergyBaselineRow] | None:
    """The stored baseline refitted from its points (exactly as when it was saved)."""
    row = session.scalars(
        select(EnergyBaselineRow).where(
            EnergyBaselineRow.site_id == site_id, EnergyBaselineRow.area_id == (area_id or "")
        )
    ).first()
    if row is None:
        return None
    points = tuple(
        BaselinePoint(
            datetime.fromisoformat(p["start"]),
            datetime.fromisoformat(p["end"]),
            float(p["energy_kwh"]),
            float(p["production_units"]),
            None if p.get("degree_days") is None else float(p["degree_days"]),
        )
        for p in row.points
    )
    model = fit_baseline(points, model_id=row.model_id, rules=ValidityRules(**row.rules))
    return model, points, row


def drop_baseline(session: Session, site_id: str, area_id: str | None) -> bool:
    """Remove the stored baseline of a site or area; whether there was one."""
    result = session.execute(
        delete(EnergyBaselineRow).where(
            EnergyBaselineRow.site_id == site_id, EnergyBaselineRow.area_id == (area_id or "")
        )
    )
    return bool(getattr(result, "rowcount", 0))
