"""The efficiency lever from the regression baseline; an invalid model claims nothing."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from app.carbon.catalogue import load_catalogue
from app.domain.enpi_model import ValidityCheck, adjusted_baseline
from app.figures.carbon import demo_baselines
from app.figures.service import FigureService, scope_for
from app.plant.file import load_plant
from tests.carbon.helpers import factor, register, write
from tests.conftest import Backend

START = datetime(2026, 6, 15, 2, tzinfo=UTC)
NOW = START + timedelta(minutes=58)


def _readings(backend: Backend) -> None:
    plant = load_plant()
    deltas = {"el-grid-in-1": 0.6, "prod-cells": 900}  # 1,200 kWh and 900 units in 45 min
    readings = []
    for meter_id, delta in deltas.items():
        points = [(START, 1000.0), (START + timedelta(minutes=45), 1000 + delta)]
        readings += register(plant, meter_id, points)
    write(backend, plant, readings, NOW)


def test_efficiency_uses_the_regression_baseline(clean_backend: Backend) -> None:
    _readings(clean_backend)
    plant = load_plant()
    model = demo_baselines(plant)["guian"]
    service = FigureService(plant, load_catalogue().factors, {"guian": model})
    with clean_backend.factory() as session:
        snap = service.snapshot(session, scope_for(plant, "guian"), NOW)
    hour = snap["periods"]["hour"]["co2"]
    lever = next(x for x in hour["levers"] if x["name"] == "efficiency")
    # three 15-minute buckets of 300 units each, 400 kWh used in each
    predicted = sum(
        Decimal(repr(adjusted_baseline(model, production_units=300.0, hours=0.25).expected_kwh))
        for _ in range(3)
    )
    saved = predicted - 1200
    assert lever["basis"] == pytest.approx(float(saved))
    assert lever["kg"] == pytest.approx(float(saved * factor("cn-csg-location-2023")))
    assert lever["kind"] == "physical"
    assert model.model_id in lever["explanation"]


def test_an_invalid_model_claims_nothing(clean_backend: Backend) -> None:
    _readings(clean_backend)
    plant = load_plant()
    model = demo_baselines(plant)["guian"]
    failed = ValidityCheck("r_squared", False, 0.2, 0.75, "R² 0.20 below 0.75")
    invalid = replace(model, checks=(failed,))
    service = FigureService(plant, load_catalogue().factors, {"guian": invalid})
    with clean_backend.factory() as session:
        snap = service.snapshot(session, scope_for(plant, "guian"), NOW)
    co2 = snap["periods"]["hour"]["co2"]
    assert "efficiency" not in {x["name"] for x in co2["levers"]}
    assert any(n.startswith("efficiency not assessed") for n in co2["notes"])
    assert co2["physical_reduced_kg"] == pytest.approx(0)
