import threading
import time

import numpy as np
import pytest

from dashcart.config import CameraSpec, CamerasSection
from dashcart.drivers.camera import (
    CameraThread,
    CaptureState,
    FrameRing,
    FrameSource,
    RecordedSource,
    SourceEnded,
    open_source,
    start_cameras,
)
from dashcart.drivers.camera.opencv import OpenCVSource
from dashcart.errors import Misconfigured, RetryLater
from dashcart.events import DeviceStatus


def _image(value: int) -> np.ndarray:
    return np.full((48, 64, 3), value, np.uint8)


def test_ring_keeps_the_last_seconds_in_order():
    ring = FrameRing("left", seconds=1.0)
    for i in range(12):
        ring.add(i * 0.25, _image(i))
    assert [f.t for f in ring.frames()] == [1.75, 2.0, 2.25, 2.5, 2.75]
    assert ring.at_or_before(2.3).t == 2.25
    assert ring.at_or_before(1.5) is None
    assert [f.t for f in ring.between(2.0, 2.5)] == [2.0, 2.25, 2.5]


def test_ring_ignores_a_frame_that_is_not_newer():
    ring = FrameRing("left", seconds=5)
    first = ring.add(1.0, _image(1))
    assert ring.add(1.0, _image(2)) is None
    assert ring.add(0.5, _image(3)) is None
    assert ring.latest() is first and len(ring) == 1


def test_ring_wait_newer_wakes_on_a_new_frame():
    ring = FrameRing("left")
    ring.add(1.0, _image(1))
    threading.Timer(0.05, lambda: ring.add(2.0, _image(2))).start()
    frame = ring.wait_newer(1.0, timeout=5)
    assert frame is not None and frame.t == 2.0
    assert ring.wait_newer(2.0, timeout=0.01) is None


def _write_trip_frames(folder, times_ms, size=(48, 64)):
    import cv2
    folder.mkdir(parents=True)
    for i, ms in enumerate(times_ms):
        cv2.imwrite(str(folder / f"{ms}.jpg"), np.full((*size, 3), 20 * i, np.uint8))


def test_recorded_frames_come_in_time_order_with_their_times(tmp_path):
    folder = tmp_path / "frames" / "left"
    _write_trip_frames(folder, [0, 66, 133, 1000, 200])
    (folder / "notes.txt").write_text("not a frame")
    (folder / "300.jpg").write_bytes(b"garbage")  # a corrupt frame is skipped, not fatal
    source = RecordedSource("left", folder)
    frames = list(source.frames())
    assert [f.t for f in frames] == [0.0, 0.066, 0.133, 0.2, 1.0]
    assert all(f.camera == "left" for f in frames)
    assert frames[0].image.shape == (48, 64, 3)
    assert source.skipped == 1


def test_recorded_video_file(tmp_path):
    import cv2
    path = tmp_path / "left.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for i in range(5):
        writer.write(_image(40 * i))
    writer.release()
    frames = list(RecordedSource("left", path).frames())
    assert len(frames) == 5
    assert [round(f.t, 2) for f in frames] == [0.0, 0.1, 0.2, 0.3, 0.4]


def test_missing_recording_is_named(tmp_path):
    with pytest.raises(Misconfigured, match="nope"):
        RecordedSource("left", tmp_path / "nope").open()


def test_backend_is_chosen_by_config(tmp_path):
    assert isinstance(open_source(CameraSpec(id="a", backend="opencv", source="0")), OpenCVSource)
    source = open_source(CameraSpec(id="b", backend="recorded", source="frames/b"), base_dir=str(tmp_path))
    assert isinstance(source, RecordedSource) and source.path == tmp_path / "frames" / "b"


def test_unplugged_usb_camera_is_retry_later():
    with pytest.raises(RetryLater, match="/dev/v4l/by-id/usb-nothing-video-index0"):
        OpenCVSource(CameraSpec(id="a", source="/dev/v4l/by-id/usb-nothing-video-index0")).open()


def test_no_cameras_configured_starts_nothing():
    assert start_cameras(CamerasSection(), lambda e: None) == []


def test_duplicate_or_path_like_camera_ids_are_rejected_as_the_config_is_read():
    from dashcart.config import parse_config
    two = '[[cameras.devices]]\nid = "a"\n[[cameras.devices]]\nid = "a"\nsource = "1"\n'
    with pytest.raises(Misconfigured, match="cart.toml: cameras.devices: camera id 'a' is used more than once"):
        parse_config(two, "cart.toml")
    with pytest.raises(Misconfigured, match=r"cameras.devices\[0\].id: '../../x' must be"):   # a folder of a recording
        parse_config('[[cameras.devices]]\nid = "../../x"\n', "cart.toml")


class FlakySource(FrameSource):
    """A camera that is missing at first, streams, drops out, and comes back: the way a
    USB camera on a loose cable behaves (open fails, reads return nothing)."""

    def __init__(self, script):
        super().__init__("flaky")
        self.script = list(script)   # per call: "absent", "frame", "fail", "end"
        self.opens = 0

    def open(self):
        self.opens += 1
        if self.script and self.script[0] == "absent":
            self.script.pop(0)
            raise RetryLater("camera flaky: not there")

    def read(self):
        step = self.script.pop(0) if self.script else "end"
        if step == "end":
            raise SourceEnded("flaky")
        if step == "fail":
            return None
        return None, _image(len(self.script))

    def close(self):
        pass


def _run(thread, timeout=10):
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive()


