"""``greenpulse simulate``: the plant simulator's own command line, loaded only when used.

The options are the simulator's (``simulator.cli.simulate``); importing it here, inside
the call, keeps every other command from loading the simulator.
"""

from __future__ import annotations

from collections.abc import Sequence

import typer


def run_simulate(args: Sequence[str], *, prog_name: str = "greenpulse simulate") -> None:
    """Parse ``args`` with the simulator's options and run it (``--help`` lists them)."""
    from simulator.cli import simulate

    command = typer.Typer(add_completion=False)
    command.command()(simulate)
    typer.main.get_command(command).main(args=list(args), prog_name=prog_name)
