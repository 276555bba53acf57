"""``dashcart demo``: the whole cart on simulated hardware, with a scripted trip or a person at the keys.

* with a display: the scripted trip plays on screen;
* ``--headless`` (and automatically where there is no display): the trip's events and the
  receipt are printed, screenshots of the real UI saved; exit 0 only if the final basket is
  the script's;
* ``--interactive``: put catalogue items in and take them out with keys or clicks.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from dashcart.config import Config
from dashcart.errors import Misconfigured

if TYPE_CHECKING:
    from dashcart.sim.demo_cart import DemoResult, SimulatedCart
    from dashcart.snapshot import Snapshot

log = logging.getLogger("dashcart.demo")


def have_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) or \
        os.environ.get("SDL_VIDEODRIVER", "") not in ("", "dummy", "offscreen")


def run(args: argparse.Namespace, config: Config) -> int:
    from dashcart.sim.demo_cart import SimulatedCart, fresh_state_dir

    mode = "interactive" if args.interactive else "headless" if args.headless else "screen"
    if mode == "interactive" and not have_display():
        raise Misconfigured("--interactive needs a display ($DISPLAY or $WAYLAND_DISPLAY, or SDL_VIDEODRIVER=kmsdrm "
                            "on a Pi's screen); without one, run `dashcart demo --headless`")
    if mode != "headless" and not have_display():
        print("dashcart demo: no display found ($DISPLAY/$WAYLAND_DISPLAY unset): running headless", file=sys.stderr)
        mode = "headless"
    if mode == "headless":
        # The screenshots are drawn off-screen by the real UI renderer.
        os.environ["SDL_VIDEODRIVER"] = "dummy"
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    state_dir = Path(args.state_dir) if args.state_dir else fresh_state_dir()
    out = sys.stdout
    t0 = time.monotonic()

    def say(line: str) -> None:
        print(f"{time.monotonic() - t0:7.2f}  {line}", file=out, flush=True)

    from dashcart.sim.demo_cart import format_note
    cart = SimulatedCart(config, Path(args.data) if args.data else None, state_dir,
                         on_note=(lambda entry: print(format_note(entry, t0), file=out, flush=True))
                         if mode != "interactive" else None)
    try:
        cart.start()
        cart.runtime.ready()
        if mode == "interactive":
            from dashcart.sim.demo_interactive import run_interactive
            run_interactive(cart)
            return 0
        return _scripted(args, cart, mode, say, state_dir)
    finally:
        cart.stop()
        if not args.state_dir:
            shutil.rmtree(state_dir, ignore_errors=True)


def _scripted(args: argparse.Namespace, cart: SimulatedCart, mode: str, say: Callable[[str], None],
              state_dir: Path) -> int:
    from dashcart.sim.demo_cart import Screenshots, ScriptedTrip

    shots = Screenshots(Path(args.screenshots), cart.config, cart.runtime.post,
                        deferred=mode == "screen") if args.screenshots else None
    trip = ScriptedTrip(cart, say, shots)
    if mode == "screen":
        from dashcart.ui.run import run_ui
        result_box: list[DemoResult] = []
        worker = threading.Thread(target=lambda: result_box.append(trip.run()), name="demo-script", daemon=True)
        worker.start()
        # The screen stays up a few seconds after the receipt so it can be read.
        done_at: list[float] = []

        def should_stop() -> bool:
            if cart.runtime.stopped.is_set():
                return True
            if result_box and not done_at:
                done_at.append(time.monotonic())
            return bool(done_at) and time.monotonic() - done_at[0] > args.linger
        get_snapshot = cart.runtime.ui_beat()

        def frame() -> Snapshot:
            if shots is not None:
                shots.drain()
            return get_snapshot()
        run_ui(frame, cart.runtime.post, cart.config, clock=cart.runtime.clock, should_stop=should_stop)
        worker.join(timeout=60)
        if shots is not None:
            shots.drain()
        if result_box and shots is not None:
            result_box[0].screenshots = list(shots.saved)
        if not result_box:
            print("dashcart demo: the window was closed before the trip ended", file=sys.stderr)
            return 1
        result = result_box[0]
    else:
        result = trip.run()
    return _report(result, cart, say, state_dir, keep=bool(args.state_dir))


def _report(result: DemoResult, cart: SimulatedCart, say: Callable[[str], None], state_dir: Path, keep: bool) -> int:
    print("", flush=True)
    if result.receipt:
        text = Path(result.receipt)
        print(text.read_text(encoding="utf-8") if text.is_file() else f"(receipt {text} is gone)")
        if keep:
            print(f"receipt: {result.receipt}")
    for line in result.problems:
        print(f"dashcart demo: {line}", file=sys.stderr)
    if result.screenshots:
        print(f"screenshots: {len(result.screenshots)} in {result.screenshots[0].parent}")
    verdict = "the basket is right" if result.ok else "the basket is WRONG" if result.receipt else "the trip did not finish"
    print(f"demo: {verdict}; {result.questions_answered} question(s) answered; {result.seconds:.1f} s", flush=True)
    return 0 if result.ok else 1


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "demo", parents=[common], help="the whole cart on simulated hardware: a scripted trip, or you at the keys",
        description="Run the whole cart on simulated hardware through the real code paths (scale on a "
                    "pseudo-terminal read by the serial driver, a camera filming a composited basket into the "
                    "vision pipeline, scripted zone and lane beacons, the checkout outbox and a local receipt). "
                    "A scripted trip plays on screen; --headless prints it and exits 0 only if the final basket "
                    "is right; --interactive lets you put items in and take them out.")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--headless", action="store_true",
                      help="no window: print the events and the receipt (the default when there is no display)")
    mode.add_argument("--interactive", action="store_true",
                      help="a window with the shelf: put items in and take them out with keys or clicks")
    parser.add_argument("--screenshots", metavar="DIR", help="save a screenshot of the cart's screen after each step")
    parser.add_argument("--data", metavar="DIR",
                        help="a data folder with catalogue/demo_store.csv and grocery-store/, e.g. the full "
                             "dataset ../shared/data (default: the demo store bundled with the package)")
    parser.add_argument("--state-dir", metavar="DIR",
                        help="keep the demo's journal, outbox and receipt here (default: a temporary folder, removed)")
    parser.add_argument("--linger", type=float, default=5.0, metavar="S",
                        help="seconds the window stays up after the receipt (default 5)")
    parser.set_defaults(func=run)
