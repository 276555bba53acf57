"""Recording what a cart's sensors and shopper do, as a ``dashcart-trip/1`` directory.

The engineer on call's tool: when a bill came out wrong, the trip behind it replays through
the same code (``dashcart replay DIR``) as often as needed. ``dashcart run --record DIR`` records
the running cart, shopper and all; ``dashcart record DIR`` records the sensors alone, with no
cart running.

Recorded: every line the scale sent, as received; the beacons heard; the shopper's actions in
the trip's vocabulary (``shopper.csv``; a sign-in is written with a stand-in token, since the
shopper's token is sent in the order and never stored); camera frames only when asked for:
frames show the shopper's basket, so they are never written unless someone turns them on.
A recorded frame never holds a readable QR code: the cart records frames only while a session
is open (the sign-in code is shown before), and every QR code found in a frame is painted
over before it is written (a phone held up mid-trip, a code on a flyer).

Times are seconds since the recording began, on the clock the cart stamps its events with.
The callbacks come from several threads (the scale's reader, the beacon scanner, the cameras,
the screen); one lock keeps each file's lines whole.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

from dashcart.config import Config
from dashcart.errors import Misconfigured
from dashcart.events import BeaconSighting, Event, ShopperAction
from dashcart.trips.format import SHOPPER_ACTIONS, TripWriter

#: What a recorded sign-in says instead of the shopper's token (it has the token's shape, so
#: the replayed session starts the same way).
RECORDED_TOKEN = "dcs1:recorded-shopper-token"
FRAME_JPEG_QUALITY = 85
#: Paint this much beyond a QR code's corners (its quiet zone and a blurred edge).
QR_MARGIN = 0.25
SCALE_FLUSH_LINES = 80   # about a second of an 80 Hz bridge: a power cut loses at most that


def check_new_trip_dir(out: str | Path) -> Path:
    """``out`` if a trip can be recorded there (new, or an empty directory), else Misconfigured."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise Misconfigured(f"{out}: not empty; record into a new directory")
    return out


class TripRecorder:
    """One recording. ``start_t`` is the clock's reading at t = 0 of the trip."""

    def __init__(self, out: str | Path, config: Config, *, start_t: float, frames: bool = False,
                 cameras: tuple[str, ...] = (), frames_fps: float = 5.0) -> None:
        out = check_new_trip_dir(out)
        self.out = out
        self.start_t = start_t
        self.frames = frames
        # JPEG-encoding every frame of every camera would cost a Pi more than vision does
        self._frame_gap_s = 1.0 / frames_fps
        self._last_frame: dict[str, float] = {}
        site = {"zones": dict(config.location.zones), "lane": list(config.location.lane)}
        self._writer = TripWriter(out, protocol=config.scale.protocol, offset=config.scale.offset,
                                  counts_per_gram=config.scale.counts_per_gram, cameras=cameras, frames=frames,
                                  site=site if site["zones"] or site["lane"] else None, epoch=round(time.time(), 3))
        self._lock = threading.Lock()
        self._closed = False
        self.lines = 0
        self.qr_blanked = 0     # QR codes painted over in recorded frames

    def _t(self, t: float) -> float | None:
        rel = t - self.start_t
        return rel if rel >= 0 else None   # from before the recording began

    def catalogue(self, path: str | Path) -> None:
        """The catalogue the cart runs with (a database or CSV), named in trip.json relative to
        the trip, so that the replay prices the same products and the two can move together."""
        path = Path(path)
        if not path.is_file():
            return
        with self._lock:
            if not self._closed:
                self._writer.set_catalogue(os.path.relpath(path.resolve(), self.out.resolve()))

    def scale_line(self, t: float, line: bytes) -> None:
        """A line exactly as the scale sent it (the serial driver's ``on_line``)."""
        rel = self._t(t)
        with self._lock:
            if self._closed or rel is None:
                return
            self._writer.scale_line(rel, line)
            self.lines += 1
            if self.lines % SCALE_FLUSH_LINES == 0:
                self._writer.flush()

    def event(self, event: Event) -> None:
        """An event on its way to the controller: beacons and shopper actions are kept."""
        kept = isinstance(event, BeaconSighting) or (isinstance(event, ShopperAction)
                                                       and event.action in SHOPPER_ACTIONS)
        rel = self._t(event.t)
        if not kept or rel is None:
            return   # most events (live weight, motion) are derived from what is recorded
        with self._lock:
            if self._closed:
                return
            if isinstance(event, BeaconSighting):
                self._writer.beacon(rel, event.kind, event.id, event.rssi)
            elif isinstance(event, ShopperAction):
                value = RECORDED_TOKEN if event.action == "signin" else event.value
                self._writer.shopper(rel, event.action, value, event.question_id, event.qty)
            self._writer.flush()

    def frame(self, camera: str, t: float, image: Any) -> None:
        """A camera frame (BGR); written only when this recording was asked for frames."""
        rel = self._t(t)
        # a quarter of the gap's slack: camera timestamps jitter, and a 5 fps camera must not
        # lose every other frame for arriving a millisecond early
        if not self.frames or rel is None or rel < self._last_frame.get(camera, -1e9) + 0.75 * self._frame_gap_s:
            return
        self._last_frame[camera] = rel
        import cv2
        image, blanked = blank_qr_codes(image)
        self.qr_blanked += blanked
        ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, FRAME_JPEG_QUALITY])
        if not ok:
            return
        with self._lock:
            if not self._closed:
                self._writer.frame_jpeg(camera, rel, jpeg.tobytes())

    def flush(self) -> None:
        with self._lock:
            if not self._closed:
                self._writer.flush()

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._writer.close()


def blank_qr_codes(image: Any, rounds: int = 3) -> tuple[Any, int]:
    """``image`` with every QR code zxing or OpenCV can find painted over (a copy; the original
    when there is none), and how many were painted. A shopper's sign-in code must not reach a
    recording: it is their payment credential."""
    import cv2
    import numpy as np
    import zxingcpp

    out, count = image, 0
    for _ in range(rounds):
        quads = [np.array([(p.x, p.y) for p in (b.position.top_left, b.position.top_right,
                                                b.position.bottom_right, b.position.bottom_left)], np.float32)
                 for b in zxingcpp.read_barcodes(out, formats=zxingcpp.BarcodeFormat.QRCode)]
        try:
            found, points = cv2.QRCodeDetector().detectMulti(out)
        except cv2.error:
            found, points = False, None
        if found and points is not None:
            quads.extend(np.asarray(q, np.float32) for q in points)
        if not quads:
            break
        if out is image:
            out = image.copy()
        for quad in quads:
            centre = quad.mean(axis=0)
            grown = centre + (quad - centre) * (1.0 + 2 * QR_MARGIN)
            cv2.fillConvexPoly(out, np.round(grown).astype(np.int32), (128, 128, 128))
            count += 1
    return out, count
