"""Counter-based deterministic noise: the same seed, key and index give the same number.

Every random quantity in the simulator is a pure function of ``(seed, key,
index...)`` rather than a draw from a stateful generator, so the readings do not
depend on how the simulated time is chunked (one ``advance`` for a day or 1440
of a minute each) nor on the order meters are visited.
"""

from __future__ import annotations

import hashlib
import math
from typing import Final

_MASK: Final = (1 << 64) - 1
_TO_UNIT: Final = 2.0**-53


def _mix(x: int) -> int:
    """The splitmix64 finaliser: a cheap, well-distributed 64-bit hash step."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def stable_key(text: str) -> int:
    """A process-independent 64-bit hash of a string (``hash()`` is salted per process)."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


class Noise:
    """A deterministic noise source for one key (a meter, an area, a site...)."""

    __slots__ = ("_base", "_knots")

    def __init__(self, seed: int, key: str) -> None:
        self._base = _mix((seed & _MASK) ^ stable_key(key))
        self._knots: dict[int, tuple[int, float, float]] = {}  # channel -> last knot pair

    def uniform(self, *index: int) -> float:
        """A number in [0, 1) fixed by the indices."""
        x = self._base
        for i in index:
            x = _mix(x ^ (i & _MASK))
        return (x >> 11) * _TO_UNIT

    def signed(self, *index: int) -> float:
        """A number in [-1, 1), uniformly."""
        return 2.0 * self.uniform(*index) - 1.0

    def smooth(self, t_s: float, period_s: float, channel: int = 0) -> float:
        """Value noise in [0, 1): knots every ``period_s``, cosine-interpolated between."""
        position = t_s / period_s
        knot = math.floor(position)
        frac = position - knot
        weight = (1 - math.cos(math.pi * frac)) / 2
        cached = self._knots.get(channel)
        if cached is not None and cached[0] == knot:
            a, b = cached[1], cached[2]
        else:
            a = self.uniform(channel, knot)
            b = self.uniform(channel, knot + 1)
            self._knots[channel] = (knot, a, b)
        return a + (b - a) * weight
