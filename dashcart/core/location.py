"""Where the cart is: the zone from beacon sightings, and whether it went through the checkout lane.

Pure logic on timestamped events: :class:`Locator` takes :class:`~dashcart.events.BeaconSighting`
and :class:`~dashcart.events.Tick` and returns :class:`~dashcart.events.ZoneChanged` and
:class:`~dashcart.events.LaneDetected` events. RSSI is noisy (+-4 dB from one advertisement to the
next, bodies and shelves absorb it), so every beacon's readings are smoothed, a new zone must
be clearly stronger for a while before the cart switches (hysteresis), and the lane needs its
gates passed close, for a while, and in order: entry, then exit.

The lane is a list of gates, entry first. A gate is one beacon (``"<kind>:<id>"``) or two on
either side of the lane (``"<kind>:<id>+<kind>:<id>"``). A two-sided gate is passed only when
BOTH its beacons are heard strongly (the weaker above ``lane_enter_dbm``) and comparably
(within ``lane_balance_db``) for ``lane_dwell_s``: a cart beside the lane is close to one side
and far from the other, so geometry, not one threshold, tells through from past. A one-sided
gate can only use the threshold. A lane of ONE gate has no second gate to give the direction:
it is entered when the gate becomes close (for the dwell) and passed when it then fades (the
cart rolled on); one that stays close past ``lane_max_transit_s`` is left. RSSI values of 0 dBm
or more are not a reading (127 is Bluetooth's "not available"; nothing a cart hears is that
strong) and are ignored.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dashcart.config import LocationSection
from dashcart.core.lane_auth import EidVerifier
from dashcart.errors import Misconfigured
from dashcart.events import BeaconSighting, Event, LaneDetected, LaneEntered, LaneLeft, ZoneChanged
from dashcart.readings import normalize_beacon_key

GATE_JOIN = "+"
RSSI_CEILING_DBM = 0.0   # readings at or above this are not readings
ONE_GATE_FADE_DB = 4.0   # a one-gate lane is passed when the gate fades this far below lane_enter_dbm


@dataclass(frozen=True)
class Site:
    """Which beacon marks which catalogue zone, and the lane's gates in passing order."""

    zones: Mapping[str, str] = field(default_factory=dict)   # "<kind>:<id>" -> zone
    lane: tuple[str, ...] = ()                               # gates, entry first: "<key>" or "<key>+<key>"
    calibration: Mapping[str, float] = field(default_factory=dict)  # "<kind>:<id>" -> dB added

    @property
    def lane_gates(self) -> tuple[tuple[str, ...], ...]:
        """Each gate's beacon keys (one, or two on either side of the lane)."""
        return tuple(tuple(gate.split(GATE_JOIN)) for gate in self.lane)

    @property
    def lane_keys(self) -> tuple[str, ...]:
        """Every lane beacon's key, gate by gate."""
        return tuple(key for gate in self.lane_gates for key in gate)

    @property
    def lane_name(self) -> str:
        return "->".join(GATE_JOIN.join(key.partition(":")[2] for key in gate) for gate in self.lane_gates)

    @classmethod
    def from_dict(cls, data: Any, where: str, problems: list[str] | None = None) -> Site:
        """The ``site`` object of a trip.json (or the same shape from elsewhere).

        With ``problems`` (a list), an invalid part (zones, lane or calibration) is reported
        there, once, in one line, and left out; the valid parts are kept. Without it the first
        problem raises :class:`Misconfigured`.
        """
        def bad(message: str) -> None:
            if problems is None:
                raise Misconfigured(message)
            problems.append(message)

        if data is None:
            return cls()
        if not isinstance(data, dict):
            bad(f"{where}: expected an object with zones and lane")
            return cls()
        unknown = set(data) - {"zones", "lane", "calibration"}
        if unknown:
            bad(f"{where}: unknown key {sorted(unknown)[0]!r} (known: calibration, lane, zones)")
        zones = data.get("zones", {})
        lane = data.get("lane", [])
        calibration = data.get("calibration", {})
        if not isinstance(zones, dict):
            bad(f"{where}.zones: expected an object of \"<kind>:<id>\": \"<zone>\"")
            zones = {}
        if not isinstance(lane, list) or not all(isinstance(v, str) for v in lane):
            bad(f"{where}.lane: expected a list of \"<kind>:<id>\" (or two joined by +)")
            lane = []
        if not isinstance(calibration, dict):
            bad(f"{where}.calibration: expected an object of \"<kind>:<id>\": dB")
            calibration = {}
        # A zone or a calibration is one beacon's entry: a bad one is left out alone (reported
        # once for the part), the others still place the cart. The lane is whole or nothing:
        # its gates mean something only in their order.
        zones = cls._valid_entries(zones, lambda v: isinstance(v, str) and bool(v), f"{where}.zones",
                                   "\"<zone>\"", bad)
        calibration = cls._valid_entries(calibration, lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)
                                         and math.isfinite(v), f"{where}.calibration", "dB", bad)
        try:
            checked_lane = cls._checked_lane(lane, where)
        except Misconfigured as exc:
            bad(str(exc))
            checked_lane = ()
        return cls(zones={cls._norm(k, where, "zones"): v for k, v in zones.items()},
                   lane=checked_lane,
                   calibration={cls._norm(k, where, "calibration"): float(v) for k, v in calibration.items()})

    @staticmethod
    def _valid_entries(entries: dict[Any, Any], value_ok: Callable[[Any], bool], where: str, value: str,
                       bad: Callable[[str], None]) -> dict[str, Any]:
        """The entries whose key names a beacon and whose value passes ``value_ok``; the bad
        ones are reported in one line."""
        kept: dict[str, Any] = {}
        problems: list[str] = []
        for key, v in entries.items():
            try:
                normalize_beacon_key(key)
            except ValueError as exc:
                problems.append(str(exc))
                continue
            if value_ok(v):
                kept[key] = v
            else:
                problems.append(f"{key!r}: expected {value}, got {v!r}")
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            bad(f"{where}: {problems[0]}; left out{more}")
        return kept

    @classmethod
    def from_config(cls, section: LocationSection, where: str = "location") -> Site:
        return cls(zones=cls._checked_zones(section.zones, where), lane=cls._checked_lane(section.lane, where),
                   calibration=cls._checked_calibration(section.calibration, where))

    @staticmethod
    def _norm(key: str, where: str, part: str) -> str:
        try:
            return normalize_beacon_key(key)
        except ValueError as exc:
            raise Misconfigured(f"{where}.{part}: {exc}") from None

    @classmethod
    def _checked_zones(cls, zones: Mapping[str, str], where: str) -> dict[str, str]:
        return {cls._norm(k, where, "zones"): v for k, v in zones.items()}

    @classmethod
    def _checked_calibration(cls, calibration: Mapping[str, float], where: str) -> dict[str, float]:
        return {cls._norm(k, where, "calibration"): float(v) for k, v in calibration.items()}

    @classmethod
    def _checked_lane(cls, lane: Sequence[str], where: str) -> tuple[str, ...]:
        gates = []
        for gate in lane:
            keys = gate.split(GATE_JOIN)
            if len(keys) > 2:
                raise Misconfigured(f"{where}.lane: a gate is one beacon or two (one each side), got {len(keys)}")
            gates.append(GATE_JOIN.join(cls._norm(k, where, "lane") for k in keys))
        flat = [k for gate in gates for k in gate.split(GATE_JOIN)]
        if len(set(flat)) != len(flat):
            raise Misconfigured(f"{where}.lane: a beacon is listed twice")
        return tuple(gates)


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
    WAITING = "waiting"      # no lane gate passed yet
    IN_LANE = "in_lane"      # passed some gates, in order; waiting for the next (or, one gate: for it to fade)
    PASSED = "passed"        # checked out; waits for every lane beacon to fade before re-arming


