"""Load the emission-factor catalogue: the packaged YAML plus an operator override file.

The packaged file is ``app/data/emission_factors.yaml`` (read through
``importlib.resources`` so it works from a wheel). An override file has the same
shape; a factor with an id the catalogue already has replaces that row, any
other id is added (region ``site:<site_id>`` makes a factor site-specific).
Validation errors name the file, the factor (id and position) and the field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

from app.domain.factors import (
    EmissionFactor,
    InvalidFactorError,
    ResolvedFactor,
    resolve_factor,
)
from app.domain.instruments import (
    DEFAULT_REGION_RULES,
    InstrumentError,
    RegionRule,
    parse_region_rules,
)

PACKAGED_NAME = "emission_factors.yaml"

_REQUIRED = (
    "id",
    "region",
    "resource",
    "method",
    "value",
    "unit",
    "gas_basis",
    "data_year",
    "valid_from",
    "source",
    "status",
)
_OPTIONAL = ("valid_to", "notes")
_TEXT_FIELDS = ("id", "region", "resource", "method", "unit", "gas_basis", "source", "status")


class CatalogueError(ValueError):
    """A catalogue or override file cannot be used; the message says where and why."""

    def __init__(self, source: str, where: str, field_name: str | None, problem: str) -> None:
        self.source = source
        self.where = where
        self.field_name = field_name
        location = f"{source}: {where}" if where else source
        if field_name:
            location += f": field {field_name!r}"
        super().__init__(f"{location}: {problem}")


@dataclass(frozen=True)
class Catalogue:
    """The factors in force: packaged rows with operator overrides applied."""

    version: str
    factors: tuple[EmissionFactor, ...]
    overridden_ids: frozenset[str] = frozenset()
    instrument_rules: tuple[RegionRule, ...] = DEFAULT_REGION_RULES
    """Which certificate types each region accepts (``instrument_rules:`` in the file)."""

    def get(self, factor_id: str) -> EmissionFactor:
        """The factor with this id.

        Raises:
            KeyError: no such id.
        """
        for factor in self.factors:
            if factor.id == factor_id:
                return factor
        raise KeyError(f"no emission factor with id {factor_id!r} in catalogue {self.version}")

    def resolve(
        self, *, regions: Sequence[str], resource: str, method: str, at: datetime
    ) -> ResolvedFactor:
        """``resolve_factor`` over this catalogue's factors."""
        return resolve_factor(
            self.factors, regions=regions, resource=resource, method=method, at=at
        )


def load_catalogue(path: Path | None = None, overrides: Path | None = None) -> Catalogue:
    """Read the catalogue (packaged file unless ``path`` is given) and apply ``overrides``.

    Raises:
        CatalogueError: a file is missing, not YAML, or a factor is invalid.
    """
    if path is None:
        resource = files("app.data").joinpath(PACKAGED_NAME)
        base_version, base, base_rules = _parse(
            resource.read_text(encoding="utf-8"), f"app/data/{PACKAGED_NAME}"
        )
    else:
        base_version, base, base_rules = _parse(_read(path), str(path))
    rules = DEFAULT_REGION_RULES if base_rules is None else base_rules
    if overrides is None:
        return Catalogue(version=base_version, factors=tuple(base), instrument_rules=rules)
    override_version, extra, extra_rules = _parse(_read(overrides), str(overrides))
    replaced = {f.id for f in extra}
    merged = [f for f in base if f.id not in replaced] + extra
    if extra_rules is not None:  # an override file's rules replace those of their regions
        regions = {r.region for r in extra_rules}
        rules = tuple(r for r in rules if r.region not in regions) + extra_rules
    return Catalogue(
        version=f"{base_version}+{override_version}",
        factors=tuple(merged),
        overridden_ids=frozenset(replaced & {f.id for f in base}),
        instrument_rules=rules,
    )


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogueError(str(path), "", None, f"cannot be read ({exc.strerror})") from exc


