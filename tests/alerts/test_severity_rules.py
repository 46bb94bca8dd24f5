"""What reaches the wall: provisional spikes are informational; a silent incomer is critical."""

from __future__ import annotations

import pytest

from app.domain.alerts import Severity
from app.domain.plant import Resource
from app.domain.severity import offline_severity, spike_severity
from app.plant.file import load_plant


def test_a_spike_against_the_running_average_is_informational_however_large() -> None:
    # a shift starting: 5 MW vs a running average of 1.6 MW, over a quarter of the site load
    judged = spike_severity(5000.0, 1600.0, 2000.0, site_load=12000.0)
    assert judged is Severity.CRITICAL  # against an hour-of-week baseline: the plant's
    provisional = spike_severity(5000.0, 1600.0, 2000.0, site_load=12000.0, provisional=True)
    assert provisional is Severity.INFO


@pytest.mark.parametrize(
    ("resource", "severity"),
    [
        (Resource.ELECTRICITY_IMPORT, Severity.CRITICAL),
        (Resource.ELECTRICITY_EXPORT, Severity.CRITICAL),
        (Resource.ELECTRICITY, Severity.WARNING),
        (Resource.GAS, Severity.WARNING),
        (Resource.PV, Severity.WARNING),
        (Resource.WATER, Severity.WARNING),
    ],
)
def test_only_the_grid_connection_going_silent_is_critical(
    resource: Resource, severity: Severity
) -> None:
    assert offline_severity(resource) is severity


def test_the_demo_plants_incomers_are_its_critical_meters() -> None:
    plant = load_plant()
    critical = {
        m.id for _, m in plant.meters() if offline_severity(m.resource) is Severity.CRITICAL
    }
    assert critical == {"el-grid-in-1", "el-grid-in-2", "el-grid-export"}
