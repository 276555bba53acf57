"""Where the cart is, from beacon sightings and a site map: a zone, or the checkout lane.

A minimal tracker for replays and the simulated cart: the strongest beacon heard in the last
``window_s`` seconds decides, after it has been the strongest for ``dwell_s`` (so one loud
advertisement from the next aisle does not move the cart). The checkout issue's
``cart.location`` can replace it behind the same ``on_sighting`` method.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from cart.events import BeaconSighting, Event, LaneDetected, ZoneChanged


@dataclass(frozen=True)
class SiteMap:
    """Which beacon ("<kind>:<id>") marks which catalogue zone, and which mark the lane."""

    zones: Mapping[str, str] = field(default_factory=dict)
    lane: Sequence[str] = ()

    @classmethod
    def from_json(cls, data: Mapping[str, object] | None) -> "SiteMap":
        data = data or {}
        zones = data.get("zones") or {}
        lane = data.get("lane") or []
        if not isinstance(zones, dict) or not isinstance(lane, list):
            raise ValueError("site.zones must be an object and site.lane a list")
        return cls({str(k): str(v) for k, v in zones.items()}, tuple(str(x) for x in lane))


class BeaconZones:
    def __init__(self, site: SiteMap, window_s: float = 2.0, dwell_s: float = 0.5, lane_rssi: float = -75.0):
        self.site = site
        self.window_s = window_s
        self.dwell_s = dwell_s
        self.lane_rssi = lane_rssi
        self._heard: dict[str, tuple[float, float]] = {}   # beacon -> (t, rssi)
        self._leader: tuple[str, float] | None = None      # beacon, since
        self.zone = ""
        self.in_lane = False

    def on_sighting(self, sighting: BeaconSighting) -> list[Event]:
        key = f"{sighting.kind}:{sighting.id}"
        if key not in self.site.zones and key not in self.site.lane:
            return []
        t = sighting.t
        self._heard[key] = (t, sighting.rssi)
        recent = {k: v for k, v in self._heard.items() if t - v[0] <= self.window_s}
        self._heard = recent
        strongest = max(recent, key=lambda k: recent[k][1])
        if self._leader is None or self._leader[0] != strongest:
            self._leader = (strongest, t)
        out: list[Event] = []
        if t - self._leader[1] < self.dwell_s and len(recent) > 1:
            return out
        if strongest in self.site.lane:
            if not self.in_lane and recent[strongest][1] >= self.lane_rssi:
                self.in_lane = True
                out.append(LaneDetected(t, lane=strongest))
            return out
        self.in_lane = False
        zone = self.site.zones.get(strongest, "")
        if zone != self.zone:
            self.zone = zone
            out.append(ZoneChanged(t, zone=zone))
        return out