def _parse(
    text: str, source: str
) -> tuple[str, list[EmissionFactor], tuple[RegionRule, ...] | None]:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CatalogueError(source, "", None, f"is not valid YAML: {exc}") from exc
    if not isinstance(document, Mapping):
        raise CatalogueError(source, "", None, "the top level must hold 'version' and 'factors'")
    version = document.get("version")
    if isinstance(version, bool) or not isinstance(version, str | int) or version == "":
        raise CatalogueError(source, "", "version", "a catalogue needs a version, e.g. '2026.11.0'")
    unknown = set(document) - {"version", "factors", "instrument_rules"}
    if unknown:
        raise CatalogueError(
            source, "", None, f"unknown top-level keys {sorted(map(str, unknown))}"
        )
    rows = document.get("factors")
    if not isinstance(rows, list):
        raise CatalogueError(source, "", "factors", "must be a list of factors")
    factors: list[EmissionFactor] = []
    seen: set[str] = set()
    for index, row in enumerate(rows):
        factor = _factor(row, source, index)
        if factor.id in seen:
            raise CatalogueError(
                source, _where(factor.id, index), "id", "is used by an earlier factor in this file"
            )
        seen.add(factor.id)
        factors.append(factor)
    return str(version), factors, _rules(document.get("instrument_rules"), source)


def _rules(raw: object, source: str) -> tuple[RegionRule, ...] | None:
    """The file's ``instrument_rules:`` (None when it has none)."""
    if raw is None:
        return None
    if not isinstance(raw, list) or not all(isinstance(r, Mapping) for r in raw):
        raise CatalogueError(source, "", "instrument_rules", "must be a list of rules")
    try:
        return parse_region_rules(raw)
    except InstrumentError as exc:
        raise CatalogueError(source, exc.reference, exc.field_name, exc.problem) from exc


def _factor(row: Any, source: str, index: int) -> EmissionFactor:
    if not isinstance(row, Mapping):
        raise CatalogueError(source, _where(None, index), None, "must be a mapping of fields")
    raw_id = row.get("id")
    where = _where(raw_id if isinstance(raw_id, str) else None, index)

    def fail(field_name: str, problem: str) -> CatalogueError:
        return CatalogueError(source, where, field_name, problem)

    for name in _REQUIRED:
        if row.get(name) is None:
            raise fail(name, "is missing")
    unknown = set(row) - set(_REQUIRED) - set(_OPTIONAL)
    if unknown:
        raise fail(sorted(map(str, unknown))[0], "is not a factor field (misspelt?)")
    for name in _TEXT_FIELDS:
        if not isinstance(row[name], str):
            raise fail(name, f"must be text, got {row[name]!r} (quote it in YAML)")
    value = row["value"]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise fail("value", f"must be a number, got {value!r}")
    data_year = row["data_year"]
    if isinstance(data_year, bool) or not isinstance(data_year, int):
        raise fail("data_year", f"must be a whole year, got {data_year!r}")
    notes = row.get("notes") or ""
    if not isinstance(notes, str):
        raise fail("notes", "must be text")
    valid_to = row.get("valid_to")
    try:
        return EmissionFactor(
            id=row["id"],
            region=row["region"],
            resource=row["resource"],
            method=row["method"],
            value=float(value),
            unit=row["unit"],
            gas_basis=row["gas_basis"],
            data_year=data_year,
            valid_from=_moment(row["valid_from"], "valid_from"),
            valid_to=None if valid_to is None else _moment(valid_to, "valid_to"),
            source=row["source"],
            status=row["status"],
            notes=notes.strip(),
        )
    except InvalidFactorError as exc:
        raise fail(exc.field_name, exc.problem) from exc


def _moment(raw: object, field_name: str) -> datetime:
    """A YAML timestamp, date (00:00 UTC) or ISO text as an aware datetime."""
    if isinstance(raw, str):
        try:
            raw = (
                datetime.fromisoformat(raw) if "T" in raw or " " in raw else date.fromisoformat(raw)
            )
        except ValueError:
            raise InvalidFactorError(field_name, f"{raw!r} is not an ISO date or time") from None
    if isinstance(raw, datetime):
        if raw.utcoffset() is None:
            raise InvalidFactorError(field_name, f"{raw.isoformat()} needs a UTC offset")
        return raw
    if isinstance(raw, date):
        return datetime(raw.year, raw.month, raw.day, tzinfo=UTC)
    raise InvalidFactorError(field_name, f"{raw!r} is not a date or time")


def _where(factor_id: str | None, index: int) -> str:
    return f"factor #{index} ({factor_id!r})" if factor_id else f"factor #{index}"


def factor_from_mapping(row: Mapping[str, Any], *, source: str, index: int = 0) -> EmissionFactor:
    """Validate one factor given as a mapping (an API body, a database row) like a file row.

    Raises:
        CatalogueError: a field is missing or invalid; the message names it.
    """
    return _factor(row, source, index)
