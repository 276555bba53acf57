"""The last few seconds of one camera's frames, for change detection after the fact."""

from __future__ import annotations

import threading
from collections import deque
import numpy as np

from dashcart.readings import Frame


class FrameRing:
    """Frames of one camera from the last ``seconds``, oldest first; safe across threads.

    Adding is idempotent by time: a frame no newer than the latest is ignored, so the
    capture thread and the pipeline may both offer the same frame.
    """

    def __init__(self, camera: str, seconds: float = 4.0) -> None:
        self.camera = camera
        self.seconds = seconds
        self._frames: deque[Frame] = deque()
        self._lock = threading.Condition()

    def add(self, t: float, image: np.ndarray) -> Frame | None:
        """Keep ``image`` taken at ``t``; returns the stored frame, or None if not newer."""
        with self._lock:
            if self._frames and t <= self._frames[-1].t:
                return None
            frame = Frame(self.camera, t, image)
            self._frames.append(frame)
            while self._frames and self._frames[0].t < t - self.seconds:
                self._frames.popleft()
            self._lock.notify_all()
            return frame

    def latest(self) -> Frame | None:
        with self._lock:
            return self._frames[-1] if self._frames else None

    def at_or_before(self, t: float) -> Frame | None:
        """The newest frame taken no later than ``t``."""
        with self._lock:
            for frame in reversed(self._frames):
                if frame.t <= t:
                    return frame
            return None

    def between(self, t0: float, t1: float) -> list[Frame]:
        """Frames with ``t0 <= t <= t1``, oldest first."""
        with self._lock:
            return [f for f in self._frames if t0 <= f.t <= t1]

    def frames(self) -> list[Frame]:
        with self._lock:
            return list(self._frames)

    def wait_newer(self, t: float, timeout: float) -> Frame | None:
        """Block until a frame newer than ``t`` is there (or ``timeout`` seconds pass)."""
        with self._lock:
            self._lock.wait_for(lambda: bool(self._frames) and self._frames[-1].t > t, timeout)
            return self._frames[-1] if self._frames and self._frames[-1].t > t else None

    def __len__(self) -> int:
        with self._lock:
            return len(self._frames)
