"""``dashcart record OUT_DIR``: record a live trip as ``dashcart-trip/1``.

Records what the scale sends (every line, with its receive time), the beacons the
configured scanner hears (``beacons.csv``, with the site's zones and lane in ``trip.json``)
and, only with ``--frames``, the cameras' frames: frames are the shopper's basket, so they
are written only when someone asks for them on purpose. It opens the scale itself (through
``dashcart.runtime.devices``, as ``dashcart run`` does: ``scale.backend = "sim"`` records the
simulated bridge), so it runs instead of the cart; to record a cart in use, shopper's actions
included, use ``dashcart run --record DIR`` (dashcart.trips.recorder does the writing for both).
"""

from __future__ import annotations

import argparse
import queue
import sys
import time
from pathlib import Path

from dashcart.config import Config
from dashcart.errors import Misconfigured, RetryLater

#: How long the scale may take to connect before recording gives up.
CONNECT_S = 5.0


def run(args: argparse.Namespace, config: Config) -> int:
    from dashcart.runtime.devices import open_beacon_scanner, open_scale
    from dashcart.trips.recorder import TripRecorder, check_new_trip_dir

    out = Path(args.out)
    cameras: dict[str, str] = {}
    for spec in args.camera or []:
        ident, sep, device = spec.partition("=")
        if not sep or not ident or "/" in ident:
            raise Misconfigured(f"--camera {spec!r}: expected ID=DEVICE, e.g. top=/dev/video0")
        cameras[ident] = device
    check_new_trip_dir(out)   # before any device is opened
    captures = {}
    if args.frames:
        import cv2
        for ident, device in cameras.items():
            cap = cv2.VideoCapture(int(device) if device.isdigit() else device)
            if not cap.isOpened():
                raise RetryLater(f"camera {ident} at {device}: cannot open")
            captures[ident] = cap
    # Every line the driver receives, garbage included, with its receive time; written on this
    # thread once the recorder exists (the lines of the scale's start come first).
    lines: queue.SimpleQueue[tuple[float, bytes]] = queue.SimpleQueue()
    start = time.monotonic()
    scale = open_scale(config, on_line=lambda t, line: lines.put((t, line)))
    while not scale.connected and time.monotonic() - start < CONNECT_S:
        time.sleep(0.02)
    if not scale.connected:
        scale.close()
        for cap in captures.values():
            cap.release()
        raise RetryLater(f"{scale.describe()}: cannot open the scale: {getattr(scale, 'last_error', '') or 'no answer'}")
    recorder = TripRecorder(out, config, start_t=start, frames=args.frames, cameras=tuple(captures),
                            frames_fps=args.fps)

    def write_lines() -> None:
        while not lines.empty():
            recorder.scale_line(*lines.get_nowait())

    # The scanner calls back from its own thread; the recorder takes care of that.
    scanner = open_beacon_scanner(config.location, clock=time.monotonic)
    scanner.start(recorder.event)
    print(f"recording into {out}; Ctrl-C to stop", file=sys.stderr)
    try:
        while args.duration is None or time.monotonic() - start < args.duration:
            scale.read(timeout=0.05)   # the samples are the cart's business; the lines are the trip's
            write_lines()
            for ident, cap in captures.items():
                ok, image = cap.read()
                if ok:
                    recorder.frame(ident, time.monotonic(), image)
    except KeyboardInterrupt:
        pass
    finally:
        scanner.stop()
        scale.close()
        write_lines()
        recorder.close()
        for cap in captures.values():
            cap.release()
    print(f"recorded {time.monotonic() - start:.1f} s into {out}", file=sys.stderr)
    return 0


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser("record", parents=[common], help="record a live trip (dashcart-trip/1)",
                                   description="Record the scale's lines (and, only with --frames, camera frames) "
                                               "into OUT_DIR as a dashcart-trip/1 recording for replay.")
    parser.add_argument("out", metavar="OUT_DIR")
    parser.add_argument("--duration", type=float, metavar="S", help="stop after S seconds (default: Ctrl-C)")
    parser.add_argument("--frames", action="store_true", help="also write camera frames (privacy: off by default)")
    parser.add_argument("--camera", action="append", metavar="ID=DEVICE", help="a camera to record with --frames")
    parser.add_argument("--fps", type=float, default=5.0, help="frames per second per camera with --frames")
    parser.set_defaults(func=run)
