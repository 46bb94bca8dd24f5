"""Read a site's energy file (``<plant>.energy.yaml``): baseline, tariffs, scorecard, targets.

The file is validated with pydantic and handed on as the pure domain values of
``app.domain`` (``PriceSchedule``, ``BaselinePoint``, ``IndicatorSpec``,
``IntensityTarget``, ``CoalCoefficient``). Bare dates and month labels are the
site's local time: the caller passes the site's zone (``Site.zone``) and every
instant comes out in UTC. Errors name the file and the field path.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from importlib.resources import files
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from pydantic import ValidationError

from app.domain.energy_settings import BaselineSpec, EnergyBoundary, EnergySettings, TargetSpec
from app.domain.enpi_model import BaselinePoint, ValidityRules
from app.domain.plant import Plant
from app.domain.scorecard import INDICATORS, IndicatorSpec
from app.domain.standard_coal import CARRIERS, CoalCoefficient, coefficient_from_heating_value
from app.domain.targets import IntensityTarget
from app.domain.tariffs import DemandCharge, PriceSchedule, TouBand
from app.energy.catalogue import (
    CoefficientCatalogueError,
    coefficient_from_mapping,
)
from app.energy.file_schema import Band, Coefficient, EnergyFile

DEMO_ENERGY_FILE = "demo_battery_guian.energy.yaml"


class EnergyFileError(ValueError):
    """The energy file cannot be used; the message names the file and the field."""


def demo_energy_path() -> Path:
    """The packaged demo plant's energy file."""
    return Path(str(files("app.data").joinpath("plants", DEMO_ENERGY_FILE)))


def energy_path_for(energy_file: Path | None, plant_file: Path | None) -> Path | None:
    """The energy file to use: the setting, else ``<plant>.energy.yaml`` beside the plant
    file (None when there is none), else (no plant file: the demo plant) the demo's."""
    if energy_file is not None:
        return energy_file
    if plant_file is None:
        return demo_energy_path()
    name = plant_file.name.removesuffix(".yaml").removesuffix(".yml") + ".energy.yaml"
    beside = plant_file.with_name(name)
    return beside if beside.is_file() else None


def energy_site(path: Path) -> str | None:
    """The site an energy file names (None when it cannot be read or names none)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None
    site = data.get("site") if isinstance(data, dict) else None
    return site if isinstance(site, str) else None


def load_plant_energy(path: Path, plant: Plant) -> dict[str, EnergySettings]:
    """Read an energy file for the plant site it names (its ``site`` key).

    Raises:
        EnergyFileError: unreadable, invalid, or naming a site the plant does not have.
    """
    try:
        text = path.read_text(encoding="utf-8")
        data = yaml.safe_load(text)
    except (OSError, yaml.YAMLError) as exc:
        raise EnergyFileError(f"{path}: cannot be read: {exc}") from exc
    site_id = data.get("site") if isinstance(data, dict) else None
    sites = {s.id: s for s in plant.sites}
    if site_id not in sites:
        raise EnergyFileError(f"{path}: site: {site_id!r} is not a site of the plant file")
    site = sites[site_id]
    settings = parse_energy_file(
        text,
        zone=site.zone,
        source=str(path),
        meter_ids=frozenset(m.id for m in site.meters),
    )
    return {site.id: settings}


def load_energy_file(
    path: Path, *, zone: ZoneInfo, meter_ids: frozenset[str] | None = None
) -> EnergySettings:
    """Read and validate ``path``; see ``parse_energy_file``.

    Raises:
        EnergyFileError: unreadable, not YAML, or invalid.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise EnergyFileError(f"{path}: cannot be read ({exc.strerror})") from exc
    return parse_energy_file(text, zone=zone, source=str(path), meter_ids=meter_ids)


def parse_energy_file(
    text: str, *, zone: ZoneInfo, source: str = "<energy>", meter_ids: frozenset[str] | None = None
) -> EnergySettings:
    """Validate an energy file's text and turn it into domain values.

    Args:
        zone: the site's timezone; bare dates are local midnight there.
        meter_ids: the plant's meters, to check the file only names meters that exist.

    Raises:
        EnergyFileError: the message names ``source`` and the field.
    """
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise EnergyFileError(f"{source}: not valid YAML: {exc}") from exc
    try:
        model = EnergyFile.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise EnergyFileError(f"{source}: {where}: {first['msg']}") from exc
    try:
        settings = _settings(model, zone)
    except (ValueError, CoefficientCatalogueError) as exc:
        raise EnergyFileError(f"{source}: {exc}") from exc
    if meter_ids is not None:
        unknown = sorted(settings.meter_ids() - meter_ids)
        if unknown:
            raise EnergyFileError(f"{source}: unknown meters {unknown} (not in the plant file)")
    return settings


def _instant(value: date | datetime, zone: ZoneInfo) -> datetime:
    if isinstance(value, datetime):
        if value.utcoffset() is None:
            raise ValueError(f"{value.isoformat()} needs a UTC offset (or give a bare date)")
        return value.astimezone(UTC)
    return datetime(value.year, value.month, value.day, tzinfo=zone).astimezone(UTC)


