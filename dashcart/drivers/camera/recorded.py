"""Recorded frames: a trip's ``frames/<camera>/<ms>.jpg`` folder, or a video file."""

from __future__ import annotations

import heapq
import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from dashcart.config import CameraSpec
from dashcart.drivers.camera.source import FrameSource, SourceEnded
from dashcart.errors import Misconfigured
from dashcart.readings import Frame

log = logging.getLogger(__name__)


def frame_files(folder: Path) -> list[tuple[float, Path]]:
    """(seconds, path) of every ``<ms>.jpg`` in ``folder``, in time order; other names are
    not frames and are skipped."""
    found = []
    for path in folder.iterdir():
        if path.suffix.lower() in (".jpg", ".jpeg", ".png") and path.stem.isdigit():
            found.append((int(path.stem) / 1000.0, path))
    found.sort()
    return found


class RecordedSource(FrameSource):
    """Frames in recorded order with their recorded times. A frame that cannot be decoded
    is skipped (counted in ``skipped``), as a live camera's glitch would be."""

    def __init__(self, camera_id: str, path: str | Path) -> None:
        super().__init__(camera_id)
        self.path = Path(path)
        self.skipped = 0
        self._files: list[tuple[float, Path]] | None = None
        self._index = 0
        self._video = None

    def describe(self) -> str:
        return f"camera {self.camera_id} (recorded {self.path})"

    @property
    def paced(self) -> bool:
        return False

    def open(self) -> None:
        if self.path.is_dir():
            self._files = frame_files(self.path)
            self._index = 0
            return
        if not self.path.exists():
            raise Misconfigured(f"{self.path}: no such frames folder or video file (camera {self.camera_id!r})")
        import cv2
        video = cv2.VideoCapture(str(self.path))
        if not video.isOpened():
            raise Misconfigured(f"{self.path}: not a video OpenCV can read (camera {self.camera_id!r})")
        self._video = video

    def read(self) -> tuple[float | None, np.ndarray] | None:
        import cv2
        if self._files is not None:
            while self._index < len(self._files):
                t, path = self._files[self._index]
                self._index += 1
                image = cv2.imread(str(path), cv2.IMREAD_COLOR)
                if image is not None:
                    return t, image
                self.skipped += 1
                log.warning("%s: cannot decode, skipped", path)
            raise SourceEnded(self.describe())
        if self._video is None:
            raise SourceEnded(self.describe())
        ok, image = self._video.read()
        if not ok:
            raise SourceEnded(self.describe())
        # After a read, the position is the time of the frame just read.
        return self._video.get(cv2.CAP_PROP_POS_MSEC) / 1000.0, image

    def close(self) -> None:
        if self._video is not None:
            self._video.release()
            self._video = None
        self._files = None

    def frames(self) -> Iterator[Frame]:
        """Every frame, oldest first (opens and closes the source)."""
        self.open()
        try:
            while True:
                try:
                    got = self.read()
                except SourceEnded:
                    return
                if got is not None:
                    t, image = got
                    yield Frame(self.camera_id, float(t or 0.0), image)
        finally:
            self.close()


def trip_frames(trip_dir: str | Path, cameras: Iterable[str]) -> Iterator[Frame]:
    """Every frame of a ``dashcart-trip/1`` recording's cameras, merged in time order (ties:
    in the order ``cameras`` lists them), for a replay to interleave with the scale log.
    A camera listed without a ``frames/<id>`` folder is a :class:`Misconfigured` error."""
    sources = [RecordedSource(cam, Path(trip_dir) / "frames" / cam) for cam in cameras]
    for source in sources:
        if not source.path.is_dir():
            raise Misconfigured(f"{source.path}: no frames folder for camera {source.camera_id!r}")
    streams = [((f.t, i, f) for f in source.frames()) for i, source in enumerate(sources)]
    for _, _, frame in heapq.merge(*streams, key=lambda item: (item[0], item[1])):
        yield frame


def open_backend(spec: CameraSpec, base_dir: str = "") -> FrameSource:
    """The ``recorded`` backend for :func:`dashcart.drivers.camera.source.open_source`: a
    relative ``source`` is taken from ``base_dir`` (the trip or config's folder)."""
    path = spec.source if os.path.isabs(spec.source) or not base_dir else os.path.join(base_dir, spec.source)
    return RecordedSource(spec.id, path)
