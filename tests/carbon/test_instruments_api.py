"""Certificates and offsets through the API: registry rules, region rules, the audit trail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.carbon.helpers import READ, WRITE, api, plant_of, register, write
from tests.conftest import Backend

NOW = datetime(2026, 6, 15, 3, 5, tzinfo=UTC)
URL = "/api/v1/sites/s1/certificates"


def gec(**changes: Any) -> dict[str, Any]:
    body = {
        "reference": "GEC-2026-0001",
        "instrument_type": "GEC",
        "generation_first": "2026-01-01",
        "generation_last": "2026-03-31",
        "claimed_first": "2026-06-15",
        "claimed_last": "2026-06-15",
        "quantity": "0.5",
        "unit": "MWh",
        "registry": "China GEC platform",
        "serial": "GEC-0001-0500",
        "retired_on": "2026-06-01",
    }
    return {**body, **changes}


async def test_certificates_follow_the_registry_and_region_rules(clean_backend: Backend) -> None:
    plant = plant_of()
    start = NOW - timedelta(hours=1, minutes=5)  # 300 kWh imported today
    write(clean_backend, plant, register(plant, "grid", [(start, 0), (NOW, 300)]), NOW)
    async with api(clean_backend, plant, lambda: NOW) as http:
        assert (await http.post(URL, json=gec(), headers=WRITE)).status_code == 201
        again = await http.post(URL, json=gec(serial="other"), headers=WRITE)
        assert again.status_code == 409
        assert again.json()["detail"]["field"] == "reference"
        irec = await http.post(
            URL, json=gec(reference="IREC-1", instrument_type="I-REC(E)"), headers=WRITE
        )
        assert irec.status_code == 422
        assert "I-REC(E) is not accepted in CN for generation after 2024-12-31" in str(
            irec.json()["detail"]["problem"]
        )
        old = gec(
            reference="IREC-2",
            instrument_type="I-REC(E)",
            generation_first="2024-10-01",
            generation_last="2024-12-31",
        )
        assert (await http.post(URL, json=old, headers=WRITE)).status_code == 201
        oversize = await http.post(URL, json=gec(reference="x" * 201), headers=WRITE)
        assert oversize.status_code == 422
        assert (
            await http.post(URL, json=gec(reference="R3", unit="GWh"), headers=WRITE)
        ).status_code == 422
        listed = (await http.get(URL, headers=READ)).json()
        figures = (await http.get("/api/v1/sites/s1/figures", headers=READ)).json()
        audit = (await http.get("/api/v1/sites/s1/instruments/audit", headers=READ)).json()
    assert {c["reference"] for c in listed} == {"GEC-2026-0001", "IREC-2"}
    today = figures["periods"]["today"]["co2"]
    # 1,000 kWh of certificates for a day that used 300: never more than the consumption
    assert today["certificate_covered_kwh"] == pytest.approx(300)
    assert today["scope2_market_kg"] == pytest.approx(0)
    assert [(e["action"], e["kind"], e["reference"]) for e in audit] == [
        ("create", "certificate", "GEC-2026-0001"),
        ("create", "certificate", "IREC-2"),
    ]


async def test_offsets_are_listed_voided_and_audited(clean_backend: Backend) -> None:
    plant = plant_of()
    write(clean_backend, plant, [], NOW)
    offset = {
        "reference": "GS-42",
        "standard": "Gold Standard",
        "project": "GS 42 wind",
        "vintage": 2025,
        "quantity": "2",
        "registry": "Gold Standard registry",
        "serial": "GS-42-1",
        "retired_at": "2026-06-15",
        "actor": "auditor@plant",
    }
    url = "/api/v1/sites/s1/offsets"
    async with api(clean_backend, plant, lambda: NOW) as http:
        assert (await http.post(url, json=offset, headers=WRITE)).status_code == 201
        cert_clash = await http.post(URL, json=gec(reference="GS-42"), headers=WRITE)
        assert cert_clash.status_code == 409  # unique across certificates and offsets
        bad = await http.post(
            url, json={**offset, "reference": "X", "standard": "Own"}, headers=WRITE
        )
        assert bad.status_code == 422 and bad.json()["detail"]["field"] == "standard"
        before = (await http.get("/api/v1/sites/s1/figures", headers=READ)).json()
        void = await http.post(
            f"{url}/GS-42/void",
            json={"reason": "double retirement", "actor": "auditor"},
            headers=WRITE,
        )
        assert void.status_code == 200 and void.json()["voided"] is True
        twice = await http.post(f"{url}/GS-42/void", json={"reason": "again"}, headers=WRITE)
        assert twice.status_code == 422
        missing = await http.post(f"{url}/NOPE/void", json={"reason": "x"}, headers=WRITE)
        assert missing.status_code == 404
        listed = (await http.get(url, headers=READ)).json()
        after = (await http.get("/api/v1/sites/s1/figures", headers=READ)).json()
        audit = (await http.get("/api/v1/sites/s1/instruments/audit", headers=READ)).json()
        assert (await http.post(url, json=offset, headers=READ)).status_code == 403
    assert before["periods"]["today"]["co2"]["offsets_retired_kg"] == 2000
    assert after["periods"]["today"]["co2"]["offsets_retired_kg"] == 0
    assert listed[0]["voided"] is True and listed[0]["void_reason"] == "double retirement"
    assert [(e["action"], e["actor"], e["detail"]) for e in audit][-1] == (
        "void",
        "auditor",
        "double retirement",
    )
    assert audit[0]["actor"] == "auditor@plant"


async def test_excess_beyond_a_finished_period_is_reported(clean_backend: Backend) -> None:
    plant = plant_of()
    yesterday = NOW - timedelta(days=1)
    points = [(yesterday - timedelta(hours=1), 0), (yesterday, 300)]
    write(clean_backend, plant, register(plant, "grid", points), NOW)
    body = gec(claimed_first="2026-06-14", claimed_last="2026-06-14")
    async with api(clean_backend, plant, lambda: NOW) as http:
        assert (await http.post(URL, json=body, headers=WRITE)).status_code == 201
        month = (await http.get("/api/v1/sites/s1/figures", headers=READ)).json()["periods"][
            "month"
        ]["co2"]
    assert month["certificate_covered_kwh"] == pytest.approx(300)
    assert month["certificate_excess_kwh"] == pytest.approx(200)
    assert any("exceed the consumption of 2026-06-14" in n for n in month["notes"])
