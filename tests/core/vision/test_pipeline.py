import socket
import sys

import pytest

from dashcart.config import VisionSection
from dashcart.core.vision.gallery import prototypes_gallery
from dashcart.core.vision.pipeline import VisionPipeline
from dashcart.core.vision.recognizer import Recognizer
from dashcart.events import BarcodeSeen, ItemRecognized, LoadReturned, MotionChanged
from dashcart.runtime.vision_threads import RecognitionWorker, debug_capture
from tests.vision_helpers import MODEL, PROTOTYPES, iou, tight_box
from tests.vision_session import GTIN, session_frames

PRODUCT = "Arla-Medium-Fat-Milk"


@pytest.fixture(scope="module")
def model():
    if not MODEL.is_file():
        pytest.skip("recognizer model not built yet")
    recognizer = Recognizer(MODEL, threads=1)
    return recognizer, prototypes_gallery(PROTOTYPES, recognizer.version)


@pytest.fixture(scope="module")
def session(request):
    from tests.conftest import SHARED_DATA
    if not SHARED_DATA.is_dir():
        pytest.skip("shared data not found")
    return session_frames(SHARED_DATA, PRODUCT)


def _replay(pipeline, frames, settled, worker=None):
    """Feed the frames; recognize the settled change in line once the frames up to
    ``look_after_s`` after it are in (as a trip's replay does), or through ``worker`` (live:
    handed over at the settle, it waits that long itself)."""
    events = []
    asked = False
    wait = 0.0 if worker is not None else pipeline.vision.look_after_s
    for t, frame in frames:
        if not asked and t > settled.t + wait:
            asked = True
            if worker is None:
                events += pipeline.on_settled(settled)
            else:
                worker.submit(settled)
        events += pipeline.feed("left", t, frame)
    if not asked and worker is None:
        events += pipeline.on_settled(settled)
    return events


def test_a_shopping_moment_gives_motion_barcode_and_recognition(session, model):
    frames, settled = session
    recognizer, gallery = model
    events = _replay(VisionPipeline(["left"], recognizer=recognizer, gallery=gallery), frames, settled)
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["MotionChanged", "BarcodeSeen", "ItemRecognized", "MotionChanged"]
    hands_in, seen, recognized, hands_out = events
    assert hands_in.active and not hands_out.active and hands_in.t < seen.t < hands_out.t
    assert seen == BarcodeSeen(seen.t, "left", GTIN, "EAN-13")
    assert recognized.t == settled.t and recognized.camera == "left" and recognized.direction == "added"
    scores = [s for _, s in recognized.candidates]
    assert len(scores) == 5 and scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
    assert PRODUCT in [code for code, _ in recognized.candidates]


def test_the_crop_is_the_product_put_down(session):
    frames, settled = session
    pipeline = VisionPipeline(["left"])
    for t, frame in frames:
        pipeline.feed("left", t, frame)
    [(camera, change, before, after)] = pipeline.find_changes(settled)
    assert before.t < settled.started_t and settled.t < after.t <= settled.t + pipeline.vision.look_after_s
    from dashcart.sim.basket_scene import BasketScene
    from tests.conftest import SHARED_DATA
    from tests.vision_helpers import iconic
    scene = BasketScene(seed=11)
    item = scene.add(iconic(SHARED_DATA, PRODUCT), 240, 140, 200)
    assert iou(change.box, tight_box(scene.items[item])) > 0.55


def test_replay_is_deterministic_and_a_worker_gives_the_same(session, model):
    frames, settled = session
    recognizer, gallery = model
    first = _replay(VisionPipeline(["left"], recognizer=recognizer, gallery=gallery), frames, settled)
    second = _replay(VisionPipeline(["left"], recognizer=recognizer, gallery=gallery), frames, settled)
    assert first == second
    emitted = []
    live = VisionPipeline(["left"], recognizer=recognizer, gallery=gallery)
    worker = RecognitionWorker(live, emitted.append)
    returned = _replay(live, frames, settled, worker)
    worker.close()
    assert [e for e in first if not isinstance(e, ItemRecognized)] == returned
    assert emitted == [e for e in first if isinstance(e, ItemRecognized)]


