"""Load the standard-coal coefficient catalogue (``app/data/energy_coefficients.yaml``).

A site's energy file may add rows of the same shape (``extra``): a row whose id
the catalogue already has replaces it, any other id is added. Errors name the
file, the row (id and position) and the field.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

from app.domain.standard_coal import CoalCoefficient, InvalidCoefficientError, resolve_coefficient

PACKAGED_NAME = "energy_coefficients.yaml"

_REQUIRED = ("id", "carrier", "method", "kgce_per_unit", "unit", "valid_from", "source", "status")
_OPTIONAL = ("valid_to", "scope", "notes")


class CoefficientCatalogueError(ValueError):
    """A coefficient file or row cannot be used; the message says where and why."""

    def __init__(self, source: str, where: str, problem: str) -> None:
        self.source = source
        self.where = where
        super().__init__(f"{source}: {where}: {problem}" if where else f"{source}: {problem}")


@dataclass(frozen=True)
class CoefficientCatalogue:
    """The coefficients in force: packaged rows with a site's rows applied."""

    version: str
    coefficients: tuple[CoalCoefficient, ...]
    replaced_ids: frozenset[str] = frozenset()

    def get(self, coefficient_id: str) -> CoalCoefficient:
        """The coefficient with this id.

        Raises:
            KeyError: no such id.
        """
        for coefficient in self.coefficients:
            if coefficient.id == coefficient_id:
                return coefficient
        raise KeyError(f"no coefficient {coefficient_id!r} in catalogue {self.version}")

    def resolve(
        self, *, carrier: str, at: datetime, method: str | None = None, site_id: str | None = None
    ) -> CoalCoefficient:
        """``resolve_coefficient`` over this catalogue."""
        return resolve_coefficient(
            self.coefficients, carrier=carrier, at=at, method=method, site_id=site_id
        )

    def with_rows(self, extra: Iterable[CoalCoefficient], label: str) -> CoefficientCatalogue:
        """This catalogue with ``extra`` rows applied (same id replaces)."""
        rows = tuple(extra)
        ids = {c.id for c in rows}
        kept = tuple(c for c in self.coefficients if c.id not in ids)
        return CoefficientCatalogue(
            version=f"{self.version}+{label}",
            coefficients=kept + rows,
            replaced_ids=self.replaced_ids | (ids & {c.id for c in self.coefficients}),
        )


def load_coefficients(path: Path | None = None) -> CoefficientCatalogue:
    """Read the packaged catalogue (or ``path``).

    Raises:
        CoefficientCatalogueError: the file is missing, not YAML, or a row is invalid.
    """
    if path is None:
        text = files("app.data").joinpath(PACKAGED_NAME).read_text(encoding="utf-8")
        source = f"app/data/{PACKAGED_NAME}"
    else:
        source = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise CoefficientCatalogueError(source, "", f"cannot be read ({exc.strerror})") from exc
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CoefficientCatalogueError(source, "", f"is not valid YAML: {exc}") from exc
    if not isinstance(document, Mapping) or set(document) != {"version", "coefficients"}:
        raise CoefficientCatalogueError(
            source, "", "the top level must hold exactly 'version' and 'coefficients'"
        )
    rows = document["coefficients"]
    if not isinstance(rows, list):
        raise CoefficientCatalogueError(source, "coefficients", "must be a list")
    parsed = [coefficient_from_mapping(row, source=source, index=i) for i, row in enumerate(rows)]
    seen: set[str] = set()
    for index, coefficient in enumerate(parsed):
        if coefficient.id in seen:
            raise CoefficientCatalogueError(
                source, f"row #{index} ({coefficient.id!r})", "id is used by an earlier row"
            )
        seen.add(coefficient.id)
    return CoefficientCatalogue(version=str(document["version"]), coefficients=tuple(parsed))


def coefficient_from_mapping(row: Any, *, source: str, index: int = 0) -> CoalCoefficient:
    """Validate one coefficient row (a file row, an API body).

    Raises:
        CoefficientCatalogueError: a field is missing or invalid; the message names it.
    """
    if not isinstance(row, Mapping):
        raise CoefficientCatalogueError(source, f"row #{index}", "must be a mapping of fields")
    raw_id = row.get("id")
    where = f"row #{index} ({raw_id!r})" if isinstance(raw_id, str) else f"row #{index}"
    for name in _REQUIRED:
        if row.get(name) is None:
            raise CoefficientCatalogueError(source, where, f"field {name!r} is missing")
    unknown = sorted(map(str, set(row) - set(_REQUIRED) - set(_OPTIONAL)))
    if unknown:
        raise CoefficientCatalogueError(source, where, f"field {unknown[0]!r} is not known")
    value = row["kgce_per_unit"]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CoefficientCatalogueError(source, where, f"kgce_per_unit {value!r} is not a number")
    try:
        return CoalCoefficient(
            id=str(row["id"]),
            carrier=str(row["carrier"]),
            method=str(row["method"]),
            kgce_per_unit=float(value),
            unit=str(row["unit"]),
            valid_from=moment(row["valid_from"], "valid_from"),
            valid_to=None if row.get("valid_to") is None else moment(row["valid_to"], "valid_to"),
            source=str(row["source"]),
            status=str(row["status"]),
            scope=str(row.get("scope") or "general"),
            notes=str(row.get("notes") or "").strip(),
        )
    except InvalidCoefficientError as exc:
        raise CoefficientCatalogueError(
            source, where, f"field {exc.field_name!r}: {exc.problem}"
        ) from exc


def moment(raw: object, field_name: str) -> datetime:
    """A YAML timestamp, a date (00:00 UTC) or ISO text as an aware datetime.

    Raises:
        InvalidCoefficientError: not a date or time, or a time without a UTC offset.
    """
    if isinstance(raw, str):
        try:
            raw = datetime.fromisoformat(raw) if "T" in raw else date.fromisoformat(raw)
        except ValueError:
            raise InvalidCoefficientError(
                field_name, f"{raw!r} is not an ISO date or time"
            ) from None
    if isinstance(raw, datetime):
        if raw.utcoffset() is None:
            raise InvalidCoefficientError(field_name, f"{raw.isoformat()} needs a UTC offset")
        return raw
    if isinstance(raw, date):
        return datetime(raw.year, raw.month, raw.day, tzinfo=UTC)
    raise InvalidCoefficientError(field_name, f"{raw!r} is not a date or time")
