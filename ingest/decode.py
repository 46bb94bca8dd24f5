"""Decode and validate MQTT payloads at the edge: pure functions, no I/O.

``decode`` turns one MQTT message into readings the writer can store and
rejections it keeps as dead letters. It checks everything that needs only the
payload, the plant and ``now``; canonicalisation (multiplier, unit factor) and
register logic are the writer's. Whatever passes here must be storable as is:
a value the database would refuse would fail the whole batch over and over, so
lengths, ranges and text are checked (or cut to size) here.

Topic shapes are looked up in ``FORMATS``, a registry keyed by the shape of the
topic, so a new payload format (Sparkplug B, say) is one more entry.
"""

from __future__ import annotations

import json
import math
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Final

import msgspec

from app.domain.plant import Plant
from app.domain.register_runs import from_micros, micros
from app.domain.units import UnitMismatchError, UnknownUnitError, check_compatible, parse_unit

EPOCH_MS_THRESHOLD: Final = 1e11
"""Numeric timestamps above this are epoch milliseconds (1e11 s is the year 5138)."""

OLDEST: Final = datetime(2000, 1, 1, tzinfo=UTC)
"""Readings before this are a meter clock that was never set, not history."""

MAX_VALUE: Final = 1e15
"""Largest canonical value (after multiplier and unit factor) a reading may have.

Beyond 2**53 (~9e15) a float no longer holds whole units, so register differences
would be noise; 1e15 kWh is thirty times the world's yearly electricity. Any larger
value is a fault, and it must be refused here: a value that overflows to infinity
after conversion cannot be stored and would fail its whole batch."""

SEQ_MAX: Final = 2**31 - 1  # readings.seq is a 32-bit integer column
TOPIC_MAX: Final = 512  # rejected_messages.topic
METER_ID_MAX: Final = 64  # rejected_messages.meter_id
DETAIL_MAX: Final = 8192  # rejected_messages.detail is text; keep dead letters small
_VALUE_REPR_MAX: Final = 80
_BOM: Final = b"\xef\xbb\xbf"


class Reason(StrEnum):
    """Stable rejection reason codes (metrics labels and the dead-letter ``reason`` column)."""

    PAYLOAD_TOO_LARGE = "payload_too_large"
    MALFORMED_JSON = "malformed_json"
    INVALID_PAYLOAD = "invalid_payload"  # valid JSON, but not the object the topic expects
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    UNKNOWN_TOPIC = "unknown_topic"
    UNSUPPORTED_FORMAT = "unsupported_format"
    UNKNOWN_SITE = "unknown_site"
    UNKNOWN_METER = "unknown_meter"
    SITE_MISMATCH = "site_mismatch"
    UNKNOWN_UNIT = "unknown_unit"
    UNIT_MISMATCH = "unit_mismatch"
    NOT_FINITE = "not_finite"
    NEGATIVE_VALUE = "negative_value"
    BAD_TIMESTAMP = "bad_timestamp"
    FUTURE_TIMESTAMP = "future_timestamp"
    ANCIENT_TIMESTAMP = "ancient_timestamp"
    VALUE_OUT_OF_RANGE = "value_out_of_range"  # beyond MAX_VALUE after unit and multiplier
    INVALID_TEXT = "invalid_text"  # NUL or a lone surrogate in a meter id or unit
    SEQ_OUT_OF_RANGE = "seq_out_of_range"
    BATCH_TOO_LARGE = "batch_too_large"
    EMPTY_BATCH = "empty_batch"
    INTERNAL_ERROR = "internal_error"  # the decoder raised (a bug); detail holds the traceback
    WRITE_FAILED = "write_failed"  # set by the ingest loop: the writer refused a message
    QUARANTINED = "quarantined"  # set by the ingest loop: in flight at repeated failures


