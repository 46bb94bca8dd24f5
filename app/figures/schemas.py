"""The JSON of a snapshot's figures: energy and CO₂ per period, and instants as text."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from app.domain.carbon import CarbonFigures, EnergyTotals
from app.domain.plant import Meter, Resource


def energy_json(
    totals: EnergyTotals, meters: Sequence[Meter], whole_site: bool, by_meter: Mapping[str, float]
) -> dict[str, float]:
    feeders = sum(by_meter.get(m.id, 0.0) for m in meters if m.resource is Resource.ELECTRICITY)
    production = sum(by_meter.get(m.id, 0.0) for m in meters if m.resource is Resource.PRODUCTION)
    return {
        "grid_import_kwh": totals.electricity_import_kwh,
        "grid_export_kwh": totals.electricity_export_kwh,
        "pv_kwh": totals.pv_generated_kwh,
        "pv_self_consumed_kwh": totals.pv_self_consumed_kwh,
        "consumption_kwh": totals.site_consumption_kwh if whole_site else feeders,
        "feeders_kwh": feeders,
        "gas_m3": totals.gas_m3,
        "water_m3": totals.water_m3,
        "water_reuse_m3": totals.water_reuse_m3,
        "production_units": totals.production_units or production,
    }


def carbon_json(
    carbon: CarbonFigures, whole_site: bool, factors: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    return {
        "scope1_gas_kg": carbon.scope1_gas_kg,
        "scope2_location_kg": carbon.scope2_location_kg,
        "scope2_market_kg": carbon.scope2_market_kg,
        "water_kg": carbon.water_kg,
        "inventory_location_kg": carbon.inventory_location_kg,
        "inventory_market_kg": carbon.inventory_market_kg,
        "avoided_pv_kg": carbon.avoided_pv_kg,
        "offsets_retired_kg": carbon.offsets_retired_kg,
        "certificate_covered_kwh": carbon.certificate_covered_kwh,
        "co2_reduced_kg": carbon.co2_reduced_kg if whole_site else None,
        "levers": [
            {
                "name": lever.name,
                "kg": lever.kg,
                "basis": lever.basis_kwh_or_m3,
                "factor_id": lever.factor_id,
                "explanation": lever.explanation,
            }
            for lever in (carbon.levers if whole_site else ())
        ],
        "factor_ids": {k: list(v) for k, v in carbon.factor_ids.items()},
        "factors": factors,
        "notes": list(carbon.notes),
    }


def iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")
