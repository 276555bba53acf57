"""Is a camera still showing the basket? Covered, black and frozen cameras, from frames.

Runs on the frames the pipeline sees (live and in replay alike), so a report carries the
frame's time. Reported as :class:`dashcart.events.DeviceStatus` for ``camera:<id>``: degraded
while the problem lasts, ok once it clears.
"""

from __future__ import annotations

import enum

import numpy as np

from dashcart.events import DeviceStatus


class CameraView(enum.Enum):
    OK = "ok"
    COVERED = "covered"   # featureless: a hand, a bag or tape over the lens; or black
    FROZEN = "frozen"     # the same frame over and over: a hung driver or camera


class CameraHealth:
    """``covered_s`` seconds of a featureless (grey-level spread under ``flat_std``) or
    dark thumbnail means covered; ``frozen_s`` seconds of bit-identical frames means frozen
    (a live sensor's noise never repeats a frame exactly)."""

    def __init__(self, camera: str, covered_s: float = 2.0, frozen_s: float = 3.0,
                 flat_std: float = 6.0, dark_mean: float = 16.0) -> None:
        self.camera = camera
        self.covered_s = covered_s
        self.frozen_s = frozen_s
        self.flat_std = flat_std
        self.dark_mean = dark_mean
        self.view = CameraView.OK
        self._covered_since: float | None = None
        self._same_since: float | None = None
        self._previous_sample: np.ndarray | None = None

    @property
    def device(self) -> str:
        return f"camera:{self.camera}"

    def update(self, t: float, image: np.ndarray, thumb: np.ndarray) -> list[DeviceStatus]:
        flat = float(thumb.std()) < self.flat_std or float(thumb.mean()) < self.dark_mean
        if flat:
            self._covered_since = t if self._covered_since is None else self._covered_since
        else:
            self._covered_since = None
        # A sparse sample of the full frame: cheap, and still full of sensor noise.
        sample = image[::16, ::16]
        if self._previous_sample is not None and np.array_equal(sample, self._previous_sample):
            self._same_since = self._same_since if self._same_since is not None else t
        else:
            self._same_since = None
        self._previous_sample = sample.copy()

        if self._same_since is not None and t - self._same_since >= self.frozen_s:
            view = CameraView.FROZEN
        elif self._covered_since is not None and t - self._covered_since >= self.covered_s:
            view = CameraView.COVERED
        elif self._same_since is None and self._covered_since is None:
            view = CameraView.OK
        else:
            view = self.view  # a problem not yet long enough to report, or not yet cleared
        if view is self.view:
            return []
        self.view = view
        messages = {
            CameraView.OK: f"camera {self.camera} sees the basket again",
            CameraView.COVERED: f"camera {self.camera} is covered or black: clear the lens",
            CameraView.FROZEN: f"camera {self.camera} is frozen (same frame for {self.frozen_s:g} s): "
                               "check its cable; the cart keeps weighing",
        }
        return [DeviceStatus(t, self.device, "ok" if view is CameraView.OK else "degraded", messages[view])]
