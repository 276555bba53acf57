"""The scale: wire protocols, line decoding, and the drivers behind one small interface.

``open_scale(config)`` gives a :class:`ScaleDriver` for ``config.scale``: the real serial
driver on ``scale.port``, or, with ``scale.backend = "sim"``, the same real serial driver on
the pseudo-terminal of a simulated bridge (so the simulated cart runs every real byte).
"""

from __future__ import annotations

from typing import Protocol

from dashcart.config import Config
from dashcart.drivers.scale.decoder import Gap, Sample, ScaleCounters


class ScaleDriver(Protocol):
    counters: ScaleCounters
    connected: bool

    def read(self, timeout: float | None = None) -> list[Sample | Gap]: ...
    def describe(self) -> str: ...
    def close(self) -> None: ...
    def __enter__(self) -> ScaleDriver: ...
    def __exit__(self, *exc: object) -> None: ...


def open_scale(config: Config, **driver_options: object) -> ScaleDriver:
    """The configured scale, reading. Raises :class:`dashcart.errors.Misconfigured` when the
    config cannot work (no port for a serial scale)."""
    from dashcart.errors import Misconfigured
    from dashcart.drivers.scale.serial_scale import SerialScale

    scale = config.scale
    if scale.backend == "sim":
        from dashcart.sim.scale_bridge import SimulatedBridge, demo_script

        bridge = SimulatedBridge(demo_script(), repeat=True, offset=scale.offset,
                                 counts_per_gram=scale.counts_per_gram, protocol=scale.protocol,
                                 baudrate=scale.baudrate)
        port = bridge.start()
        return SerialScale(port, scale.protocol, scale.baudrate, owned=bridge, **driver_options)  # type: ignore[arg-type]
    if not scale.port:
        where = config.source or "the config"
        raise Misconfigured(f"{where}: scale.port is empty but scale.backend is \"serial\"; "
                            "set it to the bridge's device (see `ls /dev/serial/by-id`)")
    return SerialScale(scale.port, scale.protocol, scale.baudrate, **driver_options)  # type: ignore[arg-type]
