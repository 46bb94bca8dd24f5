"""GreenPulse JSON: single readings and gateway batches (docs/mqtt.md, "Topics").

Checks everything that needs only the payload, the plant and ``now``;
canonicalisation (multiplier, unit factor) and register logic are the writer's.
Whatever passes here must be storable as is, so ranges and text are checked here.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import msgspec

from app.domain.register_runs import micros
from ingest.decoded import (
    BOM,
    EPOCH_MS_THRESHOLD,
    MAX_VALUE,
    SEQ_MAX,
    Context,
    Decoded,
    DecodedReading,
    InvalidReadingError,
    MeterRef,
    Reason,
    Rejection,
    cut,
    encodes,
    entry_bytes,
    reject,
    show,
)


def decode_reading(payload: bytes, ctx: Context) -> Decoded:
    """``{prefix}/{site}/{meter}/reading`` with one JSON object."""
    site_id, meter_id = ctx.levels[1], ctx.levels[2]
    try:
        meter = _known_meter(ctx, site_id, meter_id)
        body = _object(_parse_json(payload), "payload")
        return [_reading(body, site_id, meter_id, meter, ctx)], []
    except InvalidReadingError as exc:
        return [], [reject(ctx, exc.reason, exc.detail, payload, meter_id)]


def decode_batch(payload: bytes, ctx: Context) -> Decoded:
    """``{prefix}/{site}/gateway/{gateway}/batch``: ``{"gateway": ..., "readings": [...]}``.

    The topic's site is authoritative; the payload's ``gateway`` is informative.
    """
    site_id = ctx.levels[1]
    if site_id in ctx.plant.sites:
        valid = _valid_batch(payload, site_id, ctx)
        if valid is not None:
            return valid, []
    try:
        if site_id not in ctx.plant.sites:
            raise InvalidReadingError(
                Reason.UNKNOWN_SITE, f"site {site_id!r} is not in the plant file"
            )
        body = _object(_parse_json(payload), "payload")
        if "gateway" in body and not isinstance(body["gateway"], str):
            raise InvalidReadingError(
                Reason.WRONG_TYPE, f"gateway must be a string, got {show(body['gateway'])}"
            )
        items = body.get("readings")
        if items is None:
            raise InvalidReadingError(Reason.MISSING_FIELD, "batch has no 'readings' list")
        if not isinstance(items, list):
            raise InvalidReadingError(
                Reason.WRONG_TYPE, f"readings must be a list, got {show(items)}"
            )
        if not items:
            raise InvalidReadingError(Reason.EMPTY_BATCH, "batch has an empty 'readings' list")
        if len(items) > ctx.limits.max_batch_readings:
            raise InvalidReadingError(
                Reason.BATCH_TOO_LARGE,
                f"batch has {len(items)} readings, the limit is {ctx.limits.max_batch_readings}",
            )
    except InvalidReadingError as exc:
        return [], [reject(ctx, exc.reason, exc.detail, payload, None)]
    readings: list[DecodedReading] = []
    rejections: list[Rejection] = []
    for index, item in enumerate(items):
        meter_id: str | None = None
        try:
            entry = _object(item, f"readings[{index}]")
            raw_meter = _required(entry, "meter")
            if not isinstance(raw_meter, str):
                raise InvalidReadingError(
                    Reason.WRONG_TYPE, f"meter must be a string, got {show(raw_meter)}"
                )
            meter_id = raw_meter
            _storable(meter_id, "meter")
            meter = _known_meter(ctx, site_id, meter_id)
            readings.append(_reading(entry, site_id, meter_id, meter, ctx))
        except InvalidReadingError as exc:
            rejections.append(
                reject(
                    ctx,
                    exc.reason,
                    f"readings[{index}] of {len(items)}: {exc.detail}",
                    entry_bytes(item),
                    meter_id,
                )
            )
    return readings, rejections


class _WireReading(msgspec.Struct):
    meter: str
    ts: int | float | str
    value: float
    unit: str
    seq: int | None = None


class _WireBatch(msgspec.Struct):
    readings: list[_WireReading]
    gateway: str = ""


_BATCH_DECODER = msgspec.json.Decoder(_WireBatch)


def _valid_batch(payload: bytes, site_id: str, ctx: Context) -> list[DecodedReading] | None:
    """The readings of a batch in which every reading is valid; ``None`` for any other.

    The fast path for what gateways send all day: typed parsing (msgspec) and the
    checks inline. Any doubt, and the batch goes through the reading-by-reading path
    below, which says what is wrong with which reading. ``test_decode`` holds the two
    paths to the same readings.
    """
    try:
        batch = _BATCH_DECODER.decode(payload)
    except msgspec.DecodeError:
        return None
    items = batch.readings
    if not items or len(items) > ctx.limits.max_batch_readings:
        return None
    meters = ctx.plant.meters
    unit_problem = ctx.plant.unit_problem
    raw_limit = ctx.plant.raw_limit
    latest = micros(ctx.now + ctx.limits.max_future)
    oldest = micros(ctx.limits.oldest)
    readings: list[DecodedReading] = []
    for item in items:
        meter = meters.get(item.meter)
        if meter is None or meter.site_id != site_id or unit_problem(item.unit, meter.unit):
            return None
        value = item.value
        seq = item.seq
        if not 0.0 <= value <= raw_limit(item.unit, meter) or (
            seq is not None and not 0 <= seq <= SEQ_MAX
        ):
            return None
        ts = item.ts
        if type(ts) is int and 0 <= ts < 2**53:
            # what _from_epoch gives for whole seconds or milliseconds, without a datetime
            time_us = ts * 1000 if ts > EPOCH_MS_THRESHOLD else ts * 1_000_000
        elif isinstance(ts, str):
            try:
                time = datetime.fromisoformat(ts)
                if time.utcoffset() is None:
                    return None
                time_us = micros(time)
            except (ValueError, OverflowError):
                return None
        else:
            try:
                time_us = micros(_from_epoch(float(ts)))
            except (OverflowError, OSError, ValueError):
                return None
        if not oldest <= time_us <= latest:
            return None
        unit = item.unit.strip()
        readings.append(DecodedReading(site_id, item.meter, time_us, value, unit, seq))
    return readings


# --- fields -----------------------------------------------------------------------------------


def _reading(
    body: Mapping[str, Any], site_id: str, meter_id: str, meter: MeterRef, ctx: Context
) -> DecodedReading:
    time = _timestamp(_required(body, "ts"), ctx)
    value = _value(_required(body, "value"))
    unit = _required(body, "unit")
    if not isinstance(unit, str):
        raise InvalidReadingError(Reason.WRONG_TYPE, f"unit must be a string, got {show(unit)}")
    _storable(unit, "unit")
    problem = ctx.plant.unit_problem(unit, meter.unit)
    if problem is not None:
        raise InvalidReadingError(*problem)
    if value > ctx.plant.raw_limit(unit, meter):
        raise InvalidReadingError(
            Reason.VALUE_OUT_OF_RANGE,
            f"value {value:g} {cut(unit)} is over {MAX_VALUE:g} {meter.unit} after the unit "
            f"and the meter's multiplier (x{meter.multiplier:g})",
        )
    seq = _seq(body.get("seq"))
    return DecodedReading(site_id, meter_id, micros(time), value, unit.strip(), seq)


def _timestamp(raw: object, ctx: Context) -> datetime:
    if isinstance(raw, str):
        try:
            time = datetime.fromisoformat(raw)
        except ValueError:
            raise InvalidReadingError(
                Reason.BAD_TIMESTAMP, f"ts {show(raw)} is not an ISO 8601 date-time"
            ) from None
        if time.utcoffset() is None:
            raise InvalidReadingError(
                Reason.BAD_TIMESTAMP,
                f"ts {show(raw)} has no UTC offset; add one, e.g. +08:00 or Z",
            )
    elif isinstance(raw, int | float) and not isinstance(raw, bool):
        try:
            seconds = float(raw)
        except OverflowError:  # an integer beyond float range
            raise InvalidReadingError(
                Reason.BAD_TIMESTAMP, "ts is a number beyond the float range"
            ) from None
        if not math.isfinite(seconds):
            raise InvalidReadingError(
                Reason.BAD_TIMESTAMP, f"ts {show(raw)} is not a finite number"
            )
        try:
            time = _from_epoch(seconds)
        except (OverflowError, OSError, ValueError):
            raise InvalidReadingError(
                Reason.BAD_TIMESTAMP, f"ts {show(raw)} is out of range"
            ) from None
    else:
        raise InvalidReadingError(
            Reason.WRONG_TYPE,
            f"ts must be an ISO 8601 string or epoch seconds/milliseconds, got {show(raw)}",
        )
    try:
        time = time.astimezone(UTC)
        micros(time)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+14:00 is before year 1 in UTC
        raise InvalidReadingError(
            Reason.BAD_TIMESTAMP, f"ts {show(raw)} is outside the representable range"
        ) from None
    if time > ctx.now + ctx.limits.max_future:
        raise InvalidReadingError(
            Reason.FUTURE_TIMESTAMP,
            f"ts {time.isoformat()} is more than {ctx.limits.max_future} ahead of "
            f"the ingester clock ({ctx.now.astimezone(UTC).isoformat()})",
        )
    if time < ctx.limits.oldest:
        raise InvalidReadingError(
            Reason.ANCIENT_TIMESTAMP,
            f"ts {time.isoformat()} is before {ctx.limits.oldest.date()}: meter clock not set?",
        )
    return time


def _from_epoch(seconds: float) -> datetime:
    """Epoch seconds, or milliseconds above ``EPOCH_MS_THRESHOLD``, as an aware UTC time."""
    if seconds > EPOCH_MS_THRESHOLD:
        seconds /= 1000.0
    return datetime.fromtimestamp(seconds, UTC)


def _value(raw: object) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise InvalidReadingError(Reason.WRONG_TYPE, f"value must be a number, got {show(raw)}")
    try:
        value = float(raw)
    except OverflowError:  # an integer beyond float range
        raise InvalidReadingError(Reason.NOT_FINITE, "value is beyond the float range") from None
    if not math.isfinite(value):
        raise InvalidReadingError(Reason.NOT_FINITE, f"value {value} is not a finite number")
    if value < 0:
        # Registers never count down and power is reported per direction
        # (import and export are separate meters), so a negative is a fault.
        raise InvalidReadingError(Reason.NEGATIVE_VALUE, f"value {value} is negative")
    return value


def _seq(raw: object) -> int | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise InvalidReadingError(Reason.WRONG_TYPE, f"seq must be an integer, got {show(raw)}")
    if not 0 <= raw <= SEQ_MAX:
        raise InvalidReadingError(Reason.SEQ_OUT_OF_RANGE, f"seq {raw} is outside 0..{SEQ_MAX}")
    return raw


def _known_meter(ctx: Context, site_id: str, meter_id: str) -> MeterRef:
    if site_id not in ctx.plant.sites:
        raise InvalidReadingError(
            Reason.UNKNOWN_SITE, f"site {cut(repr(site_id))} is not in the plant file"
        )
    meter = ctx.plant.meters.get(meter_id)
    if meter is None:
        raise InvalidReadingError(
            Reason.UNKNOWN_METER, f"meter {cut(repr(meter_id))} is not in the plant file"
        )
    if meter.site_id != site_id:
        raise InvalidReadingError(
            Reason.SITE_MISMATCH,
            f"meter {meter_id!r} belongs to site {meter.site_id!r}, not {site_id!r}",
        )
    return meter


def _parse_json(payload: bytes) -> object:
    """The payload as JSON, which must be UTF-8 without a byte-order mark (RFC 8259 §8.1).

    ``json.loads`` on bytes would guess UTF-16 or UTF-32 and skip a BOM; the docs promise
    UTF-8 only, so the payload is decoded strictly first.
    """
    if payload.startswith(BOM):
        raise InvalidReadingError(
            Reason.MALFORMED_JSON, "payload starts with a byte-order mark; send UTF-8 without one"
        )
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidReadingError(
            Reason.MALFORMED_JSON,
            f"payload is not UTF-8 (byte {exc.start}); UTF-16 and other encodings are refused",
        ) from None
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, int digits over the limit
        raise InvalidReadingError(
            Reason.MALFORMED_JSON, f"payload is not JSON: {cut(str(exc))}"
        ) from None


def _storable(text: str, name: str) -> None:
    """Refuse text no database column can hold: NUL (PostgreSQL) and lone surrogates."""
    if "\x00" in text or not encodes(text):
        raise InvalidReadingError(
            Reason.INVALID_TEXT, f"{name} {show(text)} holds NUL or a lone surrogate"
        )


def _object(value: object, what: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise InvalidReadingError(
            Reason.INVALID_PAYLOAD, f"{what} must be a JSON object, got {show(value)}"
        )
    return value


def _required(body: Mapping[str, Any], name: str) -> object:
    try:
        return body[name]
    except KeyError:
        raise InvalidReadingError(Reason.MISSING_FIELD, f"field {name!r} is missing") from None
