"""A simulated view into the basket: product photos composited onto a basket floor.

For the simulated cart's cameras and for tests of change detection. Products come from
the Grocery Store Dataset's iconic images (a product on white): the white is keyed out.
Rendering adds what real cameras see: sensor noise, brightness flicker, a shadow, a hand.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Placed:
    image: np.ndarray   # BGR cut-out, product pixels only
    mask: np.ndarray    # float32 0..1 alpha, same size
    x: int
    y: int

    @property
    def box(self) -> tuple[int, int, int, int]:
        h, w = self.mask.shape
        return self.x, self.y, self.x + w, self.y + h


def cut_out(product: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """``product`` on white, resized so its longer side is ``size``; returns (image, alpha)."""
    import cv2
    h, w = product.shape[:2]
    scale = size / max(h, w)
    image = cv2.resize(product, (max(1, int(w * scale)), max(1, int(h * scale))), interpolation=cv2.INTER_AREA)
    not_white = (image.min(axis=2) < 230).astype(np.uint8)
    not_white = cv2.morphologyEx(not_white, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    alpha = cv2.GaussianBlur(not_white.astype(np.float32), (5, 5), 0)
    return image, alpha


class BasketScene:
    """A basket floor (dark plastic with a grid of wires) holding placed products."""

    def __init__(self, width: int = 640, height: int = 480, seed: int = 0) -> None:
        import cv2
        rng = np.random.default_rng(seed)
        self.width, self.height = width, height
        base = np.full((height, width, 3), (70, 75, 80), np.float32)
        # Low-frequency unevenness of the light across the floor.
        blotches = cv2.resize(rng.normal(0, 12, (6, 8)).astype(np.float32), (width, height),
                              interpolation=cv2.INTER_CUBIC)
        base += blotches[..., None]
        for x in range(20, width, 40):
            base[:, x:x + 3] = (140, 140, 145)
        for y in range(20, height, 40):
            base[y:y + 3, :] = (140, 140, 145)
        self.floor = np.clip(base, 0, 255)
        self.items: dict[int, Placed] = {}
        self._next_id = 1

    def add(self, product: np.ndarray, x: int, y: int, size: int = 160) -> int:
        """Put ``product`` (on white) with its top-left corner at (x, y); returns its id."""
        image, mask = cut_out(product, size)
        h, w = mask.shape
        if x < 0 or y < 0 or x + w > self.width or y + h > self.height:
            raise ValueError("product does not fit in the scene there")
        item_id = self._next_id
        self._next_id += 1
        self.items[item_id] = Placed(image, mask, x, y)
        return item_id

    def remove(self, item_id: int) -> Placed:
        return self.items.pop(item_id)

    def render(self, *, gain: float = 1.0, shadow: tuple[int, int, int, int] | None = None,
               shadow_depth: float = 0.6, hand: tuple[int, int, int] | None = None,
               noise: float = 2.0, seed: int = 0) -> np.ndarray:
        """The camera's frame: ``gain`` scales brightness (flicker, auto exposure);
        ``shadow`` (x0, y0, x1, y1) darkens a soft-edged region to ``shadow_depth``;
        ``hand`` (x, y, radius) draws a skin-coloured hand with its arm reaching in from
        the bottom edge; ``noise`` is the sensor's noise in grey levels."""
        import cv2
        frame = self.floor.copy()
        for item in self.items.values():
            x0, y0, x1, y1 = item.box
            alpha = item.mask[..., None]
            frame[y0:y1, x0:x1] = frame[y0:y1, x0:x1] * (1 - alpha) + item.image.astype(np.float32) * alpha
        if shadow is not None:
            x0, y0, x1, y1 = shadow
            region = np.zeros((self.height, self.width), np.float32)
            region[y0:y1, x0:x1] = 1.0
            region = cv2.GaussianBlur(region, (31, 31), 0)
            frame *= (1 - (1 - shadow_depth) * region)[..., None]
        if hand is not None:
            hx, hy, radius = hand
            skin = (120, 150, 200)
            cv2.circle(frame, (hx, hy), radius, skin, -1)
            cv2.rectangle(frame, (hx - radius // 2, hy), (hx + radius // 2, self.height), skin, -1)
        rng = np.random.default_rng(seed)
        frame = frame * gain + rng.normal(0, noise, frame.shape)
        return np.clip(frame, 0, 255).astype(np.uint8)