class DecodedReading(msgspec.Struct, frozen=True):
    """One valid reading as the meter sent it (raw value and unit).

    A frozen ``msgspec.Struct`` with its time as integer microseconds since the Unix
    epoch: gateway batches create one per reading, and this is the cheapest immutable
    record to create and to sort by time. ``at`` makes one from an aware datetime.
    """

    site_id: str
    meter_id: str
    time_us: int  # microseconds since 1970-01-01T00:00Z (``app.domain.register_runs.micros``)
    raw_value: float
    raw_unit: str
    seq: int | None

    def __post_init__(self) -> None:
        if type(self.time_us) is not int:
            raise TypeError(f"time_us must be an int, got {self.time_us!r} (see DecodedReading.at)")

    @classmethod
    def at(
        cls,
        site_id: str,
        meter_id: str,
        time: datetime,
        raw_value: float,
        raw_unit: str,
        seq: int | None = None,
    ) -> DecodedReading:
        """A reading at an aware ``time``."""
        return cls(site_id, meter_id, micros(time), raw_value, raw_unit, seq)

    @property
    def time(self) -> datetime:
        """The reading's time, aware UTC."""
        return from_micros(self.time_us)


@dataclass(frozen=True, slots=True)
class Rejection:
    """A message, or one reading of a batch, that ingestion refused (a dead letter)."""

    topic: str
    reason: str
    detail: str
    payload: bytes
    meter_id: str | None
    received_at: datetime


@dataclass(frozen=True, slots=True)
class Limits:
    """Edge limits; the defaults are the documented ones (docs/mqtt.md)."""

    max_payload_bytes: int = 256 * 1024
    max_batch_readings: int = 2_000
    max_future: timedelta = timedelta(minutes=5)
    oldest: datetime = OLDEST
    stored_payload_bytes: int = 4096
    """How much of an oversized payload is kept in the dead letter."""


@dataclass(frozen=True, slots=True)
class MeterRef:
    """What the decoder needs to know about a meter."""

    site_id: str
    unit: str
    multiplier: float = 1.0


@dataclass(frozen=True)
class PlantIndex:
    """Plant lookups for the decoder, built once per plant."""

    sites: frozenset[str]
    meters: Mapping[str, MeterRef]
    _units: dict[tuple[str, str], tuple[Reason, str] | float] = field(
        default_factory=dict, repr=False, compare=False
    )

    @classmethod
    def from_plant(cls, plant: Plant) -> PlantIndex:
        return cls(
            sites=frozenset(site.id for site in plant.sites),
            meters={
                meter.id: MeterRef(site.id, meter.unit, meter.multiplier)
                for site, meter in plant.meters()
            },
        )

    def unit_problem(self, sent: str, configured: str) -> tuple[Reason, str] | None:
        """Why ``sent`` cannot be a reading of a meter configured in ``configured``."""
        judged = self._unit(sent, configured)
        return None if isinstance(judged, float) else judged

    def raw_limit(self, sent: str, meter: MeterRef) -> float:
        """The largest raw value in ``sent`` whose canonical value is within ``MAX_VALUE``
        (0.0 for a unit the meter cannot take)."""
        judged = self._unit(sent, meter.unit)
        return MAX_VALUE / (judged * meter.multiplier) if isinstance(judged, float) else 0.0

    def _unit(self, sent: str, configured: str) -> tuple[Reason, str] | float:
        """The problem with ``sent`` for a meter in ``configured``, or its unit factor.

        Cached per pair: a gateway sends the same few spellings millions of times.
        """
        key = (sent, configured)
        judged = self._units.get(key)
        if judged is not None:
            return judged
        try:
            check_compatible(sent, configured)
            judged = parse_unit(sent).factor
        except UnknownUnitError as exc:
            judged = (Reason.UNKNOWN_UNIT, _cut(str(exc), DETAIL_MAX))
        except UnitMismatchError as exc:
            judged = (Reason.UNIT_MISMATCH, _cut(str(exc), DETAIL_MAX))
        if len(self._units) < 10_000:  # bounded: units are free text from the wire
            self._units[key] = judged
        return judged


