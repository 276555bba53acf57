"""The last few seconds of one camera's frames, for change detection after the fact.

A raw 640x480 BGR frame is 0.9 MB: four seconds at 15 fps is 55 MB per camera, and four
cameras would hold 220 MB of frames nobody looks at unless a weight change settles. So only the
newest frames stay raw (what the processing thread and the sign-in reader take); older ones
are kept JPEG-encoded, about a sixth of the size, five a second rather than fifteen (vision
looks back for the last still frame before a change, and a still basket is still for longer
than 0.2 s), and decoded when vision asks for one (``at_or_before``: the before and after
frames of a settled change, a few per change). The frames stay in memory either way, as
before: nothing is written anywhere.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

import numpy as np

from dashcart.readings import Frame

#: JPEG quality of the frames kept encoded: the before/after difference and the recognizer's
#: crop see no more than sensor noise from it (tests/core/vision, bench_memory.py).
JPEG_QUALITY = 90
#: Frames kept raw at the head of the ring (the newest is what the processing thread takes).
RAW_FRAMES = 2
#: Older frames are kept at most this often (the rest are dropped as they leave the raw head).
KEEP_EVERY_S = 0.2


@dataclass
class _Kept:
    t: float
    frame: Frame | None          # raw, while among the newest
    jpeg: bytes | None = None    # encoded, once older


class FrameRing:
    """Frames of one camera from the last ``seconds``, oldest first; safe across threads.

    Adding is idempotent by time: a frame no newer than the latest is ignored, so the
    capture thread and the pipeline may both offer the same frame. ``quality=None`` keeps
    every frame raw (what the ring did before; for comparisons).
    """

    def __init__(self, camera: str, seconds: float = 4.0, *, quality: int | None = JPEG_QUALITY,
                 raw_frames: int = RAW_FRAMES, keep_every_s: float = KEEP_EVERY_S) -> None:
        self.camera = camera
        self.seconds = seconds
        self.quality = quality
        self.raw_frames = max(1, raw_frames)
        self.keep_every_s = keep_every_s if quality is not None else 0.0
        self._kept: deque[_Kept] = deque()
        self._lock = threading.Condition()
        self._decoded: Frame | None = None    # the last frame decoded: asked for again at once

    def add(self, t: float, image: np.ndarray) -> Frame | None:
        """Keep ``image`` taken at ``t``; returns the stored frame, or None if not newer."""
        with self._lock:
            if self._kept and t <= self._kept[-1].t:
                return None
            frame = Frame(self.camera, t, image)
            self._kept.append(_Kept(t, frame))
            while self._kept and self._kept[0].t < t - self.seconds:
                self._kept.popleft()
            older = None
            if len(self._kept) > self.raw_frames:
                at = len(self._kept) - 1 - self.raw_frames
                before = self._kept[at - 1] if at > 0 else None
                # (a tenth of slack: at 15 fps every third frame is 0.2 s on, give or take jitter)
                if before is not None and self._kept[at].t - before.t < 0.9 * self.keep_every_s:
                    del self._kept[at]          # leaving the raw head too soon after the last kept one
                else:
                    older = self._kept[at]
            self._lock.notify_all()
        if older is not None and older.frame is not None and self.quality is not None:
            # Encoded outside the lock: readers are not held up by it. Only this (the adding)
            # thread replaces a kept frame's contents.
            jpeg = _encode(older.frame.image, self.quality)
            if jpeg is not None:
                with self._lock:
                    older.jpeg, older.frame = jpeg, None
        return frame

    def _frame(self, kept: _Kept) -> Frame:
        frame = kept.frame
        if frame is not None:
            return frame
        cached = self._decoded
        if cached is not None and cached.t == kept.t:
            return cached
        assert kept.jpeg is not None
        frame = Frame(self.camera, kept.t, _decode(kept.jpeg))
        self._decoded = frame
        return frame

    def latest(self) -> Frame | None:
        with self._lock:
            return self._frame(self._kept[-1]) if self._kept else None

    def at_or_before(self, t: float) -> Frame | None:
        """The newest frame taken no later than ``t``."""
        with self._lock:
            for kept in reversed(self._kept):
                if kept.t <= t:
                    return self._frame(kept)
            return None

    def between(self, t0: float, t1: float) -> list[Frame]:
        """Frames with ``t0 <= t <= t1``, oldest first."""
        with self._lock:
            return [self._frame(k) for k in self._kept if t0 <= k.t <= t1]

    def frames(self) -> list[Frame]:
        with self._lock:
            return [self._frame(k) for k in self._kept]

    def wait_newer(self, t: float, timeout: float) -> Frame | None:
        """Block until a frame newer than ``t`` is there (or ``timeout`` seconds pass)."""
        with self._lock:
            self._lock.wait_for(lambda: bool(self._kept) and self._kept[-1].t > t, timeout)
            return self._frame(self._kept[-1]) if self._kept and self._kept[-1].t > t else None

    def times(self) -> list[float]:
        """When each kept frame was taken, oldest first (nothing decoded)."""
        with self._lock:
            return [k.t for k in self._kept]

    def nbytes(self) -> int:
        """What the kept frames take, raw and encoded (for the memory bench and health)."""
        with self._lock:
            return sum(k.frame.image.nbytes if k.frame is not None else len(k.jpeg or b"") for k in self._kept)

    def __len__(self) -> int:
        with self._lock:
            return len(self._kept)


def _encode(image: np.ndarray, quality: int) -> bytes | None:
    import cv2
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return buffer.tobytes() if ok else None   # a frame that will not encode stays raw


def _decode(jpeg: bytes) -> np.ndarray:
    import cv2
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_UNCHANGED)
    assert image is not None, "a frame this ring encoded did not decode"
    return image
