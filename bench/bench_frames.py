"""CPU cost of the always-on frame work: two cameras at 15 fps, 640x480 MJPEG.

Per frame: JPEG decode (what capture costs on a USB camera delivering MJPEG), then the
pipeline's feed (ring buffer, camera health, motion gate, and the barcode scan with its
multi-frame consensus while hands are in). Measured as process CPU time, so other load
on the machine does not inflate it. Target: under half of one core with hands in.

    python -m bench.bench_frames [--frames 90] [--barcode-every 1]
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np

from dashcart.config import VisionSection
from dashcart.core.vision.pipeline import VisionPipeline
from dashcart.sim.basket_scene import BasketScene

FPS = 15
CAMERAS = ("left", "right")


def _label(text: str) -> np.ndarray:
    import zxingcpp
    code = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.EAN13)
    return cv2.cvtColor(np.array(zxingcpp.write_barcode_to_image(code, scale=2)), cv2.COLOR_GRAY2BGR)


def _frames(count: int, hands: bool, seed: int) -> list[bytes]:
    """JPEG frames of a basket: still, or with a hand moving and, every other half
    second, a barcode held up."""
    scene = BasketScene(seed=seed)
    label = _label("4006381333931")
    lh, lw = label.shape[:2]
    out = []
    for i in range(count):
        hand = (100 + (i * 37) % 440, 200 + (i * 23) % 200, 90) if hands else None
        frame = scene.render(i, hand=hand)
        if hands and (i // 8) % 2 == 0:
            x = 40 + (i * 5) % 200
            frame[60:60 + lh, x:x + lw] = label
        out.append(cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes())
    return out


def _measure(pipeline: VisionPipeline, frames: list[bytes], t0: float) -> tuple[float, float, int]:
    """(decode CPU s, feed CPU s, frames) over both cameras."""
    decode = feed = 0.0
    n = 0
    for i, jpeg in enumerate(frames):
        t = t0 + i / FPS
        for cam in CAMERAS:
            start = time.process_time()
            image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
            mid = time.process_time()
            pipeline.feed(cam, t, image)
            end = time.process_time()
            decode += mid - start
            feed += end - mid
            n += 1
    return decode, feed, n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=90, help="frames per camera per phase")
    parser.add_argument("--barcode-every", type=int, default=VisionSection().barcode_every)
    args = parser.parse_args()
    cv2.setNumThreads(1)  # the Pi build runs these single-threaded per camera anyway
    vision = VisionSection(barcode_every=args.barcode_every)
    still = _frames(args.frames, hands=False, seed=1)
    busy = _frames(args.frames, hands=True, seed=2)
    rows = []
    for name, frames in (("hands out (basket still)", still), ("hands in (scanning)", busy)):
        pipeline = VisionPipeline(CAMERAS, vision)
        decode, feed, n = _measure(pipeline, frames, 0.0)
        per_frame = (decode + feed) / n
        rows.append((name, decode / n * 1000, feed / n * 1000, per_frame * 1000, per_frame * FPS * len(CAMERAS)))
    print(f"two cameras x {FPS} fps, 640x480 JPEG, barcode scan every {args.barcode_every} frame(s) while hands are in")
    print(f"{'phase':<28}{'decode ms':>10}{'feed ms':>9}{'total ms':>10}{'cores':>8}  target < 0.50")
    for name, dec, fed, total, cores in rows:
        print(f"{name:<28}{dec:>10.2f}{fed:>9.2f}{total:>10.2f}{cores:>8.2f}  {'ok' if cores < 0.5 else 'OVER'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
