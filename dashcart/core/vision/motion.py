"""The motion gate: are hands in the basket? Cheap enough to run on every frame.

Frames are shrunk to a thumbnail (80x60 grey, area-averaged: sensor noise averages out)
and compared with the previous one. A global brightness shift (mains flicker, auto
exposure, a cloud) moves every pixel the same way, so the median difference is taken off
before counting changed pixels.
"""

from __future__ import annotations

import numpy as np

from dashcart.events import MotionChanged

THUMB_SIZE = (80, 60)


def thumbnail(image: np.ndarray) -> np.ndarray:
    """The grey 80x60 thumbnail (``float32``) the gate and the health check work on."""
    import cv2
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return cv2.resize(gray, THUMB_SIZE, interpolation=cv2.INTER_AREA).astype(np.float32)


def changed_fraction(before: np.ndarray, after: np.ndarray, pixel_threshold: float = 18.0) -> float:
    """Share of thumbnail pixels that changed by more than ``pixel_threshold`` grey levels
    once the frame-wide brightness shift is taken off."""
    diff = after - before
    diff -= float(np.median(diff))
    return float(np.count_nonzero(np.abs(diff) > pixel_threshold)) / diff.size


class MotionGate:
    """Hands in as soon as more than ``threshold`` of the thumbnail changes between frames;
    out again after ``hold_s`` seconds without such a change. Time comes from ``t``."""

    def __init__(self, camera: str, threshold: float = 0.02, hold_s: float = 0.6,
                 pixel_threshold: float = 18.0) -> None:
        self.camera = camera
        self.threshold = threshold
        self.hold_s = hold_s
        self.pixel_threshold = pixel_threshold
        self.active = False
        self.last_motion_t: float | None = None
        self.level = 0.0
        self._previous: np.ndarray | None = None

    def update(self, t: float, thumb: np.ndarray) -> list[MotionChanged]:
        previous, self._previous = self._previous, thumb
        if previous is None:
            return []
        self.level = changed_fraction(previous, thumb, self.pixel_threshold)
        if self.level > self.threshold:
            self.last_motion_t = t
            if not self.active:
                self.active = True
                return [MotionChanged(t, self.camera, True)]
            return []
        if self.active and self.last_motion_t is not None and t - self.last_motion_t >= self.hold_s:
            self.active = False
            return [MotionChanged(t, self.camera, False)]
        return []
