"""``dashcart demo --interactive``: you are the shopper. The cart's screen on the left, the shelf
and the basket camera's view on the right.

Keys (or clicks on the shelf): ``1``-``9``, ``0`` put that product in (a carton shows its barcode
to the camera first unless ``b`` turned that off); with Shift (or a right click) take one out
again; ``q`` hold the app's QR code up to sign in; ``l`` roll through the checkout lane; Esc
quits. Everything else happens on the cart's own screen with the mouse, as a shopper would tap.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dashcart.sim.demo_cart import CAMERA, DEMO_TOKEN, SimulatedCart

if TYPE_CHECKING:
    import pygame

log = logging.getLogger("dashcart.demo")

SHELF_CODES = ("4011", "4020", "4225", "4053", "2410000001415", "2450000001459", "2280000001285",
               "2490000001493", "2550000001555", "2470000001471")
KEYS = "1234567890"
PANEL_W = 300
ROW_H = 26
#: A person lets go of one item before reaching for the next: the scale settles in between.
SETTLE_S = 1.5


@dataclass
class InBasket:
    code: str
    grams: float


class Shopper:
    """Does what the person asked, one thing at a time, in a thread (putting an item in takes a
    moment: the hand, the barcode, the scale settling), so the screen never freezes."""

    def __init__(self, cart: SimulatedCart, seed: int = 0) -> None:
        self.cart = cart
        self.rng = random.Random(seed)
        self.show_barcodes = True
        self.contents: list[InBasket] = []
        self.busy = ""
        self._jobs: queue.Queue[tuple[str, Callable[[], object]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._work, name="demo-shopper", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            what, work = job
            self.busy = what
            try:
                work()
            except Exception:
                log.exception("demo shopper: %s did not work", what)
            self.busy = ""

    def _do(self, what: str, job: Callable[[], object]) -> None:
        """Queue ``job`` (what it returns is not used): the shopper does one thing after another,
        like a person."""
        self._jobs.put((what, job))

    def weight_of(self, code: str) -> float:
        product = self.cart.catalogue[code]
        if product.by_weight and product.unit_weight_g < 1000:
            pieces = self.rng.randint(2, 6)
            return round(sum(max(5.0, self.rng.gauss(product.unit_weight_g, product.unit_weight_sd_g))
                             for _ in range(pieces)), 1)
        return round(max(5.0, self.rng.gauss(product.unit_weight_g, product.unit_weight_sd_g)), 1)

    def put(self, code: str) -> None:
        product = self.cart.catalogue[code]

        def job() -> None:
            grams = self.weight_of(code)
            if product.zone:
                self.cart.beacons.move_to(product.zone)
            barcode = self.show_barcodes and product.code_type != "plu"
            self.cart.put(code, grams, barcode=barcode)
            self.contents.append(InBasket(code, grams))
            time.sleep(SETTLE_S)
        self._do(f"putting in {product.name}", job)

    def take(self, code: str) -> None:
        item = next((i for i in reversed(self.contents) if i.code == code), None)
        if item is None:
            return
        product = self.cart.catalogue[code]

        def job() -> None:
            self.cart.take(code, item.grams)
            self.contents.remove(item)
            time.sleep(SETTLE_S)
        self._do(f"taking out {product.name}", job)

    def sign_in(self) -> None:
        self._do("showing the QR code", lambda: self.cart.show_qr(DEMO_TOKEN))

    def checkout_lane(self) -> None:
        def job() -> None:
            self.cart.beacons.pass_lane()
            time.sleep(4.0)   # the lane takes a moment to pass; one lane pass at a time
        self._do("rolling through the lane", job)

    def stop(self) -> None:
        self._jobs.put(None)


def run_interactive(cart: SimulatedCart, should_stop: Callable[[], bool] = lambda: False) -> None:
    import pygame

    from dashcart.ui.app import App
    from dashcart.ui.layout import parse_resolution

    config = cart.config
    runtime = cart.runtime
    size = parse_resolution(config.ui.resolution)
    shopper = Shopper(cart)
    codes = [c for c in SHELF_CODES if c in cart.catalogue]
    get_snapshot = runtime.ui_beat()
    pygame.init()
    try:
        window = pygame.display.set_mode((size[0] + PANEL_W, size[1]))
        pygame.display.set_caption("dashcart demo: you are the shopper")
        pygame.mouse.set_visible(True)
        screen = window.subsurface(pygame.Rect(0, 0, *size))
        app = App(config, runtime.post, runtime.clock, size, has_camera=True)   # "q" shows it the QR code
        font = pygame.font.Font(None, 22)
        small = pygame.font.Font(None, 18)
        ticker = pygame.time.Clock()
        running = True
        while running and not runtime.stopped.is_set() and not should_stop():
            for event in pygame.event.get():
                if event.type == pygame.QUIT:
                    running = False
                elif event.type == pygame.KEYDOWN:
                    running = _key(event, shopper, codes) and running
                elif event.type in (pygame.MOUSEBUTTONDOWN, pygame.MOUSEBUTTONUP, pygame.MOUSEMOTION) \
                        and event.pos[0] >= size[0]:
                    if event.type == pygame.MOUSEBUTTONDOWN:
                        _click(event, shopper, codes, size)
                else:
                    running = app.handle_event(event, size) and running
            app.render(get_snapshot(), screen, full=True)
            _draw_panel(window, size, shopper, codes, cart, font, small)
            pygame.display.flip()
            ticker.tick(min(config.ui.fps, 20))
    finally:
        shopper.stop()
        pygame.quit()


def _key(event: pygame.event.Event, shopper: Shopper, codes: list[str]) -> bool:
    import pygame
    if event.key == pygame.K_ESCAPE:
        return False
    char = event.unicode.lower() if event.unicode else ""
    shifted = {"!": "1", "@": "2", "#": "3", "$": "4", "%": "5", "^": "6", "&": "7", "*": "8", "(": "9", ")": "0"}
    if char in shifted:
        char = shifted[char]
    digit = pygame.key.name(event.key) if pygame.key.name(event.key) in KEYS else char
    if digit in KEYS and KEYS.index(digit) < len(codes):
        code = codes[KEYS.index(digit)]
        if event.mod & pygame.KMOD_SHIFT:
            shopper.take(code)
        else:
            shopper.put(code)
    elif char == "b":
        shopper.show_barcodes = not shopper.show_barcodes
    elif char == "q":
        shopper.sign_in()
    elif char == "l":
        shopper.checkout_lane()
    return True


def _click(event: pygame.event.Event, shopper: Shopper, codes: list[str], size: tuple[int, int]) -> None:
    row = (event.pos[1] - 40) // ROW_H
    if 0 <= row < len(codes):
        if event.button == 3:
            shopper.take(codes[row])
        elif event.button == 1:
            shopper.put(codes[row])


def _draw_panel(window: pygame.Surface, size: tuple[int, int], shopper: Shopper, codes: list[str],
                cart: SimulatedCart, font: pygame.font.Font, small: pygame.font.Font) -> None:
    import cv2
    import numpy as np
    import pygame
    x0 = size[0]
    panel = pygame.Rect(x0, 0, PANEL_W, size[1])
    window.fill((36, 40, 48), panel)
    window.blit(font.render("The shelf (key / click)", True, (240, 240, 240)), (x0 + 10, 12))
    counts: dict[str, int] = {}
    for item in shopper.contents:
        counts[item.code] = counts.get(item.code, 0) + 1
    for i, code in enumerate(codes):
        product = cart.catalogue[code]
        y = 40 + i * ROW_H
        colour = (255, 220, 120) if counts.get(code) else (220, 220, 220)
        label = f"{KEYS[i]}  {product.name[:24]}"
        window.blit(small.render(label, True, colour), (x0 + 10, y + 4))
        if counts.get(code):
            window.blit(small.render(f"x{counts[code]}", True, colour), (x0 + PANEL_W - 40, y + 4))
    y = 40 + len(codes) * ROW_H + 4
    hints = ["Shift+key / right click: take out", f"b: barcodes {'shown' if shopper.show_barcodes else 'hidden'}",
             "q: show the app's QR code   l: checkout lane"]
    for hint in hints:
        window.blit(small.render(hint, True, (170, 180, 190)), (x0 + 10, y))
        y += 18
    if shopper.busy:
        window.blit(small.render(shopper.busy + "...", True, (120, 220, 140)), (x0 + 10, y))
    latest = cart.runtime.latest_frame(CAMERA)
    if latest is None:
        return
    frame = latest.image
    h = size[1] - y - 26
    w = min(PANEL_W - 20, int(h * frame.shape[1] / frame.shape[0]))
    h = int(w * frame.shape[0] / frame.shape[1])
    rgb = cv2.cvtColor(cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
    window.blit(pygame.image.frombuffer(np.ascontiguousarray(rgb).tobytes(), (w, h), "RGB"),
                (x0 + 10, size[1] - h - 6))
