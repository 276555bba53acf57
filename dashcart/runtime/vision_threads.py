"""Vision on a running cart: capture threads, one processing thread per camera, a
recognition worker; events go to the controller's queue through ``emit``."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from dashcart.config import Config
from dashcart.core.vision.change import Change
from dashcart.core.vision.gallery import Gallery
from dashcart.core.vision.pipeline import CaptureHook, VisionPipeline, WeightEvent
from dashcart.core.vision.recognizer import Recognizer
from dashcart.errors import PermanentlyBroken
from dashcart.events import DeviceStatus, Event
from dashcart.runtime.watchdog import Heartbeat, Heartbeats

if TYPE_CHECKING:
    from dashcart.core.vision.pipeline import FrameHistory
    from dashcart.drivers.camera.ring import FrameRing
    from dashcart.drivers.camera.source import FrameSource
    from dashcart.readings import Frame

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


#: Allocations at least this big get their own mapping, given back to the system when freed.
MMAP_THRESHOLD_BYTES = 128 * 1024


def keep_frames_off_the_heap() -> bool:
    """Frames are 0.9 MB allocations made and freed by several threads. glibc raises its mmap
    threshold after the first such free, so later frames come from per-thread heaps that keep
    their peak size: 20-40 MB per camera of freed frames still resident. A fixed threshold
    (which turns that adjustment off) maps every frame and unmaps it when freed (bench_memory.py:
    two cameras 160 -> 146 MB peak). Returns whether it was set (glibc only; elsewhere a no-op)."""
    import ctypes
    import ctypes.util
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    M_MMAP_THRESHOLD = -3
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))


class RecognitionWorker:
    """Runs the pipeline's recognition off the controller's thread: :meth:`submit` returns at
    once and the :class:`ItemRecognized` events go to ``emit`` when ready, still stamped with
    the weight event's time. It recognizes ``vision.look_after_s`` after the submit, when the
    cameras have the frames the pipeline looks at (a hand resting on what it put down has
    mostly gone by then). One worker, so the recognizer is only ever called from one thread."""

    def __init__(self, pipeline: VisionPipeline, emit: Callable[[Event], None]) -> None:
        self.pipeline = pipeline
        self.emit = emit
        self._jobs: queue.Queue[tuple[WeightEvent, float] | None] = queue.Queue()
        self._lock = threading.Lock()
        self._in_flight: list[float] = []     # the times of the changes asked about, not yet answered
        self._thread = threading.Thread(target=self._work, name="vision-recognizer", daemon=True)
        self._thread.start()

    def submit(self, event: WeightEvent) -> None:
        with self._lock:
            self._in_flight.append(event.t)
        self._jobs.put((event, time.monotonic()))

    def working_on(self, t: float) -> bool:
        """Whether the change settled at ``t`` (or one before it) is still being recognized:
        its :class:`ItemRecognized` events, if any, are not all posted yet."""
        with self._lock:
            return any(pending <= t for pending in self._in_flight)

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            event, submitted = job
            time.sleep(max(0.0, submitted + self.pipeline.vision.look_after_s - time.monotonic()))
            try:
                for result in self.pipeline.on_settled(event):
                    self.emit(result)
            except Exception:  # a bad frame must not end recognition for the trip
                log.exception("recognition failed for the change at t=%.3f", event.t)
            finally:
                with self._lock:    # after the events are posted: the controller finds them queued
                    self._in_flight.remove(event.t)

    def close(self) -> None:
        """Stop after the recognitions already asked for."""
        self._jobs.put(None)
        self._thread.join(timeout=10)


def debug_capture(directory: str | Path) -> CaptureHook:
    """The maintainer's debug capture (``cameras.debug_capture_dir``): the frames and crop
    behind each recognition, written as JPEGs with every QR code painted over, as in a recorded
    trip (a shopper's sign-in code held over the basket is their payment credential). Off
    unless configured: frames stay in memory."""
    folder = Path(directory)

    def capture(event: WeightEvent, camera: str, change: Change, before: Frame, after: Frame) -> None:
        import cv2

        from dashcart.trips.recorder import blank_qr_codes
        folder.mkdir(parents=True, exist_ok=True)
        stem = f"{int(round(event.t * 1000))}-{camera}"
        for name, image in (("before", before.image), ("after", after.image), ("crop", change.crop)):
            cv2.imwrite(str(folder / f"{stem}-{name}.jpg"), blank_qr_codes(image)[0])

    return capture


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
        keep_frames_off_the_heap()
        self.emit = emit
        self.on_frame = on_frame
        self.heartbeats = heartbeats
        if sources is None:
            from dashcart.runtime.devices import open_cameras
            sources = open_cameras(config.cameras)
        self.cameras = start_cameras(config.cameras, emit, clock=clock, sources=sources, heartbeats=heartbeats)
        # The capture threads' rings: the pipeline reads them, the processing threads wait on them.
        self._rings: dict[str, FrameRing] = {c.source.camera_id: c.ring for c in self.cameras}
        capture = debug_capture(config.cameras.debug_capture_dir) if config.cameras.debug_capture_dir else None
        rings: dict[str, FrameHistory] = dict(self._rings)
        self.pipeline = VisionPipeline(list(rings), config.vision, config.cameras, recognizer=recognizer,
                                       gallery=gallery, rings=rings, capture=capture)
        self.worker = RecognitionWorker(self.pipeline, emit)
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._process, args=(cam,), name=f"vision-{cam}", daemon=True)
                         for cam in self._rings]
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
        ring = self._rings[camera]
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
        self.worker.close()
