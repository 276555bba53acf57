"""Cameras looking into the basket: frame sources, the capture thread, the frame ring.

Backends (chosen by ``[[cameras.devices]] backend``): ``opencv`` (USB/V4L2),
``picamera2`` (CSI, imported only when configured) and ``recorded`` (a trip's
``frames/<camera>/`` folder or a video file). Frames stay in memory.
"""

from dashcart.drivers.camera.capture import CameraThread, CaptureState, start_cameras
from dashcart.drivers.camera.recorded import RecordedSource, trip_frames
from dashcart.drivers.camera.ring import Frame, FrameRing
from dashcart.drivers.camera.source import FrameSource, SourceEnded, open_source

__all__ = ["CameraThread", "CaptureState", "Frame", "FrameRing", "FrameSource", "RecordedSource",
           "SourceEnded", "open_source", "start_cameras", "trip_frames"]