class LaneDetector:
    """Gates in order (entry, then exit), each close for ``lane_dwell_s``; see the module doc.

    A cart rolling past the lane hears a two-sided gate lopsided (one side strong, the other
    weak); one that noses in and backs out passes only the entry; one that comes in through the
    exit passes the gates in the wrong order. None of those check out.
    """

    def __init__(self, lane: Sequence[str], settings: LocationSection, calibration: Mapping[str, float],
                 name: str = "lane") -> None:
        self._gates = Site(lane=tuple(lane)).lane_gates
        self._keys = frozenset(k for gate in self._gates for k in gate)
        self._s = settings
        self._name = name
        self._beacons = _Beacons(settings.lane_smoothing_s, settings.stale_s, calibration)
        self._close_since: dict[int, float] = {}
        self.state = LaneState.WAITING
        self._next = 0
        self._first_pass_t = 0.0
        self._passed_t = 0.0
        self._blocked_until = -math.inf

    def gate_level(self, index: int, t: float) -> tuple[float, float] | None:
        """(the weaker side's smoothed RSSI, the difference between the sides) of gate ``index``,
        or None while a side is unheard."""
        levels = [level for key in self._gates[index] if (level := self._beacons.level(key, t)) is not None]
        if len(levels) < len(self._gates[index]):
            return None
        return min(levels), max(levels) - min(levels)

    def _gate_is_close(self, index: int, t: float) -> bool:
        got = self.gate_level(index, t)
        if got is None:
            return False
        weaker, imbalance = got
        return weaker >= self._s.lane_enter_dbm and imbalance <= self._s.lane_balance_db

    def update(self, key: str, t: float, rssi: float) -> LaneDetected | LaneEntered | LaneLeft | None:
        if key in self._keys:
            self._beacons.add(key, t, rssi)
        return self.tick(t)

    def _close(self, index: int, t: float) -> bool:
        """Gate ``index`` has been close for the dwell time (bookkeeping of since-when on the way)."""
        if not self._gate_is_close(index, t):
            self._close_since.pop(index, None)
            return False
        since = self._close_since.setdefault(index, t)
        return t - since >= self._s.lane_dwell_s

    def _faded(self, t: float) -> bool:
        return not any((level := self._beacons.level(k, t)) is not None and level >= self._s.lane_enter_dbm
                       for k in self._keys)

    def tick(self, t: float) -> LaneDetected | LaneEntered | LaneLeft | None:
        if not self._gates:
            return None
        close = [i for i in range(len(self._gates)) if self._close(i, t)]
        if self.state is LaneState.PASSED:
            if self._faded(t):
                self._reset()
            return None
        if self.state is LaneState.IN_LANE and t - self._first_pass_t > self._s.lane_max_transit_s:
            return self._abandon(t)
        if len(self._gates) == 1:
            return self._one_gate(t, 0 in close)
        for index in close:
            if index > self._next:
                # A later gate before an earlier one: coming in the wrong way, or skipping part
                # of the lane. Hold the entry off until the cart has been away for a transit time,
                # so a cart leaving the wrong way past the entry does not open the window.
                self._blocked_until = t + self._s.lane_max_transit_s
                return self._abandon(t) if self.state is LaneState.IN_LANE else None
            if index == self._next:
                if index == 0 and t < self._blocked_until:
                    continue
                if index > 0 and self._close_since[index] < self._passed_t:
                    # Already close before the previous gate was passed: the cart came from
                    # this side (wrong way) and has not left it since.
                    continue
                self._passed_t = t
                self._next += 1
                if self._next == len(self._gates):
                    self.state = LaneState.PASSED
                    return LaneDetected(t, self._name)
                if index == 0:
                    self._first_pass_t = t
                    self.state = LaneState.IN_LANE
                    return LaneEntered(t, self._name)
        return None

    def _one_gate(self, t: float, close: bool) -> LaneDetected | LaneEntered | None:
        """A lane of one gate: close for the dwell (entered), then faded (passed through)."""
        if self.state is LaneState.WAITING and close:
            self.state, self._first_pass_t, self._passed_t = LaneState.IN_LANE, t, t
            return LaneEntered(t, self._name)
        if self.state is LaneState.IN_LANE:
            got = self.gate_level(0, t)
            # Faded clearly below the entry level (not a dip of noise): the cart rolled on.
            if got is None or got[0] < self._s.lane_enter_dbm - ONE_GATE_FADE_DB:
                self.state = LaneState.PASSED
                return LaneDetected(t, self._name)
        return None

    def _abandon(self, t: float) -> LaneLeft:
        self._reset()
        if len(self._gates) == 1:
            # Parked beside a one-gate lane: wait for it to fade before the next entry.
            self.state = LaneState.PASSED
        return LaneLeft(t, self._name)

    def _reset(self) -> None:
        self.state = LaneState.WAITING
        self._next = 0


