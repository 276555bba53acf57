"""Beacon scanners: BLE (bleak, passive on BlueZ) or scripted, chosen by ``[location] backend``.

A scanner calls ``sink`` from its own thread with :class:`~dashcart.events.BeaconSighting` events
(and :class:`~dashcart.events.DeviceStatus` when Bluetooth goes away or comes back). Only locating
beacons (iBeacon, Eddystone UID and EID) are passed on; everything else is dropped here.

A lane beacon's sighting (Eddystone-EID) carries the wall clock and how far off that clock may
be (``wall_error_s``, the kernel's NTP error bound): the cart checks the rotating identifier
against a window no wider than it can prove. While lane beacons are heard and the kernel says
the clock is not synchronised, device ``clock`` is down (lane checkout cannot work).
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from dashcart.config import LocationSection
from dashcart.drivers.beacon.advertisement import APPLE, EDDYSTONE_UUID16, beacon_from_fields, service_data_by_uuid16
from dashcart.drivers.clock import clock_error_s, describe
from dashcart.events import BeaconSighting, DeviceStatus, Event

log = logging.getLogger(__name__)


class BeaconScanner(Protocol):
    def start(self, sink: Callable[[Event], None]) -> None: ...

    def stop(self) -> None: ...


class BleakBeaconScanner:
    """Passive scanning through BlueZ's advertisement monitor: the cart never transmits scan
    requests, and BlueZ filters to iBeacon and Eddystone frames before waking Python.

    Runs its own asyncio loop in a thread; reconnects with backoff when the adapter goes away.
    """

    def __init__(self, adapter: str = "", clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time, retry_s: float = 5.0,
                 clock_error: Callable[[], float | None] = clock_error_s) -> None:
        self._adapter = adapter
        self._clock, self._wall_clock, self._clock_error = clock, wall_clock, clock_error
        self._clock_down = False
        self._retry_s = retry_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self.heard = 0

    def start(self, sink: Callable[[Event], None]) -> None:
        self._thread = threading.Thread(target=self._run, args=(sink,), name="beacons-ble", daemon=True)
        self._thread.start()

    def _run(self, sink: Callable[[Event], None]) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(self._scan_forever(sink))
        finally:
            self._loop.close()

    def _on_advertisement(self, sink: Callable[[Event], None], advertisement: Any) -> None:
        beacon = beacon_from_fields(advertisement.manufacturer_data,
                                    service_data_by_uuid16(advertisement.service_data))
        if beacon is None or not beacon.locates:
            return
        self.heard += 1
        error = self._clock_error() if beacon.kind == "eddystone-eid" else None
        if error is not None and math.isinf(error) != self._clock_down:
            self._clock_down = math.isinf(error)
            log.warning("clock: %s; lane beacons %s", describe(error),
                        "cannot be checked" if self._clock_down else "are checked again")
            sink(DeviceStatus(self._clock(), "clock", "down" if self._clock_down else "ok",
                              f"{describe(error)}: lane checkout cannot work" if self._clock_down else ""))
        sink(BeaconSighting(self._clock(), beacon.kind, beacon.id, float(advertisement.rssi),
                            wall_t=self._wall_clock(), wall_error_s=error))

    async def _scan_forever(self, sink: Callable[[Event], None]) -> None:
        self._stopping = asyncio.Event()
        try:
            from bleak import BleakScanner
            from bleak.args.bluez import OrPattern
            from bleak.assigned_numbers import AdvertisementDataType
        except ImportError as exc:
            log.error("bluetooth: bleak is not installed (%s); no zones and no lane", exc)
            sink(DeviceStatus(self._clock(), "bluetooth", "down", "bleak is not installed"))
            return
        patterns = [OrPattern(0, AdvertisementDataType.MANUFACTURER_SPECIFIC_DATA,
                              APPLE.to_bytes(2, "little") + b"\x02\x15"),
                    OrPattern(0, AdvertisementDataType.SERVICE_DATA_UUID16, EDDYSTONE_UUID16.to_bytes(2, "little"))]
        bluez: dict[str, Any] = {"or_patterns": patterns}
        if self._adapter:
            bluez["adapter"] = self._adapter
        down = False
        while not self._stopping.is_set():
            try:
                async with BleakScanner(lambda _d, adv: self._on_advertisement(sink, adv),
                                        scanning_mode="passive", bluez=bluez):
                    if down:
                        sink(DeviceStatus(self._clock(), "bluetooth", "ok"))
                        down = False
                    await self._stopping.wait()
            except Exception as exc:  # BleakError, D-Bus gone, adapter unplugged: retry
                if not down:
                    log.warning("bluetooth: scanning failed (%s); retrying every %.0f s", exc, self._retry_s)
                    sink(DeviceStatus(self._clock(), "bluetooth", "down",
                                      f"Bluetooth scanning failed: {exc}; is bluetoothd running?"))
                    down = True
                try:
                    await asyncio.wait_for(self._stopping.wait(), self._retry_s)
                except TimeoutError:
                    pass

    def stop(self) -> None:
        if self._loop is not None and self._stopping is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stopping.set)
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None


class NoBeaconScanner:
    def start(self, sink: Callable[[Event], None]) -> None:
        log.info("bluetooth: location.backend = \"none\": no zones, no lane checkout")

    def stop(self) -> None:
        pass


def open_scanner(section: LocationSection, clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time) -> BeaconScanner:
    """The real scanner ``[location] backend`` names (``bleak``), or none."""
    if section.backend == "bleak":
        return BleakBeaconScanner(section.adapter, clock, wall_clock)
    # "sim" is plugged in from above (dashcart.runtime.devices.open_beacon_scanner)
    return NoBeaconScanner()
