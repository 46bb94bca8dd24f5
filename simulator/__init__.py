"""Plant meter simulator: realistic readings from a plant file, published over MQTT.

The core (``PlantSimulator``) is pure and clock-free; ``simulator.publish``
paces and publishes; ``simulator.cli.simulate`` is ``greenpulse simulate``.
"""

from simulator.core import PlantSimulator
from simulator.events import Injection, InjectionKind
from simulator.meters import SimReading
from simulator.options import SimOptions

__all__ = ["Injection", "InjectionKind", "PlantSimulator", "SimOptions", "SimReading"]
