"""The JSON of a snapshot's figures: energy, CO₂ with gas basis and factor uses, areas."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from app.domain.allocation import Allocation
from app.domain.basis import combine_basis
from app.domain.carbon import EnergyTotals
from app.domain.certificates import Coverage
from app.domain.levers import ReductionLever
from app.domain.neutrality import NeutralityStatus
from app.domain.period_carbon import PeriodCarbon
from app.domain.plant import Meter, Resource
from app.domain.time_of_use import FactorUse, Valuation


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


def _n(value: Decimal) -> float:
    return float(value)


def uses_json(uses: Sequence[FactorUse]) -> list[dict[str, Any]]:
    """Every factor a figure used, with the quantity it covered and the kg it gave."""
    return [
        {
            "factor_id": u.factor_id,
            "quantity": _n(u.quantity),
            "unit": u.unit,
            "kg_per_unit": _n(u.kg_per_unit),
            "kg": _n(u.kg),
            "gas_basis": u.gas_basis,
            "fallback_from": u.fallback_from,
            "first_bucket": iso(u.first_bucket),
            "last_bucket": iso(u.last_bucket),
        }
        for u in uses
    ]


def lever_json(lever: ReductionLever) -> dict[str, Any]:
    return {
        "name": lever.name,
        "kind": lever.kind,
        "kg": _n(lever.kg),
        "basis": _n(lever.quantity),
        "unit": lever.unit,
        "gas_basis": lever.basis,
        "factor_id": lever.factor_ids[0] if lever.factor_ids else None,
        "factor_ids": list(lever.factor_ids),
        "factor_uses": uses_json(lever.uses),
        "explanation": lever.explanation,
    }


def carbon_json(
    carbon: PeriodCarbon,
    factors: dict[str, dict[str, Any]],
    *,
    coverage: Coverage | None,
    not_assessed_note: str | None,
) -> dict[str, Any]:
    """A site's CO₂ for one period: every total with its gas basis and factor uses."""
    r = carbon.reductions
    water = carbon.water
    pv = r.lever("pv")
    excess = coverage.excess_kwh if coverage else Decimal(0)
    notes = list(carbon.notes)
    if not_assessed_note and r.lever("efficiency") is None:
        notes.append(f"efficiency not assessed: {not_assessed_note}")
    return {
        "scope1_gas_kg": _n(carbon.scope1_gas.kg),
        "scope2_location_kg": _n(carbon.scope2_location.kg),
        "scope2_market_kg": _n(carbon.scope2_market.kg),
        "water_kg": None if water is None else _n(water.kg),
        "inventory_location_kg": _n(carbon.inventory_location_kg),
        "inventory_market_kg": _n(carbon.inventory_market_kg),
        "avoided_pv_kg": _n(pv.kg) if pv else 0.0,
        "offsets_retired_kg": _n(carbon.offsets.kg),
        "offset_references": list(carbon.offsets.references),
        "certificate_covered_kwh": _n(carbon.certificate_covered_kwh),
        "certificate_references": list(carbon.certificate_references),
        "certificate_excess_kwh": _n(excess),
        "physical_reduced_kg": _n(r.physical_kg),
        "contractual_reduced_kg": _n(r.contractual_kg),
        "co2_reduced_kg": _n(r.physical_kg),
        "reductions": {
            "hero": r.hero,
            "physical_kg": _n(r.physical_kg),
            "contractual_kg": _n(r.contractual_kg),
            "offsets_kg": _n(r.offsets.kg),
            "explanation": r.explanation,
            "not_assessed": list(r.not_assessed),
        },
        "basis": {
            "scope1_gas_kg": carbon.scope1_gas.basis,
            "scope2_location_kg": carbon.scope2_location.basis,
            "scope2_market_kg": carbon.scope2_market.basis,
            "water_kg": None if water is None else water.basis,
            "inventory_location_kg": carbon.inventory_location_basis,
            "inventory_market_kg": carbon.inventory_market_basis,
            "physical_reduced_kg": r.physical_basis,
            "contractual_reduced_kg": r.contractual_basis,
            "co2_reduced_kg": r.physical_basis,
            "offsets_retired_kg": r.offsets.basis,
        },
        "levers": [lever_json(lever) for lever in r.levers],
        "factor_ids": {k: list(v) for k, v in carbon.factor_ids.items()},
        "factor_uses": {
            "scope1_gas_kg": uses_json(carbon.scope1_gas.uses),
            "scope2_location_kg": uses_json(carbon.scope2_location.uses),
            "scope2_market_kg": uses_json(carbon.scope2_market.uses),
            "water_kg": [] if water is None else uses_json(water.uses),
        },
        "factors": factors,
        "notes": notes,
    }