def test_without_a_model_barcodes_and_motion_still_work(session):
    frames, settled = session
    events = _replay(VisionPipeline(["left"]), frames, settled)
    assert [type(e) for e in events] == [MotionChanged, BarcodeSeen, MotionChanged]


def test_no_barcode_scan_while_the_basket_is_still(session, monkeypatch):
    frames, _ = session
    pipeline = VisionPipeline(["left"])
    scans = []
    reader = pipeline._cameras["left"].reader
    monkeypatch.setattr(reader, "read", lambda image: scans.append(1) or [])
    for t, frame in frames[:8]:   # before the hand comes in
        pipeline.feed("left", t, frame)
    assert scans == []


def test_vision_disabled_does_nothing_expensive(session, model):
    frames, settled = session
    recognizer, gallery = model
    pipeline = VisionPipeline(["left"], VisionSection(enabled=False), recognizer=recognizer, gallery=gallery)
    events = _replay(pipeline, frames, settled)
    assert [type(e) for e in events] == [MotionChanged, MotionChanged]


def test_unknown_camera_is_an_error(session):
    with pytest.raises(KeyError, match="unknown camera 'right'"):
        VisionPipeline(["left"]).feed("right", 0.0, session[0][0][1])


class _Watch:
    """Records every file opened for writing and every socket made, via audit hooks
    (they see what Python does) plus OpenCV's writers (native code Python can't see)."""

    hook_installed = False
    active: "list | None" = None

    @classmethod
    def install(cls):
        if not cls.hook_installed:
            def hook(event, args):
                if cls.active is None:
                    return
                if event == "open":
                    path, mode, flags = args
                    writing = (mode and any(m in str(mode) for m in "wax+")) or (
                        isinstance(flags, int) and flags & (0o1 | 0o2 | 0o100))
                    if writing:
                        cls.active.append(("write", str(path)))
                elif event.startswith("socket."):
                    cls.active.append(("socket", event))
            sys.addaudithook(hook)
            cls.hook_installed = True


@pytest.fixture
def watch(monkeypatch):
    import cv2
    _Watch.install()
    seen = []
    monkeypatch.setattr(cv2, "imwrite", lambda path, *a, **k: seen.append(("imwrite", str(path))) or True)
    monkeypatch.setattr(cv2, "imencode", lambda *a, **k: seen.append(("imencode", a[0])) or (True, b""))
    monkeypatch.setattr(cv2, "VideoWriter", lambda *a, **k: seen.append(("VideoWriter", a)))
    _Watch.active = seen
    yield seen
    _Watch.active = None


@pytest.fixture
def trip_frames(session, tmp_path):
    """The session recorded as a trip's frames/left/<ms>.jpg."""
    import cv2
    folder = tmp_path / "trip" / "frames" / "left"
    folder.mkdir(parents=True)
    for t, frame in session[0]:
        cv2.imwrite(str(folder / f"{round(t * 1000)}.jpg"), frame, [cv2.IMWRITE_JPEG_QUALITY, 95])
    return folder


def test_a_whole_session_writes_no_image_and_opens_no_socket(session, model, trip_frames, watch):
    from dashcart.drivers.camera import RecordedSource
    _, settled = session
    recognizer, gallery = model
    pipeline = VisionPipeline(["left"], recognizer=recognizer, gallery=gallery)
    worker = RecognitionWorker(pipeline, watch.append)
    frames = [(f.t, f.image) for f in RecordedSource("left", trip_frames).frames()]
    events = _replay(pipeline, frames, settled, worker)
    worker.close()
    assert BarcodeSeen in [type(e) for e in events]
    assert [type(e) for e in watch] == [ItemRecognized]   # what the worker emitted, and nothing else
    # The watch itself works: a socket is seen...
    socket.socket().close()
    assert ("socket", "socket.__new__") in watch


