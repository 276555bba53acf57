"""A scripted shopping moment seen by one simulated camera, for pipeline tests.

Empty basket; a hand comes in holding a product with its barcode towards the camera;
the product is put down; the hand leaves; the scale settles. 15 frames a second.
"""

from __future__ import annotations

import numpy as np

from dashcart.events import WeightSettled
from dashcart.sim.basket_scene import BasketScene
from tests.vision_helpers import barcode_label, iconic

FPS = 15
GTIN = "4006381333931"


def session_frames(shared_data, product: str = "Lemon") -> tuple[list[tuple[float, np.ndarray]], WeightSettled]:
    scene = BasketScene(seed=11)
    label = barcode_label(GTIN, scale=2)
    lh, lw = label.shape[:2]
    frames = []
    for i in range(40):
        t = i / FPS
        if i == 16:
            scene.add(iconic(shared_data, product), 240, 140, 200)
        hand = (300 + 10 * (i - 8), 260, 90) if 8 <= i < 20 else None
        frame = scene.render(i, hand=hand)
        if 8 <= i < 14:  # the product's barcode held up to the camera
            frame[40:40 + lh, 60 + 4 * i:60 + 4 * i + lw] = label
        frames.append((t, frame))
    settled = WeightSettled(t=24 / FPS, delta_g=118.0, total_g=118.0, started_t=15 / FPS)
    return frames, settled
