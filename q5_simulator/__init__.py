"""A simulated FlexSCADA Flexs Q5 for development, demos and soak tests (not shipped in HACS).

    from q5_simulator import SimulatedQ5, load_site
    device = SimulatedQ5(load_site(), uid, key, "http://127.0.0.1:8123", session)
    await device.measure()
    status = await device.upload()      # 200, 409, ... (0 = unreachable)
    device.acknowledged, device.acknowledged_count, device.queue     # rows HA took / waiting
    device.last_cmd_id_ack, device.executed, device.relays, device.exchanges

Run it from the command line with `python -m q5_simulator --help`.
"""

from .device import Exchange, ExecutedCommand, Feed, RelayState, Row, SimulatedQ5
from .runner import EXAMPLE_SITE, device_config, load_site, toggle_channel
from .site import SiteModel

__all__ = [
    "EXAMPLE_SITE",
    "Exchange",
    "ExecutedCommand",
    "Feed",
    "RelayState",
    "Row",
    "SimulatedQ5",
    "SiteModel",
    "device_config",
    "load_site",
    "toggle_channel",
]
