"""The frame ring keeps four seconds of a camera in a fraction of the raw size, and gives vision
back frames that are the ones it was given, to within JPEG's loss."""

import numpy as np

from dashcart.drivers.camera.ring import FrameRing


def _noisy(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = np.zeros((480, 640, 3), np.uint8)
    base[100:300, 200:400] = (40, 160, 220)            # a carton on the basket floor
    return np.clip(base.astype(np.int16) + rng.integers(-3, 4, base.shape), 0, 255).astype(np.uint8)


def test_four_seconds_at_15_fps_take_a_fraction_of_the_raw_frames():
    ring = FrameRing("top", seconds=4.0)
    frames = {}
    for i in range(120):                               # 8 s at 15 fps
        t = i / 15
        frames[t] = _noisy(i)
        ring.add(t, frames[t])
    raw_bytes = 61 * frames[0.0].nbytes                # what 4 s of raw frames took
    assert ring.nbytes() < raw_bytes / 8
    times = ring.times()
    assert times[-1] == 119 / 15 and times[0] >= times[-1] - 4.0
    # the newest frames are the very arrays given (the processing thread takes them)
    assert ring.latest().image is frames[times[-1]]
    # older ones: five a second across the whole window
    gaps = np.diff(times)
    assert len(times) >= 20 and gaps.max() <= 0.21
    old = ring.at_or_before(times[-1] - 2.0)
    assert old.t <= times[-1] - 2.0 and old.image.shape == (480, 640, 3)
    difference = np.abs(old.image.astype(np.int16) - frames[old.t].astype(np.int16))
    assert difference.mean() < 3.0                     # JPEG at quality 90: sensor-noise level


def test_quality_none_keeps_every_frame_raw():
    ring = FrameRing("top", seconds=1.0, quality=None)
    images = [_noisy(i) for i in range(16)]
    for i, image in enumerate(images):
        ring.add(i / 15, image)
    assert len(ring) == 16 and all(f.image is images[i] for i, f in enumerate(ring.frames()))