def test_capture_thread_waits_for_the_camera_streams_and_reconnects():
    events = []
    clock = iter(range(10_000)).__next__
    source = FlakySource(["absent", "frame", "frame"] + ["fail"] * 3 + ["frame", "frame", "end"])
    ring = FrameRing("flaky", seconds=1e6)
    thread = CameraThread(source, ring, events.append, clock=lambda: float(clock()),
                          reconnect_s=0.01, drop_after=3)
    _run(thread)
    states = [(e.state, e.message.split(";")[0]) for e in events if isinstance(e, DeviceStatus)]
    assert [s for s, _ in states] == ["down", "ok", "down", "ok", "ok"]
    assert "not there" in states[0][1] and "stopped delivering" in states[2][1] and "ended" in states[4][1]
    assert len(ring) == 4
    assert thread.counters["dropouts"] == 1 and thread.counters["reconnects"] == 1
    assert thread.state is CaptureState.ENDED
    assert source.opens == 3


class HangingSource(FlakySource):
    """A camera whose driver hangs in read() (a wedged V4L2 device) until released."""

    def __init__(self):
        super().__init__(["frame"])
        self.release = threading.Event()

    def read(self):
        if not self.script:
            self.release.wait(30)
            raise SourceEnded("hanging")
        return super().read()


def test_capture_heartbeat_goes_silent_only_when_a_read_hangs():
    from dashcart.runtime.watchdog import Heartbeats

    now = [0.0]
    beats = Heartbeats(clock=lambda: now[0])
    stalls_seen = []

    class UnpluggedForAMinute(FlakySource):
        def open(self):
            now[0] += 2.0  # each attempt to open takes a while
            stalls_seen.extend(beats.stalls())
            super().open()

    unplugged = UnpluggedForAMinute(["absent"] * 30 + ["end"])
    waiting = start_cameras(CamerasSection(reconnect_s=0.001), lambda e: None,
                            sources=[unplugged], heartbeats=beats)[0]
    waiting.join(10)
    # A minute of waiting for the unplugged camera, beating all along; it lets go when it ends.
    assert unplugged.opens == 31 and stalls_seen == []
    assert "camera:flaky" not in beats.names()

    hanging = HangingSource()
    hanging.camera_id = "stuck"
    thread = start_cameras(CamerasSection(), lambda e: None, sources=[hanging], heartbeats=beats)[0]
    deadline = time.monotonic() + 10
    while not hanging.script == [] and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)
    now[0] += 60.0  # a minute passes with the read still hanging
    assert [s.name for s in beats.stalls()] == ["camera:stuck"]
    hanging.release.set()
    thread.join(10)
    assert beats.stalls() == [] and beats.names() == []


def test_capture_thread_gives_up_on_a_misconfigured_camera(monkeypatch):
    import builtins
    real_import = builtins.__import__

    def no_picamera2(name, *args, **kwargs):
        if name == "picamera2":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_picamera2)
    events = []
    source = open_source(CameraSpec(id="csi", backend="picamera2"))
    thread = CameraThread(source, FrameRing("csi"), events.append)
    _run(thread)
    assert thread.state is CaptureState.FAILED
    assert [(e.device, e.state) for e in events] == [("camera:csi", "down")]
    assert "picamera2" in events[0].message


def test_recorded_camera_plays_back_in_real_time_on_the_live_clock(tmp_path):
    folder = tmp_path / "left"
    _write_trip_frames(folder, [0, 20, 40])
    ring = FrameRing("left", seconds=100)
    thread = CameraThread(RecordedSource("left", folder), ring, lambda e: None)
    started = time.monotonic()
    _run(thread)
    times = [f.t for f in ring.frames()]
    assert len(times) == 3
    assert times[0] >= started
    assert times[2] - times[0] == pytest.approx(0.04, abs=1e-6)


def test_cameras_config_is_an_array_of_tables_and_round_trips():
    from dashcart.config import dump_config, parse_config
    config = parse_config('[cameras]\nbuffer_s = 3\n[[cameras.devices]]\nid = "left"\nsource = "/dev/v4l/by-id/x"\n'
                          '[[cameras.devices]]\nid = "right"\nbackend = "recorded"\nsource = "frames/right"\nfps = 10\n')
    assert [(d.id, d.backend, d.fps) for d in config.cameras.devices] == [("left", "opencv", 15.0), ("right", "recorded", 10.0)]
    assert parse_config(dump_config(config)) == config
    assert parse_config("").cameras.devices == []   # no cameras by default: weight and touch only


@pytest.mark.parametrize("text, expected", [
    ('[[cameras.devices]]\nbackend = "usb"\n', "c.toml: cameras.devices[0].backend: 'usb' is not one of"),
    ('[[cameras.devices]]\nfps = 0\n', "c.toml: cameras.devices[0].fps: 0.0 is below the minimum 1"),
    ('[[cameras.devices]]\nlens = 1\n', "c.toml: cameras.devices[0]: unknown key 'lens'"),
    ('[cameras]\ndevices = [1]\n', "c.toml: cameras.devices[0]: expected a table, got integer 1"),
])
def test_bad_camera_config_names_the_entry(text, expected):
    from dashcart.config import parse_config
    with pytest.raises(Misconfigured) as info:
        parse_config(text, "c.toml")
    assert str(info.value).startswith(expected)


def test_trip_frames_merges_cameras_in_time_order(tmp_path):
    from dashcart.drivers.camera import trip_frames
    _write_trip_frames(tmp_path / "frames" / "left", [0, 66, 133])
    _write_trip_frames(tmp_path / "frames" / "right", [33, 66, 100])
    merged = [(f.camera, f.t) for f in trip_frames(tmp_path, ["left", "right"])]
    assert merged == [("left", 0.0), ("right", 0.033), ("left", 0.066), ("right", 0.066),
                      ("right", 0.1), ("left", 0.133)]
    with pytest.raises(Misconfigured, match="no frames folder for camera 'top'"):
        list(trip_frames(tmp_path, ["left", "top"]))
