"""One capture thread per camera: frames into its ring, reconnecting when it drops out."""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from dashcart.config import CamerasSection
from dashcart.drivers.camera.ring import FrameRing
from dashcart.drivers.camera.source import FrameSource, SourceEnded, open_source
from dashcart.errors import Misconfigured, RetryLater
from dashcart.events import DeviceStatus, Event


class LoopHeartbeat(Protocol):
    """One loop's liveness as the runtime's watchdog sees it (:class:`dashcart.runtime.watchdog.Heartbeat`):
    a driver beats it and closes it, and knows nothing else of the watchdog."""

    def beat(self) -> None: ...
    def close(self) -> None: ...


class HeartbeatRegistry(Protocol):
    """Where a driver registers its loops' heartbeats (:class:`dashcart.runtime.watchdog.Heartbeats`)."""

    def register(self, name: str, deadline_s: float, *, replace: bool = False) -> LoopHeartbeat: ...

log = logging.getLogger(__name__)


class CaptureState(enum.Enum):
    CONNECTING = "connecting"      # opening the camera (first time or after a drop-out)
    STREAMING = "streaming"
    WAITING = "waiting"            # not there: trying again after reconnect_s
    ENDED = "ended"                # a recording ran out
    FAILED = "failed"              # misconfigured: retrying cannot help
    STOPPED = "stopped"


class CameraThread(threading.Thread):
    """Reads ``source`` as fast as it delivers into ``ring``, stamping frames with ``clock``
    (recordings: the recording's own times, offset to when playback began, and paced in
    real time). Health changes go to ``emit`` as :class:`DeviceStatus` for ``camera:<id>``.

    ``drop_after`` consecutive failed reads count as a drop-out: the camera is closed and
    reopened every ``reconnect_s`` until it comes back.

    ``heartbeat`` (a :class:`dashcart.runtime.watchdog.Heartbeat`) beats on every pass, waiting for an
    unplugged camera included: only a read that never returns silences it, and that is the
    hang the watchdog is for. It is closed when the thread ends on purpose.
    """

    def __init__(self, source: FrameSource, ring: FrameRing, emit: Callable[[Event], None], *,
                 clock: Callable[[], float] = time.monotonic, reconnect_s: float = 2.0,
                 drop_after: int = 10, heartbeat: LoopHeartbeat | None = None) -> None:
        super().__init__(name=f"camera-{source.camera_id}", daemon=True)
        self.source = source
        self.ring = ring
        self.emit = emit
        self.clock = clock
        self.reconnect_s = reconnect_s
        self.drop_after = drop_after
        self.heartbeat = heartbeat
        self.state = CaptureState.CONNECTING
        self.counters = {"frames": 0, "failed_reads": 0, "dropouts": 0, "reconnects": 0}
        self._halt = threading.Event()
        self._reported: str | None = None

    @property
    def device(self) -> str:
        return f"camera:{self.source.camera_id}"

    def stop(self, timeout: float = 5.0) -> None:
        self._halt.set()
        if self.is_alive():
            self.join(timeout)

    def _report(self, state: str, message: str) -> None:
        if self._reported == (state + message):
            return
        self._reported = state + message
        (log.info if state == "ok" else log.warning)("%s: %s %s", self.device, state, message)
        self.emit(DeviceStatus(self.clock(), self.device, state, message, dict(self.counters)))

    def run(self) -> None:
        try:
            self._capture()
        finally:
            if self.heartbeat is not None:
                self.heartbeat.close()

    def _capture(self) -> None:
        failures = 0
        playback_start = 0.0
        while not self._halt.is_set():
            if self.heartbeat is not None:
                self.heartbeat.beat()
            if self.state in (CaptureState.CONNECTING, CaptureState.WAITING):
                try:
                    self.source.open()
                except RetryLater as exc:
                    self.state = CaptureState.WAITING
                    self._report("down", f"{exc}; retrying every {self.reconnect_s:g} s")
                    self._halt.wait(self.reconnect_s)
                    continue
                except Misconfigured as exc:
                    self.state = CaptureState.FAILED
                    self._report("down", str(exc))
                    break
                if self.counters["dropouts"]:
                    self.counters["reconnects"] += 1
                self.state = CaptureState.STREAMING
                failures = 0
                playback_start = self.clock()
                self._report("ok", f"{self.source.describe()} streaming")
                continue
            try:
                got = self.source.read()
            except SourceEnded:
                self.state = CaptureState.ENDED
                self._report("ok", f"{self.source.describe()}: recording ended")
                break
            if got is None:
                failures += 1
                self.counters["failed_reads"] += 1
                if failures >= self.drop_after:
                    self.counters["dropouts"] += 1
                    self.source.close()
                    self.state = CaptureState.WAITING
                    self._report("down", f"{self.source.describe()} stopped delivering frames; reconnecting")
                    self._halt.wait(self.reconnect_s)
                else:
                    self._halt.wait(0.02)
                continue
            failures = 0
            recorded_t, image = got
            if recorded_t is None:
                t = self.clock()
            else:
                t = playback_start + recorded_t
                delay = t - self.clock()
                if delay > 0 and self._halt.wait(delay):
                    break
            if self.ring.add(t, image) is not None:
                self.counters["frames"] += 1
        self.source.close()
        if self.state not in (CaptureState.ENDED, CaptureState.FAILED):
            self.state = CaptureState.STOPPED


def capture_deadline_s(section: CamerasSection) -> float:
    """How long a capture loop may go without beating before it counts as hung: a few
    reconnect waits, since opening a USB camera can itself take seconds."""
    return max(10.0, 3 * section.reconnect_s)


def start_cameras(section: CamerasSection, emit: Callable[[Event], None], *,
                  clock: Callable[[], float] = time.monotonic, base_dir: str = "",
                  sources: Sequence[FrameSource] | None = None,
                  heartbeats: HeartbeatRegistry | None = None) -> list[CameraThread]:
    """A started capture thread (with its ring) for each configured camera, or for each of
    ``sources`` when given; none configured, none started: the cart runs on weight and touch.
    With ``heartbeats`` each thread beats ``camera:<id>`` for the systemd watchdog."""
    if sources is None:
        ids = [spec.id for spec in section.devices]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise Misconfigured(f"cameras.devices: camera id {duplicates[0]!r} is used more than once")
        sources = [open_source(spec, base_dir) for spec in section.devices]
    threads = []
    for source in sources:
        beat = None
        if heartbeats is not None:
            beat = heartbeats.register(f"camera:{source.camera_id}", capture_deadline_s(section), replace=True)
        thread = CameraThread(source, FrameRing(source.camera_id, section.buffer_s), emit,
                              clock=clock, reconnect_s=section.reconnect_s, heartbeat=beat)
        thread.start()
        threads.append(thread)
    return threads
