"""docs/energy.md's worked examples: read each table's inputs and recompute its results."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from app.carbon.catalogue import load_catalogue
from app.domain.energy_cost import EnergyBucket, energy_cost, load_shift_saving
from app.domain.enpi import Price, express_saving, savings_cusum
from app.domain.enpi_model import BaselinePoint, fit_baseline
from app.domain.factors import ResolvedFactor
from app.domain.scorecard import score_indicator
from app.domain.standard_coal import coefficient_from_heating_value, comprehensive_energy
from app.domain.targets import target_status
from app.domain.tariffs import TouPeriod, round_money
from app.energy.catalogue import load_coefficients
from app.energy.file import EnergySettings, demo_energy_path, load_energy_file

DOC = Path(__file__).resolve().parents[2] / "docs" / "energy.md"
SHANGHAI = ZoneInfo("Asia/Shanghai")
START = datetime(2025, 1, 1, tzinfo=UTC)
PERIOD = timedelta(days=30)


def table(name: str) -> list[list[str]]:
    """The body rows of the table between ``<!-- example:NAME:start/end -->``."""
    text = DOC.read_text(encoding="utf-8")
    block = text.split(f"<!-- example:{name}:start -->")[1].split(f"<!-- example:{name}:end -->")[0]
    rows = [line for line in block.strip().splitlines() if line.startswith("|")]
    return [[cell.strip().strip("`") for cell in row.strip("|").split("|")] for row in rows[2:]]


def num(cell: str) -> float:
    match = re.match(r"^[−\-]?[\d,]*\.?\d+", cell.strip())
    assert match, cell
    return float(match[0].replace(",", "").replace("−", "-"))


def shown(cell: str, value: float) -> None:
    """``value`` rounds to the figure the doc shows, at the doc's number of decimals."""
    digits = cell.split(" ", maxsplit=1)[0]
    decimals = len(digits.split(".")[1]) if "." in digits else 0
    assert round(value, decimals) == pytest.approx(num(cell), abs=10**-decimals / 10), (cell, value)


def figures(name: str) -> dict[str, str]:
    return {row[0]: row[1] for row in table(name)}


def demo() -> EnergySettings:
    return load_energy_file(demo_energy_path(), zone=SHANGHAI)


def baseline_points() -> list[BaselinePoint]:
    return [
        BaselinePoint(START + i * PERIOD, START + (i + 1) * PERIOD, num(row[2]), num(row[1]))
        for i, row in enumerate(table("baseline-points"))
    ]


def test_baseline_fit() -> None:
    points = baseline_points()
    model = fit_baseline(points, model_id="doc")
    doc = figures("baseline-model")
    for name in ("kwh_per_unit", "fixed_kwh_per_period", "base_load_kw", "r_squared", "cv_rmse"):
        shown(doc[name], getattr(model, name))
    assert model.n == num(doc["n"]) and model.valid
    short = fit_baseline(points[:8], model_id="doc-short")
    assert not short.valid and [c.name for c in short.failed_checks] == ["min_points"]


def test_savings_and_cusum() -> None:
    model = fit_baseline(baseline_points(), model_id="doc")
    rows = table("savings")
    offset = START + 12 * PERIOD
    periods = [
        BaselinePoint(offset + i * PERIOD, offset + (i + 1) * PERIOD, num(r[2]), num(r[1]))
        for i, r in enumerate(rows)
    ]
    report = savings_cusum(model, periods)
    for row, got in zip(rows, report.periods, strict=True):
        shown(row[3], got.expected_kwh or 0)
        shown(row[4], got.saving_kwh or 0)
        shown(row[5], got.cusum_kwh or 0)
    doc = figures("savings-expressed")
    total = report.total_saving_kwh or 0
    shown(doc["kwh"], total)
    grid = ResolvedFactor(load_catalogue().get("cn-csg-location-2023"))
    coal = load_coefficients().get("cn-electricity-calorific-gbt2589-2020")
    out = express_saving(
        total, coal=coal, co2_factor=grid, price=Price(Decimal("0.62"), "CNY", "p")
    )
    shown(doc["kgce"], out.kgce or 0)
    shown(doc["co2_kg"], out.co2_kg or 0)
    assert out.money is not None
    assert round_money(out.money) == Decimal(doc["money"].replace(",", ""))


