"""Certificates and offsets: registry fields, region rules, duplicates, voids, local dates."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.certificates import cover_consumption
from app.domain.instruments import (
    DEFAULT_REGION_RULES,
    Certificate,
    DuplicateReferenceError,
    InstrumentError,
    Ledger,
    Offset,
    UnknownReferenceError,
    check_region_rules,
    offsets_retired,
    parse_region_rules,
)
from app.domain.periods import buckets_covering, date_range_bounds, month_bounds
from tests.domain.doc_tables import example_rows

GUIAN = ZoneInfo("Asia/Shanghai")
REGIONS = ("site:guian", "CN-GZ", "CN-CSG", "CN")
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def certificate(**fields: Any) -> Certificate:
    base: dict[str, Any] = {
        "reference": "GEC-2026-0001",
        "instrument_type": "GEC",
        "generation_first": date(2026, 1, 1),
        "generation_last": date(2026, 1, 31),
        "claimed_first": date(2026, 1, 1),
        "claimed_last": date(2026, 1, 31),
        "quantity": Decimal(1),
        "unit": "MWh",
        "registry": "China GEC trading platform",
        "serial": "GEC-52-000001-000001",
        "retired_on": date(2026, 2, 5),
    }
    return Certificate(**(base | fields))


def offset(**fields: Any) -> Offset:
    base: dict[str, Any] = {
        "reference": "VCS-0001",
        "standard": "VCS",
        "project": "VCS 1234 hydro",
        "vintage": 2024,
        "quantity": Decimal("12.5"),
        "unit": "tCO2e",
        "registry": "Verra",
        "serial": "1234-2024-000001-000013",
        "retired_at": datetime(2026, 3, 31, 17, 30, tzinfo=UTC),
    }
    return Offset(**(base | fields))


def test_china_accepts_gec() -> None:
    check_region_rules(certificate(), regions=REGIONS, rules=DEFAULT_REGION_RULES)


def test_irec_for_2026_generation_is_refused_in_china() -> None:
    irec = certificate(instrument_type="I-REC(E)", reference="IREC-1")
    with pytest.raises(InstrumentError, match="not accepted in CN for generation after 2024-12-31"):
        Ledger().add_certificate(irec, regions=REGIONS, at=NOW, actor="ops")
    old = certificate(
        instrument_type="I-REC(E)",
        generation_first=date(2024, 12, 1),
        generation_last=date(2024, 12, 31),
    )
    check_region_rules(old, regions=REGIONS, rules=DEFAULT_REGION_RULES)


def test_other_types_are_refused_in_china_but_not_elsewhere() -> None:
    rego = certificate(instrument_type="REGO")
    with pytest.raises(InstrumentError, match="REGO certificates are not accepted for sites in CN"):
        check_region_rules(rego, regions=REGIONS, rules=DEFAULT_REGION_RULES)
    check_region_rules(rego, regions=("GB",), rules=DEFAULT_REGION_RULES)


def test_rules_parse_from_catalogue_rows() -> None:
    rules = parse_region_rules([{"region": "CN", "instrument_type": "GEC", "source": "doc 1044"}])
    assert rules[0].instrument_type == "GEC"
    with pytest.raises(InstrumentError, match="instrument_type"):
        parse_region_rules([{"region": "CN", "instrument_type": "XYZ"}])


@pytest.mark.parametrize(
    ("fields", "field_name"),
    [
        ({"reference": " "}, "reference"),
        ({"instrument_type": "green"}, "instrument_type"),
        ({"quantity": Decimal(0)}, "quantity"),
        ({"unit": "GWh"}, "unit"),
        ({"serial": ""}, "serial"),
        ({"generation_last": date(2025, 12, 1)}, "generation_last"),
        ({"retired_on": date(2025, 1, 1)}, "retired_on"),
    ],
)
def test_certificate_fields_are_checked(fields: dict[str, Any], field_name: str) -> None:
    with pytest.raises(InstrumentError) as caught:
        certificate(**fields)
    assert caught.value.field_name == field_name


def test_duplicate_reference_is_refused_across_kinds() -> None:
    ledger = Ledger().add_certificate(certificate(), regions=REGIONS, at=NOW, actor="ops")
    with pytest.raises(DuplicateReferenceError):
        ledger.add_certificate(certificate(), regions=REGIONS, at=NOW, actor="ops")
    with pytest.raises(DuplicateReferenceError):
        ledger.add_offset(offset(reference="GEC-2026-0001"), at=NOW, actor="ops")


def test_void_keeps_the_offset_and_the_trail() -> None:
    ledger = Ledger().add_offset(offset(), at=NOW, actor="ops")
    later = NOW + timedelta(hours=1)
    ledger = ledger.void_offset("VCS-0001", at=later, actor="auditor", reason="double retirement")
    assert ledger.offsets[0].voided and ledger.offsets[0].void_reason == "double retirement"
    assert [(e.action, e.actor) for e in ledger.audit] == [("create", "ops"), ("void", "auditor")]
    assert offsets_retired(ledger.offsets, date(2026, 4, 1), date(2026, 5, 1), GUIAN).kg == 0
    with pytest.raises(InstrumentError, match="already void"):
        ledger.void_offset("VCS-0001", at=later, actor="auditor", reason="again")
    with pytest.raises(UnknownReferenceError):
        ledger.void_offset("nope", at=later, actor="auditor", reason="x")


def test_worked_example_offsets_near_midnight_utc() -> None:
    april = offset()  # 2026-03-31 17:30 UTC = 2026-04-01 01:30 in Gui'an
    december = offset(
        reference="CCER-0007",
        standard="CCER",
        project="CCER forestry",
        vintage=2025,
        quantity=Decimal(3),
        retired_at=date(2025, 12, 31),  # a bare date is the site-local date
    )
    both = [april, december]
    assert april.retirement_date(GUIAN) == date(2026, 4, 1)
    assert offsets_retired(both, date(2026, 3, 1), date(2026, 4, 1), GUIAN).kg == 0
    in_april = offsets_retired(both, date(2026, 4, 1), date(2026, 5, 1), GUIAN)
    assert (in_april.kg, in_april.references, in_april.basis) == (
        Decimal(12500),
        ("VCS-0001",),
        "CO2e",
    )
    assert offsets_retired(both, date(2025, 1, 1), date(2026, 1, 1), GUIAN).kg == 3000
    assert offsets_retired(both, date(2026, 1, 1), date(2027, 1, 1), GUIAN).kg == 12500
    # the same instant is still 31 March for a site in London
    assert april.retirement_date(ZoneInfo("Europe/London")) == date(2026, 3, 31)


def test_offset_fields_are_checked() -> None:
    with pytest.raises(InstrumentError, match="standard"):
        offset(standard="made-up")
    with pytest.raises(InstrumentError, match="vintage"):
        offset(vintage=2027, retired_at=date(2026, 1, 1))
    with pytest.raises(InstrumentError, match="UTC offset"):
        offset(retired_at=datetime(2026, 1, 1))


def january_consumption(kwh_per_bucket: Decimal) -> list[tuple[datetime, Decimal]]:
    start, end = month_bounds(2026, 1, GUIAN)
    return [(b, kwh_per_bucket) for b in buckets_covering(start, end)]


def test_certificates_never_cover_more_than_the_period() -> None:
    consumption = january_consumption(Decimal("0.25"))  # 744 h × 1 kWh = 744 kWh
    coverage = cover_consumption([certificate()], consumption, GUIAN, as_of=NOW)
    start, end = month_bounds(2026, 1, GUIAN)
    assert coverage.covered_kwh(start, end) == Decimal(744)
    assert coverage.excess_kwh == Decimal(256)
    assert "256" in coverage.notes[0]
    # not over yet: unused, not excess
    early = cover_consumption([certificate()], consumption, GUIAN, as_of=start)
    assert early.excess_kwh == 0 and early.uses[0].unused_kwh == 256


def test_month_certificates_go_before_a_year_certificate() -> None:
    consumption = january_consumption(Decimal(1))  # 2,976 kWh
    year = certificate(
        reference="GEC-Y", claimed_first=date(2026, 1, 1), claimed_last=date(2026, 12, 31)
    )
    month = certificate(reference="GEC-M", quantity=Decimal(2))
    coverage = cover_consumption([year, month], consumption, GUIAN, as_of=NOW)
    used = {u.reference: u.used_kwh for u in coverage.uses}
    assert used == {"GEC-M": Decimal(2000), "GEC-Y": Decimal(976)}
    assert all(kwh <= 1 for kwh in coverage.covered.values())


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.decimals(min_value=0, max_value=50, places=2), min_size=1, max_size=200),
    st.lists(
        st.tuples(st.integers(0, 3), st.decimals(min_value="0.001", max_value=5, places=3)),
        max_size=6,
    ),
)
def test_coverage_is_bounded_and_adds_up(
    kwh: list[Decimal], certs: list[tuple[int, Decimal]]
) -> None:
    start, _ = date_range_bounds(date(2026, 1, 1), date(2026, 1, 2), GUIAN)
    consumption = [(start + i * timedelta(minutes=15), q) for i, q in enumerate(kwh)]
    periods = [(date(2026, 1, 1), date(2026, 1, 1)), (date(2026, 1, 1), date(2026, 1, 2))]
    periods += [(date(2026, 1, 2), date(2026, 1, 3)), (date(2026, 1, 1), date(2026, 12, 31))]
    certificates = [
        replace(
            certificate(reference=f"C{i}", quantity=mwh),
            claimed_first=periods[p][0],
            claimed_last=periods[p][1],
        )
        for i, (p, mwh) in enumerate(certs)
    ]
    coverage = cover_consumption(certificates, consumption, GUIAN, as_of=NOW)
    by_bucket = dict(consumption)
    for bucket, covered in coverage.covered.items():
        assert 0 <= covered <= by_bucket[bucket]
    total_covered = sum(coverage.covered.values(), Decimal(0))
    assert total_covered == sum((u.used_kwh for u in coverage.uses), Decimal(0))
    assert total_covered <= min(sum(kwh), sum((c.kwh for c in certificates), Decimal(0)))
    for use in coverage.uses:
        assert use.used_kwh + use.unused_kwh == use.kwh


def test_docs_offset_table_matches_the_code() -> None:
    offsets = [
        offset(),
        offset(
            reference="CCER-0007",
            standard="CCER",
            project="CCER forestry",
            vintage=2025,
            quantity=Decimal(3),
            retired_at=date(2025, 12, 31),
        ),
    ]
    periods = {
        "March 2026": (date(2026, 3, 1), date(2026, 4, 1)),
        "April 2026": (date(2026, 4, 1), date(2026, 5, 1)),
        "year 2025": (date(2025, 1, 1), date(2026, 1, 1)),
        "year 2026": (date(2026, 1, 1), date(2027, 1, 1)),
    }
    for label, counted, kg in example_rows("offsets"):
        total = offsets_retired(offsets, *periods[label], GUIAN)
        assert total.kg == Decimal(kg)
        assert ", ".join(f"`{r}`" for r in total.references) or counted == "none"
