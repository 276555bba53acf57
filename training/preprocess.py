"""Crop -> model input, exactly as the model's JSON sidecar describes it.

The runtime (dashcart/core/vision/recognizer.py) follows the sidecar; training, export and the bench use
this one function so that all of them feed the network the same pixels.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from training.recognizer_model import PIXEL_MEAN, PIXEL_SCALE, PIXEL_STD


def read_rgb(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"{path}: not a readable image")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def resize_square(rgb: np.ndarray, size: int) -> np.ndarray:
    """The whole crop squeezed to size x size (no centre crop: the crop *is* the product)."""
    return cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA)


def normalize(rgb_u8: np.ndarray) -> np.ndarray:
    """uint8 RGB (..., 3) -> float32 (x * scale - mean) / std."""
    x = rgb_u8.astype(np.float32) * PIXEL_SCALE
    return (x - np.asarray(PIXEL_MEAN, np.float32)) / np.asarray(PIXEL_STD, np.float32)


def model_input(path: Path, size: int) -> np.ndarray:
    """[1, size, size, 3] float32, the recognizer's input tensor for one image file."""
    return normalize(resize_square(read_rgb(path), size))[None]
