"""Areas add up: sub-metered allocation, nested areas counted once, exact rounding."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.carbon.catalogue import load_catalogue
from app.domain.allocation import Allocation, AllocationError, Area, allocate, split_exactly
from app.domain.factors import ResolvedFactor
from tests.domain.doc_tables import example_rows

CATALOGUE = load_catalogue()


def per_kwh(factor_id: str) -> Decimal:
    return Decimal(repr(ResolvedFactor(CATALOGUE.get(factor_id)).kg_per_unit))


AREAS = (
    Area("production", meters=("m-line1", "m-line2")),
    Area("utilities", meters=("m-compressors", "m-boilers"), feeder="m-util"),
    Area("boilers", meters=("m-boilers",), parent="utilities"),
)
METERS = {
    "m-line1": Decimal(400),
    "m-line2": Decimal(250),
    "m-compressors": Decimal(50),
    "m-boilers": Decimal(120),
    "m-util": Decimal(200),
}


def worked_example() -> Allocation:
    site_kwh, covered_kwh = Decimal(1000), Decimal(300)
    location = site_kwh * per_kwh("cn-csg-location-2023")
    market = (site_kwh - covered_kwh) * per_kwh("cn-national-market-residual-2023")
    return allocate(
        site_kwh=site_kwh,
        figures={
            "scope2_location_kg": location,
            "scope2_market_kg": market,
            "certificate_covered_kwh": covered_kwh,
        },
        areas=AREAS,
        meter_kwh=METERS,
    )


def test_worked_example_area_allocation() -> None:
    result = worked_example()
    got = [(line.area_id, line.kind, line.kwh) for line in result.lines]
    assert got == [
        ("production", "metered", Decimal(650)),
        ("boilers", "metered", Decimal(120)),
        ("utilities", "metered", Decimal(50)),
        ("utilities", "unmetered", Decimal(30)),
        (None, "remainder", Decimal(150)),
    ]
    location = [line.figures["scope2_location_kg"] for line in result.lines]
    assert location == [Decimal(x) for x in ("262.73", "48.504", "20.21", "12.126", "60.63")]
    market = [line.figures["scope2_market_kg"] for line in result.lines]
    assert market == [Decimal(x) for x in ("277.368", "51.2064", "21.336", "12.8016", "64.008")]
    covered = [line.figures["certificate_covered_kwh"] for line in result.lines]
    assert covered == [195, 36, 15, 9, 45]
    assert result.area_kwh == {"production": 650, "utilities": 200, "boilers": 120}
    assert result.area_figures["utilities"]["scope2_location_kg"] == Decimal("80.84")
    assert result.area_figures["utilities"]["scope2_market_kg"] == Decimal("85.344")
    assert result.site["scope2_location_kg"] == Decimal("404.2")
    assert result.site["scope2_market_kg"] == Decimal("426.72")


def test_rounding_gives_leftover_quanta_by_largest_remainder() -> None:
    assert split_exactly(Decimal(100), [Decimal(1)] * 3, Decimal("0.000001")) == [
        Decimal("33.333334"),
        Decimal("33.333333"),
        Decimal("33.333333"),
    ]
    assert split_exactly(Decimal(5), [Decimal(0), Decimal(0)]) == [0, 5]


def test_bad_trees_and_missing_readings_are_refused() -> None:
    with pytest.raises(AllocationError, match="cycle"):
        allocate(
            site_kwh=Decimal(1),
            figures={},
            areas=(Area("a", parent="b"), Area("b", parent="a")),
            meter_kwh={},
        )
    with pytest.raises(AllocationError, match="neither inside the other"):
        allocate(
            site_kwh=Decimal(1),
            figures={},
            areas=(Area("a", meters=("m",)), Area("b", meters=("m",))),
            meter_kwh={"m": Decimal(1)},
        )
    with pytest.raises(AllocationError, match="no reading"):
        allocate(site_kwh=Decimal(1), figures={}, areas=AREAS, meter_kwh={})


def test_negative_remainder_is_kept_and_noted() -> None:
    result = allocate(
        site_kwh=Decimal(100),
        figures={"kg": Decimal(10)},
        areas=(Area("a", meters=("m",)),),
        meter_kwh={"m": Decimal(120)},
    )
    assert result.lines[-1].kwh == -20
    assert sum(line.figures["kg"] for line in result.lines) == 10
    assert "more than the site" in result.notes[0]


kwh = st.decimals(min_value=0, max_value=100_000, places=3)
kg = st.decimals(min_value=0, max_value=10**7, places=6)


@st.composite
def trees(draw: st.DrawFn) -> tuple[list[Area], dict[str, Decimal]]:
    count = draw(st.integers(1, 8))
    areas: list[Area] = []
    meters: dict[str, Decimal] = {}
    for i in range(count):
        parent = draw(st.sampled_from([None, *[a.id for a in areas]]))
        own = [f"m{i}-{j}" for j in range(draw(st.integers(0, 3)))]
        for m in own:
            meters[m] = draw(kwh)
        feeder = f"f{i}" if draw(st.booleans()) else None
        if feeder:
            meters[feeder] = draw(kwh)
        areas.append(Area(f"a{i}", meters=tuple(own), parent=parent, feeder=feeder))
        if parent is not None and own and draw(st.booleans()):
            # the parent lists its sub-area's meter too (a utilities area and its boilers)
            at = next(k for k, a in enumerate(areas) if a.id == parent)
            areas[at] = Area(
                parent, (*areas[at].meters, own[0]), areas[at].parent, areas[at].feeder
            )
    return areas, meters


@settings(max_examples=200, deadline=None)
@given(trees(), kwh, st.lists(kg, min_size=1, max_size=4))
def test_areas_plus_remainder_equal_the_site_for_every_figure(
    tree: tuple[list[Area], dict[str, Decimal]], site_kwh: Decimal, values: list[Decimal]
) -> None:
    areas, meters = tree
    figures = {f"figure{i}": v for i, v in enumerate(values)}
    result = allocate(site_kwh=site_kwh, figures=figures, areas=areas, meter_kwh=meters)
    for name, site_value in result.site.items():
        assert sum(line.figures[name] for line in result.lines) == site_value
        top = sum(result.area_figures[a][name] for a in result.top_level)
        remainder = next(line for line in result.lines if line.area_id is None)
        assert top + remainder.figures[name] == site_value
    assert sum(line.kwh for line in result.lines) == site_kwh
    metered = sum(line.kwh for line in result.lines if line.kind == "metered")
    assert metered == sum(v for m, v in meters.items() if m.startswith("m"))  # each meter once
    for area in areas:  # a parent is its own lines plus its children, nothing more
        own = sum(line.kwh for line in result.lines if line.area_id == area.id)
        below = sum(result.area_kwh[a.id] for a in areas if a.parent == area.id)
        assert result.area_kwh[area.id] == own + below


def test_docs_area_table_matches_the_code() -> None:
    result = worked_example()
    names = {
        ("production", "metered"): "production",
        ("boilers", "metered"): "boilers",
        ("utilities", "metered"): "utilities, own meters",
        ("utilities", "unmetered"): "utilities, unmetered",
        (None, "remainder"): "site remainder",
    }
    got = {
        names[(line.area_id, line.kind)]: [
            line.kwh,
            line.figures["scope2_location_kg"],
            line.figures["scope2_market_kg"],
            line.figures["certificate_covered_kwh"],
        ]
        for line in result.lines
    }
    got["site"] = [
        result.site_kwh,
        result.site["scope2_location_kg"],
        result.site["scope2_market_kg"],
        result.site["certificate_covered_kwh"],
    ]
    rows = example_rows("areas")
    assert {row[0]: [Decimal(c) for c in row[1:]] for row in rows} == got
