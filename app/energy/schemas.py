"""The energy routes' JSON: EnPIs, baselines, savings, cost, standard coal, scorecard, targets.

Money is a string (exact ``Decimal``, plus the amount rounded to cents); every
figure lists the ids of the coefficients, factors and tariffs it used under
``ids``. Instants are UTC; ``label``s of hours, days and months are site-local.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field

from app.domain.tariffs import round_money

Granularity = Literal["hour", "day", "month"]


class Money(BaseModel):
    amount: str = Field(description="exact decimal amount, unrounded")
    rounded: str = Field(description="rounded half-up to cents, for display")
    currency: str | None

    @classmethod
    def of(cls, amount: Decimal, currency: str | None) -> Money:
        return cls(amount=str(amount), rounded=str(round_money(amount)), currency=currency)


class PeriodTotals(BaseModel):
    start: datetime
    end: datetime
    energy_kwh: float = Field(description="site consumption (import + PV − export) or feeders")
    production_units: float
    kgce: float | None
    water_m3: float
    co2_kg: float | None = Field(description="CO₂ inventory, location-based")
    has_readings: bool


class EnpiLine(BaseModel):
    name: str
    unit: str
    baseline_per_unit: float | None
    reporting_per_unit: float | None
    improvement: float | None = Field(description="fraction; 0.07 = 7 % less per unit")
    savings: float | None = Field(description="in the numerator's unit; negative = more used")


class EnpiReport(BaseModel):
    site_id: str
    area_id: str | None
    reporting: PeriodTotals
    baseline: PeriodTotals
    baseline_source: Literal["rollups", "energy_file_points"]
    enpis: list[EnpiLine]
    ids: dict[str, list[str]]
    co2_source: str
    illustrative: bool
    notes: list[str]


class Check(BaseModel):
    name: str
    passed: bool
    value: float | None
    threshold: float
    explanation: str


class Point(BaseModel):
    start: datetime
    end: datetime
    energy_kwh: float
    production_units: float
    degree_days: float | None


class Baseline(BaseModel):
    site_id: str
    area_id: str | None
    source: Literal["stored", "energy_file"]
    model_id: str
    equation: str
    kwh_per_unit: float = Field(description="a")
    fixed_kwh_per_period: float = Field(description="b, for a period of mean_period_hours")
    kwh_per_degree_day: float | None = Field(description="c; None without a weather series")
    base_load_kw: float
    mean_period_hours: float
    r_squared: float
    cv_rmse: float | None
    n: int
    valid: bool
    checks: list[Check]
    period_start: datetime
    period_end: datetime
    granularity: str
    fitted_at: datetime | None
    fitted_by: str | None
    points: list[Point]


class RefitRequest(BaseModel):
    start: date = Field(description="first site-local day of the baseline period")
    end: date = Field(description="site-local day after the last")
    granularity: Granularity = "day"
    model_id: str | None = Field(default=None, max_length=128)
    min_r_squared: float | None = Field(default=None, ge=0, le=1)
    min_points: int | None = Field(default=None, ge=3)
    max_cv_rmse: float | None = Field(default=None, gt=0)


class SavingPeriod(BaseModel):
    start: datetime
    end: datetime
    production_units: float
    actual_kwh: float
    expected_kwh: float | None
    saving_kwh: float | None
    cusum_kwh: float | None
    saving_kgce: float | None
    cusum_kgce: float | None
    saving_co2_kg: float | None
    cusum_co2_kg: float | None
    saving_money: Money | None
    cusum_money: Money | None


class SavingTotal(BaseModel):
    kwh: float | None
    kgce: float | None
    co2_kg: float | None
    money: Money | None


class SavingsReport(BaseModel):
    site_id: str
    area_id: str | None
    model_id: str
    baseline_source: Literal["stored", "energy_file"]
    valid: bool
    granularity: str
    explanation: str
    periods: list[SavingPeriod]
    total: SavingTotal
    price_per_kwh: str | None = Field(description="average electricity price over the period")
    ids: dict[str, list[str]]


class CostGroup(BaseModel):
    label: str = Field(description="site-local hour (2026-07-15T14), day or month")
    cost: Money


class TouLine(BaseModel):
    period: str
    quantity: float
    unit_price: str
    cost: Money


class DemandLine(BaseModel):
    month: str
    schedule_id: str
    basis: str
    billed_kw: str
    price_per_month: str
    cost: Money


class LoadShift(BaseModel):
    schedule_id: str
    from_period: str
    to_period: str
    kwh_requested: float
    kwh_moved: float
    from_price: str
    to_price: str
    saving: Money
    explanation: str


class CostReport(BaseModel):
    site_id: str
    area_id: str | None
    resource: str
    unit: str
    start: datetime
    end: datetime
    by: Granularity
    quantity: float
    energy_cost: Money
    demand_cost: Money | None
    total: Money
    average_price: str | None
    groups: list[CostGroup]
    by_tou_period: list[TouLine]
    demand: list[DemandLine]
    load_shift: LoadShift | None
    ids: dict[str, list[str]]
    illustrative: bool
    notes: list[str]


class KgceLine(BaseModel):
    carrier: str
    quantity: float
    unit: str
    coefficient_id: str
    method: str
    kgce_per_unit: float
    kgce: float


class Comprehensive(BaseModel):
    site_id: str
    area_id: str | None
    start: datetime
    end: datetime
    lines: list[KgceLine]
    total_kgce: float
    total_tce: float
    production_units: float
    kgce_per_unit: float | None
    catalogue_version: str
    ids: dict[str, list[str]]
    notes: list[str]


class Score(BaseModel):
    id: str
    unit: str
    direction: str
    baseline_value: float
    leading_value: float
    actual: float | None
    position: float | None
    score: float | None
    explanation: str


class ScorecardMonth(BaseModel):
    label: str = Field(description="site-local month, or 'live' for this month so far")
    start: datetime
    end: datetime
    scores: list[Score]
    total: float | None
    notes: list[str]


class ScorecardReport(BaseModel):
    site_id: str
    area_id: str | None
    months: list[ScorecardMonth]
    ids: dict[str, list[str]]
    illustrative: bool


class TargetLine(BaseModel):
    target_id: str
    metric: str
    unit: str
    co2_basis: str
    base_value: float
    base_period: str
    reduction: float
    plan_start: datetime
    plan_end: datetime
    actual: float | None
    allowed: float
    state: str
    reduction_so_far: float | None
    explanation: str


class TargetsReport(BaseModel):
    site_id: str
    area_id: str | None
    start: datetime
    end: datetime
    at: datetime
    targets: list[TargetLine]
    ids: dict[str, list[str]]
    illustrative: bool
