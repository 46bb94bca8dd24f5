"""Spike severity: deviation weighed by the meter's share of the site's load."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from app.domain.alerts import Severity
from app.domain.severity import spike_severity


def test_a_canteen_gas_spike_beside_the_boilers_is_informational() -> None:
    # 18.6 vs 10.6 m3/h expected (threshold 15) on a site burning ~1,370 m3/h of gas
    severity = spike_severity(18.6, 10.6, 15.0, site_load=1370.0)
    assert severity is Severity.INFO


def test_the_same_excess_on_a_small_site_is_a_warning() -> None:
    assert spike_severity(18.6, 10.6, 15.0, site_load=60.0) is Severity.WARNING


def test_an_excess_of_a_quarter_of_the_site_load_is_critical() -> None:
    assert spike_severity(5200.0, 2000.0, 3000.0, site_load=12000.0) is Severity.CRITICAL


def test_a_grid_incomer_far_past_its_allowance_is_critical() -> None:
    assert spike_severity(9000.0, 6000.0, 7000.0, site_load=None, plant_level=True) is (
        Severity.CRITICAL
    )
    assert spike_severity(7200.0, 6000.0, 7000.0, site_load=40000.0, plant_level=True) is (
        Severity.WARNING
    )


def test_unknown_site_load_is_never_critical_for_a_meter() -> None:
    assert spike_severity(1e6, 10.0, 20.0, site_load=None) is Severity.WARNING


@given(
    expected=st.floats(0, 1000),
    allowance=st.floats(1, 1000),
    excess=st.floats(0, 5000),
    more=st.floats(0, 5000),
    load=st.floats(100, 1e5),
)
def test_severity_never_falls_as_the_excess_grows(
    expected: float, allowance: float, excess: float, more: float, load: float
) -> None:
    rank = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}
    threshold = expected + allowance
    lower = spike_severity(expected + excess, expected, threshold, site_load=load)
    higher = spike_severity(expected + excess + more, expected, threshold, site_load=load)
    assert rank[higher] >= rank[lower]
