"""Property tests against the API's own OpenAPI spec, over a real ``greenpulse serve``.

Every operation is called with generated input, once as a viewer (the read token) and
once as an admin. The tokens go through schemathesis' own auth, so it can leave them
out when it tests a request without credentials. The run fails on any 5xx, on any
response the spec does not describe (status code, content type, headers, body
schema), on invalid input that is accepted, and on schema-valid input that is refused
(except where a rule the spec cannot state refuses it: ``POSITIVE_OFF``). Bounded: a
few examples per operation, about a minute and a half in all.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from schemathesis import AuthContext, Case
from schemathesis.checks import positive_data_acceptance
from schemathesis.openapi import from_dict

from tests.conftest import _drop_pg_database, _pg_database
from tests.serve_process import Served, command_env, greenpulse

ADMIN = "schemathesis-admin-token-000000"
READ = "schemathesis-read-token-0000000"
EXAMPLES_PER_OPERATION = 10

# Operations where schema-valid input may rightly be refused with 422, by rules a JSON
# schema cannot state; every other operation must accept what its schema allows.
_DATE_RANGE = "a date-time outside 1900-9000 (or not representable in UTC) is a 422"
POSITIVE_OFF = {
    "GET /api/v1/alerts": _DATE_RANGE,
    "GET /api/v1/meters/{meter_id}/readings": _DATE_RANGE,
    "GET /api/v1/sites/{site_id}/history": _DATE_RANGE,
    "POST /api/v1/sites/{site_id}/certificates": (
        "generation and claimed periods in order, a quantity above zero written as text, "
        "the region's instrument rules"
    ),
    "POST /api/v1/sites/{site_id}/offsets": (
        "a quantity above zero written as text, a known unit and standard"
    ),
    "GET /api/v1/sites/{site_id}/export/monthly/{month}.html": "the month is YYYY-MM",
    "GET /api/v1/sites/{site_id}/export/monthly/{month}.pdf": "the month is YYYY-MM",
    "PUT /api/v1/factors/{factor_id}": (
        "the region's form (CN, CN-GZ, site:<id>), a unit that fits the resource, the id "
        "in the body equal to the one in the address, valid_to after valid_from"
    ),
}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    workdir: Path = tmp_path_factory.mktemp("schemathesis")
    url = _pg_database(timescale=False)
    env = command_env(url, GREENPULSE_API_TOKEN=ADMIN, GREENPULSE_READ_TOKEN=READ)
    server: Served | None = None
    try:
        migrated = greenpulse(env, "migrate", "--no-timescaledb", cwd=workdir)
        assert migrated.returncode == 0, migrated.stderr
        server = Served(env, workdir)
        server.start()
        yield server
    finally:
        if server is not None:
            logs = server.stop()
            assert "Traceback" not in logs, logs[-4000:]
        _drop_pg_database(url)


def _spec() -> dict[str, Any]:
    """The spec ``greenpulse serve`` publishes at /openapi.json (built without running)."""
    from app.commands.app import create_app
    from app.config import Settings

    spec: dict[str, Any] = create_app(Settings(mqtt_url="mqtt://127.0.0.1:1")).openapi()
    return spec


schema = from_dict(_spec())


class _Bearer:
    """A token handed to schemathesis' own auth, so it can leave it out on purpose
    (a negative case without credentials must then be refused, and is checked)."""

    token = ""

    def get(self, case: Case, context: AuthContext) -> str:
        return self.token

    def set(self, case: Case, data: str, context: AuthContext) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


class ReadBearer(_Bearer):
    token = READ


class AdminBearer(_Bearer):
    token = ADMIN


def _nul_in_address(case: Case) -> bool:
    """A NUL in a path or query value: refused with 400 (documented), though a JSON
    schema ``string`` allows it."""
    values: list[Any] = [*(case.path_parameters or {}).values()]
    for value in (case.query or {}).values():
        values.extend(value if isinstance(value, list) else [value])
    return any(isinstance(v, str) and "\x00" in v for v in values)


def _call(case: Case, served: Served) -> None:
    excluded = []
    if case.operation.label in POSITIVE_OFF or _nul_in_address(case):
        excluded.append(positive_data_acceptance)
    case.call_and_validate(base_url=served.base_url, timeout=30, excluded_checks=excluded)


def test_positive_exceptions_name_real_operations() -> None:
    labels = {
        f"{method.upper()} {path}" for path, ops in _spec()["paths"].items() for method in ops
    }
    assert labels >= set(POSITIVE_OFF), set(POSITIVE_OFF) - labels


@schema.auth(ReadBearer)
@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_the_api_keeps_to_its_spec_for_a_viewer(case: Case, served: Served) -> None:
    _call(case, served)


@schema.auth(AdminBearer)
@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_the_api_keeps_to_its_spec_for_an_admin(case: Case, served: Served) -> None:
    _call(case, served)