@dataclass
class LocatorStats:
    sightings: int = 0
    lane_sightings: int = 0
    unverified_lane: int = 0
    not_a_reading: int = 0      # RSSI of 0 dBm or more (127: "not available")


class Locator:
    """The controller's one object for location: sightings and ticks in, zone and lane events out."""

    def __init__(self, site: Site, settings: LocationSection, verifier: EidVerifier | None = None,
                 *, allow_unauthenticated_lane: bool | None = None, where: str = "location") -> None:
        allow = settings.allow_unauthenticated_lane if allow_unauthenticated_lane is None else allow_unauthenticated_lane
        unauthenticated = [k for k in site.lane_keys if not k.startswith("eddystone-eid:")]
        if unauthenticated and not allow:
            raise Misconfigured(f"{where}.lane: {unauthenticated[0]!r} is not an eddystone-eid beacon; "
                                f"anyone could imitate it (set location.allow_unauthenticated_lane = true for demos)")
        if any(k.startswith("eddystone-eid:") for k in site.lane_keys) and verifier is None:
            raise Misconfigured(f"{where}.lane: eddystone-eid lane beacons need checkout.lane_key")
        self.site = site
        self._verifier = verifier
        self._zones = ZoneTracker(site.zones, settings, site.calibration)
        self.lane = LaneDetector(site.lane, settings, site.calibration, name=site.lane_name or "lane")
        self._lane_keys = frozenset(site.lane_keys)
        self.stats = LocatorStats()

    @property
    def zone(self) -> str:
        return self._zones.zone

    def _key(self, sighting: BeaconSighting) -> str | None:
        if sighting.kind == "eddystone-eid":
            if self._verifier is None:
                return None
            beacon = self._verifier.verify(sighting.id, sighting.wall_t, sighting.wall_error_s)
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
        if not math.isfinite(sighting.rssi) or sighting.rssi >= RSSI_CEILING_DBM:
            # 127 is Bluetooth's "RSSI not available"; any value >= 0 dBm is no real reading
            # at a cart (the strongest beacon touching the antenna is about -20 dBm).
            self.stats.not_a_reading += 1
            return self.on_tick(sighting.t)
        key = self._key(sighting)
        if key is None:
            return self.on_tick(sighting.t)
        if key in self._lane_keys:
            self.stats.lane_sightings += 1
        out: list[Event | None] = [self._zones.update(key, sighting.t, sighting.rssi),
                                   self.lane.update(key, sighting.t, sighting.rssi)]
        return [e for e in out if e is not None]

    def on_tick(self, t: float) -> list[Event]:
        return [e for e in (self._zones.tick(t), self.lane.tick(t)) if e is not None]