def test_only_the_debug_capture_folder_gets_images(session, model, watch, tmp_path):
    frames, settled = session
    recognizer, gallery = model
    capture = tmp_path / "capture"
    pipeline = VisionPipeline(["left"], recognizer=recognizer, gallery=gallery, capture=debug_capture(capture))
    _replay(pipeline, frames, settled)
    written = sorted(p for kind, p in watch if kind == "imwrite")
    assert [p.rsplit("-", 1)[-1] for p in written] == ["after.jpg", "before.jpg", "crop.jpg"]
    assert all(p.startswith(str(capture)) for p in written)


def test_without_started_t_the_before_frame_is_from_before_the_hands_came_in(session):
    import dataclasses
    frames, settled = session
    pipeline = VisionPipeline(["left"])
    for t, frame in frames:
        pipeline.feed("left", t, frame)
    [(_, change, before, _)] = pipeline.find_changes(dataclasses.replace(settled, started_t=0.0))
    hands_in = 8 / 15
    assert before.t < hands_in
    assert change.direction == "added"


def test_every_camera_that_saw_the_change_gives_its_recognition(session, model):
    frames, settled = session
    recognizer, gallery = model
    pipeline = VisionPipeline(["left", "right", "blind"], recognizer=recognizer, gallery=gallery)
    still = frames[0][1]
    for t, frame in frames:
        pipeline.feed("left", t, frame)
        pipeline.feed("right", t, frame[:, ::-1].copy())    # the other side of the basket
        pipeline.feed("blind", t, still)                    # sees nothing change
    events = pipeline.on_settled(settled)
    assert [e.camera for e in events] in (["left", "right"], ["right", "left"])
    assert all(isinstance(e, ItemRecognized) and e.direction == "added" and e.t == settled.t for e in events)
    assert all(PRODUCT in [code for code, _ in e.candidates] for e in events)


def test_the_load_back_at_its_rest_is_looked_at_from_both_sides(session, model):
    """A swap in one motion leaves the weight where it was: the cameras say what lies in the
    changed place now ("added") and what lay there before ("removed"), in the same box."""
    frames, settled = session
    recognizer, gallery = model
    pipeline = VisionPipeline(["left"], recognizer=recognizer, gallery=gallery)
    for t, frame in frames:
        pipeline.feed("left", t, frame)
    returned = LoadReturned(settled.t, total_g=settled.total_g, started_t=settled.started_t)
    now, before = pipeline.on_settled(returned)
    assert (now.direction, before.direction) == ("added", "removed") and now.t == before.t == returned.t
    assert now.box == before.box and now.look != before.look
    assert PRODUCT in [code for code, _ in now.candidates][:3]          # the milk is there now
    assert [code for code, _ in before.candidates][:1] != [PRODUCT]     # and was not before