def test_tou_day_cost_under_the_demo_tariff() -> None:
    schedule = next(t for t in demo().tariffs if t.resource == "electricity")
    day = datetime(2026, 3, 10, tzinfo=SHANGHAI)
    buckets = []
    for row in table("tou-day"):
        first, last = (int(h) for h in row[0].split("–"))
        for hour in range(first, last):
            local = day + timedelta(hours=hour)
            start = local.astimezone(UTC)
            buckets.append(EnergyBucket(start, start + timedelta(hours=1), local, num(row[2])))
    cost = energy_cost([schedule], buckets, resource="electricity")
    for row in table("tou-day"):
        period = TouPeriod(row[1])
        assert schedule.price(period) == Decimal(row[4])
    doc = figures("tou-totals")
    for period in (TouPeriod.VALLEY, TouPeriod.FLAT, TouPeriod.PEAK):
        shown(doc[f"{period}_kwh"], float(cost.quantity_by_period[period]))
    assert round_money(cost.cost) == Decimal(doc["cost"].replace(",", ""))
    day_rows = table("tou-day")
    assert sum((Decimal(r[5].replace(",", "")) for r in day_rows), Decimal(0)) == cost.cost
    assert cost.average_price is not None
    shown(doc["average_price"], float(cost.average_price))
    shift = load_shift_saving(schedule, 1000)
    assert round_money(shift.saving) == Decimal(doc["shift_1000_kwh_peak_to_valley"])
    assert cost.illustrative


def test_kgce_conversion() -> None:
    catalogue = load_coefficients()
    at = datetime(2026, 3, 10, tzinfo=SHANGHAI)
    coefficients = {c: catalogue.resolve(carrier=c, at=at) for c in ("electricity", "gas", "water")}
    rows = table("kgce")
    quantities = {"electricity": num(rows[0][1]), "gas": num(rows[1][1]), "water": num(rows[2][1])}
    total = comprehensive_energy(quantities, coefficients)
    for row, line in zip(rows[:3], total.lines, strict=True):
        assert line.kgce_per_unit == num(row[2])
        shown(row[3], line.kgce)
    shown(rows[3][3], total.total_kgce)
    assert total.total_tce == pytest.approx(4.72796)
    assert total.per_unit(10_000) == pytest.approx(0.472796)
    declared = coefficient_from_heating_value(
        id="doc-gas",
        lower_heating_value_kj_per_m3=34_900,
        valid_from=at,
        valid_to=None,
        source="doc",
    )
    assert round(2000 * declared.kgce_per_unit, 2) == 2381.63


def test_scorecard_lines_with_the_demo_values() -> None:
    specs = {s.id: s for s in demo().scorecard}
    for row in table("scorecard"):
        spec = specs[row[0]]
        assert (spec.baseline_value, spec.leading_value) == (num(row[1]), num(row[2]))
        got = score_indicator(spec, num(row[3]))
        shown(row[4], got.position or 0)
        shown(row[5], got.score or 0)


def test_intensity_target_halfway() -> None:
    target = next(t.target for t in demo().targets if t.target.metric == "co2_per_unit")
    doc = figures("target")
    halfway = datetime(2028, 7, 2, tzinfo=SHANGHAI)
    assert halfway - target.plan_start == target.plan_end - halfway
    status = target_status(target, num(doc["actual"]), halfway)
    shown(doc["allowed"], status.allowed)
    shown(doc["reduction_so_far"], status.reduction_so_far or 0)
    assert status.state.value == doc["state"]
    assert target.plan_start.astimezone(SHANGHAI).date() == date(2026, 1, 1)
