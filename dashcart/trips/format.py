"""Trip recordings, ``dashcart-trip/1``: what the cart's sensors saw, for replay and benchmarks.

    trip.json                  format, scale settings, cameras, optional catalogue and site
    scale.log                  "<t> <line>" per line received from the scale
    frames/<camera>/<ms>.jpg   frames, named by integer milliseconds since the start
    beacons.csv                optional: t,kind,id,rssi
    shopper.csv                optional: t,action,value
    answers.csv                optional, beyond the contract: line,question,qty for the
                               shopper.csv lines that answered a question (its number in the
                               session) or gave a count, so a replay answers the same question

:func:`read_trip` is tolerant: a missing optional file, a malformed line or an unreadable
frame becomes a :class:`TripProblem` naming the file and line, and the rest is still used.
Only a trip with no usable ``trip.json`` cannot be read at all.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import json
import math
import os
import string
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from dashcart.errors import Misconfigured, read_user_file
from dashcart.events import STAFF_OVERRIDES, BeaconSighting, ShopperAction
from dashcart.readings import normalize_beacon_key

FORMAT = "dashcart-trip/1"
SHOPPER_ACTIONS = ("signin", "choose", "plu", "cancel", "confirm",
                   # beyond the contract's list, what the screen can also send, and the staff
                   # overrides (``staff,void_last``: the override only; the PIN is checked on
                   # the screen and never reaches the controller), which change the bill too:
                   "not_in_cart", "remove", "produce", "signout", "staff")
BEACON_KINDS = ("ibeacon", "eddystone-uid", "eddystone-eid")


@dataclass(frozen=True)
class TripProblem:
    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class FrameFile:
    camera: str
    t: float
    path: Path


@dataclass
class Trip:
    path: Path
    protocol: str
    offset: int
    counts_per_gram: float
    cameras: tuple[str, ...]
    catalogue: Path | None
    site: dict[str, Any] | None
    frames: list[FrameFile] = field(default_factory=list)           # all cameras, in time order
    beacons: list[BeaconSighting] = field(default_factory=list)
    shopper: list[tuple[int, ShopperAction]] = field(default_factory=list)   # (line, action)
    problems: list[TripProblem] = field(default_factory=list)
    # Unix seconds (wall clock) at t = 0, if recorded: the lane's rotating ids are checked at
    # started_at + t, so a recorded lane, genuine or forged, replays as it was heard.
    started_at: float | None = None

    @property
    def scale_log(self) -> Path:
        return self.path / "scale.log"


def _format_t(t: float) -> str:
    return f"{t:.4f}"


def _parse_t(text: str) -> float:
    t = float(text)
    if not math.isfinite(t) or t < 0:
        raise ValueError(f"time {text!r} must be a finite number >= 0")
    return t


def _parse_rssi(text: str) -> float:
    """A received signal strength in dBm: finite, and in what a radio reports (a NaN or an
    infinity would poison the zone tracker's averages for the rest of the trip)."""
    rssi = float(text)
    if not math.isfinite(rssi) or not -127.0 <= rssi <= 20.0:
        raise ValueError(f"rssi {text.strip()!r} must be a number of dBm from -127 to 20")
    return rssi


#: The latest ``started_at`` taken as Unix seconds (the end of the year 9999): beyond it a
#: value is a mistake, and the lane's rotating ids could not be computed from it.
STARTED_AT_MAX = 253402300799.0


def _read_header(path: Path) -> dict[str, Any]:
    """trip.json, with what a replay cannot do without checked: the format and the scale."""
    meta_path = path / "trip.json"
    if not path.is_dir():
        raise Misconfigured(f"{path}: no such trip directory")
    text = read_user_file(meta_path, f"missing; a {FORMAT} trip needs trip.json")
    try:
        meta = json.loads(text)
    except json.JSONDecodeError as exc:
        raise Misconfigured(f"{meta_path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        got = meta.get("format") if isinstance(meta, dict) else None
        raise Misconfigured(f"{meta_path}: format is {got!r}, expected {FORMAT!r}")
    scale = meta.get("scale")
    if not isinstance(scale, dict):
        raise Misconfigured(f"{meta_path}: missing the \"scale\" object")
    if scale.get("protocol") not in ("hx711-bridge", "mt-sics"):
        raise Misconfigured(f"{meta_path}: scale.protocol {scale.get('protocol')!r} is not hx711-bridge or mt-sics")
    if not isinstance(scale.get("offset", 0), int) or isinstance(scale.get("offset", 0), bool):
        raise Misconfigured(f"{meta_path}: scale.offset must be an integer")
    cpg = scale.get("counts_per_gram", 420.0)
    if isinstance(cpg, bool) or not isinstance(cpg, (int, float)) or cpg == 0 or not math.isfinite(cpg):
        raise Misconfigured(f"{meta_path}: scale.counts_per_gram must be a non-zero number")
    return meta


def _optional_fields(trip: Trip, meta: dict[str, Any]) -> None:
    """The contract's optional fields. One that is null is absent; one that is invalid is
    reported once and left out, and the rest of the trip is replayed without it (a bad
    ``started_at`` costs the lane's authentication, not the bill)."""
    file = str(trip.path / "trip.json")

    def bad(message: str) -> None:
        trip.problems.append(TripProblem(file, None, message))

    cameras = meta.get("cameras")
    if isinstance(cameras, list):
        good = [c for c in cameras if isinstance(c, str) and c and "/" not in c and c not in (".", "..")]
        if len(good) != len(cameras):
            left = [c for c in cameras if c not in good]
            bad(f"cameras: {left[0]!r} is not a camera id (a folder name under frames/); left out")
        trip.cameras = tuple(dict.fromkeys(good))
    elif cameras is not None:
        bad(f"cameras must be a list of camera ids, got {type(cameras).__name__}; no frames are replayed")
    catalogue = meta.get("catalogue")
    if isinstance(catalogue, str) and catalogue.strip():
        trip.catalogue = trip.path / catalogue
    elif catalogue is not None:
        bad(f"catalogue must be a path relative to the trip, got {catalogue!r}; left out")
    site = meta.get("site")
    if isinstance(site, dict):
        trip.site = site
    elif site is not None:
        bad(f"site must be an object with zones and lane, got {type(site).__name__}; left out")
    # "epoch": what recordings made before the contract named it started_at call it
    name = "started_at" if meta.get("started_at") is not None else "epoch"
    started_at = meta.get(name)
    if started_at is None:
        return
    if isinstance(started_at, bool) or not isinstance(started_at, (int, float)) \
            or not 0 <= started_at <= STARTED_AT_MAX:   # also refuses NaN
        bad(f"{name} must be Unix seconds (a number from 0 to {STARTED_AT_MAX:.0f}), got {started_at!r}; "
            "left out (a lane of eddystone-eid beacons cannot be checked without it)")
        return
    trip.started_at = float(started_at)


def read_trip(path: str | Path) -> Trip:
    """The trip's header and its event files; problems are collected, not raised."""
    path = Path(path)
    meta = _read_header(path)
    scale = meta["scale"]
    trip = Trip(path=path, protocol=scale["protocol"], offset=int(scale.get("offset", 0)),
                counts_per_gram=float(scale.get("counts_per_gram", 420.0)), cameras=(), catalogue=None, site=None)
    _optional_fields(trip, meta)
    if not trip.scale_log.is_file():
        trip.problems.append(TripProblem(str(trip.scale_log), None, "missing; the replay has no weight changes"))
    _read_frames(trip)
    _read_beacons(trip)
    _read_shopper(trip)
    return trip


def _read_frames(trip: Trip) -> None:
    frames_dir = trip.path / "frames"
    for camera in trip.cameras:
        folder = frames_dir / camera
        if not folder.is_dir():
            trip.problems.append(TripProblem(str(folder), None, f"missing; no frames for camera {camera!r}"))
            continue
        for name in os.listdir(folder):
            stem, dot, ext = name.partition(".")
            if not (stem.isascii() and stem.isdigit() and ext.lower() in ("jpg", "jpeg", "png")):
                trip.problems.append(TripProblem(str(folder / name), None,
                                                 "not a frame (expected <integer ms>.jpg); skipped"))
                continue
            trip.frames.append(FrameFile(camera, int(stem) / 1000.0, folder / name))
    trip.frames.sort(key=lambda f: (f.t, f.camera))


def _csv_rows(trip: Trip, name: str, header: tuple[str, ...]) -> Iterator[tuple[Path, int, list[str]]]:
    """The rows after the header, each with its line number. Decoded line by line, so one line
    that is not UTF-8 is skipped, not the file; a byte-order mark before the header is allowed."""
    file = trip.path / name
    if not file.is_file():
        if file.exists():
            trip.problems.append(TripProblem(str(file), None, "not a file; skipped"))
        return
    try:
        data = file.read_bytes()
    except OSError as exc:
        trip.problems.append(TripProblem(str(file), None, f"cannot read: {exc.strerror or exc}"))
        return
    for number, raw in enumerate(data.removeprefix(codecs.BOM_UTF8).splitlines(), start=1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            trip.problems.append(TripProblem(str(file), number, f"not UTF-8 text (byte {exc.start + 1}); "
                                             f"{'file' if number == 1 else 'line'} skipped"))
            if number == 1:
                return
            continue
        row = next(csv.reader([text]), [])
        if number == 1:
            if tuple(h.strip() for h in row) != header:
                trip.problems.append(TripProblem(str(file), 1, f"header must be {','.join(header)}; file skipped"))
                return
            continue
        if row:
            yield file, number, row


def _read_beacons(trip: Trip) -> None:
    for file, line, row in _csv_rows(trip, "beacons.csv", ("t", "kind", "id", "rssi")):
        try:
            if len(row) != 4:
                raise ValueError(f"{len(row)} fields, expected 4")
            t, kind, ident, rssi = _parse_t(row[0]), row[1].strip(), row[2].strip(), _parse_rssi(row[3])
            if kind not in BEACON_KINDS:
                raise ValueError(f"kind {kind!r} is not one of {', '.join(BEACON_KINDS)}")
            ident = _beacon_id(kind, ident)
        except ValueError as exc:
            trip.problems.append(TripProblem(str(file), line, f"{exc}; line skipped"))
            continue
        wall_t = None if trip.started_at is None else trip.started_at + t
        trip.beacons.append(BeaconSighting(t, kind=kind, id=ident, rssi=rssi, wall_t=wall_t))
    trip.beacons.sort(key=lambda b: b.t)


def _beacon_id(kind: str, ident: str) -> str:
    """``ident`` if it is an id of ``kind`` (else ValueError naming it): a sighting the zone
    tracker or the lane would not recognise is reported here, not silently ignored there."""
    if kind == "eddystone-eid":
        # the 8-byte ephemeral id as heard, in hex
        if len(ident) != 16 or not all(c in string.hexdigits for c in ident):
            raise ValueError(f"id {ident!r} is not an Eddystone EID (16 hex digits)")
        return ident
    normalize_beacon_key(f"{kind}:{ident}")
    return ident


def _count(text: str, field: str, least: int) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) < least:
        raise ValueError(f"{field} {text!r} is not a whole number from {least}")
    return int(text)


def _read_answers(trip: Trip) -> None:
    """answers.csv: which question a shopper.csv line answered and the count it gave. Without
    it an answer goes to the newest question on screen, not always the one answered live."""
    at = {line: i for i, (line, _) in enumerate(trip.shopper)}
    for file, line, row in _csv_rows(trip, "answers.csv", ("line", "question", "qty")):
        try:
            if len(row) != 3:
                raise ValueError(f"{len(row)} fields, expected 3")
            shopper_line = _count(row[0].strip(), "line", least=2)
            if shopper_line not in at:
                raise ValueError(f"shopper.csv has no action on line {shopper_line}")
            question, qty = row[1].strip(), row[2].strip()
            question_id = _count(question, "question", least=1) if question else None
            said_qty = _count(qty, "qty", least=0) if qty else 0
        except ValueError as exc:
            trip.problems.append(TripProblem(str(file), line, f"{exc}; line skipped"))
            continue
        i = at[shopper_line]
        trip.shopper[i] = (shopper_line, dataclasses.replace(trip.shopper[i][1], question_id=question_id,
                                                             qty=said_qty))


def _read_shopper(trip: Trip) -> None:
    for file, line, row in _csv_rows(trip, "shopper.csv", ("t", "action", "value")):
        try:
            if len(row) not in (2, 3):
                raise ValueError(f"{len(row)} fields, expected 3")
            t, action = _parse_t(row[0]), row[1].strip()
            value = row[2].strip() if len(row) == 3 else ""
            if action not in SHOPPER_ACTIONS:
                raise ValueError(f"action {action!r} is not one of {', '.join(SHOPPER_ACTIONS)}")
            if action == "staff" and value not in STAFF_OVERRIDES:
                raise ValueError(f"staff override {value!r} is not one of {', '.join(STAFF_OVERRIDES)}")
        except ValueError as exc:
            trip.problems.append(TripProblem(str(file), line, f"{exc}; line skipped"))
            continue
        trip.shopper.append((line, ShopperAction(t, action=action, value=value)))
    _read_answers(trip)
    trip.shopper.sort(key=lambda item: item[1].t)


class TripWriter:
    """Writes a trip as it happens; each file is appended to and flushed line by line."""

    def __init__(self, path: str | Path, *, protocol: str = "hx711-bridge", offset: int = 0,
                 counts_per_gram: float = 420.0, cameras: tuple[str, ...] = (), catalogue: str | None = None,
                 site: dict[str, Any] | None = None, frames: bool = False, epoch: float | None = None,
                 started_at: float | None = None):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.cameras = tuple(cameras) if frames else ()
        meta: dict[str, Any] = {"format": FORMAT,
                                "scale": {"protocol": protocol, "offset": offset, "counts_per_gram": counts_per_gram},
                                "cameras": list(self.cameras)}
        if catalogue is not None:
            meta["catalogue"] = catalogue
        if site is not None:
            meta["site"] = site
        started_at = started_at if started_at is not None else epoch
        if started_at is not None:
            meta["started_at"] = started_at  # Unix time at t = 0: lets a replay check the lane's rotating ids
        self._meta = meta
        self._write_meta()
        for camera in self.cameras:
            (self.path / "frames" / camera).mkdir(parents=True, exist_ok=True)
        self._scale = open(self.path / "scale.log", "ab")
        self._beacons: TextIO | None = None   # opened with the first line of each
        self._shopper: TextIO | None = None
        self._shopper_line = 1                # the header
        self._answers: TextIO | None = None

    def _write_meta(self) -> None:
        tmp = self.path / "trip.json.tmp"
        tmp.write_text(json.dumps(self._meta, indent=2) + "\n", encoding="utf-8")
        tmp.replace(self.path / "trip.json")

    def set_catalogue(self, catalogue: str) -> None:
        """Name the trip's catalogue (relative to the trip) once it is known."""
        self._meta["catalogue"] = catalogue
        self._write_meta()

    def scale_line(self, t: float, line: bytes | str) -> None:
        data = line.encode("latin-1") if isinstance(line, str) else line
        self._scale.write(_format_t(t).encode() + b" " + data.rstrip(b"\r\n") + b"\n")

    def frame_jpeg(self, camera: str, t: float, jpeg: bytes) -> None:
        if camera not in self.cameras:
            return   # frames are written only for cameras recorded on purpose
        (self.path / "frames" / camera / f"{round(t * 1000)}.jpg").write_bytes(jpeg)

    def beacon(self, t: float, kind: str, ident: str, rssi: float) -> None:
        if self._beacons is None:
            self._beacons = open(self.path / "beacons.csv", "w", encoding="utf-8", newline="")
            self._beacons.write("t,kind,id,rssi\n")
        self._beacons.write(f"{_format_t(t)},{kind},{ident},{rssi:g}\n")

    def shopper(self, t: float, action: str, value: str = "", question_id: int | None = None,
                qty: int = 0) -> None:
        """One shopper action; the question it answered and a count it gave go to answers.csv."""
        if self._shopper is None:
            self._shopper = open(self.path / "shopper.csv", "w", encoding="utf-8", newline="")
            self._shopper.write("t,action,value\n")
        self._shopper.write(f"{_format_t(t)},{action},{value}\n")
        self._shopper_line += 1
        if question_id is not None or qty:
            if self._answers is None:
                self._answers = open(self.path / "answers.csv", "w", encoding="utf-8", newline="")
                self._answers.write("line,question,qty\n")
            question = "" if question_id is None else str(question_id)
            self._answers.write(f"{self._shopper_line},{question},{qty or ''}\n")

    def flush(self) -> None:
        for handle in (self._scale, self._beacons, self._shopper, self._answers):
            if handle is not None:
                handle.flush()

    def close(self) -> None:
        for handle in (self._scale, self._beacons, self._shopper, self._answers):
            if handle is not None:
                handle.close()

    def __enter__(self) -> TripWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
