"""A simulated camera looking into the basket, for the simulated cart (``dashcart demo``).

:class:`BasketView` is what is in the basket right now (product photos composited onto the
basket floor by :class:`dashcart.sim.basket_scene.BasketScene`), plus what the shopper is doing
above it: a hand reaching in, a product held up with its barcode toward the camera. The
demo script (or a person, interactively) changes it; :class:`SceneCamera` is a
:class:`dashcart.drivers.camera.source.FrameSource` that renders it at a steady frame rate, so the
real capture thread, frame ring and vision pipeline see it exactly as they see a USB camera.
Frames stay in memory.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np

from dashcart.drivers.camera.source import FrameSource
from dashcart.sim.basket_scene import BasketScene

FRAME_SIZE = (320, 240)
ITEM_SIZE = 96


def barcode_label(gtin13: str) -> np.ndarray:
    """A printed EAN-13 label (white, with quiet zones), 2 px per module, as BGR: what the
    simulated camera shows held up, and what the trip generator draws too."""
    import cv2
    import zxingcpp
    barcode = zxingcpp.create_barcode(gtin13, zxingcpp.BarcodeFormat.EAN13)
    image = np.array(zxingcpp.write_barcode_to_image(barcode, scale=2, add_quiet_zones=True))
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[0] < 60:
        image = cv2.resize(image, (image.shape[1], 60), interpolation=cv2.INTER_NEAREST)
    return image


def qr_code(text: str, size: int = 200) -> np.ndarray:
    """A phone screen showing ``text`` as a QR code (BGR, white around it)."""
    import cv2
    import zxingcpp
    code = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode)
    image = np.array(zxingcpp.write_barcode_to_image(code, scale=4, add_quiet_zones=True))
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_NEAREST)


def placeholder(name: str, size: int = 200) -> np.ndarray:
    """A product without a photo: a coloured box with its name, on white (so it keys out)."""
    import cv2
    image = np.full((size, size, 3), 255, np.uint8)
    hue = sum(name.encode()) % 180
    colour = cv2.cvtColor(np.array([[[hue, 200, 200]]], dtype=np.uint8), cv2.COLOR_HSV2BGR)[0, 0].tolist()
    cv2.rectangle(image, (size // 8, size // 8), (size - size // 8, size - size // 8), colour, -1)
    cv2.putText(image, name[:10], (size // 8 + 4, size // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (20, 20, 20), 1)
    return image


class BasketView:
    """The basket seen from above, changed by the shopper; thread-safe."""

    def __init__(self, width: int = FRAME_SIZE[0], height: int = FRAME_SIZE[1], seed: int = 0) -> None:
        self.scene = BasketScene(width, height, seed)
        self._lock = threading.Lock()
        self._held: tuple[np.ndarray, np.ndarray | None] | None = None
        self._hand: tuple[int, int, int] | None = None
        self._slots = [(x, y) for y in (8, height - ITEM_SIZE - 8) for x in range(8, width - ITEM_SIZE, ITEM_SIZE + 4)]
        self._used: dict[int, tuple[int, int]] = {}
        self._frame = 0

    def place(self, photo: np.ndarray) -> int:
        """Lay a product (a photo on white) in the next free spot; returns its id in the scene."""
        with self._lock:
            free = [s for s in self._slots if s not in self._used.values()] or self._slots
            x, y = free[0]
            item = self.scene.add(photo, x, y, ITEM_SIZE)
            self._used[item] = (x, y)
            return item

    def take(self, item: int) -> None:
        with self._lock:
            self.scene.remove(item)
            self._used.pop(item, None)

    def hold_up(self, photo: np.ndarray | None, label: np.ndarray | None = None) -> None:
        """The shopper holds ``photo`` close to the camera, ``label`` (a barcode) toward it;
        None puts it down again."""
        with self._lock:
            self._held = None if photo is None else (photo, label)

    def hand(self, inside: bool) -> None:
        """A hand reaching into the basket (motion the gate sees) or gone."""
        with self._lock:
            w, h = self.scene.width, self.scene.height
            self._hand = (w // 2, h // 2, 56) if inside else None

    def render(self) -> np.ndarray:
        with self._lock:
            self._frame += 1
            noise_rng = np.random.default_rng(self._frame)
            if self._held is not None:
                photo, label = self._held
                # the product held close, the label toward the lens, in a hand that never holds still
                return self.scene.held_up(photo, label, noise_rng)
            hand = self._hand
            if hand is not None:
                # a hand is never quite still: that is what keeps the motion gate open
                hand = (hand[0] + (self._frame % 5) * 6 - 12, hand[1] + (self._frame % 3) * 5, hand[2])
            return self.scene.render(noise_rng, hand=hand)


class SceneCamera(FrameSource):
    """A camera that films a :class:`BasketView` at ``fps``; live, so frames are stamped by the
    capture thread's clock."""

    def __init__(self, camera_id: str, view: BasketView, fps: float = 8.0,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(camera_id)
        self.view = view
        self.period_s = 1.0 / fps
        self._sleep, self._clock = sleep, clock
        self._next = 0.0
        self._open = False

    def describe(self) -> str:
        return f"camera {self.camera_id} (simulated basket view)"

    def open(self) -> None:
        self._open = True
        self._next = self._clock()

    def read(self) -> tuple[float | None, np.ndarray] | None:
        if not self._open:
            return None
        delay = self._next - self._clock()
        if delay > 0:
            self._sleep(delay)
        self._next = max(self._next + self.period_s, self._clock())
        return None, self.view.render()

    def close(self) -> None:
        self._open = False
