"""The energy file schema, validated before ``app.energy.file`` builds domain values."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.domain.tariffs import TouPeriod

Money = Annotated[Decimal, Field(ge=0, allow_inf_nan=False)]
Co2Basis = Literal["location", "market"]
ElectricityBasis = Literal["site_consumption", "net_import"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Boundary(Strict):
    carriers: list[
        Literal["electricity", "gas", "water", "steam", "compressed_air", "softened_water"]
    ]
    electricity: ElectricityBasis = "site_consumption"
    electricity_method: Literal["calorific_equivalent", "equivalent_value"] = "calorific_equivalent"
    gas_method: Literal["reference", "declared_heating_value"] = "reference"


class Coefficient(Strict):
    """A catalogue-shaped row, or a gas row given by its declared lower heating value."""

    id: str
    carrier: str
    method: str | None = None
    kgce_per_unit: float | None = None
    unit: str | None = None
    lower_heating_value_kj_per_m3: float | None = Field(default=None, gt=0)
    valid_from: date | datetime
    valid_to: date | datetime | None = None
    source: str
    status: str | None = None
    notes: str = ""


class Point(Strict):
    month: str = Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")
    energy_kwh: float = Field(ge=0, allow_inf_nan=False)
    production_units: float = Field(ge=0, allow_inf_nan=False)
    degree_days: float | None = Field(default=None, ge=0, allow_inf_nan=False)


class Rules(Strict):
    min_r_squared: float = 0.75
    min_points: int = 12
    max_cv_rmse: float | None = None


class Baseline(Strict):
    id: str
    production_meter: str
    energy: ElectricityBasis = "site_consumption"
    start: date
    end: date
    rules: Rules = Rules()
    points: list[Point] = []


class Band(Strict):
    period: TouPeriod
    start: time
    end: time
    months: list[Annotated[int, Field(ge=1, le=12)]] = []


class Demand(Strict):
    basis: Literal["max_demand", "capacity"]
    price_per_month: Money


class Tariff(Strict):
    id: str
    resource: Literal["electricity", "gas", "water"]
    currency: str
    valid_from: date | datetime
    valid_to: date | datetime | None = None
    illustrative: bool = False
    source: str
    prices: dict[TouPeriod, Money]
    bands: list[Band] = []
    holidays: list[date] = []
    holiday_bands: list[Band] | None = None
    demand_charge: Demand | None = None


class WaterReuse(Strict):
    intake_meters: list[str]
    reuse_meters: list[str]


class Renewables(Strict):
    count_certificates: bool = True


class Indicator(Strict):
    id: str
    baseline_value: float
    leading_value: float
    weight: float | None = Field(default=None, ge=0)
    max_score: float = Field(default=100.0, gt=0)
    rule: list[tuple[float, float]] | None = None


class Scorecard(Strict):
    co2_basis: Co2Basis = "location"
    indicators: list[Indicator]


class OutputValue(Strict):
    amount: Money
    currency: str


class Target(Strict):
    id: str
    metric: Literal["co2_per_unit", "co2_per_output_value", "energy_per_unit"]
    co2_basis: Co2Basis = "location"
    base_value: float
    base_period: str
    reduction: float
    plan_start: date
    plan_end: date
    path: Literal["linear", "compound"] = "linear"
    tolerance: float = 0.0


class EnergyFile(Strict):
    version: Literal[1]
    site: str
    illustrative: bool = False
    boundary: Boundary
    coefficients: list[Coefficient] = []
    baseline: Baseline | None = None
    tariffs: list[Tariff] = []
    water_reuse: WaterReuse | None = None
    renewables: Renewables = Renewables()
    scorecard: Scorecard | None = None
    output_value_per_unit: OutputValue | None = None
    targets: list[Target] = []
