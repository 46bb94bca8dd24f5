"""``python -m ingest``: the same ingester as ``greenpulse ingest``, from ``GREENPULSE_*`` only.

A separate entry point so tests and benchmarks can start (and SIGKILL) a real
ingester process with nothing but the environment; the wiring is the commands
package's.
"""

from __future__ import annotations

from app.commands.ingest import main

if __name__ == "__main__":
    main()
