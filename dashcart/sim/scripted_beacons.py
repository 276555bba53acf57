"""Scripted beacons: a trip's ``beacons.csv`` (t,kind,id,rssi) as sightings.

For replay the rows are events as they stand (``read_beacons_csv``); for the simulated live
cart :class:`ScriptedBeaconScanner` plays them in real time from when it starts, the same
interface as the BLE scanner.
"""

from __future__ import annotations

import csv
import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from dashcart.errors import Misconfigured
from dashcart.events import BeaconSighting, Event

log = logging.getLogger(__name__)

BEACON_KINDS = ("ibeacon", "eddystone-uid", "eddystone-eid")
HEADER = ["t", "kind", "id", "rssi"]


def read_beacons_csv(path: str | Path, epoch: float | None = None) -> list[BeaconSighting]:
    """Rows of ``path`` as sightings, in file order. ``epoch``: Unix time of the trip's t = 0,
    which gives each sighting its ``wall_t`` (needed to check lane beacon identifiers).

    A bad row raises :class:`Misconfigured` naming the file, the line and the problem.
    """
    path = Path(path)
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise Misconfigured(f"{path}: cannot read: {exc.strerror or exc}") from None
    sightings: list[BeaconSighting] = []
    with handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None or [h.strip() for h in header] != HEADER:
            raise Misconfigured(f"{path}: line 1: header must be {','.join(HEADER)}")
        for row in reader:
            line = reader.line_num
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) != 4:
                raise Misconfigured(f"{path}: line {line}: expected 4 fields, got {len(row)}")
            t_text, kind, ident, rssi_text = (c.strip() for c in row)
            try:
                t, rssi = float(t_text), float(rssi_text)
            except ValueError:
                raise Misconfigured(f"{path}: line {line}: t and rssi must be numbers") from None
            if not (math.isfinite(t) and math.isfinite(rssi)) or t < 0:
                raise Misconfigured(f"{path}: line {line}: t must be >= 0 and rssi finite")
            if kind not in BEACON_KINDS:
                raise Misconfigured(f"{path}: line {line}: kind {kind!r} is not one of {', '.join(BEACON_KINDS)}")
            if not ident:
                raise Misconfigured(f"{path}: line {line}: empty id")
            sightings.append(BeaconSighting(t, kind, ident, rssi, wall_t=None if epoch is None else epoch + t))
    return sightings


def trip_epoch(trip: dict, where: str) -> float | None:
    """The optional ``started_at`` of a trip.json (``epoch`` in older trips): Unix seconds at the
    trip's t = 0.

    An extension of ``dashcart-trip/1`` (older readers ignore it): without it a replay cannot
    verify lane beacon identifiers, which depend on the time of day.
    """
    epoch = trip.get("started_at", trip.get("epoch"))
    if epoch is None:
        return None
    if isinstance(epoch, bool) or not isinstance(epoch, (int, float)) or not math.isfinite(epoch) or epoch < 0:
        raise Misconfigured(f"{where}: epoch must be Unix seconds (a number >= 0), got {epoch!r}")
    return float(epoch)


def trip_sightings(trip_dir: str | Path, trip: dict) -> list[BeaconSighting]:
    """The sightings of a trip directory (none without ``beacons.csv``), ``wall_t`` from its epoch."""
    path = Path(trip_dir) / "beacons.csv"
    if not path.exists():
        return []
    return read_beacons_csv(path, trip_epoch(trip, str(Path(trip_dir) / "trip.json")))


def write_beacons_csv(path: str | Path, sightings: Sequence[BeaconSighting]) -> None:
    with Path(path).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for s in sightings:
            writer.writerow([f"{s.t:.3f}", s.kind, s.id, f"{s.rssi:g}"])


class ScriptedBeaconScanner:
    """Plays sightings in real time; ``t`` and ``wall_t`` are taken from the given clocks at play time."""

    def __init__(self, sightings: Sequence[BeaconSighting], clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self._script = sorted(sightings, key=lambda s: s.t)
        self._clock, self._wall_clock = clock, wall_clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, sink: Callable[[Event], None]) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._play, args=(sink,), name="beacons-sim", daemon=True)
        self._thread.start()

    def _play(self, sink: Callable[[Event], None]) -> None:
        start = self._clock()
        for s in self._script:
            if self._stop.wait(max(0.0, start + s.t - self._clock())):
                return
            sink(BeaconSighting(self._clock(), s.kind, s.id, s.rssi, wall_t=self._wall_clock()))

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
