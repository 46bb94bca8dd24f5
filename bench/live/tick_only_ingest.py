"""``greenpulse ingest`` without its "figures changed" notices: the 1 s tick alone.

Since commit 056e72e the ingester announces each committed batch on
``{prefix}/{site}/live`` and the API recomputes that site's snapshot at once (at
most 4 times a second). This process runs the same ingester with the
announcement turned off, so the benchmark can show what the notice buys: without
it a reading reaches the wall screens on the API's next one-second tick.
"""

from __future__ import annotations

import logging
import sys

from app.commands.ingest import run_ingest
from app.commands.runtime import run_until_signal
from app.config import Settings
from ingest import service
from ingest.writer import WriteResult


class TickOnlyIngester(service.Ingester):
    """The ingester, announcing nothing."""

    def _announce(self, result: WriteResult) -> None:
        return


def main() -> int:
    settings = Settings()
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    service.Ingester = TickOnlyIngester  # type: ignore[misc]  # what run_ingest constructs
    run_until_signal(lambda stop: run_ingest(settings, stop))
    return 0


if __name__ == "__main__":
    sys.exit(main())
