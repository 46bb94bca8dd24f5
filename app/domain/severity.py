"""How serious a spike is: its deviation, weighed by what it does to the whole site.

A meter far above its expectation matters little when it carries a sliver of the site's
load (a canteen's gas line beside the boilers); the same excess on a grid incomer is the
plant's problem. Pure: plain numbers in, a ``Severity`` out.
"""

from __future__ import annotations

from typing import Final

from app.domain.alerts import CRITICAL_EXCESS_FACTOR, Severity
from app.domain.plant import Resource

PLANT_LEVEL_SHARE: Final = 0.25
"""An excess adding this share of the site's load (of that resource) is a plant-level problem."""
NOTICEABLE_SHARE: Final = 0.02
"""Below this share of the site's load an excess is informational (listed, not on the wall)."""
PLANT_LEVEL_RESOURCES: Final = frozenset({Resource.ELECTRICITY_IMPORT, Resource.PV})
"""Meters that measure the whole site: their spikes are the plant's by definition."""


def spike_severity(
    observed: float,
    expected: float | None,
    threshold: float,
    *,
    site_load: float | None,
    plant_level: bool = False,
    provisional: bool = False,
) -> Severity:
    """Severity of a spike of ``observed`` against ``expected`` (alarm at ``threshold``).

    Args:
        site_load: the site's current load of the same resource (sum over its meters,
            this one included); ``None`` when unknown, which never yields critical.
        plant_level: the meter measures the whole site (a grid incomer, the PV).
        provisional: ``expected`` is a stand-in (the running average of the last
            readings, before the meter's hour-of-week baseline exists): it cannot tell
            a spike from a shift starting or a kitchen's lunch, so the spike is
            informational (listed, never on the wall) whatever its size.

    Returns:
        ``CRITICAL`` only for a plant-level problem: the excess is a quarter of the site's
        load or more, or a whole-site meter is ``CRITICAL_EXCESS_FACTOR`` times past its
        allowance; ``INFO`` when the excess is under 2 % of the site's load; else
        ``WARNING``.
    """
    if provisional:
        return Severity.INFO
    base = expected if expected is not None else 0.0
    excess = max(0.0, observed - base)
    allowed = threshold - base
    if allowed > 0:
        deviation = excess / allowed
    else:
        deviation = observed / threshold if threshold > 0 else CRITICAL_EXCESS_FACTOR
    if plant_level and deviation >= CRITICAL_EXCESS_FACTOR:
        return Severity.CRITICAL
    if site_load is None or site_load <= 0:
        return Severity.WARNING
    share = excess / site_load
    if share >= PLANT_LEVEL_SHARE:
        return Severity.CRITICAL
    if share >= NOTICEABLE_SHARE or plant_level:
        return Severity.WARNING
    return Severity.INFO


WHOLE_SITE_METERS: Final = frozenset({Resource.ELECTRICITY_IMPORT, Resource.ELECTRICITY_EXPORT})
"""Meters of the grid connection: silent, the site's import (or export) is not known."""


def offline_severity(resource: Resource) -> Severity:
    """A silent grid incomer blinds the whole site's figures: critical; any other meter's
    silence hides one part of the plant: a warning."""
    return Severity.CRITICAL if resource in WHOLE_SITE_METERS else Severity.WARNING
