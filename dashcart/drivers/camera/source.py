"""The one interface every camera backend implements, and the factory that finds one by name.

Like pyserial's ``protocol_<scheme>`` handlers or gpiozero's pin factories, a backend is a
module of this package named in :data:`BACKENDS` with an ``open_backend(spec, base_dir)``
function; the factory imports it only when a camera names it (so ``picamera2`` is needed only
on a cart with a CSI camera), and no backend module is imported by this one statically.
"""

from __future__ import annotations

import abc
import importlib

import numpy as np

from dashcart.config import CameraSpec
from dashcart.errors import Misconfigured


class SourceEnded(Exception):
    """A recording has no more frames (live cameras never end, they drop out)."""


class FrameSource(abc.ABC):
    """A camera. ``open`` may raise :class:`dashcart.errors.RetryLater` (not there now: try
    again) or :class:`dashcart.errors.Misconfigured` (the source can never work as given)."""

    def __init__(self, camera_id: str) -> None:
        self.camera_id = camera_id

    @abc.abstractmethod
    def open(self) -> None: ...

    @abc.abstractmethod
    def read(self) -> tuple[float | None, np.ndarray] | None:
        """The next frame as (recorded time or None for live, BGR image); None when the
        camera failed to deliver one (it dropped out); raises :class:`SourceEnded` at the
        end of a recording."""

    @abc.abstractmethod
    def close(self) -> None: ...

    @property
    def paced(self) -> bool:
        """True when ``read`` waits for the camera (live); recordings return at once."""
        return True

    def describe(self) -> str:
        return self.camera_id

    def __enter__(self) -> FrameSource:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


#: backend name (``[[cameras.devices]] backend``) -> the module of this package that opens it.
BACKENDS = {"opencv": "opencv", "picamera2": "picamera", "recorded": "recorded"}


def open_source(spec: CameraSpec, base_dir: str = "") -> FrameSource:
    """The backend ``spec`` names (not yet opened). Relative recorded paths are taken from
    ``base_dir``."""
    module = BACKENDS.get(spec.backend)
    if module is not None:
        backend = importlib.import_module(f"{__package__}.{module}")
        source: FrameSource = backend.open_backend(spec, base_dir)
        return source
    if spec.backend == "sim":   # plugged in from above: dashcart.runtime.devices.open_camera
        raise Misconfigured(f"cameras.devices: camera {spec.id!r}: the simulated camera is opened by the runtime")
    raise Misconfigured(f"cameras.devices: camera {spec.id!r}: unknown backend {spec.backend!r}")
