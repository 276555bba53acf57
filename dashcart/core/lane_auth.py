"""The lane beacon's rotating identifier (Eddystone-EID style) and its verification on the cart.

A lane beacon broadcasts an Eddystone-EID frame whose 8-byte identifier is
``HMAC-SHA256(lane_key, "dashcart-eid/1" 0x00 <beacon name> 0x00 <counter, 8 bytes big-endian>)[:8]``
with ``counter = floor(unix_time / period_s)``. Only holders of the store's lane key can compute
it, and it changes every period (2 s by default), so a forged advertisement (no key) or a
recording played back later (an old counter) does not match. The cart accepts only the
counters of periods that overlap ``[wall_t - skew, wall_t + skew]`` and never a counter older
than the newest it already accepted from that beacon.

``skew`` is what the clocks can be shown to be off by: ``skew_s`` (1 s by default) for the
lane beacons' clocks, plus, live, the error bound the cart proves for its own clock (the
kernel's NTP bound, carried by each sighting as ``wall_error_s``). A sighting whose clock the
cart cannot prove to within ``max_clock_error_s`` (1.5 s by default; an unsynchronised clock
is infinitely off) is not accepted at all: a cart whose clock is minutes behind would
otherwise take a recording made minutes ago for the current identifier. (The kernel's bound
is pessimistic: it grows by 0.5 ms a second between NTP updates, so systemd-timesyncd at its
longest poll interval, 2048 s, proves about 1 s; chrony a few ms.) ``skew_periods`` widens
the window by whole periods (0 by default). A recording is therefore worthless at most
``period_s + skew_s + max_clock_error_s`` after it was made (4.5 s by default; 3 s on a
well-kept clock): a replay 5 s later never matches.

This differs from Google's Eddystone-EID (AES-128 over a 2^K-second counter, with a key
exchange at provisioning): same frame and idea, a simpler key schedule the store controls.
A live relay (re-broadcasting the real beacon's frame elsewhere within the same period) is not
stopped by any EID; the lane detector's RSSI, dwell and beacon order make it impractical.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Iterable
from dataclasses import dataclass, field

EID_DOMAIN = b"dashcart-eid/1"
EID_BYTES = 8


def eid_for(key: bytes, beacon: str, counter: int) -> bytes:
    """The 8-byte identifier beacon ``beacon`` broadcasts during period ``counter``."""
    message = EID_DOMAIN + b"\x00" + beacon.encode("utf-8") + b"\x00" + counter.to_bytes(8, "big", signed=True)
    return hmac.new(key, message, hashlib.sha256).digest()[:EID_BYTES]


def period_counter(wall_t: float, period_s: int) -> int:
    return math.floor(wall_t / period_s)


def current_eid(key: bytes, beacon: str, wall_t: float, period_s: int) -> str:
    """What a lane beacon named ``beacon`` should broadcast at ``wall_t`` (hex), for provisioning."""
    return eid_for(key, beacon, period_counter(wall_t, period_s)).hex()


@dataclass
class EidStats:
    accepted: int = 0
    forged: int = 0       # matches no lane beacon in the window: wrong key, random, or very old
    replayed: int = 0     # a real identifier from a period older than one already accepted
    no_clock: int = 0     # the sighting carried no wall time, so it cannot be checked
    unproven_clock: int = 0   # the cart could not prove its clock to within max_clock_error_s
    by_beacon: dict[str, int] = field(default_factory=dict)


class EidVerifier:
    """Maps a heard EID to the lane beacon that sent it, or None; keeps replay state per beacon."""

    def __init__(self, key: bytes, beacons: Iterable[str], period_s: int, skew_periods: int = 0,
                 skew_s: float = 1.0, max_clock_error_s: float = 1.5) -> None:
        if len(key) < 16:
            raise ValueError("the lane key must be at least 16 bytes")
        self._key = key
        self._beacons = tuple(beacons)
        self._period_s = period_s
        self._skew = skew_periods
        self._skew_s = skew_s
        self._max_clock_error_s = max_clock_error_s
        self._latest: dict[str, int] = {}
        self._table_range: tuple[int, int] | None = None
        self._table: dict[bytes, tuple[str, int]] = {}
        self.stats = EidStats()

    def counters(self, wall_t: float, wall_error_s: float = 0.0) -> tuple[int, int]:
        """The first and last counter accepted at ``wall_t`` on a clock proven to ``wall_error_s``."""
        skew = self._skew_s + wall_error_s
        return (period_counter(wall_t - skew, self._period_s) - self._skew,
                period_counter(wall_t + skew, self._period_s) + self._skew)

    def _window(self, wall_t: float, wall_error_s: float) -> dict[bytes, tuple[str, int]]:
        window = self.counters(wall_t, wall_error_s)
        if window != self._table_range:
            self._table = {eid_for(self._key, b, c): (b, c)
                           for b in self._beacons
                           for c in range(window[0], window[1] + 1)}
            self._table_range = window
        return self._table

    def verify(self, eid_hex: str, wall_t: float | None, wall_error_s: float | None = None) -> str | None:
        """The beacon name if ``eid_hex`` is genuine and fresh at ``wall_t``, else None.
        ``wall_error_s``: how far off ``wall_t`` may be, as the cart proves it (None: a replay,
        nothing to prove)."""
        if wall_t is None or not math.isfinite(wall_t):
            self.stats.no_clock += 1
            return None
        if wall_error_s is not None and not 0.0 <= wall_error_s <= self._max_clock_error_s:
            self.stats.unproven_clock += 1
            return None
        try:
            eid = bytes.fromhex(eid_hex)
        except ValueError:
            self.stats.forged += 1
            return None
        found = None
        # Constant-time compare against each candidate: do not leak how close a forgery got.
        for candidate, owner in self._window(wall_t, wall_error_s or 0.0).items():
            if hmac.compare_digest(candidate, eid):
                found = owner
        if found is None:
            self.stats.forged += 1
            return None
        beacon, counter = found
        if counter < self._latest.get(beacon, counter):
            self.stats.replayed += 1
            return None
        self._latest[beacon] = counter
        self.stats.accepted += 1
        self.stats.by_beacon[beacon] = self.stats.by_beacon.get(beacon, 0) + 1
        return beacon


