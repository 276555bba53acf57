"""The one simulated basket: product photos lying on the basket's floor, filmed by a camera.

Every simulated view into a basket comes from here: the simulated cart's cameras (``dashcart
demo``, :mod:`dashcart.sim.camera`), the trip generator (:mod:`dashcart.trips.generator`, so
the fusion bench), and the vision tests. So the bench and the demo film the same kind of
basket: the same floor, the same hand, the same held-up product and the same camera optics.

A product is either a photo laid as it is (the generator's square crops of dataset photos)
or a cut-out of a product on white (the iconic images: the white is keyed out). The camera
(:class:`CameraSetup`) adds what real cameras do: keystone, exposure, colour cast, blur and
sensor noise.
"""

from __future__ import annotations

import random
from collections.abc import Hashable
from dataclasses import dataclass

import numpy as np

FRAME_SIZE = (640, 480)          # the cameras' configured default ([[cameras.devices]])
# An item lying in the basket, and one held up to the camera, as a share of the frame width:
# about what a camera over a 50 cm basket sees of a 1 l carton or an apple.
ITEM_SHARE = 0.225
HELD_SHARE = 0.625
FLOOR_BGR = (72, 76, 80)         # dark plastic
WIRE_BGR = (130, 130, 135)
SKIN_BGR = (120, 150, 200)


@dataclass(frozen=True)
class CameraSetup:
    """One cart's camera: how high over the basket (how big an item looks), how tilted, how
    exposed, its colour cast, focus and sensor noise. Fixed for a trip, as on a real cart."""

    item_share: float = ITEM_SHARE              # an item's width as a share of the frame's
    tilt: tuple[float, ...] = (0.0,) * 8        # corner offsets of the perspective, shares of the frame
    gain: float = 1.0                           # exposure
    cast: tuple[float, float, float] = (1.0, 1.0, 1.0)   # B, G, R white balance
    blur: float = 0.0                           # Gaussian sigma in pixels (focus, motion)
    noise: float = 2.0                          # sensor noise, grey levels
    skin: tuple[int, int, int] = SKIN_BGR

    @classmethod
    def draw(cls, rng: random.Random) -> CameraSetup:
        """A camera as carts have them: mounted 40-70 cm over the basket, up to 10 % keystone,
        auto exposure from dim to bright, warm to cool light, a little soft."""
        return cls(item_share=rng.uniform(0.16, 0.30),
                   tilt=tuple(rng.uniform(-0.10, 0.10) for _ in range(8)),
                   gain=rng.uniform(0.6, 1.35),
                   cast=(rng.uniform(0.85, 1.15), 1.0, rng.uniform(0.85, 1.15)),
                   blur=rng.choice((0.0, 0.0, 0.0, 0.5, 0.8)),   # much softer and no 2-px-per-bar label reads
                   noise=rng.uniform(1.5, 3.5),
                   skin=rng.choice(((120, 150, 200), (90, 120, 170), (60, 85, 130), (150, 175, 225))))

    def apply(self, frame: np.ndarray, np_rng: np.random.Generator, noise_bank: list[np.ndarray],
              gain: float = 1.0) -> np.ndarray:
        """``frame`` (uint8 BGR, the basket as it lies) as this camera sees it; ``gain`` is this
        frame's flicker or auto-exposure step on top of the camera's exposure. ``noise_bank``:
        sensor noise fields (int16) drawn once per scene; each frame takes one, shifted."""
        import cv2
        h, w = frame.shape[:2]
        image = frame
        if any(self.tilt):
            src = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
            dst = src + np.array(self.tilt, dtype=np.float32).reshape(4, 2) * np.array([w, h], dtype=np.float32)
            image = cv2.warpPerspective(image, cv2.getPerspectiveTransform(src, dst), (w, h),
                                        borderMode=cv2.BORDER_REPLICATE)
        levels = np.arange(256, dtype=np.float32)
        lut = np.clip(np.stack([levels * self.gain * gain * c for c in self.cast], axis=-1), 0, 255).astype(np.uint8)
        image = cv2.LUT(image, lut.reshape(1, 256, 3))
        if self.blur > 0:
            image = cv2.GaussianBlur(image, (0, 0), self.blur)
        if not noise_bank:
            noise_bank.extend(np.round(np_rng.normal(0, self.noise, image.shape)).astype(np.int16) for _ in range(4))
        field_ = noise_bank[int(np_rng.integers(len(noise_bank)))]
        shift = int(np_rng.integers(h)), int(np_rng.integers(w))
        noisy = image.astype(np.int16) + np.roll(field_, shift, axis=(0, 1))
        return np.clip(noisy, 0, 255).astype(np.uint8)


