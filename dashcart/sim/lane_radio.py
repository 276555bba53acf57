"""Simulated beacon radio: sightings a cart would hear moving along a path past placed beacons.

Log-distance path loss (``rssi = tx_1m - 10 n log10(d)``) with Gaussian noise and occasional
constructive multipath spikes, advertisements at a fixed rate per beacon. Lane beacons
broadcast the rotating EID for the time they are heard (given the lane key), like the real ones.
Seeded: the same arguments give the same sightings.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from dashcart.core.lane_auth import current_eid
from dashcart.events import BeaconSighting


@dataclass(frozen=True)
class PlacedBeacon:
    kind: str            # ibeacon | eddystone-uid | eddystone-eid
    id: str              # for eddystone-eid: the beacon's name (its EID is computed)
    x: float
    y: float
    tx_1m: float = -59.0


@dataclass(frozen=True)
class Radio:
    path_loss_n: float = 2.2
    noise_db: float = 3.5
    spike_p: float = 0.03     # share of advertisements boosted by multipath
    spike_db: float = 8.0
    rate_hz: float = 8.0
    floor_dbm: float = -100.0  # weaker than this is not heard
    lane_key: bytes = b""
    eid_period_s: int = 2
    epoch: float = 1_767_225_600.0  # wall time at t = 0 (2026-01-01)
    beacon_clock_s: float = 0.0     # how far the lane beacons' clocks run ahead of the cart's
    cart_clock_error_s: float | None = None   # the error bound the live cart proves for its clock (None: a replay)


Path = Callable[[float], tuple[float, float]]


def straight(start: tuple[float, float], end: tuple[float, float], speed_m_s: float) -> tuple[Path, float]:
    """A path from ``start`` to ``end`` at constant speed, and how long it takes."""
    length = math.dist(start, end)
    duration = length / speed_m_s

    def at(t: float) -> tuple[float, float]:
        f = min(max(t / duration, 0.0), 1.0) if duration else 1.0
        return start[0] + f * (end[0] - start[0]), start[1] + f * (end[1] - start[1])

    return at, duration


def hear(beacons: Sequence[PlacedBeacon], path: Path, duration_s: float, radio: Radio, seed: int,
         t0: float = 0.0) -> list[BeaconSighting]:
    """Every advertisement heard along ``path`` for ``duration_s``, in time order."""
    rng = random.Random(seed)
    sightings: list[BeaconSighting] = []
    for _index, beacon in enumerate(beacons):
        t = rng.uniform(0.0, 1.0 / radio.rate_hz)
        while t <= duration_s:
            x, y = path(t)
            d = max(math.dist((x, y), (beacon.x, beacon.y)), 0.1)
            rssi = beacon.tx_1m - 10 * radio.path_loss_n * math.log10(d) + rng.gauss(0.0, radio.noise_db)
            if rng.random() < radio.spike_p:
                rssi += radio.spike_db
            if rssi >= radio.floor_dbm:
                wall_t = radio.epoch + t0 + t
                ident = beacon.id
                if beacon.kind == "eddystone-eid":
                    ident = current_eid(radio.lane_key, beacon.id, wall_t + radio.beacon_clock_s, radio.eid_period_s)
                error = radio.cart_clock_error_s if beacon.kind == "eddystone-eid" else None
                sightings.append(BeaconSighting(round(t0 + t, 4), beacon.kind, ident, round(rssi), wall_t=wall_t,
                                                wall_error_s=error))
            # Advertising intervals jitter (BLE adds 0-10 ms on purpose); so do missed packets.
            t += 1.0 / radio.rate_hz + rng.uniform(0.0, 0.01)
    sightings.sort(key=lambda s: (s.t, s.id))
    return sightings
