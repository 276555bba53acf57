"""Shared helpers for the vision tests: product photos, scenes, barcode labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
MODEL = REPO / "dashcart" / "core" / "vision" / "models" / "recognizer.tflite"
PROTOTYPES = REPO / "dashcart" / "core" / "vision" / "models" / "gsd_prototypes.npz"


def iconic(shared_data: Path, name: str) -> np.ndarray:
    import cv2
    [path] = list((shared_data / "grocery-store" / "iconic-images-and-descriptions").rglob(f"{name}_Iconic.jpg"))
    return cv2.imread(str(path))


def barcode_label(text: str, fmt: str = "EAN13", scale: int = 2) -> np.ndarray:
    """A printed barcode (BGR, with quiet zones) as zxing-cpp draws it."""
    import cv2
    import zxingcpp
    code = zxingcpp.create_barcode(text, getattr(zxingcpp.BarcodeFormat, fmt))
    gray = np.array(zxingcpp.write_barcode_to_image(code, scale=scale))
    return cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)


def tight_box(placed) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(placed.mask > 0.5)
    return int(placed.x + xs.min()), int(placed.y + ys.min()), int(placed.x + xs.max() + 1), int(placed.y + ys.max() + 1)


def iou(a, b) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - ix * iy
    return ix * iy / union
