"""Where the cart is: the zone from beacon sightings, and whether it went through the checkout lane.

Pure logic on timestamped events: :class:`Locator` takes :class:`~dashcart.events.BeaconSighting`
and :class:`~dashcart.events.Tick` and returns :class:`~dashcart.events.ZoneChanged` and
:class:`~dashcart.events.LaneDetected` events. RSSI is noisy (+-4 dB from one advertisement to the
next, bodies and shelves absorb it), so every beacon's readings are smoothed, a new zone must
be clearly stronger for a while before the cart switches (hysteresis), and the lane needs its
beacons passed close, for a while, and in order: entry, then exit.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dashcart.config import LocationSection
from dashcart.errors import Misconfigured
from dashcart.events import BeaconSighting, Event, LaneDetected, LaneEntered, LaneLeft, ZoneChanged
from dashcart.core.lane_auth import EidVerifier
from dashcart.readings import normalize_beacon_key


@dataclass(frozen=True)
class Site:
    """Which beacon marks which catalogue zone, and the lane beacons in passing order."""

    zones: Mapping[str, str] = field(default_factory=dict)   # "<kind>:<id>" -> zone
    lane: tuple[str, ...] = ()                               # entry first, exit last
    calibration: Mapping[str, float] = field(default_factory=dict)  # "<kind>:<id>" -> dB added

    @property
    def lane_name(self) -> str:
        return "->".join(key.partition(":")[2] for key in self.lane)

    @classmethod
    def from_dict(cls, data: Any, where: str) -> Site:
        """The ``site`` object of a trip.json (or the same shape from elsewhere)."""
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise Misconfigured(f"{where}: expected an object with zones and lane")
        unknown = set(data) - {"zones", "lane", "calibration"}
        if unknown:
            raise Misconfigured(f"{where}: unknown key {sorted(unknown)[0]!r} (known: calibration, lane, zones)")
        zones = data.get("zones", {})
        lane = data.get("lane", [])
        calibration = data.get("calibration", {})
        if not isinstance(zones, dict) or not all(isinstance(v, str) for v in zones.values()):
            raise Misconfigured(f"{where}.zones: expected an object of \"<kind>:<id>\": \"<zone>\"")
        if not isinstance(lane, list) or not all(isinstance(v, str) for v in lane):
            raise Misconfigured(f"{where}.lane: expected a list of \"<kind>:<id>\"")
        if not isinstance(calibration, dict) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in calibration.values()):
            raise Misconfigured(f"{where}.calibration: expected an object of \"<kind>:<id>\": dB")
        return cls._checked(zones, lane, calibration, where)

    @classmethod
    def from_config(cls, section: LocationSection, where: str = "location") -> Site:
        return cls._checked(section.zones, section.lane, section.calibration, where)

    @classmethod
    def _checked(cls, zones: Mapping[str, str], lane: Sequence[str], calibration: Mapping[str, float],
                 where: str) -> Site:
        def norm(key: str, part: str) -> str:
            try:
                return normalize_beacon_key(key)
            except ValueError as exc:
                raise Misconfigured(f"{where}.{part}: {exc}") from None

        lane_keys = tuple(norm(k, "lane") for k in lane)
        if len(lane_keys) == 1:
            raise Misconfigured(f"{where}.lane: needs at least two beacons (entry, then exit), got one")
        if len(set(lane_keys)) != len(lane_keys):
            raise Misconfigured(f"{where}.lane: a beacon is listed twice")
        return cls(zones={norm(k, "zones"): v for k, v in zones.items()},
                   lane=lane_keys,
                   calibration={norm(k, "calibration"): float(v) for k, v in calibration.items()})


class SmoothedRssi:
    """Exponential moving average with a time constant, so uneven advertisement rates weigh alike."""

    def __init__(self, tau_s: float) -> None:
        self.tau_s = tau_s
        self.value: float | None = None
        self.last_t = -math.inf

    def add(self, t: float, rssi: float) -> float:
        if self.value is None:
            self.value = rssi
        else:
            alpha = 1.0 - math.exp(-max(t - self.last_t, 0.0) / self.tau_s)
            self.value += alpha * (rssi - self.value)
        self.last_t = t
        return self.value

    def fresh(self, t: float, stale_s: float) -> bool:
        return self.value is not None and t - self.last_t <= stale_s


class _Beacons:
    """Smoothed, calibrated RSSI per beacon key; forgets beacons not heard for ``stale_s``."""

    def __init__(self, tau_s: float, stale_s: float, calibration: Mapping[str, float]) -> None:
        self._tau_s, self._stale_s, self._calibration = tau_s, stale_s, calibration
        self._filters: dict[str, SmoothedRssi] = {}

    def add(self, key: str, t: float, rssi: float) -> float:
        smoothed = self._filters.get(key)
        if smoothed is None or not smoothed.fresh(t, self._stale_s):
            smoothed = self._filters[key] = SmoothedRssi(self._tau_s)
        return smoothed.add(t, rssi + self._calibration.get(key, 0.0))

    def level(self, key: str, t: float) -> float | None:
        smoothed = self._filters.get(key)
        return smoothed.value if smoothed is not None and smoothed.fresh(t, self._stale_s) else None


class ZoneTracker:
    """The zone whose beacon is strongest, switching only when another is clearly ahead for a while."""

    def __init__(self, zones: Mapping[str, str], settings: LocationSection, calibration: Mapping[str, float]) -> None:
        self._zones = dict(zones)
        self._s = settings
        self._beacons = _Beacons(settings.smoothing_s, settings.stale_s, calibration)
        self.zone = ""
        self._challenger: tuple[str, float] | None = None   # (zone, since t)

    def _levels(self, t: float) -> dict[str, float]:
        levels: dict[str, float] = {}
        for key, zone in self._zones.items():
            level = self._beacons.level(key, t)
            # Hysteresis on leaving too: the current zone holds until it fades clearly below the
            # entry level, so a cart at a zone's edge does not flicker in and out of it.
            floor = self._s.zone_enter_dbm - (self._s.zone_hysteresis_db if zone == self.zone else 0.0)
            if level is not None and level >= floor:
                levels[zone] = max(level, levels.get(zone, -math.inf))
        return levels

    def update(self, key: str, t: float, rssi: float) -> ZoneChanged | None:
        if key in self._zones:
            self._beacons.add(key, t, rssi)
        return self.tick(t)

    def tick(self, t: float) -> ZoneChanged | None:
        levels = self._levels(t)
        if not levels:
            self._challenger = None
            return self._switch(t, "") if self.zone else None
        best = max(levels, key=lambda z: levels[z])
        current = levels.get(self.zone)
        if best == self.zone or (current is not None and levels[best] < current + self._s.zone_hysteresis_db):
            self._challenger = None
            return None
        if self._challenger is None or self._challenger[0] != best:
            self._challenger = (best, t)
        # No dwell when the current zone's beacons fell silent: there is nothing to weigh against.
        if current is None or t - self._challenger[1] >= self._s.zone_dwell_s:
            self._challenger = None
            return self._switch(t, best)
        return None

    def _switch(self, t: float, zone: str) -> ZoneChanged:
        previous, self.zone = self.zone, zone
        return ZoneChanged(t, zone, previous)


class LaneState(enum.Enum):
    WAITING = "waiting"      # no lane beacon passed yet
    IN_LANE = "in_lane"      # passed some lane beacons, in order; waiting for the next
    PASSED = "passed"        # checked out; waits for every lane beacon to fade before re-arming


class LaneDetector:
    """Entry then exit, each close (smoothed RSSI above ``lane_enter_dbm``) for ``lane_dwell_s``.

    A cart rolling past the lane a couple of metres away stays below the threshold; one that
    noses in and backs out passes only the entry; one that comes in through the exit passes
    them in the wrong order. None of those check out.
    """

    def __init__(self, lane: Sequence[str], settings: LocationSection, calibration: Mapping[str, float],
                 name: str = "lane") -> None:
        self._lane = tuple(lane)
        self._s = settings
        self._name = name
        self._beacons = _Beacons(settings.smoothing_s, settings.stale_s, calibration)
        self._above_since: dict[str, float] = {}
        self.state = LaneState.WAITING
        self._next = 0
        self._first_pass_t = 0.0
        self._passed_t = 0.0
        self._blocked_until = -math.inf

    def update(self, key: str, t: float, rssi: float) -> LaneDetected | LaneEntered | LaneLeft | None:
        if key not in self._lane:
            return self.tick(t)
        level = self._beacons.add(key, t, rssi)
        if level >= self._s.lane_enter_dbm:
            self._above_since.setdefault(key, t)
        else:
            self._above_since.pop(key, None)
        return self.tick(t)

    def _close(self, key: str, t: float) -> bool:
        since = self._above_since.get(key)
        level = self._beacons.level(key, t)
        if since is None or level is None or level < self._s.lane_enter_dbm:
            self._above_since.pop(key, None)
            return False
        return t - since >= self._s.lane_dwell_s

    def tick(self, t: float) -> LaneDetected | LaneEntered | LaneLeft | None:
        if not self._lane:
            return None
        close = [i for i, key in enumerate(self._lane) if self._close(key, t)]
        if self.state is LaneState.PASSED:
            if not any((level := self._beacons.level(k, t)) is not None and level >= self._s.lane_enter_dbm
                       for k in self._lane):
                self._reset()
            return None
        if self.state is LaneState.IN_LANE and t - self._first_pass_t > self._s.lane_max_transit_s:
            return self._abandon(t)
        for index in close:
            if index > self._next:
                # A later beacon before an earlier one: coming in the wrong way, or skipping part
                # of the lane. Hold the entry off until the cart has been away for a transit time,
                # so a cart leaving the wrong way past the entry does not open the window.
                self._blocked_until = t + self._s.lane_max_transit_s
                return self._abandon(t) if self.state is LaneState.IN_LANE else None
            if index == self._next:
                if index == 0 and t < self._blocked_until:
                    continue
                if index > 0 and self._above_since[self._lane[index]] < self._passed_t:
                    # Already close before the previous beacon was passed: the cart came from
                    # this side (wrong way) and has not left it since.
                    continue
                self._passed_t = t
                self._next += 1
                if self._next == len(self._lane):
                    self.state = LaneState.PASSED
                    return LaneDetected(t, self._name)
                if index == 0:
                    self._first_pass_t = t
                    self.state = LaneState.IN_LANE
                    return LaneEntered(t, self._name)
        return None

    def _abandon(self, t: float) -> LaneLeft:
        self._reset()
        return LaneLeft(t, self._name)

    def _reset(self) -> None:
        self.state = LaneState.WAITING
        self._next = 0


@dataclass
class LocatorStats:
    sightings: int = 0
    lane_sightings: int = 0
    unverified_lane: int = 0


class Locator:
    """The controller's one object for location: sightings and ticks in, zone and lane events out."""

    def __init__(self, site: Site, settings: LocationSection, verifier: EidVerifier | None = None,
                 *, allow_unauthenticated_lane: bool | None = None, where: str = "location") -> None:
        allow = settings.allow_unauthenticated_lane if allow_unauthenticated_lane is None else allow_unauthenticated_lane
        unauthenticated = [k for k in site.lane if not k.startswith("eddystone-eid:")]
        if unauthenticated and not allow:
            raise Misconfigured(f"{where}.lane: {unauthenticated[0]!r} is not an eddystone-eid beacon; "
                                f"anyone could imitate it (set location.allow_unauthenticated_lane = true for demos)")
        if any(k.startswith("eddystone-eid:") for k in site.lane) and verifier is None:
            raise Misconfigured(f"{where}.lane: eddystone-eid lane beacons need checkout.lane_key")
        self.site = site
        self._verifier = verifier
        self._zones = ZoneTracker(site.zones, settings, site.calibration)
        self.lane = LaneDetector(site.lane, settings, site.calibration, name=site.lane_name or "lane")
        self.stats = LocatorStats()

    @property
    def zone(self) -> str:
        return self._zones.zone

    def _key(self, sighting: BeaconSighting) -> str | None:
        if sighting.kind == "eddystone-eid":
            if self._verifier is None:
                return None
            beacon = self._verifier.verify(sighting.id, sighting.wall_t)
            if beacon is None:
                self.stats.unverified_lane += 1
                return None
            return f"eddystone-eid:{beacon}"
        try:
            return normalize_beacon_key(f"{sighting.kind}:{sighting.id}")
        except ValueError:
            return None

    def on_event(self, event: Event) -> list[Event]:
        if isinstance(event, BeaconSighting):
            return self.on_sighting(event)
        return self.on_tick(event.t)

    def on_sighting(self, sighting: BeaconSighting) -> list[Event]:
        self.stats.sightings += 1
        key = self._key(sighting)
        if key is None or not math.isfinite(sighting.rssi):
            return self.on_tick(sighting.t)
        if key in self.site.lane:
            self.stats.lane_sightings += 1
        out: list[Event | None] = [self._zones.update(key, sighting.t, sighting.rssi),
                                   self.lane.update(key, sighting.t, sighting.rssi)]
        return [e for e in out if e is not None]

    def on_tick(self, t: float) -> list[Event]:
        return [e for e in (self._zones.tick(t), self.lane.tick(t)) if e is not None]
