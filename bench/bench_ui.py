"""Frame time of the touchscreen's shopping screen with a 40-item basket.

Prints a table: per resolution, the median and 95th percentile milliseconds of
  full      every widget drawn (first frame, screen change),
  change    one item added (new line, highlight, total, savings redrawn),
  steady    nothing changed (the usual 30 fps frame: build + compare, no drawing).
Target: a frame in at most 5 ms here. Runs off-screen (SDL dummy driver).

    python -m bench.bench_ui [--frames N]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import pygame

from dashcart.config import Config
from dashcart.sim.demo_scenes import demo_catalogue, long_basket
from dashcart.ui.app import App
from dashcart.ui.layout import RESOLUTIONS

TARGET_MS = 5.0


def measure(size: tuple[int, int], frames: int, data: Path | None) -> dict[str, list[float]]:
    surface = pygame.display.set_mode(size)
    base = long_basket(40, demo_catalogue(data))   # the controller's snapshot of a 40-line basket
    app = App(Config(), lambda action: None, clock=lambda: base.t, size=size)
    app.render(base, surface, full=True)  # warm the picture and text caches once, as a running cart has
    times: dict[str, list[float]] = {"full": [], "change": [], "steady": []}
    for i in range(frames):
        t0 = time.perf_counter()
        app.render(base, surface, full=True)
        times["full"].append(time.perf_counter() - t0)

        changed = dataclasses.replace(
            base, t=base.t + i + 1, total_cents=base.total_cents + i + 1, savings_cents=i,
            lines=base.lines[:-1] + (dataclasses.replace(base.lines[-1], qty=base.lines[-1].qty + 1 + i),),
            last_change_code=base.lines[-1].code, last_change_t=base.t + i + 1)
        t0 = time.perf_counter()
        app.render(changed, surface)
        times["change"].append(time.perf_counter() - t0)

        t0 = time.perf_counter()
        app.render(changed, surface)
        times["steady"].append(time.perf_counter() - t0)
        app.render(base, surface, full=True)
    return {k: [v * 1000 for v in vals] for k, vals in times.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    args = parser.parse_args()
    data = Path(args.data) if Path(args.data).is_dir() else None
    pygame.init()
    print(f"shopping screen, 40-item basket, {args.frames} frames each; target <= {TARGET_MS} ms/frame")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (a busy machine inflates median/p95)")
    print(f"{'resolution':<11} {'frame':<7} {'min ms':>7} {'median ms':>9} {'p95 ms':>7}  ok")
    for size in RESOLUTIONS:
        for kind, ms in measure(size, args.frames, data).items():
            ms.sort()
            median, p95 = statistics.median(ms), ms[int(len(ms) * 0.95) - 1]
            print(f"{f'{size[0]}x{size[1]}':<11} {kind:<7} {ms[0]:7.2f} {median:9.2f} {p95:7.2f}  "
                  f"{'yes' if median <= TARGET_MS else 'NO'}")
    pygame.quit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
