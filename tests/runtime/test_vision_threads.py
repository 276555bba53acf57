import dataclasses
import threading
import time

import pytest

from dashcart.config import CameraSpec, CamerasSection, Config, VisionSection
from dashcart.events import DeviceStatus, MotionChanged
from dashcart.runtime.vision_threads import LiveVision, open_recognizer
from tests.vision_helpers import MODEL


@pytest.fixture
def recorded_trip(shared_data, tmp_path):
    import cv2

    from tests.vision_session import session_frames
    frames, _ = session_frames(shared_data)
    folder = tmp_path / "frames" / "left"
    folder.mkdir(parents=True)
    for t, frame in frames[:22]:
        cv2.imwrite(str(folder / f"{round(t * 1000)}.jpg"), frame)
    return folder


def test_live_vision_runs_a_recorded_camera_end_to_end(recorded_trip):
    config = Config(cameras=CamerasSection(devices=[CameraSpec(id="left", backend="recorded", source=str(recorded_trip))]))
    events = []
    ended = threading.Event()

    def emit(event):
        events.append(event)
        if isinstance(event, DeviceStatus) and "ended" in event.message:
            ended.set()

    live = LiveVision(config, emit, recognizer=None, gallery=None)
    try:
        assert ended.wait(30)
    finally:
        live.stop()
    statuses = [(e.device, e.state) for e in events if isinstance(e, DeviceStatus)]
    assert statuses == [("camera:left", "ok"), ("camera:left", "ok")]
    assert any(isinstance(e, MotionChanged) and e.active and e.camera == "left" for e in events)
    assert all(not c.is_alive() for c in live.cameras)


def test_broken_model_means_no_recognizer_and_a_status_not_a_crash(tmp_path):
    model = tmp_path / "r.tflite"
    model.write_bytes(b"junk")
    events = []
    config = Config(vision=VisionSection(model=str(model)))
    assert open_recognizer(config, events.append, t=5.0) is None
    [status] = events
    assert (status.t, status.device, status.state) == (5.0, "vision", "down") and "r.json" in status.message


def test_vision_disabled_loads_no_model():
    assert open_recognizer(Config(vision=VisionSection(enabled=False))) is None


@pytest.mark.skipif(not MODEL.is_file(), reason="recognizer model not built yet")
def test_shipped_model_loads_by_default():
    recognizer = open_recognizer(dataclasses.replace(Config()))
    assert recognizer is not None and recognizer.model_path == MODEL


def test_the_worker_says_which_changes_it_still_works_on():
    """The controller loop waits on working_on(t): it must turn false only once the
    recognitions of that change are posted, or the decision would miss them."""
    from dashcart.events import ItemRecognized, WeightSettled
    from dashcart.runtime.vision_threads import RecognitionWorker
    started, finish = threading.Event(), threading.Event()

    class SlowPipeline:
        vision = VisionSection(look_after_s=0.0)

        def on_settled(self, event):
            started.set()
            finish.wait(10)
            return [ItemRecognized(event.t, "top", "added", (("4011", 0.9),))]

    posted = []
    worker = RecognitionWorker(SlowPipeline(), lambda e: posted.append((e, worker.working_on(5.0))))
    try:
        assert not worker.working_on(5.0)
        worker.submit(WeightSettled(5.0, 100.0, 100.0))
        assert worker.working_on(5.0) and worker.working_on(6.0) and not worker.working_on(4.0)
        assert started.wait(10)
        finish.set()
        deadline = time.monotonic() + 10
        while worker.working_on(5.0) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not worker.working_on(5.0)
        assert [(type(e).__name__, busy) for e, busy in posted] == [("ItemRecognized", True)]
    finally:
        worker.close()