class InvalidReadingError(Exception):
    """One reading (or the whole message) is refused; carries the reason code."""

    def __init__(self, reason: Reason, detail: str, meter_id: str | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.meter_id = meter_id


@dataclass(frozen=True, slots=True)
class Context:
    """Everything a format decoder gets besides the payload."""

    topic: str
    levels: tuple[str, ...]
    plant: PlantIndex
    now: datetime
    limits: Limits


Decoded = tuple[list[DecodedReading], list[Rejection]]
FormatDecoder = Callable[[bytes, Context], Decoded]


@dataclass(frozen=True, slots=True)
class TopicFormat:
    """One payload format, recognised by the shape of its topic."""

    name: str
    matches: Callable[[tuple[str, ...], str], bool]  # (levels, prefix) -> bool
    decode: FormatDecoder


def decode(
    topic: str,
    payload: bytes,
    plant: PlantIndex,
    now: datetime,
    *,
    limits: Limits | None = None,
    prefix: str = "greenpulse",
) -> Decoded:
    """Decode one MQTT message into readings and rejections.

    Total: for any topic and any bytes it returns, never raises. One bad reading of a
    batch becomes one rejection and the others go on; a message that makes the decoder
    itself fail (a bug) becomes one ``internal_error`` rejection with the traceback.
    Both lists are empty only for GreenPulse's own topics (``is_own_topic``).

    Args:
        topic: the topic the message was published to.
        payload: the raw payload.
        plant: the plant lookups (``PlantIndex.from_plant``).
        now: the receive time (aware); judges future timestamps and stamps rejections.
        limits: edge limits (defaults: ``Limits()``).
        prefix: the first topic level of GreenPulse topics.
    """
    limits = limits or Limits()
    levels = tuple(topic.split("/"))
    ctx = Context(topic, levels, plant, now, limits)
    try:
        if is_own_topic(levels, prefix):
            return [], []
        if len(payload) > limits.max_payload_bytes:
            return [], [
                _reject(
                    ctx,
                    Reason.PAYLOAD_TOO_LARGE,
                    f"payload is {len(payload)} bytes, the limit is {limits.max_payload_bytes}",
                    payload[: limits.stored_payload_bytes],
                    _topic_meter(levels),
                )
            ]
        fmt = format_for(levels, prefix)
        if fmt is None:
            return [], [
                _reject(
                    ctx,
                    Reason.UNKNOWN_TOPIC,
                    f"topic shape not recognised; expected {prefix}/{{site}}/{{meter}}/reading "
                    f"or {prefix}/{{site}}/gateway/{{gateway}}/batch",
                    payload,
                    None,
                )
            ]
        return fmt.decode(payload, ctx)
    except Exception:  # a bug must cost one dead letter, not the ingester
        return [], [
            _reject(
                ctx,
                Reason.INTERNAL_ERROR,
                "the decoder failed on this message:\n" + traceback.format_exc(),
                bytes(payload),
                None,
            )
        ]


def format_for(levels: tuple[str, ...], prefix: str) -> TopicFormat | None:
    """The payload format of a topic (split on ``/``), ``None`` when no format claims it.

    The one place topics are dispatched: a new format is one more entry in ``FORMATS``
    (a Sparkplug B decoder replaces the ``sparkplug_b`` entry's ``decode``).
    """
    for fmt in FORMATS:
        if fmt.matches(levels, prefix):
            return fmt
    return None


def is_own_topic(levels: tuple[str, ...], prefix: str) -> bool:
    """GreenPulse's own output under the prefix (``{site}/live`` hints, ``{site}/alerts``):
    received because the ingester subscribes to the whole prefix, and ignored."""
    return len(levels) == 3 and levels[0] == prefix and levels[2] in _OWN_SUFFIXES


_OWN_SUFFIXES: Final = frozenset({"live", "alerts"})


# --- formats ----------------------------------------------------------------------------------


def _decode_reading(payload: bytes, ctx: Context) -> Decoded:
    """``{prefix}/{site}/{meter}/reading`` with one JSON object."""
    site_id, meter_id = ctx.levels[1], ctx.levels[2]
    try:
        meter = _known_meter(ctx, site_id, meter_id)
        body = _object(_parse_json(payload), "payload")
        return [_reading(body, site_id, meter_id, meter, ctx)], []
    except InvalidReadingError as exc:
        return [], [_reject(ctx, exc.reason, exc.detail, payload, meter_id)]


def _decode_batch(payload: bytes, ctx: Context) -> Decoded:
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
                Reason.WRONG_TYPE, f"gateway must be a string, got {_show(body['gateway'])}"
            )
        items = body.get("readings")
        if items is None:
            raise InvalidReadingError(Reason.MISSING_FIELD, "batch has no 'readings' list")
        if not isinstance(items, list):
            raise InvalidReadingError(
                Reason.WRONG_TYPE, f"readings must be a list, got {_show(items)}"
            )
        if not items:
            raise InvalidReadingError(Reason.EMPTY_BATCH, "batch has an empty 'readings' list")
        if len(items) > ctx.limits.max_batch_readings:
            raise InvalidReadingError(
                Reason.BATCH_TOO_LARGE,
                f"batch has {len(items)} readings, the limit is {ctx.limits.max_batch_readings}",
            )
    except InvalidReadingError as exc:
        return [], [_reject(ctx, exc.reason, exc.detail, payload, None)]
    readings: list[DecodedReading] = []
    rejections: list[Rejection] = []
    for index, item in enumerate(items):
        meter_id: str | None = None
        try:
            entry = _object(item, f"readings[{index}]")
            raw_meter = _required(entry, "meter")
            if not isinstance(raw_meter, str):
                raise InvalidReadingError(
                    Reason.WRONG_TYPE, f"meter must be a string, got {_show(raw_meter)}"
                )
            meter_id = raw_meter
            _storable(meter_id, "meter")
            meter = _known_meter(ctx, site_id, meter_id)
            readings.append(_reading(entry, site_id, meter_id, meter, ctx))
        except InvalidReadingError as exc:
            rejections.append(
                _reject(
                    ctx,
                    exc.reason,
                    f"readings[{index}] of {len(items)}: {exc.detail}",
                    _slice(item),
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


def _unsupported(payload: bytes, ctx: Context) -> Decoded:
    return [], [
        _reject(
            ctx,
            Reason.UNSUPPORTED_FORMAT,
            "Sparkplug B payloads are not supported yet; publish GreenPulse JSON (docs/mqtt.md)",
            payload,
            None,
        )
    ]


def _is_reading(levels: tuple[str, ...], prefix: str) -> bool:
    return len(levels) == 4 and levels[0] == prefix and levels[3] == "reading"


def _is_batch(levels: tuple[str, ...], prefix: str) -> bool:
    return (
        len(levels) == 5 and levels[0] == prefix and levels[2] == "gateway" and levels[4] == "batch"
    )


def _is_sparkplug_b(levels: tuple[str, ...], prefix: str) -> bool:
    return levels[0] == "spBv1.0"


FORMATS: Final[tuple[TopicFormat, ...]] = (
    TopicFormat("reading", _is_reading, _decode_reading),
    TopicFormat("gateway_batch", _is_batch, _decode_batch),
    TopicFormat("sparkplug_b", _is_sparkplug_b, _unsupported),
)


# --- fields -----------------------------------------------------------------------------------


def _reading(
    body: Mapping[str, Any], site_id: str, meter_id: str, meter: MeterRef, ctx: Context
) -> DecodedReading:
    time = _timestamp(_required(body, "ts"), ctx)
    value = _value(_required(body, "value"))
    unit = _required(body, "unit")
    if not isinstance(unit, str):
        raise InvalidReadingError(Reason.WRONG_TYPE, f"unit must be a string, got {_show(unit)}")
    _storable(unit, "unit")
    problem = ctx.plant.unit_problem(unit, meter.unit)
    if problem is not None:
        raise InvalidReadingError(*problem)
    if value > ctx.plant.raw_limit(unit, meter):
        raise InvalidReadingError(
            Reason.VALUE_OUT_OF_RANGE,
            f"value {value:g} {_cut(unit)} is over {MAX_VALUE:g} {meter.unit} after the unit "
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
                Reason.BAD_TIMESTAMP, f"ts {_show(raw)} is not an ISO 8601 date-time"
            ) from None
        if time.utcoffset() is None:
            raise InvalidReadingError(
                Reason.BAD_TIMESTAMP,
                f"ts {_show(raw)} has no UTC offset; add one, e.g. +08:00 or Z",
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
                Reason.BAD_TIMESTAMP, f"ts {_show(raw)} is not a finite number"
            )
        try:
            time = _from_epoch(seconds)
        except (OverflowError, OSError, ValueError):
            raise InvalidReadingError(
                Reason.BAD_TIMESTAMP, f"ts {_show(raw)} is out of range"
            ) from None
    else:
        raise InvalidReadingError(
            Reason.WRONG_TYPE,
            f"ts must be an ISO 8601 string or epoch seconds/milliseconds, got {_show(raw)}",
        )
    try:
        time = time.astimezone(UTC)
        micros(time)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+14:00 is before year 1 in UTC
        raise InvalidReadingError(
            Reason.BAD_TIMESTAMP, f"ts {_show(raw)} is outside the representable range"
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
        raise InvalidReadingError(Reason.WRONG_TYPE, f"value must be a number, got {_show(raw)}")
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
        raise InvalidReadingError(Reason.WRONG_TYPE, f"seq must be an integer, got {_show(raw)}")
    if not 0 <= raw <= SEQ_MAX:
        raise InvalidReadingError(Reason.SEQ_OUT_OF_RANGE, f"seq {raw} is outside 0..{SEQ_MAX}")
    return raw


def _known_meter(ctx: Context, site_id: str, meter_id: str) -> MeterRef:
    if site_id not in ctx.plant.sites:
        raise InvalidReadingError(
            Reason.UNKNOWN_SITE, f"site {_cut(repr(site_id))} is not in the plant file"
        )
    meter = ctx.plant.meters.get(meter_id)
    if meter is None:
        raise InvalidReadingError(
            Reason.UNKNOWN_METER, f"meter {_cut(repr(meter_id))} is not in the plant file"
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
    if payload.startswith(_BOM):
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
            Reason.MALFORMED_JSON, f"payload is not JSON: {_cut(str(exc))}"
        ) from None


def _storable(text: str, name: str) -> None:
    """Refuse text no database column can hold: NUL (PostgreSQL) and lone surrogates."""
    if "\x00" in text or not _encodes(text):
        raise InvalidReadingError(
            Reason.INVALID_TEXT, f"{name} {_show(text)} holds NUL or a lone surrogate"
        )


def _encodes(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _object(value: object, what: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise InvalidReadingError(
            Reason.INVALID_PAYLOAD, f"{what} must be a JSON object, got {_show(value)}"
        )
    return value


def _required(body: Mapping[str, Any], name: str) -> object:
    try:
        return body[name]
    except KeyError:
        raise InvalidReadingError(Reason.MISSING_FIELD, f"field {name!r} is missing") from None


# --- rejections -------------------------------------------------------------------------------


def _reject(
    ctx: Context, reason: Reason, detail: str, payload: bytes, meter_id: str | None
) -> Rejection:
    return dead_letter(ctx.topic, reason, detail, payload, meter_id, ctx.now)


def dead_letter(
    topic: str,
    reason: Reason,
    detail: str,
    payload: bytes,
    meter_id: str | None,
    received_at: datetime,
) -> Rejection:
    """A rejection in a form every backend stores: text escaped (NUL, lone surrogates) and
    cut to its column, the payload as bytes."""
    return Rejection(
        topic=_cut(_clean(topic), TOPIC_MAX),
        reason=reason.value,
        detail=_cut(_clean(detail), DETAIL_MAX),
        payload=bytes(payload),
        meter_id=None if meter_id is None else _cut(_clean(meter_id), METER_ID_MAX),
        received_at=received_at,
    )


def _topic_meter(levels: tuple[str, ...]) -> str | None:
    return levels[2] if len(levels) == 4 and levels[3] == "reading" else None


def _slice(item: object) -> bytes:
    """The batch entry a rejection is about, re-serialised (NaN and all)."""
    try:
        return json.dumps(item, separators=(",", ":")).encode()
    except (TypeError, ValueError):  # pragma: no cover - json.loads output always dumps
        return repr(item).encode()


def _show(value: object) -> str:
    """A bounded, printable rendering of a value from the wire, type included."""
    if isinstance(value, int) and abs(value) > 10**_VALUE_REPR_MAX:
        shown = f"an integer of {value.bit_length()} bits"  # str() of a huge int is refused
    else:
        shown = repr(value)
    return f"{_cut(shown)} ({type(value).__name__})"


def _cut(text: str, limit: int = _VALUE_REPR_MAX) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _clean(text: str) -> str:
    """Text the database can store: PostgreSQL text cannot hold NUL, and no encoding holds
    a lone surrogate (JSON's ``"\\ud800"`` makes one); both are written as escapes."""
    if not _encodes(text):
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text.replace("\x00", "\\x00")


def reasons() -> Iterator[str]:
    """Every reason code (metrics pre-create a series per reason)."""
    return (reason.value for reason in Reason)
