"""PostgreSQL binary COPY data from column arrays, without a Python call per row.

psycopg's ``Copy.write_row`` formats one row per call; at gateway-batch rates that
call is most of the writer's time. The binary COPY format is simple and fixed
(PostgreSQL docs, "COPY", "Binary Format"): a signature, then per row a 16-bit
field count and per field a 32-bit length (-1 for NULL) and the value in network
byte order, then a 16-bit -1. Every column here is laid out as a fixed-width
block per row (length word + widest value); rows whose NULLs and text lengths
agree share a layout, and each layout's bytes are cut out of all its rows at
once (COPY does not care about row order). The result goes to psycopg's
``Copy.write`` (block mode).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
TRAILER = b"\xff\xff"
PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01T00:00:00Z in microseconds since 1970


@dataclass(frozen=True)
class Fixed:
    """A fixed-width column: ``values`` as ``pg_type`` (float8, int2, int4, int8, timestamptz).

    ``null`` marks NULLs (``None``: none). Timestamps are microseconds since 1970 UTC.
    """

    pg_type: str
    values: NDArray[np.generic]
    null: NDArray[np.bool_] | None = None


@dataclass(frozen=True)
class Text:
    """A text column, dictionary-encoded: row ``i`` holds ``table[index[i]]``."""

    table: Sequence[str]
    index: NDArray[np.intp]


_WIRE = {"float8": ">f8", "int2": ">i2", "int4": ">i4", "int8": ">i8", "timestamptz": ">i8"}


@dataclass(frozen=True)
class _Field:
    """One column on the wire: per row a length word (-1: NULL) and ``payload``.

    ``payload`` has one element per row, as wide as the widest; ``size`` is each
    row's real payload size (0 for NULL), or ``None`` when every row's is the same.
    """

    length: NDArray[np.int32]
    payload: NDArray[Any]
    size: NDArray[np.intp] | None


def encode(columns: Sequence[Fixed | Text], rows: int) -> bytes:
    """The complete binary COPY stream (signature to trailer) of ``rows`` rows."""
    fields = [_text(c, rows) if isinstance(c, Text) else _fixed(c, rows) for c in columns]
    # rows whose NULLs and text lengths agree share a layout: few of them in practice
    layout = np.zeros(rows, np.int64)
    for f in fields:
        if f.size is not None:
            layout = layout * (f.payload.dtype.itemsize + 1) + f.size
    _, first, group = np.unique(layout, return_index=True, return_inverse=True)
    chunks = [SIGNATURE]
    for g, row in enumerate(first.tolist()):
        members = np.flatnonzero(group == g) if len(first) > 1 else slice(None)
        chunks.append(_rows(fields, row, members, len(columns)))
    chunks.append(TRAILER)
    return b"".join(chunks)


def _rows(fields: list[_Field], row: int, members: Any, count: int) -> bytes:
    """The rows ``members``, which all have the layout of ``row``, as wire bytes.

    A packed structured array with exactly that layout: its memory is the wire format.
    """
    names: list[str] = ["n"]
    formats: list[Any] = [">i2"]
    values: list[Any] = [count]
    for i, f in enumerate(fields):
        names.append(f"l{i}")
        formats.append(">i4")
        values.append(f.length[members])
        width = f.payload.dtype.itemsize if f.size is None else int(f.size[row])
        if width == f.payload.dtype.itemsize:
            names.append(f"v{i}")
            formats.append(f.payload.dtype)
            values.append(f.payload[members])
        elif width:  # a shorter text: cut the padding off
            names.append(f"v{i}")
            formats.append(np.dtype(f"S{width}"))
            values.append(f.payload[members].astype(f"S{width}"))
    out = np.empty(len(values[1]), {"names": names, "formats": formats})
    for name, value in zip(names, values, strict=True):
        out[name] = value
    body: bytes = out.tobytes()
    return body


def _fixed(column: Fixed, rows: int) -> _Field:
    values = np.asarray(column.values)
    if len(values) != rows:
        raise ValueError(f"a {column.pg_type} column has {len(values)} values for {rows} rows")
    if column.pg_type == "timestamptz":
        values = values - PG_EPOCH_US
    wire = values.astype(_WIRE[column.pg_type])
    size = wire.dtype.itemsize
    if column.null is None or not np.any(column.null):
        return _Field(np.full(rows, size, np.int32), wire, None)
    null = np.asarray(column.null, bool)
    return _Field(np.where(null, -1, size).astype(np.int32), wire, np.where(null, 0, size))


def _text(column: Text, rows: int) -> _Field:
    if len(column.index) != rows:
        raise ValueError(f"a text column has {len(column.index)} values for {rows} rows")
    encoded = [value.encode() for value in column.table]
    widest = max((len(e) for e in encoded), default=0)
    lengths = np.array([len(e) for e in encoded], np.int32)
    table = np.array(encoded, f"S{max(widest, 1)}")
    return _Field(lengths[column.index], table[column.index], lengths[column.index].astype(np.intp))
