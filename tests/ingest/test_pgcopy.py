"""Binary COPY data built from arrays goes into a real PostgreSQL and comes back unchanged."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime

import numpy as np
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.domain.register_runs import from_micros, micros
from ingest import pgcopy
from tests.conftest import PG_ADMIN_DSN, require

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def conn() -> Iterator[psycopg.Connection]:
    try:
        connection = psycopg.connect(PG_ADMIN_DSN, connect_timeout=5, autocommit=True)
    except psycopg.OperationalError as exc:
        require("PostgreSQL", f"cannot connect to {PG_ADMIN_DSN}: {exc}")
    with connection:
        connection.execute(
            "CREATE TEMP TABLE copied (name text, at timestamptz, reading float8, "
            "flags int2, seq int4, big int8)"
        )
        yield connection


def copy_and_read(
    conn: psycopg.Connection, columns: list[pgcopy.Fixed | pgcopy.Text], rows: int
) -> list[tuple[object, ...]]:
    conn.execute("TRUNCATE copied")
    with conn.cursor() as cur:
        with cur.copy("COPY copied FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(pgcopy.encode(columns, rows))
        cur.execute("SELECT * FROM copied")
        return cur.fetchall()


def test_rows_with_nulls_and_text_of_every_length(conn: psycopg.Connection) -> None:
    times = [datetime(2026, 11, 29, 8, 0, tzinfo=UTC), datetime(1999, 12, 31, 23, 59, tzinfo=UTC)]
    rows = copy_and_read(
        conn,
        [
            pgcopy.Text(["el-comp-01", "", "Zähler Süd"], np.array([0, 2], np.intp)),
            pgcopy.Fixed("timestamptz", np.array([micros(t) for t in times], np.int64)),
            pgcopy.Fixed("float8", np.array([1.5, np.nan]), np.array([False, True])),
            pgcopy.Fixed("int2", np.array([0, 130])),
            pgcopy.Fixed("int4", np.array([7, -1]), np.array([False, True])),
            pgcopy.Fixed("int8", np.array([2**40, -(2**40)])),
        ],
        2,
    )
    assert rows == [
        ("el-comp-01", times[0], 1.5, 0, 7, 2**40),
        ("Zähler Süd", times[1], None, 130, None, -(2**40)),
    ]


def test_no_rows_is_an_empty_copy(conn: psycopg.Connection) -> None:
    empty = np.array([], np.int64)
    assert (
        copy_and_read(
            conn,
            [pgcopy.Text([], np.array([], np.intp))]
            + [pgcopy.Fixed(t, empty) for t in ("timestamptz", "float8", "int2", "int4", "int8")],
            0,
        )
        == []
    )


def test_a_column_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(ValueError, match="2 values for 3 rows"):
        pgcopy.encode([pgcopy.Fixed("float8", np.array([1.0, 2.0]))], 3)


row = st.tuples(
    st.sampled_from(["pv-inv-01", "gas-boiler", "x", "Wasser/Zulauf"]),
    st.integers(micros(datetime(2000, 1, 1, tzinfo=UTC)), micros(datetime(2100, 1, 1, tzinfo=UTC))),
    st.one_of(st.none(), st.floats(allow_nan=False)),
    st.integers(-(2**15), 2**15 - 1),
    st.one_of(st.none(), st.integers(0, 2**31 - 1)),
    st.integers(-(2**63), 2**63 - 1),
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(row, max_size=30))
def test_any_rows_round_trip(conn: psycopg.Connection, rows: list[tuple]) -> None:  # type: ignore[type-arg]
    names = sorted({r[0] for r in rows})
    readings = [math.nan if r[2] is None else r[2] for r in rows]
    got = copy_and_read(
        conn,
        [
            pgcopy.Text(names, np.array([names.index(r[0]) for r in rows], np.intp)),
            pgcopy.Fixed("timestamptz", np.array([r[1] for r in rows], np.int64)),
            pgcopy.Fixed("float8", np.array(readings), np.array([r[2] is None for r in rows])),
            pgcopy.Fixed("int2", np.array([r[3] for r in rows], np.int64)),
            pgcopy.Fixed(
                "int4", np.array([r[4] or 0 for r in rows]), np.array([r[4] is None for r in rows])
            ),
            pgcopy.Fixed("int8", np.array([r[5] for r in rows], np.int64)),
        ],
        len(rows),
    )
    # rows of one layout (NULLs, text lengths) are sent together: order is not kept
    assert Counter(got) == Counter((r[0], from_micros(r[1]), *r[2:]) for r in rows)