def _bands(raw: list[Band]) -> tuple[TouBand, ...]:
    return tuple(TouBand(b.period, b.start, b.end, frozenset(b.months)) for b in raw)


def _coefficient(row: Coefficient, site: str, zone: ZoneInfo) -> CoalCoefficient:
    valid_from = _instant(row.valid_from, zone)
    valid_to = None if row.valid_to is None else _instant(row.valid_to, zone)
    if row.lower_heating_value_kj_per_m3 is not None:
        if row.carrier != "gas":
            raise ValueError(f"coefficient {row.id}: a heating value applies to gas only")
        return coefficient_from_heating_value(
            id=row.id,
            lower_heating_value_kj_per_m3=row.lower_heating_value_kj_per_m3,
            valid_from=valid_from,
            valid_to=valid_to,
            source=row.source,
            scope=f"site:{site}",
        )
    fields: dict[str, Any] = row.model_dump(exclude={"lower_heating_value_kj_per_m3"})
    fields.update(valid_from=valid_from, valid_to=valid_to, scope=f"site:{site}")
    return coefficient_from_mapping(fields, source=f"coefficients[{row.id}]")


def _month_bounds(label: str, zone: ZoneInfo) -> tuple[datetime, datetime]:
    year, month = (int(part) for part in label.split("-"))
    start = datetime(year, month, 1, tzinfo=zone)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def _settings(model: EnergyFile, zone: ZoneInfo) -> EnergySettings:
    unknown = [c for c in model.boundary.carriers if c not in CARRIERS]
    if unknown:
        raise ValueError(f"boundary: unknown carriers {unknown}")
    baseline = None
    if model.baseline is not None:
        raw = model.baseline
        points = tuple(
            BaselinePoint(
                *_month_bounds(p.month, zone), p.energy_kwh, p.production_units, p.degree_days
            )
            for p in raw.points
        )
        start, end = _instant(raw.start, zone), _instant(raw.end, zone)
        outside = [p.start for p in points if p.start < start or p.end > end]
        if outside:
            raise ValueError(
                f"baseline: points outside {raw.start}..{raw.end}: {outside[0].isoformat()}"
            )
        baseline = BaselineSpec(
            id=raw.id,
            production_meter=raw.production_meter,
            energy=raw.energy,
            start=start,
            end=end,
            rules=ValidityRules(**raw.rules.model_dump()),
            points=points,
        )
    tariffs = tuple(
        PriceSchedule(
            id=t.id,
            resource=t.resource,
            currency=t.currency,
            valid_from=_instant(t.valid_from, zone),
            valid_to=None if t.valid_to is None else _instant(t.valid_to, zone),
            prices=dict(t.prices),
            bands=_bands(t.bands),
            holidays=frozenset(t.holidays),
            holiday_bands=None if t.holiday_bands is None else _bands(t.holiday_bands),
            demand_charge=None
            if t.demand_charge is None
            else DemandCharge(t.demand_charge.basis, t.demand_charge.price_per_month),
            source=t.source,
            illustrative=t.illustrative or model.illustrative,
        )
        for t in model.tariffs
    )
    specs: list[IndicatorSpec] = []
    if model.scorecard is not None:
        for row in model.scorecard.indicators:
            if row.id not in INDICATORS:
                raise ValueError(f"scorecard: {row.id!r} is not one of {sorted(INDICATORS)}")
            specs.append(
                IndicatorSpec.standard(
                    row.id,
                    baseline_value=row.baseline_value,
                    leading_value=row.leading_value,
                    weight=row.weight,
                    max_score=row.max_score,
                    rule=None if row.rule is None else tuple(row.rule),
                )
            )
    targets = tuple(
        TargetSpec(
            IntensityTarget(
                id=t.id,
                metric=t.metric,
                base_value=t.base_value,
                reduction=t.reduction,
                plan_start=_instant(t.plan_start, zone),
                plan_end=_instant(t.plan_end, zone),
                path=t.path,
                tolerance=t.tolerance,
            ),
            t.co2_basis,
            t.base_period,
        )
        for t in model.targets
    )
    if any(t.target.metric == "co2_per_output_value" for t in targets) and (
        model.output_value_per_unit is None
    ):
        raise ValueError("targets: co2_per_output_value needs output_value_per_unit")
    output = model.output_value_per_unit
    return EnergySettings(
        site_id=model.site,
        illustrative=model.illustrative,
        boundary=EnergyBoundary(
            tuple(model.boundary.carriers),
            model.boundary.electricity,
            model.boundary.electricity_method,
            model.boundary.gas_method,
        ),
        coefficients=tuple(_coefficient(c, model.site, zone) for c in model.coefficients),
        baseline=baseline,
        tariffs=tariffs,
        intake_meters=tuple(model.water_reuse.intake_meters) if model.water_reuse else (),
        reuse_meters=tuple(model.water_reuse.reuse_meters) if model.water_reuse else (),
        count_certificates=model.renewables.count_certificates,
        scorecard=tuple(specs),
        scorecard_co2_basis=model.scorecard.co2_basis if model.scorecard else "location",
        output_value_per_unit=None if output is None else output.amount,
        output_value_currency=None if output is None else output.currency,
        targets=targets,
    )
