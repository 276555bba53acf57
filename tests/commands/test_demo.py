"""The simulated cart end to end: ``dashcart demo --headless`` through the real scale driver on a
pty, the camera, vision, location, controller, checkout outbox and the UI renderer."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dashcart.core.catalogue import Catalogue
from dashcart.sim.demo_cart import TRIP, Put, Take, basket_matches, truth_of

REPO = Path(__file__).resolve().parents[2]


def test_headless_demo_ends_with_the_scripts_basket_a_receipt_and_screenshots(tmp_path: Path,
                                                                              shared_data: Path) -> None:
    shots, state = tmp_path / "shots", tmp_path / "state"
    env = dict(os.environ, SDL_VIDEODRIVER="dummy", SDL_AUDIODRIVER="dummy")
    env.pop("DISPLAY", None)
    done = subprocess.run([sys.executable, "-m", "dashcart", "demo", "--headless", "--data", str(shared_data),
                           "--screenshots", str(shots), "--state-dir", str(state)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=170)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "the basket is right" in done.stdout
    receipts = list((state / "receipts").glob("*.txt"))
    assert len(receipts) == 1
    receipt = receipts[0].read_text()
    assert "Arla Medium Fat Milk" in receipt and "Arla Standard Milk" in receipt and "Banana" in receipt
    assert "Soyghurt" not in receipt                      # taken out again
    assert receipt in done.stdout                         # printed too
    pngs = sorted(p.name for p in shots.glob("*.png"))
    assert len(pngs) >= 8 and pngs[0].endswith("welcome.png") and pngs[-1].endswith("paid.png")
    assert "cart question" in done.stdout                 # the hidden barcode made the cart ask
    assert "Traceback" not in done.stderr


def test_demo_without_data_says_where_to_get_it(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "dashcart", "demo", "--headless", "--data", str(tmp_path / "nothing")],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "--data" in done.stderr and "demo_store.csv" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_script_truth_and_the_basket_check(shared_data: Path) -> None:
    catalogue = Catalogue.from_csv(shared_data / "catalogue" / "demo_store.csv")
    truth = truth_of(TRIP)
    taken = {s.code for s in TRIP if isinstance(s, Take)}
    assert taken and not taken & set(truth)
    assert {s.code for s in TRIP if isinstance(s, Put)} - taken == set(truth)
    assert basket_matches(truth, truth, catalogue) == []
    bananas = truth["4011"]
    assert basket_matches(truth, {**truth, "4011": (1, [bananas[1][0] + 2.0])}, catalogue) == []
    assert basket_matches(truth, {**truth, "4011": (1, [bananas[1][0] + 60.0])}, catalogue)
    wrong = dict(truth)
    del wrong["2400000001409"]
    assert any("missing" in p for p in basket_matches(truth, wrong, catalogue))
    assert any("never put in" in p for p in basket_matches(truth, {**truth, "2490000001493": (1, [])}, catalogue))


def test_interactive_keys_sign_in_and_put_a_carton_in(tmp_path: Path, shared_data: Path) -> None:
    import threading
    import time

    import pygame

    from dashcart.config import Config
    from dashcart.runtime.cart_runtime import wait_for
    from dashcart.sim.demo_cart import SimulatedCart
    from dashcart.sim.demo_interactive import SHELF_CODES, run_interactive
    from dashcart.snapshot import SessionState

    cart = SimulatedCart(Config(), shared_data, tmp_path / "state")
    cart.start()
    milk = SHELF_CODES.index("2410000001415")
    finished = threading.Event()
    seen: dict[str, object] = {}

    def person() -> None:
        try:
            for _ in range(200):   # events posted before the window exists are lost
                if pygame.display.get_init() and pygame.display.get_surface() is not None:
                    break
                time.sleep(0.05)
            pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_q, unicode="q", mod=0))
            seen["signed_in"] = wait_for(cart.runtime, lambda s: s.state is SessionState.SHOPPING, 15)
            key = "1234567890"[milk]
            pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=ord(key), unicode=key, mod=0))
            seen["milk"] = wait_for(cart.runtime, lambda s: any(line.code == "2410000001415" for line in s.lines), 15)
        finally:
            finished.set()

    threading.Thread(target=person, daemon=True).start()
    try:
        run_interactive(cart, should_stop=finished.is_set)
    finally:
        cart.stop()
    assert seen.get("signed_in") is not None, "pressing q (show the QR code) did not sign in"
    assert seen.get("milk") is not None, "pressing the milk's key did not put it in the basket"


def test_interactive_without_a_display_says_so(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["SDL_VIDEODRIVER"] = "dummy"
    done = subprocess.run([sys.executable, "-m", "dashcart", "demo", "--interactive"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "needs a display" in done.stderr and "--headless" in done.stderr
