"""``dashcart run``: the live cart service (what systemd starts), on simulated hardware by default.

The UI runs in the main thread unless ``--headless``; then basket and session changes are
logged to stderr instead. SIGTERM (``systemctl stop``) and SIGINT stop it cleanly: STOPPING=1,
the loops end, the journal and outbox are closed; the session resumes on the next start. A fleet
config document (docs/fleet.md) makes it stop the same way when no shopper is using the cart and
start again in the same process (RELOADING=1, then READY=1), built from the new document.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from dashcart.config import Config
from dashcart.errors import Misconfigured, PermanentlyBroken

if TYPE_CHECKING:
    from dashcart.trips.recorder import TripRecorder

log = logging.getLogger("dashcart.run")


def install_stop_signals(stop: Callable[[], None]) -> None:
    """SIGTERM and SIGINT call ``stop`` (only possible from the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: stop())


def run(args: argparse.Namespace, config: Config) -> int:
    from dashcart.runtime.cart_runtime import CartRuntime, ChangeLogger
    from dashcart.runtime.sdnotify import Notifier

    if args.data and not (Path(args.data) / "catalogue" / "demo_store.csv").is_file():
        # as the demo says it: a typo here would run a cart that sells nothing
        raise Misconfigured(f"--data: {args.data}: no catalogue/demo_store.csv there")
    notifier = Notifier.from_environment()
    headless = args.headless
    recorder = open_recorder(args, config)
    runtime = CartRuntime(config, notifier=notifier, data_dir=Path(args.data) if args.data else None,
                          on_snapshot=ChangeLogger(lambda line: print(f"dashcart: {line}", file=sys.stderr,
                                                                       flush=True)) if headless else None,
                          recorder=recorder)
    # A new fleet config takes effect by starting again (not while recording: that would start a
    # second trip into the same folder).
    runtime.restartable = recorder is None
    install_stop_signals(runtime.request_stop)
    try:
        runtime.start()
        # From here on runtime.config: the file with the fleet's last applied document laid over it.
        log.info("cart %s up; state in %s", config.cart.id, runtime.state_dir)
        for line in start_notes(runtime.config, headless):
            log.warning("%s", line)
        if headless:
            runtime.ready()
            while not runtime.wait(1.0):
                pass
        else:
            from dashcart.ui.run import run_ui
            run_ui(runtime.ui_beat(), runtime.post, runtime.config, clock=runtime.clock,
                   should_stop=runtime.stopped.is_set)
    except (Misconfigured, PermanentlyBroken) as exc:
        # A fleet document this cart cannot start with: refused, and the cart starts again without
        # it. (Not for RetryLater: a device or the disk away for now is not the document's fault.)
        if not (runtime.restartable and config.fleet.broker_url):
            raise
        from dashcart.runtime.fleet import refuse_failed_start
        if not refuse_failed_start(config, str(exc)):
            raise
        runtime.restart_requested = f"without the fleet config it could not start with ({exc})"
    finally:
        runtime.stop()
        if recorder is not None:
            print(f"dashcart: recorded the trip into {recorder.out} ({recorder.lines} scale lines); "
                  f"replay it with `dashcart replay {recorder.out}`", file=sys.stderr)
    if runtime.restart_requested:
        start_again(runtime.restart_requested)
    return 0


def start_again(why: str) -> NoReturn:
    """Run this same command again in this process (the same pid for systemd and its watchdog):
    everything is built afresh from the config file and the fleet's last applied document, and
    the session resumes from the journal as after any restart."""
    log.warning("starting again: %s", why)
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    # Whatever a driver opened without close-on-exec (a camera, the display) is not carried over.
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))
    os.execv(sys.executable, [sys.executable, "-m", "dashcart", *sys.argv[1:]])


def start_notes(config: Config, headless: bool) -> list[str]:
    """What a person at this cart must know first: it charges nobody, how to sign in, what is simulated."""
    notes = []
    if not config.checkout.store_url:
        notes.append("practice cart: no store configured (checkout.store_url), nothing is charged; "
                     "the screen says so")
    if not config.cameras.devices:
        notes.append("no camera: nobody can show a QR code, so "
                     + ("the welcome screen starts a practice session with a tap (or Enter)"
                        if not config.checkout.store_url and not headless else
                        "nobody can sign in" + (" without the screen" if headless else " (configure [[cameras.devices]])")))
    simulated = [name for name, on in (("scale", config.scale.backend == "sim"),
                                       ("beacons", config.location.backend == "sim")) if on]
    if config.location.backend == "sim" and not config.location.script:
        notes.append("no beacons are simulated (location.script is empty): the cart never reaches a checkout lane; "
                     "`dashcart demo --interactive` has the lane, or play a beacons.csv with location.script")
    if simulated:
        notes.append(f"simulated: {', '.join(simulated)} (config: {config.source or 'none, the defaults'}; "
                     "`dashcart config --effective` shows every setting)")
    return notes


def open_recorder(args: argparse.Namespace, config: Config) -> TripRecorder | None:
    """``--record DIR``: the trip recorder, on the clock the runtime stamps events with."""
    if not args.record:
        if args.record_frames:
            raise Misconfigured("--record-frames: only with --record DIR")
        return None
    import time

    from dashcart.trips.recorder import TripRecorder
    cameras = tuple(spec.id for spec in config.cameras.devices)
    return TripRecorder(args.record, config, start_t=time.monotonic(), frames=args.record_frames, cameras=cameras)


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "run", parents=[common], help="run the cart (the service systemd starts)",
        description="Run the cart: scale, cameras, beacons, basket, touchscreen and checkout. With no config "
                    "file it runs on simulated hardware. Tells systemd READY=1 when up and pings its watchdog "
                    "while every loop makes progress; SIGTERM stops it cleanly.")
    parser.add_argument("--headless", action="store_true",
                        help="no screen: log basket changes and questions to stderr")
    parser.add_argument("--data", metavar="DIR",
                        help="data folder for the demo catalogue when no catalogue is imported "
                             "(default: the demo store bundled with the package)")
    parser.add_argument("--record", metavar="DIR",
                        help="maintainers: record this run as a dashcart-trip/1 trip in DIR (new or empty): the "
                             "scale's lines, beacons and the shopper's actions, for `dashcart replay DIR`")
    parser.add_argument("--record-frames", action="store_true",
                        help="with --record: also write camera frames (5 per second per camera). Frames show the "
                             "shopper's basket: only for a debugging session the shopper knows about")
    parser.set_defaults(func=run)
