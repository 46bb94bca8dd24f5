"""``python -m ingest``: run the ingester from ``GREENPULSE_*`` environment variables.

A separate entry point from ``greenpulse ingest`` so tests and benchmarks can
start (and SIGKILL) a real ingester process with nothing but the environment.
"""

from __future__ import annotations

import logging

from app.config import Settings
from ingest.service import run_ingester


def main() -> None:
    settings = Settings()
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    run_ingester(settings)


if __name__ == "__main__":
    main()
