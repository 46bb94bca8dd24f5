"""Physical vs contractual levers, offsets beside them, and the ISO 14068-1 status."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from app.carbon.catalogue import load_catalogue
from app.domain.instruments import Offset, offsets_retired
from app.domain.levers import (
    CONTRACTUAL,
    PHYSICAL,
    Reductions,
    efficiency_savings,
    split_reductions,
)
from app.domain.neutrality import NeutralityStatus, neutrality_status
from app.domain.time_of_use import Valuation, value_by_time_of_use

GUIAN = ZoneInfo("Asia/Shanghai")
REGIONS = ("site:guian", "CN-GZ", "CN-CSG", "CN")
FACTORS = load_catalogue().factors
APRIL = datetime(2026, 4, 1, 10, tzinfo=GUIAN)


def value(kwh: str, method: str = "location", allow_negative: bool = False) -> Valuation:
    return value_by_time_of_use(
        [(APRIL, Decimal(kwh))],
        FACTORS,
        regions=REGIONS,
        resource="electricity",
        method=method,
        allow_negative=allow_negative,
    )


def reductions(offsets: list[Offset] | None = None) -> Reductions:
    saved = efficiency_savings([(APRIL, Decimal(1800))], [(APRIL, Decimal(1950))])
    return split_reductions(
        pv=value("750"),
        efficiency=value_by_time_of_use(
            saved,
            FACTORS,
            regions=REGIONS,
            resource="electricity",
            method="location",
            allow_negative=True,
        ),
        water_reuse=None,
        certificates=value("300", "market_residual"),
        offsets=offsets_retired(offsets or [], date(2026, 4, 1), date(2026, 5, 1), GUIAN),
        baseline="the 2025 regression",
    )


def test_physical_and_contractual_apart() -> None:
    r = reductions()
    assert [x.name for x in r.physical] == ["pv", "efficiency"]
    assert all(x.kind == PHYSICAL for x in r.physical)
    assert [(x.name, x.kind) for x in r.contractual] == [("certificates", CONTRACTUAL)]
    assert r.physical_kg == Decimal("303.15") + Decimal("-60.63")
    assert r.contractual_kg == Decimal("182.88")
    assert r.total_kg == r.physical_kg + r.contractual_kg
    certificates, efficiency = r.lever("certificates"), r.lever("efficiency")
    assert certificates is not None and efficiency is not None
    assert certificates.factor_ids == ("cn-national-market-residual-2023",)
    assert r.hero == PHYSICAL
    assert "242.52 kg" in r.explanation and "contractual" in r.explanation
    assert "-150.00 kWh less than the 2025 regression" in efficiency.explanation
    assert any(n.startswith("water_reuse") for n in r.not_assessed)


def test_pv_certificates_sold_claims_no_pv() -> None:
    r = split_reductions(
        pv=value("750"),
        efficiency=None,
        water_reuse=None,
        certificates=None,
        offsets=offsets_retired([], date(2026, 4, 1), date(2026, 5, 1), GUIAN),
        pv_certificates_sold=True,
    )
    assert r.physical == () and r.physical_kg == 0
    assert "sold" in r.not_assessed[0]


def vcs(quantity: str) -> Offset:
    return Offset(
        reference="VCS-0001",
        standard="VCS",
        project="VCS 1234 hydro",
        vintage=2024,
        quantity=Decimal(quantity),
        unit="tCO2e",
        registry="Verra",
        serial="1234-2024-000001-000013",
        retired_at=datetime(2026, 3, 31, 17, 30, tzinfo=ZoneInfo("UTC")),
    )


def status(emissions: str, quantity: str, verified: bool) -> NeutralityStatus:
    offsets = [vcs(quantity)]
    return neutrality_status(
        boundary="site:guian",
        first=date(2026, 4, 1),
        after_last=date(2026, 5, 1),
        zone=GUIAN,
        emissions_kg=Decimal(emissions),
        emissions_basis="CO2",
        reductions=reductions(offsets),
        offsets=offsets,
        verified=verified,
    )


def test_worked_example_neutrality_short_then_unverified_then_supported() -> None:
    short = status("15000", "12.5", verified=True)
    assert short.shortfall_kg == Decimal(2500)
    assert short.claim == "not carbon neutral: short by 2,500.00 kg of residual emissions"
    unverified = status("10000", "12.5", verified=False)
    assert unverified.shortfall_kg == 0
    assert unverified.offsets_beyond_residual_kg == Decimal(2500)
    assert not unverified.claim_supported
    assert unverified.claim.endswith("independent verification")
    assert unverified.basis == "mixed: emissions CO2; offsets CO2e"
    supported = status("10000", "12.5", verified=True)
    assert supported.claim_supported
    names = [c.name for c in supported.conditions]
    assert names == [
        "reduce first",
        "offsets only for the residual",
        "residual covered by offsets retired for the period",
        "independent verification",
    ]


@settings(max_examples=200, deadline=None)
@given(
    st.decimals(min_value=0, max_value=10**7, places=3),
    st.decimals(min_value="0.001", max_value=10**4, places=3),
    st.booleans(),
)
def test_status_identities(emissions: Decimal, tonnes: Decimal, verified: bool) -> None:
    s = status(str(emissions), str(tonnes), verified)
    kg = tonnes * 1000
    assert s.residual_kg == emissions
    assert s.shortfall_kg == max(Decimal(0), emissions - kg)
    assert s.shortfall_kg - s.offsets_beyond_residual_kg == emissions - kg
    assert s.claim_supported == (s.shortfall_kg == 0 and verified)
