"""CSI cameras on a Pi through picamera2 (imported only when a camera is configured so)."""

from __future__ import annotations

from typing import Any

import numpy as np

from dashcart.config import CameraSpec
from dashcart.drivers.camera.source import FrameSource
from dashcart.errors import Misconfigured, RetryLater


class Picamera2Source(FrameSource):
    def __init__(self, spec: CameraSpec) -> None:
        super().__init__(spec.id)
        self.spec = spec
        self._cam: Any = None

    def describe(self) -> str:
        return f"camera {self.camera_id} (CSI {self.spec.source})"

    def open(self) -> None:
        try:
            from picamera2 import Picamera2
        except ImportError:
            raise Misconfigured(f"cameras.devices: camera {self.camera_id!r}: backend 'picamera2' needs the "
                                "picamera2 package (apt install python3-picamera2)") from None
        try:
            index = int(self.spec.source or 0)
        except ValueError:
            raise Misconfigured(f"cameras.devices: camera {self.camera_id!r}: picamera2 source must be a "
                                f"camera number, got {self.spec.source!r}") from None
        try:
            cam = Picamera2(index)
            # "RGB888" in libcamera's naming is BGR byte order: what OpenCV expects.
            config = cam.create_video_configuration(
                main={"size": (self.spec.width, self.spec.height), "format": "RGB888"},
                controls={"FrameRate": float(self.spec.fps)})
            cam.configure(config)
            cam.start()
        except (RuntimeError, IndexError, OSError) as exc:
            raise RetryLater(f"{self.describe()}: cannot start: {exc}") from None
        self._cam = cam

    def read(self) -> tuple[float | None, np.ndarray] | None:
        if self._cam is None:
            return None
        try:
            return None, self._cam.capture_array("main")
        except (RuntimeError, OSError):
            return None

    def close(self) -> None:
        if self._cam is not None:
            try:
                self._cam.stop()
                self._cam.close()
            finally:
                self._cam = None


def open_backend(spec: CameraSpec, base_dir: str = "") -> FrameSource:
    """The ``picamera2`` backend for :func:`dashcart.drivers.camera.source.open_source`."""
    return Picamera2Source(spec)
