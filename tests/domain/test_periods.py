"""Site-local periods and 15-minute buckets: DST both ways, odd offsets, year ends, leap days."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.periods import (
    BUCKET,
    PERIOD_KINDS,
    bucket_and_day,
    bucket_and_day_us,
    bucket_start,
    buckets_covering,
    day_bounds,
    day_starts_us,
    first_instant_at,
    interval_bucket,
    interval_buckets_us,
    interval_start,
    local_date,
    local_day_start,
    local_period,
    local_periods,
    month_bounds,
    spread,
    spread_decimal,
    spread_rollups,
    to_micros,
    year_bounds,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
KOLKATA = ZoneInfo("Asia/Kolkata")
KATHMANDU = ZoneInfo("Asia/Kathmandu")
SHANGHAI = ZoneInfo("Asia/Shanghai")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")
ZONES = [
    BERLIN,
    NEW_YORK,
    KOLKATA,
    KATHMANDU,
    SHANGHAI,
    LORD_HOWE,
    ZoneInfo("America/St_Johns"),
    ZoneInfo("Pacific/Chatham"),
    ZoneInfo("America/Santiago"),
    ZoneInfo("Asia/Tehran"),
    ZoneInfo("Asia/Beirut"),
    ZoneInfo("America/Havana"),
    ZoneInfo("Africa/Cairo"),
    ZoneInfo("Pacific/Apia"),
    ZoneInfo("UTC"),
]

instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
)
zones = st.sampled_from(ZONES)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc, arg-type]


def test_kolkata_this_hour_starts_at_half_past_utc() -> None:
    hour = local_period("hour", utc(2026, 6, 15, 4, 40), KOLKATA)  # 10:10 IST
    assert (hour.start, hour.end) == (utc(2026, 6, 15, 4, 30), utc(2026, 6, 15, 5, 30))
    assert buckets_covering(hour.start, hour.end)[0] == utc(2026, 6, 15, 4, 30)


def test_kathmandu_hour_and_day_fall_on_quarter_hours() -> None:
    now = utc(2026, 6, 15, 18, 20)  # 00:05 NPT on 16 June
    hour = local_period("hour", now, KATHMANDU)
    assert (hour.start, hour.end) == (utc(2026, 6, 15, 18, 15), utc(2026, 6, 15, 19, 15))
    day = local_period("day", now, KATHMANDU)
    assert local_date(now, KATHMANDU) == date(2026, 6, 16)
    assert (day.start, day.end) == (utc(2026, 6, 15, 18, 15), utc(2026, 6, 16, 18, 15))


def test_berlin_fall_back_repeated_hour_is_two_hours_of_sixty_minutes() -> None:
    first = local_period("hour", utc(2026, 10, 25, 0, 30), BERLIN)  # 02:30 CEST
    second = local_period("hour", utc(2026, 10, 25, 1, 30), BERLIN)  # 02:30 CET
    assert (first.start, first.end) == (utc(2026, 10, 25, 0), utc(2026, 10, 25, 1))
    assert (second.start, second.end) == (utc(2026, 10, 25, 1), utc(2026, 10, 25, 2))
    assert day_bounds(date(2026, 10, 25), BERLIN)[1] - day_bounds(date(2026, 10, 25), BERLIN)[
        0
    ] == timedelta(hours=25)


def test_spring_forward_day_has_23_hours() -> None:
    for zone, day in ((BERLIN, date(2026, 3, 29)), (NEW_YORK, date(2026, 3, 8))):
        start, end = day_bounds(day, zone)
        assert end - start == timedelta(hours=23)
    hour = local_period("hour", utc(2026, 3, 29, 1, 10), BERLIN)  # 03:10 CEST
    assert (hour.start, hour.end) == (utc(2026, 3, 29, 1), utc(2026, 3, 29, 2))


def test_new_york_fall_back() -> None:
    start, end = day_bounds(date(2026, 11, 1), NEW_YORK)
    assert (start, end) == (utc(2026, 11, 1, 4), utc(2026, 11, 2, 5))
    hours = {local_period("hour", utc(2026, 11, 1, 5, m), NEW_YORK).start for m in (0, 59)}
    hours |= {local_period("hour", utc(2026, 11, 1, 6, m), NEW_YORK).start for m in (0, 59)}
    assert hours == {utc(2026, 11, 1, 5), utc(2026, 11, 1, 6)}


def test_lord_howe_half_hour_change_cuts_the_hour() -> None:
    # 2026-04-05 02:00 +11 becomes 01:30 +10:30 at 15:00 UTC on the 4th
    before = local_period("hour", utc(2026, 4, 4, 14, 50), LORD_HOWE)
    after = local_period("hour", utc(2026, 4, 4, 15, 10), LORD_HOWE)
    assert (before.start, before.end) == (utc(2026, 4, 4, 14), utc(2026, 4, 4, 15))
    assert (after.start, after.end) == (utc(2026, 4, 4, 15), utc(2026, 4, 4, 15, 30))


def test_year_boundary_and_leap_day_in_shanghai() -> None:
    start, end = year_bounds(2026, SHANGHAI)
    assert (start, end) == (utc(2025, 12, 31, 16), utc(2026, 12, 31, 16))
    assert local_period("year", utc(2025, 12, 31, 16, 0), SHANGHAI).start == start
    assert local_period("year", utc(2025, 12, 31, 15, 59), SHANGHAI).end == start
    feb = month_bounds(2028, 2, SHANGHAI)
    assert feb[1] - feb[0] == timedelta(days=29)
    assert local_date(utc(2028, 2, 28, 16, 0), SHANGHAI) == date(2028, 2, 29)
    assert year_bounds(2028, KOLKATA)[1] - year_bounds(2028, KOLKATA)[0] == timedelta(days=366)


def test_midnight_in_a_dst_gap_starts_the_day_at_the_transition() -> None:
    santiago = ZoneInfo("America/Santiago")  # 2026-09-06 00:00 -04 jumps to 01:00 -03
    start, _ = day_bounds(date(2026, 9, 6), santiago)
    assert start == utc(2026, 9, 6, 4)
    assert start.astimezone(santiago).hour == 1
    assert first_instant_at(datetime(2026, 3, 29, 2, 30), BERLIN) == utc(2026, 3, 29, 1)


def test_buckets_and_interval_buckets() -> None:
    assert bucket_start(utc(2026, 1, 1, 10, 14, 59)) == utc(2026, 1, 1, 10, 0)
    assert interval_bucket(utc(2026, 1, 1, 10, 15)) == utc(2026, 1, 1, 10, 0)
    assert interval_bucket(utc(2026, 1, 1, 10, 15, 0, 1)) == utc(2026, 1, 1, 10, 15)
    ends = [utc(2026, 1, 1, 10, 15), utc(2026, 1, 1, 10, 15, 0, 1)]
    got = interval_buckets_us(np.array([to_micros(t) for t in ends]))
    assert got.tolist() == [to_micros(interval_bucket(t)) for t in ends]
    assert buckets_covering(utc(2026, 1, 1, 10, 5), utc(2026, 1, 1, 10, 31)) == [
        utc(2026, 1, 1, 10, 0),
        utc(2026, 1, 1, 10, 15),
        utc(2026, 1, 1, 10, 30),
    ]


def test_spread_splits_by_time() -> None:
    shares = spread_decimal(utc(2026, 1, 1, 9, 57), utc(2026, 1, 1, 10, 2), Decimal("5"))
    assert shares == [(utc(2026, 1, 1, 9, 45), Decimal("3")), (utc(2026, 1, 1, 10), Decimal("2"))]


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="UTC offset"):
        bucket_start(datetime(2026, 1, 1))


@settings(max_examples=300, deadline=None)
@given(instants, zones, st.sampled_from(PERIOD_KINDS))
def test_every_period_contains_now_and_is_a_union_of_buckets(
    now: datetime, zone: ZoneInfo, kind: str
) -> None:
    period = local_period(kind, now, zone)  # type: ignore[arg-type]
    assert period.start <= now < period.end
    assert bucket_start(period.start) == period.start
    assert bucket_start(period.end) == period.end
    # the neighbours tile the timeline with no gap or overlap
    assert local_period(kind, period.end, zone).start == period.end  # type: ignore[arg-type]
    assert local_period(kind, period.start - BUCKET, zone).end == period.start  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(instants, zones)
def test_hours_have_one_wall_hour_and_offset(now: datetime, zone: ZoneInfo) -> None:
    hour = local_period("hour", now, zone)
    assert timedelta(minutes=15) <= hour.duration <= timedelta(hours=1)
    keys = {
        (b.astimezone(zone).date(), b.astimezone(zone).hour, b.astimezone(zone).utcoffset())
        for b in buckets_covering(hour.start, hour.end)
    }
    assert len(keys) == 1


@settings(max_examples=200, deadline=None)
@given(instants, zones)
def test_day_is_every_bucket_of_its_local_date(now: datetime, zone: ZoneInfo) -> None:
    day = local_period("day", now, zone)
    wanted = local_date(now, zone)
    assert all(local_date(b, zone) == wanted for b in buckets_covering(day.start, day.end))
    assert local_date(day.start - BUCKET, zone) != wanted
    assert local_date(day.end, zone) != wanted
    assert timedelta(hours=22) <= day.duration <= timedelta(hours=26)
    assert set(local_periods(now, zone)) == {"hour", "today", "month", "year"}


@settings(max_examples=200, deadline=None)
@given(
    instants,
    st.integers(min_value=1, max_value=10 * 24 * 3600),
    st.decimals(min_value=0, max_value=10**6, places=3, allow_nan=False, allow_infinity=False),
)
def test_spread_is_exact_and_proportional(since: datetime, seconds: int, quantity: Decimal) -> None:
    until = since + timedelta(seconds=seconds)
    shares = spread_decimal(since, until, quantity)
    assert sum(s for _, s in shares) == quantity
    assert [b for b, _ in shares] == buckets_covering(since, until)
    floats = spread(since, until, float(quantity))
    assert sum(s for _, s in floats) == pytest.approx(float(quantity), abs=1e-6)
    for (b, share), (_, f) in zip(shares[:-1], floats, strict=False):
        overlap = min(b + BUCKET, until) - max(b, since)
        expected = (
            quantity
            * Decimal(overlap / timedelta(microseconds=1))
            / Decimal((until - since) / timedelta(microseconds=1))
        )
        assert abs(share - expected) <= Decimal("0.0000005")
        assert f == pytest.approx(float(expected), rel=1e-9, abs=1e-9)


@settings(max_examples=100, deadline=None)
@given(instants, zones)
def test_day_start_of_a_bucket_matches_its_local_day(now: datetime, zone: ZoneInfo) -> None:
    bucket = bucket_start(now)
    start = local_day_start(bucket, zone)
    assert start == local_period("day", bucket, zone).start
    got = day_starts_us(np.array([to_micros(bucket)], np.int64), zone)
    assert got.tolist() == [to_micros(start)]


def test_interval_start_falls_back_to_the_expected_interval() -> None:
    end = utc(2026, 1, 1, 10)
    assert interval_start(None, end, 60) == utc(2026, 1, 1, 9, 59)
    assert interval_start(utc(2026, 1, 1, 9), end, 60) == utc(2026, 1, 1, 9)


def test_a_skipped_day_is_empty_and_the_next_day_follows_on() -> None:
    apia = ZoneInfo("Pacific/Apia")  # 2011-12-29 24:00 -10 became 2011-12-31 00:00 +14
    start, end = day_bounds(date(2011, 12, 30), apia)
    assert start == end == day_bounds(date(2011, 12, 31), apia)[0]
    assert day_bounds(date(2011, 12, 29), apia)[1] == start


def test_beirut_midnight_fall_back_repeats_saturday_not_sunday() -> None:
    beirut = ZoneInfo("Asia/Beirut")  # 2026-10-25 00:00 +03 becomes 2026-10-24 23:00 +02
    saturday = day_bounds(date(2026, 10, 24), beirut)
    assert saturday[1] - saturday[0] == timedelta(hours=25)
    assert saturday[1] == utc(2026, 10, 24, 22)


@settings(max_examples=100, deadline=None)
@given(instants, st.integers(min_value=1, max_value=3 * 24 * 3600), zones)
def test_rollup_shares_agree_between_buckets_and_days(
    since: datetime, seconds: int, zone: ZoneInfo
) -> None:
    until = since + timedelta(seconds=seconds)
    shares = spread_rollups(since, until, 7.0, zone)
    fine = [q for r, _, q in shares if r == "15min"]
    days = {b: q for r, b, q in shares if r == "day"}
    assert sum(fine) == pytest.approx(sum(days.values())) == pytest.approx(7.0)
    bucket, day = bucket_and_day(until, zone)
    assert day in days and bucket == interval_bucket(until)
    us = bucket_and_day_us(np.array([to_micros(until)], np.int64), zone)
    assert (us[0].tolist(), us[1].tolist()) == ([to_micros(bucket)], [to_micros(day)])