def test_what_is_still_there_after_a_removal_is_not_what_left(model):
    """An item pulled out from under a carton: the before-frame crop shows mostly the carton,
    which the after frame still shows where it was, so the carton is not a candidate."""
    from dashcart.events import WeightSettled
    from dashcart.sim.basket_scene import BasketScene
    from tests.conftest import SHARED_DATA
    from tests.vision_helpers import iconic
    if not SHARED_DATA.is_dir():
        pytest.skip("shared data not found")
    recognizer, gallery = model
    scene = BasketScene(seed=5)
    under = scene.add(iconic(SHARED_DATA, "Red-Bell-Pepper"), 200, 150, 200)
    scene.add(iconic(SHARED_DATA, PRODUCT), 210, 160, 200)        # the milk, lying on most of the pepper
    frames = [(i / 15, scene.render(i)) for i in range(10)]
    scene.remove(under)
    frames += [(i / 15, scene.render(i, hand=(330, 300, 90))) for i in range(10, 16)]
    frames += [(i / 15, scene.render(i)) for i in range(16, 30)]
    settled = WeightSettled(t=26 / 15, delta_g=-170.0, total_g=1580.0, started_t=10 / 15)

    set_aside = []

    def removed(pipeline):
        for t, frame in frames:
            pipeline.feed("left", t, frame)
        (event,) = pipeline.on_settled(settled)
        assert event.direction == "removed"
        set_aside.append({code for code, _ in event.still_there})
        return [code for code, _ in event.candidates]

    pipeline = VisionPipeline(["left"], recognizer=recognizer, gallery=gallery)
    filtered = removed(pipeline)
    # without the after frame's word, the crop's candidates are mostly cartons: the milk on top
    unfiltered_pipeline = VisionPipeline(["left"], recognizer=recognizer, gallery=gallery)
    unfiltered_pipeline._not_still_there = lambda candidates, change, after: (candidates, ())
    unfiltered = removed(unfiltered_pipeline)
    [(_, change, _, after)] = pipeline.find_changes(settled)
    x0, y0, x1, y1 = change.box
    still_seen = {code for code, _ in gallery.rank(recognizer.embed(after.image[y0:y1, x0:x1]), 5)}
    dropped = set(unfiltered) - set(filtered)
    assert dropped and dropped <= still_seen and set(filtered) <= set(unfiltered)
    assert set_aside[0] == dropped      # kept beside the candidates: calibration shares with them
    assert PRODUCT in unfiltered and PRODUCT not in filtered


def _hand_over_an_item(hand_until: float) -> list:
    """Frames 0.15 s apart: an empty basket, a red carton put down at 0.9 s with a hand held
    still on it (its arm from the bottom edge) until ``hand_until``, then the carton alone."""
    import numpy as np
    floor = np.full((480, 640, 3), (72, 76, 80), np.uint8)
    item = floor.copy()
    item[150:300, 250:400] = (40, 60, 200)          # a red carton with a white label
    item[200:240, 270:380] = (235, 235, 235)
    hand = item.copy()
    hand[220:480, 300:360] = (120, 150, 200)
    times = [round(i * 0.15, 2) for i in range(14)]
    return [(t, floor if t < 0.9 else hand if t <= hand_until else item) for t in times]


def _after_frame(frames: list, look_after_s: float):
    from dashcart.events import WeightSettled
    pipeline = VisionPipeline(["top"], VisionSection(look_after_s=look_after_s))
    settled = WeightSettled(1.4, delta_g=300.0, total_g=300.0, started_t=0.8)
    for t, frame in frames:
        if t <= settled.t + look_after_s:
            pipeline.feed("top", t, frame)
    [(_, change, before, after)] = pipeline.find_changes(settled)
    assert before.t < 0.8
    return change, after


def test_the_after_frame_is_the_newest_not_a_hand_held_still_over_the_item():
    """A hand held still over what it just put down makes still frames too; the frame in
    which it has gone differs from them (the arm left), so it is not "still". The crop must
    come from that newest frame: the item alone, no arm reaching to the frame's edge."""
    change, after = _after_frame(_hand_over_an_item(hand_until=1.2), look_after_s=0.0)
    assert after.t == 1.35
    assert iou(change.box, (250, 150, 400, 300)) > 0.6 and change.box[3] < 400


def test_a_hand_resting_on_the_item_as_the_load_settles_has_gone_a_moment_later():
    """The load settles (1.4 s) with the hand still on the carton; it leaves 0.1 s later. The
    newest frame at the settle shows the arm; the one look_after_s later the carton alone."""
    frames = _hand_over_an_item(hand_until=1.5)
    change, after = _after_frame(frames, look_after_s=0.0)
    assert after.t == 1.35 and change.box[3] == 480                  # the arm, down to the edge
    change, after = _after_frame(frames, look_after_s=0.3)
    assert after.t == 1.65
    assert iou(change.box, (250, 150, 400, 300)) > 0.6 and change.box[3] < 400
