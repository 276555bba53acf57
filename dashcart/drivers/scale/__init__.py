"""The scale: wire protocols, line decoding, and the drivers behind one small interface.

``open_serial_scale(config)`` gives a :class:`ScaleDriver` for ``config.scale``: the real serial
driver on ``scale.port``. The simulated bridge is plugged in from above
(:func:`dashcart.runtime.devices.open_scale`); no driver imports a simulator.
"""

from __future__ import annotations

from typing import Protocol

from dashcart.config import Config
from dashcart.drivers.scale.decoder import ScaleCounters
from dashcart.readings import Gap, Sample, ScaleZeroed


class ScaleDriver(Protocol):
    counters: ScaleCounters
    connected: bool

    def read(self, timeout: float | None = None) -> list[Sample | Gap | ScaleZeroed]: ...
    def describe(self) -> str: ...
    def close(self) -> None: ...
    def __enter__(self) -> ScaleDriver: ...
    def __exit__(self, *exc: object) -> None: ...


def open_serial_scale(config: Config, **driver_options: object) -> ScaleDriver:
    """The configured serial scale, reading. Raises :class:`dashcart.errors.Misconfigured` when
    the config cannot work (no port)."""
    from dashcart.drivers.scale.serial_scale import SerialScale
    from dashcart.errors import Misconfigured

    scale = config.scale
    if not scale.port:
        where = config.source or "the config"
        raise Misconfigured(f"{where}: scale.port is empty but scale.backend is \"serial\"; "
                            "set it to the bridge's device (see `ls /dev/serial/by-id`)")
    return SerialScale(scale.port, scale.protocol, scale.baudrate, **driver_options)  # type: ignore[arg-type]
