"""The decoder's vocabulary: readings, rejections (dead letters), reasons, limits, plant
lookups, and the text rules that make every dead letter storable. Pure, no I/O."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Final

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
VALUE_REPR_MAX: Final = 80
BOM: Final = b"\xef\xbb\xbf"


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
            judged = (Reason.UNKNOWN_UNIT, cut(str(exc), DETAIL_MAX))
        except UnitMismatchError as exc:
            judged = (Reason.UNIT_MISMATCH, cut(str(exc), DETAIL_MAX))
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


# --- rejections -------------------------------------------------------------------------------


def reject(
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
        topic=cut(clean(topic), TOPIC_MAX),
        reason=reason.value,
        detail=cut(clean(detail), DETAIL_MAX),
        payload=bytes(payload),
        meter_id=None if meter_id is None else cut(clean(meter_id), METER_ID_MAX),
        received_at=received_at,
    )


def topic_meter(levels: tuple[str, ...]) -> str | None:
    return levels[2] if len(levels) == 4 and levels[3] == "reading" else None


def entry_bytes(item: object) -> bytes:
    """The batch entry a rejection is about, re-serialised (NaN and all)."""
    try:
        return json.dumps(item, separators=(",", ":")).encode()
    except (TypeError, ValueError):  # pragma: no cover - json.loads output always dumps
        return repr(item).encode()


def show(value: object) -> str:
    """A bounded, printable rendering of a value from the wire, type included."""
    if isinstance(value, int) and abs(value) > 10**VALUE_REPR_MAX:
        shown = f"an integer of {value.bit_length()} bits"  # str() of a huge int is refused
    else:
        shown = repr(value)
    return f"{cut(shown)} ({type(value).__name__})"


def cut(text: str, limit: int = VALUE_REPR_MAX) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def clean(text: str) -> str:
    """Text the database can store: PostgreSQL text cannot hold NUL, and no encoding holds
    a lone surrogate (JSON's ``"\\ud800"`` makes one); both are written as escapes."""
    if not encodes(text):
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text.replace("\x00", "\\x00")


def reasons() -> Iterator[str]:
    """Every reason code (metrics pre-create a series per reason)."""
    return (reason.value for reason in Reason)


def encodes(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
