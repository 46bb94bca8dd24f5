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
from fastapi.routing import APIRoute
from pydantic import AfterValidator, BaseModel, BeforeValidator, Field
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


def _not_a_number(value: object) -> object:
    # pydantic would read 0.5 as a Unix time; the spec (and people) mean ISO 8601
    if isinstance(value, int | float) or (
        isinstance(value, str) and value.strip().lstrip("+-").replace(".", "", 1).isdigit()
    ):
        raise ValueError("give a date-time such as 2026-06-15T02:00:00Z, not a number")
    return value


SafeText = Annotated[str, AfterValidator(_no_nul)]
ShortText = Annotated[str, Field(max_length=200), AfterValidator(_no_nul)]
BoundedDatetime = Annotated[datetime, BeforeValidator(_not_a_number), AfterValidator(_in_utc)]


async def _database_refused(request: Request, exc: Exception) -> JSONResponse:
    log.warning("the database refused a value on %s %s: %s", request.method, request.url.path, exc)
    detail = str(getattr(exc, "orig", exc)).splitlines()[0][:300]
    return JSONResponse(
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        content={"detail": f"a value is out of range or not storable: {detail}"},
    )


async def _method_not_allowed(request: Request, exc: Exception) -> JSONResponse:
    """405 whose ``Allow`` lists every method of the path, not only one route's."""
    allowed = {
        method
        for route in request.app.routes
        if isinstance(route, APIRoute) and route.path_regex.match(request.url.path)
        for method in route.methods or ()
    }
    return JSONResponse(
        status_code=status.HTTP_405_METHOD_NOT_ALLOWED,
        content={"detail": "Method Not Allowed"},
        headers={"Allow": ", ".join(sorted(allowed))},
    )


def install_input_errors(app: FastAPI) -> None:
    """Answer a value the database refuses with 422 and the database's reason; list every
    method of a path in a 405's ``Allow``."""
    refused: Any = _database_refused
    not_allowed: Any = _method_not_allowed
    app.add_exception_handler(DataError, refused)
    app.add_exception_handler(status.HTTP_405_METHOD_NOT_ALLOWED, not_allowed)


class ErrorDetail(BaseModel):
    """Every error this API answers: a sentence, or FastAPI's list of field errors."""

    detail: str | list[dict[str, Any]]


_ERRORS = {
    400: "malformed request (e.g. a NUL character in the address)",
    401: "no token, or a malformed or unknown one",
    403: "the token's role does not open this route",
    404: "no such site, area, meter, alert or override",
    409: "the resource's state forbids the change",
    413: "the request body is larger than the configured limit",
    422: "a value is invalid or out of range",
}
# errors are JSON on every route, also on those that answer a file (HTML, CSV, PDF)
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {
        "model": ErrorDetail,
        "description": why,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorDetail"}}},
    }
    for code, why in _ERRORS.items()
}
