"""Vision on a running cart: capture threads, one processing thread per camera, a
recognition worker; events go to the controller's queue through ``emit``."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from dashcart.config import Config
from dashcart.errors import PermanentlyBroken
from dashcart.events import DeviceStatus, Event
from dashcart.core.vision.gallery import Gallery
from dashcart.core.vision.pipeline import VisionPipeline
from dashcart.core.vision.recognizer import Recognizer
from dashcart.runtime.watchdog import Heartbeat, Heartbeats

if TYPE_CHECKING:
    from dashcart.drivers.camera.ring import Frame
    from dashcart.drivers.camera.source import FrameSource

log = logging.getLogger(__name__)

#: A frame's barcode scan and motion gate take tens of milliseconds; a processing loop
#: silent this long is stuck.
PROCESSING_DEADLINE_S = 10.0


def open_recognizer(config: Config, emit: Callable[[Event], None] | None = None,
                    t: float = 0.0) -> Recognizer | None:
    """The configured recognizer, or None when it is missing or broken: that is reported
    (one line, and a DeviceStatus ``vision`` down through ``emit``) and the cart carries
    on with barcodes, weight and touch."""
    if not config.vision.enabled:
        return None
    try:
        return Recognizer(config.vision.model or None, threads=config.vision.threads)
    except PermanentlyBroken as exc:
        log.error("%s", exc)
        if emit is not None:
            emit(DeviceStatus(t, "vision", "down", str(exc)))
        return None


class LiveVision:
    """Starts and stops everything vision needs on the cart. Each processing thread takes
    the newest frame of its camera, so when the CPU falls behind frames are skipped, not
    queued."""

    def __init__(self, config: Config, emit: Callable[[Event], None], *, recognizer: Recognizer | None,
                 gallery: Gallery | None, clock: Callable[[], float] = time.monotonic,
                 sources: Sequence[FrameSource] | None = None,
                 on_frame: Callable[[str, Frame], None] | None = None,
                 heartbeats: Heartbeats | None = None) -> None:
        """``sources``: frame sources to use instead of the configured cameras (the simulated
        cart's); ``on_frame(camera, frame)``: also called with every processed frame (sign-in);
        ``heartbeats``: capture and processing loops beat there for the systemd watchdog."""
        from dashcart.drivers.camera import start_cameras
        self.emit = emit
        self.on_frame = on_frame
        self.heartbeats = heartbeats
        if sources is None:
            from dashcart.runtime.devices import open_cameras
            sources = open_cameras(config.cameras)
        self.cameras = start_cameras(config.cameras, emit, clock=clock, sources=sources, heartbeats=heartbeats)
        rings = {c.source.camera_id: c.ring for c in self.cameras}
        self.pipeline = VisionPipeline(list(rings), config.vision, config.cameras, recognizer=recognizer,
                                       gallery=gallery, worker=True, emit=emit, rings=rings)
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._process, args=(cam,), name=f"vision-{cam}", daemon=True)
                         for cam in rings]
        for thread in self._threads:
            thread.start()

    def _process(self, camera: str) -> None:
        beat = None
        if self.heartbeats is not None:
            beat = self.heartbeats.register(f"vision:{camera}", PROCESSING_DEADLINE_S, replace=True)
        try:
            self._process_frames(camera, beat)
        finally:
            if beat is not None:
                beat.close()

    def _process_frames(self, camera: str, beat: Heartbeat | None) -> None:
        ring = self.pipeline.ring(camera)
        last = float("-inf")
        while not self._stop.is_set():
            if beat is not None:
                beat.beat()
            frame = ring.wait_newer(last, timeout=0.5)
            if frame is None:
                continue
            last = frame.t
            try:
                for event in self.pipeline.feed(camera, frame.t, frame.image):
                    self.emit(event)
                if self.on_frame is not None:
                    self.on_frame(camera, frame)
            except Exception:  # one bad frame must not stop the camera's processing
                log.exception("camera %s: processing the frame at t=%.3f failed", camera, frame.t)

    def stop(self) -> None:
        self._stop.set()
        for camera in self.cameras:
            camera.stop()
        for thread in self._threads:
            thread.join(timeout=5)
        self.pipeline.close()
