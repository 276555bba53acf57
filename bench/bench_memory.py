"""Memory of the live cart with N cameras at the documented defaults (640x480, 15 fps, the 4 s
frame ring), the recognizer and its gallery loaded: peak and steady resident memory.

Each measurement is a fresh process running :class:`dashcart.runtime.cart_runtime.CartRuntime`
headless (what `dashcart run --headless` runs: capture threads, frame rings, vision processing
threads, the recognition worker) with N cameras that deliver exactly 15 frames a second: store
photos from the demo store at 640x480 with fresh sensor noise in every frame (so a JPEG of a
frame is as big as a real camera's), a new array per frame as a capture driver returns it.
The simulated basket camera is not used here: on a loaded machine it renders fewer than 15 fps,
which would flatter the ring. VmHWM (peak) and VmRSS (now) come from /proc after ``--seconds``.

``--raw`` keeps every frame raw in the ring (the ring before issue 19) for comparison.
Targets (issue 19): four cameras <= 250 MB peak; two <= 150 MB.

    python -m bench.bench_memory [--cameras 1 2 4] [--seconds 20] [--raw]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _status(field: str, pid: str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(cameras: int, seconds: float, raw: bool) -> dict:
    import cv2
    import numpy as np

    from dashcart.config import CameraSpec, Config
    from dashcart.drivers.camera.source import FrameSource
    from dashcart.runtime.cart_runtime import CartRuntime, Devices

    photos = sorted((REPO / "dashcart" / "sim" / "demo_store" / "grocery-store").rglob("*.jpg"))[:cameras * 3]
    bases = [cv2.resize(cv2.imread(str(p), cv2.IMREAD_COLOR), (640, 480)) for p in photos]

    class PacedCamera(FrameSource):
        """15 frames a second of one still basket photo with sensor noise (sigma 3 levels)."""

        def __init__(self, camera_id: str, base: np.ndarray, fps: float = 15.0) -> None:
            super().__init__(camera_id)
            self.base = base.astype(np.int16)
            self.period = 1.0 / fps
            self.next_t = 0.0
            self.rng = np.random.default_rng(hash(camera_id) & 0xFFFF)

        def open(self) -> None:
            self.next_t = time.monotonic()

        def read(self) -> tuple[float | None, np.ndarray]:
            self.next_t += self.period
            delay = self.next_t - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            noise = self.rng.integers(-3, 4, size=self.base.shape, dtype=np.int16)
            return None, np.clip(self.base + noise, 0, 255).astype(np.uint8)

        def close(self) -> None:
            pass

    if raw:
        import functools

        from dashcart.drivers.camera import capture, ring
        capture.FrameRing = functools.partial(ring.FrameRing, quality=None)   # type: ignore[misc]
    tmp = tempfile.mkdtemp(prefix="dashcart-mem-")
    config = Config()
    specs = [CameraSpec(id=f"cam{i}", backend="sim") for i in range(cameras)]
    config = dataclasses.replace(config, cart=dataclasses.replace(config.cart, state_dir=tmp),
                                 cameras=dataclasses.replace(config.cameras, devices=specs, buffer_s=4.0))
    sources = [PacedCamera(s.id, bases[i % len(bases)]) for i, s in enumerate(specs)]
    runtime = CartRuntime(config, devices=Devices(cameras=sources))
    runtime.start()
    try:
        time.sleep(seconds)
        peak, now = _status("VmHWM"), _status("VmRSS")
        rings = []
        for cam in runtime._live.cameras:
            times = cam.ring.times()      # (frames() would decode them all: the bench's own peak)
            rings.append({"frames": len(times), "mb": cam.ring.nbytes() / 1e6,
                          "span_s": round(times[-1] - times[0], 2) if times else 0.0})
        return {"peak": peak, "now": now, "rings": rings, "recognizer": runtime._live.pipeline.recognizer is not None}
    finally:
        runtime.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cameras", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--raw", action="store_true", help="every frame raw in the ring (before issue 19)")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.seconds, args.raw)))
        return 0
    targets = {2: 150.0, 4: 250.0}
    print(f"ring: {'raw frames' if args.raw else 'JPEG-encoded older frames'}; 640x480 at 15 fps, buffer 4 s")
    print("cameras  peak MB  now MB  ring frames  ring MB  recognizer  target")
    env = dict(os.environ, SDL_VIDEODRIVER="dummy", SDL_AUDIODRIVER="dummy")
    for n in args.cameras:
        out = subprocess.run([sys.executable, "-m", "bench.bench_memory", "--child", str(n), "--seconds", str(args.seconds)]
                             + (["--raw"] if args.raw else []), capture_output=True, text=True, env=env, cwd=REPO)
        if out.returncode != 0:
            print(f"{n:7d}  failed: {out.stderr.strip().splitlines()[-1:]}")
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        frames = "/".join(str(x["frames"]) for x in r["rings"])
        ring_mb = sum(x["mb"] for x in r["rings"])
        target = targets.get(n)
        verdict = "" if target is None else f"<= {target:.0f} ({'met' if r['peak'] <= target else 'NOT met'})"
        print(f"{n:7d}  {r['peak']:7.0f}  {r['now']:6.0f}  {frames:>11}  {ring_mb:7.1f}  {str(r['recognizer']):>10}  "
              f"{verdict}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
