"""USB cameras through OpenCV's V4L2 backend (a device index or a /dev/v4l/by-id path)."""

from __future__ import annotations

import os
import sys

import numpy as np

from dashcart.config import CameraSpec
from dashcart.drivers.camera.source import FrameSource
from dashcart.errors import RetryLater


class OpenCVSource(FrameSource):
    def __init__(self, spec: CameraSpec) -> None:
        super().__init__(spec.id)
        self.spec = spec
        self._cap = None

    def describe(self) -> str:
        return f"camera {self.camera_id} ({self.spec.source})"

    def _target(self) -> int | str:
        source = self.spec.source.strip()
        return int(source) if source.isdigit() else source

    def open(self) -> None:
        import cv2
        target = self._target()
        if isinstance(target, str) and target.startswith("/dev/") and not os.path.exists(target):
            raise RetryLater(f"{self.describe()}: {target} is not there (unplugged?)")
        # V4L2 directly: the default (GStreamer, if built in) adds latency and CPU.
        api = cv2.CAP_V4L2 if sys.platform.startswith("linux") else cv2.CAP_ANY
        cap = cv2.VideoCapture(target, api)
        if not cap.isOpened():
            cap.release()
            raise RetryLater(f"{self.describe()}: cannot open the camera")
        # MJPEG lets a USB 2 camera deliver 640x480 at full rate; ignored where unsupported.
        cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*"MJPG"))
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.spec.width)
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.spec.height)
        cap.set(cv2.CAP_PROP_FPS, self.spec.fps)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # the newest frame, not a stale queue
        self._cap = cap

    def read(self) -> tuple[float | None, np.ndarray] | None:
        if self._cap is None:
            return None
        ok, image = self._cap.read()
        if not ok or image is None:
            return None
        return None, image

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


def open_backend(spec: CameraSpec, base_dir: str = "") -> FrameSource:
    """The ``opencv`` backend for :func:`dashcart.drivers.camera.source.open_source`."""
    return OpenCVSource(spec)
