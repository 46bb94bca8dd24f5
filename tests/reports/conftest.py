"""The history's real readings and API, shared with the export tests."""

from tests.history.conftest import client, fed

__all__ = ["client", "fed"]
