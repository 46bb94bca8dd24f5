"""What the simulated meters get wrong, each switchable; all off by default."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SimOptions:
    """Meter and network misbehaviour, plus a few physics switches.

    Rates are expectations: ``resets_per_meter_day=0.05`` means one reset per
    twenty meter-days on average. The defaults give clean data for tests;
    ``SimOptions.realistic()`` is the demo preset.

    Attributes:
        jitter_fraction: readings are stamped up to this fraction of the interval late.
        tick_s: physics time step (power is constant within a tick).
        clouds: passing clouds over PV; off gives clear-sky days.
        resets_per_meter_day: cumulative registers set to 0 (maintenance, firmware).
        replacements_per_meter_day: cumulative meter swapped for one with another start value.
        near_rollover: start cumulative registers within hours of their rollover.
        dropouts_per_meter_day: silences (meter or link down), ``dropout_s`` long.
        late_bursts_per_gateway_day: a gateway stores readings for ``late_burst_s``,
            then forwards them all at once, shuffled (store-and-forward).
        duplicate_fraction: share of readings sent twice.
    """

    jitter_fraction: float = 0.01
    tick_s: float = 60.0
    clouds: bool = True
    resets_per_meter_day: float = 0.0
    replacements_per_meter_day: float = 0.0
    near_rollover: bool = False
    dropouts_per_meter_day: float = 0.0
    dropout_s: tuple[float, float] = (120.0, 1800.0)
    late_bursts_per_gateway_day: float = 0.0
    late_burst_s: tuple[float, float] = (300.0, 1800.0)
    duplicate_fraction: float = 0.0

    def __post_init__(self) -> None:
        if not 0 <= self.jitter_fraction < 0.5:
            raise ValueError("jitter_fraction must be in [0, 0.5)")
        if not 1 <= self.tick_s <= 900:
            raise ValueError("tick_s must be between 1 and 900 seconds")
        for name in (
            "resets_per_meter_day",
            "replacements_per_meter_day",
            "dropouts_per_meter_day",
            "late_bursts_per_gateway_day",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if not 0 <= self.duplicate_fraction <= 1:
            raise ValueError("duplicate_fraction must be in [0, 1]")
        for name in ("dropout_s", "late_burst_s"):
            low, high = getattr(self, name)
            if not 0 < low <= high <= 3600:
                raise ValueError(f"{name} must be (low, high) with 0 < low <= high <= 3600")

    @classmethod
    def clean(cls) -> SimOptions:
        """Well-behaved meters: only timestamp jitter."""
        return cls()

    @classmethod
    def realistic(cls) -> SimOptions:
        """The demo preset: every kind of misbehaviour, at rates a demo will show."""
        return cls(
            resets_per_meter_day=0.03,
            replacements_per_meter_day=0.005,
            near_rollover=True,
            dropouts_per_meter_day=0.5,
            late_bursts_per_gateway_day=1.0,
            duplicate_fraction=0.002,
        )