def _basis(*valuations: Valuation) -> str:
    return combine_basis((u.factor_id, u.gas_basis) for v in valuations for u in v.uses)


def allocation_json(allocation: Allocation) -> dict[str, Any]:
    """Scope 2 by area: lines (own meters, unmetered, site remainder) and area totals."""
    return {
        "site_kwh": _n(allocation.site_kwh),
        "site": {k: _n(v) for k, v in allocation.site.items()},
        "lines": [
            {
                "area": line.area_id,
                "kind": line.kind,
                "kwh": _n(line.kwh),
                **{k: _n(v) for k, v in line.figures.items()},
            }
            for line in allocation.lines
        ],
        "areas": {
            area: {"kwh": _n(allocation.area_kwh[area]), **{k: _n(v) for k, v in figs.items()}}
            for area, figs in allocation.area_figures.items()
        },
        "top_level": list(allocation.top_level),
        "notes": list(allocation.notes),
    }


def area_carbon_json(
    allocation: Allocation,
    area_id: str,
    scope1: Valuation,
    water: Valuation | None,
    site: PeriodCarbon,
) -> dict[str, Any]:
    """An area's share: scope 2 by its sub-metered kWh, scope 1 and water of its own meters."""
    figs = allocation.area_figures[area_id]
    location, market = figs["scope2_location_kg"], figs["scope2_market_kg"]
    return {
        "scope1_gas_kg": _n(scope1.kg),
        "scope2_location_kg": _n(location),
        "scope2_market_kg": _n(market),
        "water_kg": None if water is None else _n(water.kg),
        "inventory_location_kg": _n(scope1.kg + location),
        "inventory_market_kg": _n(scope1.kg + market),
        "certificate_covered_kwh": _n(figs["certificate_covered_kwh"]),
        "allocated_kwh": _n(allocation.area_kwh[area_id]),
        "basis": {
            "scope1_gas_kg": scope1.basis,
            "scope2_location_kg": site.scope2_location.basis,
            "scope2_market_kg": site.scope2_market.basis,
            "water_kg": None if water is None else water.basis,
            "inventory_location_kg": _basis(scope1, site.scope2_location),
            "inventory_market_kg": _basis(scope1, site.scope2_market),
        },
        "co2_reduced_kg": None,
        "levers": [],
        "factor_ids": {"scope1_gas_kg": list(scope1.factor_ids)},
        "factor_uses": {"scope1_gas_kg": uses_json(scope1.uses)},
        "notes": [
            "scope 2 is the site's, allocated by sub-metered consumption (pro rata, "
            "certificates included); levers and offsets are site-wide",
            *allocation.notes,
        ],
    }


def neutrality_json(s: NeutralityStatus) -> dict[str, Any]:
    """ISO 14068-1 status: emissions, reductions, residual, offsets, the claim and why."""
    return {
        "boundary": s.boundary,
        "first": s.first.isoformat(),
        "after_last": s.after_last.isoformat(),
        "emissions_kg": _n(s.emissions_kg),
        "emissions_basis": s.emissions_basis,
        "physical_reductions_kg": _n(s.physical_reductions_kg),
        "contractual_reductions_kg": _n(s.contractual_reductions_kg),
        "residual_kg": _n(s.residual_kg),
        "offsets_kg": _n(s.offsets_kg),
        "offset_references": list(s.offset_references),
        "offsets_basis": s.offsets_basis,
        "offsets_beyond_residual_kg": _n(s.offsets_beyond_residual_kg),
        "shortfall_kg": _n(s.shortfall_kg),
        "claim_supported": s.claim_supported,
        "claim": s.claim,
        "conditions": [{"name": c.name, "met": c.met, "detail": c.detail} for c in s.conditions],
        "basis": s.basis,
        "notes": list(s.notes),
    }


def iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")
