"""Tariffs and cost: ToU periods, holidays, validity, exact Decimal cost, demand, load shifting."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, localcontext
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.energy_cost import (
    EnergyBucket,
    cost_lines,
    demand_cost,
    energy_cost,
    group_costs,
    load_shift_saving,
    max_demand_kw,
)
from app.domain.tariffs import (
    EXACT,
    DemandCharge,
    PriceSchedule,
    TouBand,
    TouPeriod,
    as_decimal,
    resolve_schedule,
    round_money,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
P = TouPeriod


def tou_schedule(**changes: object) -> PriceSchedule:
    fields: dict[str, object] = {
        "id": "test-tou-2026",
        "resource": "electricity",
        "currency": "CNY",
        "valid_from": datetime(2026, 1, 1, tzinfo=SHANGHAI),
        "valid_to": None,
        "prices": {
            P.CRITICAL_PEAK: Decimal("1.25"),
            P.PEAK: Decimal("1.02"),
            P.FLAT: Decimal("0.62"),
            P.VALLEY: Decimal("0.28"),
        },
        "bands": (
            TouBand(P.VALLEY, time(23), time(7)),
            TouBand(P.PEAK, time(8), time(11, 30)),
            TouBand(P.PEAK, time(18), time(22)),
            TouBand(P.CRITICAL_PEAK, time(20), time(21), frozenset({7, 8})),
        ),
        "holidays": frozenset({date(2026, 10, 1)}),
        "holiday_bands": (TouBand(P.VALLEY, time(23), time(7)),),
        "demand_charge": DemandCharge("max_demand", Decimal("38")),
        "illustrative": True,
    }
    fields.update(changes)
    return PriceSchedule(**fields)  # type: ignore[arg-type]


def local(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=SHANGHAI)


def bucket(start_local: datetime, kwh: float, minutes: int = 60) -> EnergyBucket:
    start = start_local.astimezone(UTC)
    return EnergyBucket(start, start + timedelta(minutes=minutes), start_local, kwh)


def test_periods_by_hour_month_and_holiday() -> None:
    s = tou_schedule()
    assert s.period_at(local(2026, 3, 2, 3)) is P.VALLEY
    assert s.period_at(local(2026, 3, 2, 23, 30)) is P.VALLEY  # band wraps midnight
    assert s.period_at(local(2026, 3, 2, 7, 15)) is P.FLAT  # no band: flat
    assert s.period_at(local(2026, 3, 2, 11, 29)) is P.PEAK
    assert s.period_at(local(2026, 3, 2, 11, 30)) is P.FLAT  # end is exclusive
    assert s.period_at(local(2026, 3, 2, 20, 30)) is P.PEAK
    assert s.period_at(local(2026, 7, 2, 20, 30)) is P.CRITICAL_PEAK  # month band wins
    assert s.period_at(local(2026, 10, 1, 9)) is P.FLAT  # holiday: no peak
    assert s.period_at(local(2026, 10, 1, 2)) is P.VALLEY


def test_schedules_refuse_overlaps_missing_prices_and_bad_fields() -> None:
    with pytest.raises(ValueError, match="overlap"):
        tou_schedule(
            bands=(TouBand(P.PEAK, time(8), time(12)), TouBand(P.VALLEY, time(11), time(13)))
        )
    with pytest.raises(ValueError, match="no flat price"):
        tou_schedule(
            prices={P.PEAK: Decimal(1)},
            bands=(TouBand(P.PEAK, time(8), time(12)),),
            holiday_bands=None,
        )
    with pytest.raises(ValueError, match="has no price"):
        tou_schedule(prices={P.FLAT: Decimal(1)})
    with pytest.raises(ValueError, match="ISO 4217"):
        tou_schedule(currency="rmb")
    with pytest.raises(ValueError, match="Decimal"):
        tou_schedule(prices={P.FLAT: 0.62}, bands=(), holiday_bands=None)
    with pytest.raises(ValueError, match="electricity only"):
        tou_schedule(resource="gas", prices={P.FLAT: Decimal(3)}, bands=(), holiday_bands=None)


def test_schedule_in_force_follows_validity_dates() -> None:
    old = tou_schedule(id="old", valid_to=datetime(2026, 6, 1, tzinfo=SHANGHAI))
    new = tou_schedule(id="new", valid_from=datetime(2026, 6, 1, tzinfo=SHANGHAI))
    assert (
        resolve_schedule([old, new], resource="electricity", at=local(2026, 5, 31, 23)).id == "old"
    )
    assert resolve_schedule([old, new], resource="electricity", at=local(2026, 6, 1, 0)).id == "new"
    with pytest.raises(LookupError):
        resolve_schedule([old], resource="electricity", at=local(2026, 6, 1, 0))
    lines = cost_lines(
        [old, new],
        [bucket(local(2026, 5, 31, 23), 1), bucket(local(2026, 6, 1, 0), 1)],
        resource="electricity",
    )
    assert [line.schedule_id for line in lines] == ["old", "new"]


def test_cost_by_period_and_group_by_local_day() -> None:
    s = tou_schedule()
    day = half_hours(date(2026, 3, 2), [50.0] * 48)
    cost = energy_cost([s], day, resource="electricity")
    # valley 23:00-07:00 = 8 h, peak 08:00-11:30 + 18:00-22:00 = 7.5 h, flat the other 8.5 h
    assert cost.quantity_by_period == {P.VALLEY: 800, P.PEAK: 750, P.FLAT: 850}
    assert cost.cost == Decimal("800") * Decimal("0.28") + 750 * Decimal("1.02") + 850 * Decimal(
        "0.62"
    )
    assert cost.cost == Decimal("1516.00")
    assert cost.average_price == cost.cost / 2400
    assert cost.currency == "CNY" and cost.illustrative and cost.schedule_ids == ("test-tou-2026",)
    lines = cost_lines([s], day, resource="electricity")
    assert group_costs(lines, "day") == {"2026-03-02": cost.cost}
    assert group_costs(lines, "month") == {"2026-03": cost.cost}
    assert group_costs(lines, "hour")["2026-03-02T09"] == Decimal("102.00")


def test_a_bucket_straddling_a_boundary_is_refused() -> None:
    with pytest.raises(ValueError, match="straddles"):
        cost_lines([tou_schedule()], [bucket(local(2026, 3, 2, 11), 10.0)], resource="electricity")
    with pytest.raises(ValueError, match="same instant"):
        EnergyBucket(
            datetime(2026, 3, 2, tzinfo=UTC),
            datetime(2026, 3, 2, 1, tzinfo=UTC),
            local(2026, 3, 2, 0),
            1.0,
        )


def half_hours(day: date, kwh: list[float]) -> list[EnergyBucket]:
    start = datetime(day.year, day.month, day.day, tzinfo=SHANGHAI)
    return [bucket(start + timedelta(minutes=30 * i), q, 30) for i, q in enumerate(kwh)]


@settings(deadline=None)
@given(st.lists(st.floats(0, 1e5), min_size=48, max_size=48), st.integers(1, 47))
def test_cost_is_additive_over_buckets(kwh: list[float], cut: int) -> None:
    s = tou_schedule()
    buckets = half_hours(date(2026, 7, 15), kwh)
    whole = energy_cost([s], buckets, resource="electricity")
    first = energy_cost([s], buckets[:cut], resource="electricity")
    rest = energy_cost([s], buckets[cut:], resource="electricity")
    with localcontext(EXACT):  # the test's own sums must not round either
        assert whole.cost == first.cost + rest.cost
        assert whole.quantity == first.quantity + rest.quantity
        assert whole.cost == sum(whole.cost_by_period.values(), Decimal(0))
        for period, q in whole.quantity_by_period.items():
            assert whole.cost_by_period[period] == q * s.price(period)
        hourly = group_costs(cost_lines([s], buckets, resource="electricity"), "hour")
        assert sum(hourly.values(), Decimal(0)) == whole.cost


def test_money_is_decimal_from_the_shortest_repr() -> None:
    assert as_decimal(0.1) == Decimal("0.1")
    assert round_money(Decimal("1.005")) == Decimal("1.01")
    with pytest.raises(ValueError):
        as_decimal(float("nan"))
    lines = cost_lines(
        [tou_schedule()], [bucket(local(2026, 3, 2, 3), 0.1)], resource="electricity"
    )
    assert lines[0].cost == Decimal("0.028")


def test_demand_charge_and_max_demand() -> None:
    s = tou_schedule()
    quarter = [
        bucket(local(2026, 3, 2, 9, 15 * i), q, 15) for i, q in enumerate([100, 250, 175, 50])
    ]
    assert max_demand_kw(quarter) == pytest.approx(1000)
    charge = demand_cost(s, max_demand_kw=max_demand_kw(quarter))
    assert charge is not None and charge.cost == Decimal("38000.0")
    with pytest.raises(ValueError, match="max_demand_kw"):
        demand_cost(s, capacity_kva=1000)
    assert demand_cost(tou_schedule(demand_charge=None), max_demand_kw=5) is None


def test_load_shift_saving_is_capped_by_what_was_used_in_peak() -> None:
    s = tou_schedule()
    shift = load_shift_saving(s, 1000)
    assert shift.saving == Decimal(1000) * (Decimal("1.02") - Decimal("0.28"))
    capped = load_shift_saving(s, 1000, available_kwh=Decimal(400))
    assert capped.kwh_moved == Decimal(400) and capped.saving == Decimal("296.00")
    critical = load_shift_saving(s, 10, from_period=P.CRITICAL_PEAK, to_period=P.FLAT)
    assert critical.saving == Decimal("6.30")
    with pytest.raises(ValueError):
        load_shift_saving(s, -1)
