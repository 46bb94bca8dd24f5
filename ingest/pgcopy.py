"""PostgreSQL binary COPY data from column arrays, without a Python call per row.

psycopg's ``Copy.write_row`` formats one row per call; at gateway-batch rates that
call is most of the writer's time. The binary COPY format is simple and fixed
(PostgreSQL docs, "COPY", "Binary Format"): a signature, then per row a 16-bit
field count and per field a 32-bit length (-1 for NULL) and the value in network
byte order, then a 16-bit -1. Every column here is laid out as a fixed-width
block per row (length word + widest value) with a mask of the bytes that are
really there; one boolean index over all blocks yields the stream in row order.
The result goes to psycopg's ``Copy.write`` (block mode).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
TRAILER = b"\xff\xff"
PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01T00:00:00Z in microseconds since 1970

Block = tuple[NDArray[np.uint8], NDArray[np.bool_]]


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


def encode(columns: Sequence[Fixed | Text], rows: int) -> bytes:
    """The complete binary COPY stream (signature to trailer) of ``rows`` rows."""
    blocks: list[Block] = [_fixed_width(np.full(rows, len(columns), ">i2"))]
    for column in columns:
        blocks.append(_text(column, rows) if isinstance(column, Text) else _fixed(column, rows))
    data = np.concatenate([b for b, _ in blocks], axis=1)
    present = np.concatenate([m for _, m in blocks], axis=1)
    body: bytes = data[present].tobytes()
    return SIGNATURE + body + TRAILER


def _fixed_width(wire: NDArray[np.generic]) -> Block:
    data = wire.view(np.uint8).reshape(len(wire), wire.dtype.itemsize)
    return data, np.ones(data.shape, bool)


def _fixed(column: Fixed, rows: int) -> Block:
    values = np.asarray(column.values)
    if len(values) != rows:
        raise ValueError(f"a {column.pg_type} column has {len(values)} values for {rows} rows")
    if column.pg_type == "timestamptz":
        values = values - PG_EPOCH_US
    wire = values.astype(_WIRE[column.pg_type])
    width = wire.dtype.itemsize
    null = np.zeros(rows, bool) if column.null is None else np.asarray(column.null, bool)
    length = np.where(null, -1, width).astype(">i4")
    data = np.concatenate([_fixed_width(length)[0], _fixed_width(wire)[0]], axis=1)
    present = np.ones(data.shape, bool)
    present[:, 4:] = ~null[:, None]
    return data, present


def _text(column: Text, rows: int) -> Block:
    if len(column.index) != rows:
        raise ValueError(f"a text column has {len(column.index)} values for {rows} rows")
    encoded = [value.encode() for value in column.table]
    width = max((len(e) for e in encoded), default=0)
    table = np.zeros((len(encoded), 4 + width), np.uint8)
    lengths = np.array([len(e) for e in encoded], ">i4")
    table[:, :4] = lengths.reshape(-1, 1).view(np.uint8)
    for i, e in enumerate(encoded):
        table[i, 4 : 4 + len(e)] = np.frombuffer(e, np.uint8)
    present = np.arange(4 + width) < (4 + lengths.astype(np.intp)).reshape(-1, 1)
    return table[column.index], present[column.index]
