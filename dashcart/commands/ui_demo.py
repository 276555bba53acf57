"""``dashcart ui-demo``: the touchscreen on this display, drawing a demo scene.

For checking a cart's display, touch and fonts before the rest is wired: every tap prints
the shopper action it would send, as one JSON line on stdout.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from pathlib import Path

from dashcart.config import Config
from dashcart.errors import Misconfigured


def run(args: argparse.Namespace, config: Config) -> int:
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    from dashcart.sim.demo_scenes import all_scenes
    from dashcart.ui.run import run_ui

    data = Path(args.data) if args.data else None
    if data is not None and not data.is_dir():
        raise Misconfigured(f"--data {data}: no such directory")
    # The controller's own snapshots from the demo's trip, not hand-made ones.
    by_name = {s.name: s for s in all_scenes(data, config)}
    if args.scene not in by_name:
        raise Misconfigured(f"--scene {args.scene!r}: not a demo scene (one of {', '.join(by_name)})")
    snapshot = by_name[args.scene].snapshot
    if args.resolution:
        config = dataclasses.replace(config, ui=dataclasses.replace(config.ui, resolution=args.resolution))
    if args.windowed:
        config = dataclasses.replace(config, ui=dataclasses.replace(config.ui, fullscreen=False))
    start = time.monotonic()

    def print_action(action) -> None:
        print(json.dumps(dataclasses.asdict(action)), flush=True)

    stop = (lambda: time.monotonic() - start > args.seconds) if args.seconds else (lambda: False)
    run_ui(lambda: snapshot, print_action, config, should_stop=stop)
    return 0


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser("ui-demo", parents=[common], help="show the touchscreen with a demo scene",
                                   description="Open the touchscreen and draw a demo scene; taps print the "
                                               "shopper action as JSON lines. Close the window or Ctrl-C to stop.")
    parser.add_argument("--scene", default="shopping",
                        help="which demo scene's snapshot (default: shopping); overlays such as help open by tapping")
    parser.add_argument("--resolution", choices=("800x480", "1280x800", "720x1280"), help="override ui.resolution")
    parser.add_argument("--windowed", action="store_true", help="a window instead of full screen")
    parser.add_argument("--seconds", type=float, default=0.0, help="stop after this long (0: run until closed)")
    parser.add_argument("--data", metavar="DIR", help="data with the demo pictures "
                                                      "(default: the demo store bundled with the package)")
    parser.set_defaults(func=run)
