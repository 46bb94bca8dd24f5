"""Simulator test fixtures (the broker fixtures come from tests/conftest.py)."""

from __future__ import annotations

import pytest

from app.domain.plant import Plant
from tests.simulator.oracle import demo_plant


@pytest.fixture(scope="session")
def plant() -> Plant:
    return demo_plant()
