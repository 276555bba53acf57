import numpy as np

from dashcart.core.vision.health import CameraHealth, CameraView
from dashcart.core.vision.motion import MotionGate, thumbnail
from dashcart.sim.basket_scene import BasketScene, CameraSetup


def _gate_events(gate, frames):
    events = []
    for t, frame in frames:
        events += gate.update(t, thumbnail(frame))
    return events


def test_hands_in_then_out_after_the_hold():
    scene = BasketScene(320, 240, seed=1)
    frames = [(i / 15, scene.render(i)) for i in range(5)]
    # A hand sweeps in from the bottom and out again.
    frames += [((5 + i) / 15, scene.render(5 + i, hand=(100 + 20 * i, 150, 50))) for i in range(6)]
    frames += [((11 + i) / 15, scene.render(11 + i)) for i in range(15)]
    gate = MotionGate("left", threshold=0.02, hold_s=0.6)
    events = _gate_events(gate, frames)
    assert [(e.active, e.camera) for e in events] == [(True, "left"), (False, "left")]
    assert events[0].t == frames[5][0]
    # Out only once the basket had been still for hold_s after the last change.
    assert events[1].t - frames[11][0] >= 0.6 - 1e-9
    assert events[1].t - frames[11][0] < 0.6 + 1 / 15 + 1e-9


def test_flicker_and_noise_are_not_motion():
    scene = BasketScene(320, 240, seed=2, camera=CameraSetup(noise=3.0))
    frames = [(i / 15, scene.render(i, gain=1.0 + 0.12 * (-1) ** i)) for i in range(30)]
    assert _gate_events(MotionGate("left"), frames) == []


def _health_run(health, frames):
    events = []
    for t, frame in frames:
        events += health.update(t, frame, thumbnail(frame))
    return events


def test_covered_camera_is_reported_after_covered_s_and_cleared():
    scene = BasketScene(320, 240, seed=3)
    health = CameraHealth("left", covered_s=2.0)
    rng = np.random.default_rng(0)
    covered = lambda: np.clip(rng.normal(30, 2, (240, 320, 3)), 0, 255).astype(np.uint8)  # noqa: E731
    frames = [(t / 10, scene.render(t)) for t in range(5)]
    frames += [(t / 10, covered()) for t in range(5, 35)]
    frames += [(t / 10, scene.render(t)) for t in range(35, 40)]
    events = _health_run(health, frames)
    assert [(e.device, e.state) for e in events] == [("camera:left", "degraded"), ("camera:left", "ok")]
    assert events[0].t == 2.5 and "covered" in events[0].message
    assert events[1].t == 3.5
    assert health.view is CameraView.OK


def test_brief_cover_by_a_hand_is_not_reported():
    scene = BasketScene(320, 240, seed=3)
    black = np.zeros((240, 320, 3), np.uint8)
    frames = [(t / 10, black if 5 <= t < 15 else scene.render(t)) for t in range(30)]
    assert _health_run(CameraHealth("left", covered_s=2.0), frames) == []


def test_frozen_camera_repeating_one_frame():
    scene = BasketScene(320, 240, seed=4)
    stuck = scene.render(99)
    frames = [(t / 10, scene.render(t)) for t in range(5)]
    frames += [(t / 10, stuck.copy()) for t in range(5, 45)]
    frames += [(4.5, scene.render(100))]
    events = _health_run(CameraHealth("left", frozen_s=3.0), frames)
    assert [e.state for e in events] == ["degraded", "ok"]
    assert "frozen" in events[0].message and events[0].t == 3.6  # 3 s after the first repeat at 0.6


def test_a_still_basket_is_not_frozen():
    scene = BasketScene(320, 240, seed=5, camera=CameraSetup(noise=1.0))
    frames = [(t / 10, scene.render(t)) for t in range(40)]
    assert _health_run(CameraHealth("left", frozen_s=3.0), frames) == []
