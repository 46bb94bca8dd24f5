"""Input types that keep out-of-range values at the door: a 4xx a person understands.

- ``AlertId``: a database id (1 … 2³¹−1); larger numbers cannot name a row.
- ``SafeText``/``ShortText``: no NUL characters (PostgreSQL refuses them) and a length
  the column holds.
- ``BoundedDatetime``: a date-time that exists in UTC (``0001-01-01T00:00:00+14:00``
  does not), naive values read as UTC.

:func:`install_input_errors` turns whatever still slips past into a 422 rather than
a 500: a value the database refuses (out of range, too long, NUL) is the client's
input, not a server fault.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import FastAPI, Path, Request, status
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, Field
from sqlalchemy.exc import DataError

log = logging.getLogger(__name__)

INT32_MAX = 2**31 - 1
# wide enough for any real meter, narrow enough that a period computed around it (a year
# back, a day on) and any UTC offset stay representable
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)

AlertId = Annotated[int, Path(ge=1, le=INT32_MAX, description=f"an alert id, 1 to {INT32_MAX}")]


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("text may not contain NUL characters")
    return value


def _in_utc(value: datetime) -> datetime:
    try:
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        utc = aware.astimezone(UTC)
    except OverflowError:
        raise ValueError(
            f"{value.isoformat()} lies outside the dates this service handles"
        ) from None
    if not EARLIEST <= utc <= LATEST:
        raise ValueError(
            f"{value.isoformat()} lies outside the dates this service handles "
            f"({EARLIEST.date()} to {LATEST.date()})"
        )
    return utc


SafeText = Annotated[str, AfterValidator(_no_nul)]
ShortText = Annotated[str, Field(max_length=200), AfterValidator(_no_nul)]
BoundedDatetime = Annotated[datetime, AfterValidator(_in_utc)]


async def _database_refused(request: Request, exc: Exception) -> JSONResponse:
    log.warning("the database refused a value on %s %s: %s", request.method, request.url.path, exc)
    detail = str(getattr(exc, "orig", exc)).splitlines()[0][:300]
    return JSONResponse(
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        content={"detail": f"a value is out of range or not storable: {detail}"},
    )


def install_input_errors(app: FastAPI) -> None:
    """Answer a value the database refuses with 422 and the database's reason."""
    handler: Any = _database_refused
    app.add_exception_handler(DataError, handler)
