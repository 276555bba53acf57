"""The Devices seam: config in, devices out, real or simulated.

This is the one place where a simulated stand-in (``dashcart.sim``) is plugged in instead of
real hardware, in the way gpiozero plugs in its ``MockFactory``: the drivers know only real
hardware and never import a simulator, and the core never imports either. ``dashcart run``,
``record``, ``weigh``, ``calibrate`` and ``beacons`` all open their devices through here, so a
config's ``backend = "sim"`` means the same thing everywhere.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from dashcart.config import CameraSpec, CamerasSection, Config, LocationSection
from dashcart.drivers.beacon.scanner import BeaconScanner, open_scanner
from dashcart.drivers.camera.source import FrameSource, open_source
from dashcart.drivers.scale import ScaleDriver, open_serial_scale


def open_scale(config: Config, **driver_options: object) -> ScaleDriver:
    """The configured scale, reading. With ``scale.backend = "sim"`` the real serial driver
    reads the pseudo-terminal of a simulated bridge, so the simulated cart runs every real byte."""
    scale = config.scale
    if scale.backend == "sim":
        from dashcart.drivers.scale.serial_scale import SerialScale
        from dashcart.sim.scale_bridge import SimulatedBridge, demo_script

        bridge = SimulatedBridge(demo_script(), repeat=True, offset=scale.offset,
                                 counts_per_gram=scale.counts_per_gram, protocol=scale.protocol,
                                 baudrate=scale.baudrate)
        port = bridge.start()
        return SerialScale(port, scale.protocol, scale.baudrate, owned=bridge, **driver_options)  # type: ignore[arg-type]
    return open_serial_scale(config, **driver_options)


def open_camera(spec: CameraSpec, base_dir: str = "") -> FrameSource:
    """The camera ``spec`` names (not yet opened); ``backend = "sim"`` films a simulated basket."""
    if spec.backend == "sim":
        from dashcart.sim.camera import BasketView, SceneCamera
        return SceneCamera(spec.id, BasketView(spec.width, spec.height), fps=spec.fps)
    return open_source(spec, base_dir)


def open_cameras(section: CamerasSection, base_dir: str = "") -> list[FrameSource]:
    """Every configured camera (not yet opened; their ids were checked with the config)."""
    return [open_camera(spec, base_dir) for spec in section.devices]


def open_beacon_scanner(section: LocationSection, clock: Callable[[], float] = time.monotonic,
                        wall_clock: Callable[[], float] = time.time) -> BeaconScanner:
    """The scanner ``[location] backend`` names; ``sim`` plays ``location.script``."""
    if section.backend == "sim":
        from dashcart.sim.scripted_beacons import ScriptedBeaconScanner, read_beacons_csv
        script = read_beacons_csv(section.script) if section.script else []
        return ScriptedBeaconScanner(script, clock, wall_clock)
    return open_scanner(section, clock, wall_clock)