def draw_hand(frame: np.ndarray, x: int, y: int, size: int, skin: tuple[int, int, int] = SKIN_BGR) -> None:
    """A hand over (x, y), ``size`` pixels across, its arm reaching in from the bottom edge."""
    import cv2
    h = frame.shape[0]
    cv2.ellipse(frame, (x, y), (size // 2, round(size * 0.6)), 0, 0, 360, skin, -1)
    for k in range(4):   # fingers toward the top
        fx = x - size // 2 + round((k + 0.5) * size / 4)
        cv2.line(frame, (fx, y), (fx, y - round(size * 0.9)), skin, max(2, size // 7))
    cv2.rectangle(frame, (x - size // 3, y), (x + size // 3, h), skin, -1)


@dataclass(frozen=True)
class Placed:
    image: np.ndarray            # BGR
    mask: np.ndarray | None      # float32 0..1 alpha of a cut-out, same size; None: opaque
    x: int
    y: int

    @property
    def box(self) -> tuple[int, int, int, int]:
        h, w = self.image.shape[:2]
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
    """The basket seen from above: a floor with the basket's wire grid, what lies on it, a
    hand, a product held up, and the camera that films it all."""

    def __init__(self, width: int = FRAME_SIZE[0], height: int = FRAME_SIZE[1], seed: int = 0,
                 camera: CameraSetup | None = None, rng: random.Random | None = None) -> None:
        self.width, self.height = width, height
        self.size = (width, height)
        self.camera = camera or CameraSetup()
        self.rng = rng or random.Random(seed)    # where things are laid down and slide to
        self.noise_bank: list[np.ndarray] = []
        # the sensor noise of each other camera filming the same basket (see ``render``'s ``camera``)
        self._other_noise: dict[CameraSetup, list[np.ndarray]] = {}
        floor = np.full((height, width, 3), FLOOR_BGR, np.uint8)
        pitch = max(8, round(width * 0.075))     # the basket's wire grid
        floor[:, ::pitch] = WIRE_BGR
        floor[::pitch, :] = WIRE_BGR
        self.floor = floor
        self.item_px = round(width * self.camera.item_share)
        self.items: dict[Hashable, Placed] = {}
        self._next_id = 1

    # -- what lies in the basket ------------------------------------------------------------

    def add(self, product: np.ndarray, x: int, y: int, size: int = 160) -> int:
        """Put ``product`` (a photo on white, keyed out) with its top-left corner at (x, y);
        returns its id."""
        image, mask = cut_out(product, size)
        h, w = mask.shape
        if x < 0 or y < 0 or x + w > self.width or y + h > self.height:
            raise ValueError("product does not fit in the scene there")
        item_id = self._next_id
        self._next_id += 1
        self.items[item_id] = Placed(image, mask, x, y)
        return item_id

    def lay(self, key: Hashable, image: np.ndarray, near: Hashable | None = None) -> None:
        """Lay ``image`` (a square photo, as it is) somewhere in the basket, or half overlapping
        item ``near`` (the next unit of several put in together)."""
        w, h = self.size
        size = image.shape[0]
        if near is not None and near in self.items:
            placed = self.items[near]
            dx, dy = self.rng.choice(((size // 2, 0), (-size // 2, 0), (0, size // 2), (0, -size // 2)))
            x, y = min(max(0, placed.x + dx), w - size), min(max(0, placed.y + dy), h - size)
        else:
            x, y = self.rng.randrange(0, w - size), self.rng.randrange(0, h - size)
        self.items[key] = Placed(image, None, x, y)

    def remove(self, key: Hashable) -> Placed | None:
        return self.items.pop(key, None)

    def shift(self, rng: random.Random, share: float) -> None:
        """The cart was pushed: the load slides together, each item a little on its own too,
        so items no longer lie quite where the cameras saw them put down."""
        w, h = self.size
        dx, dy = (round(rng.uniform(-share, share) * w) for _ in range(2))
        for key, placed in list(self.items.items()):
            ph, pw = placed.image.shape[:2]
            jx, jy = (round(rng.uniform(-share, share) * w / 4) for _ in range(2))
            self.items[key] = Placed(placed.image, placed.mask, min(max(0, placed.x + dx + jx), w - pw),
                                     min(max(0, placed.y + dy + jy), h - ph))

    # -- what the camera sees ---------------------------------------------------------------

    def compose(self, hand_over: Hashable | None = None, hand_share: float = 0.5,
                hand: tuple[int, int, int] | None = None) -> np.ndarray:
        """The basket as it lies (before the camera's optics): a hand covering about
        ``hand_share`` of item ``hand_over``, or one of ``size`` pixels at ``hand`` (x, y, size)."""
        frame = self.floor.copy()
        for placed in self.items.values():
            x0, y0, x1, y1 = placed.box
            if placed.mask is None:
                frame[y0:y1, x0:x1] = placed.image
            else:
                alpha = placed.mask[..., None]
                blended = frame[y0:y1, x0:x1] * (1 - alpha) + placed.image.astype(np.float32) * alpha
                frame[y0:y1, x0:x1] = np.clip(blended, 0, 255).astype(np.uint8)
        if hand_over is not None and hand_over in self.items:
            placed = self.items[hand_over]
            size = placed.image.shape[0]
            draw_hand(frame, placed.x + size // 2, placed.y + round(size * (1.0 - hand_share)), round(size * 0.8),
                      self.camera.skin)
        if hand is not None:
            draw_hand(frame, hand[0], hand[1], hand[2], self.camera.skin)
        return frame

    def render(self, np_rng: np.random.Generator | int = 0, hand_over: Hashable | None = None, *,
               hand: tuple[int, int, int] | None = None, gain: float = 1.0,
               shadow: tuple[int, int, int, int] | None = None, shadow_depth: float = 0.6,
               camera: CameraSetup | None = None) -> np.ndarray:
        """A frame of the camera. ``np_rng`` (or a seed) draws this frame's sensor noise;
        ``hand_over``/``hand`` as in :meth:`compose`; ``gain`` scales this frame's brightness
        (flicker, an auto-exposure step); ``shadow`` (x0, y0, x1, y1) darkens a soft-edged
        region to ``shadow_depth`` (someone leaning over the cart).

        ``camera``: a second camera on the same basket, mounted at its other end, so it sees the
        same items upside down (turned half round), through its own optics and exposure."""
        rng = np_rng if isinstance(np_rng, np.random.Generator) else np.random.default_rng(np_rng)
        frame = self.compose(hand_over, hand=hand)
        if shadow is not None:
            frame = self._shade(frame, shadow, shadow_depth)
        if camera is None or camera is self.camera:
            return self.camera.apply(frame, rng, self.noise_bank, gain)
        turned = np.ascontiguousarray(frame[::-1, ::-1])
        return camera.apply(turned, rng, self._other_noise.setdefault(camera, []), gain)

    def held_up(self, image: np.ndarray, label: np.ndarray | None, np_rng: np.random.Generator,
                hand_covers: float = 0.0) -> np.ndarray:
        """The product held close to the camera, its barcode (if any) toward it, in a hand
        that covers ``hand_covers`` of it (from below)."""
        import cv2
        w, h = self.size
        frame = self.compose()
        held = min(round(w * HELD_SHARE), h)
        big = cv2.resize(image, (held, held), interpolation=cv2.INTER_AREA)
        # a hand never holds still: each frame has the product somewhere else
        x0 = min(max(0, (w - held) // 2 + int(np_rng.integers(-w // 13, w // 13 + 1))), w - held)
        y0 = min(max(0, (h - held) // 2 + int(np_rng.integers(-h // 16, h // 16 + 1))), h - held)
        frame[y0:y0 + held, x0:x0 + held] = big
        if hand_covers > 0:
            hx = x0 + held // 2 + int(np_rng.integers(-held // 4, held // 4 + 1))
            draw_hand(frame, hx, y0 + round(held * (1.0 - hand_covers)), round(held * 0.5), self.camera.skin)
        if label is not None:
            # the shopper shows the barcode: the hand holds the product, not the label
            lh, lw = label.shape[:2]
            lx, ly = max(0, (w - lw) // 2), h - lh - 8
            frame[ly:ly + lh, lx:lx + lw] = label[:, :min(lw, w - lx)]
        return self.camera.apply(frame, np_rng, self.noise_bank)

    def _shade(self, frame: np.ndarray, box: tuple[int, int, int, int], depth: float) -> np.ndarray:
        import cv2
        x0, y0, x1, y1 = box
        region = np.zeros((self.height, self.width), np.float32)
        region[y0:y1, x0:x1] = 1.0
        region = cv2.GaussianBlur(region, (31, 31), 0)
        shaded = frame.astype(np.float32) * (1 - (1 - depth) * region)[..., None]
        return np.clip(shaded, 0, 255).astype(np.uint8)
