"""Cart-style augmentation: a product as the basket camera sees it, not as it sits on a shelf.

All on uint8 RGB numpy arrays with cv2 (no file I/O), so a training epoch draws fresh views
from images decoded once into memory. Every random choice comes from the ``rng`` passed in,
so a view depends only on (seed, epoch, image) whoever computes it.

`cart_view` (training) chains, each with its own probability:
  partial crop (30-100 % of the object) -> perspective warp -> another product pasted over a
  part -> a skin-coloured hand (palm ellipse + fingers) -> wire-basket grid -> quarter turn ->
  mirror (produce only: mirrored carton text is not a real view) -> exposure, white balance,
  saturation, contrast -> low resolution / blur -> JPEG compression -> sensor noise.
`basket_crop` (the bench) is the same kind of corruption at fixed, moderate strength, for the
"in-basket-like crops made from test photos" figure.
"""
from __future__ import annotations

import math

import cv2
import numpy as np


def partial_crop(rgb: np.ndarray, rng: np.random.Generator, area=(0.3, 1.0)) -> np.ndarray:
    """A crop covering `area` of the image (aspect 3/4..4/3): the product half out of view."""
    h, w = rgb.shape[:2]
    for _ in range(10):
        a = h * w * rng.uniform(*area)
        ratio = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
        cw, ch = int(round(math.sqrt(a * ratio))), int(round(math.sqrt(a / ratio)))
        if 8 <= cw <= w and 8 <= ch <= h:
            x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
            return rgb[y0 : y0 + ch, x0 : x0 + cw]
    return rgb


def perspective(img: np.ndarray, rng: np.random.Generator, strength: float = 0.12) -> np.ndarray:
    """Corners moved by up to `strength` of the side: the camera looks down at an angle."""
    s = img.shape[0]
    src = np.float32([[0, 0], [s, 0], [s, s], [0, s]])
    dst = src + rng.uniform(-strength, strength, (4, 2)).astype(np.float32) * s
    m = cv2.getPerspectiveTransform(src, dst)
    return cv2.warpPerspective(img, m, (s, s), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)


def paste_other(img: np.ndarray, other: np.ndarray, rng: np.random.Generator, area=(0.08, 0.3)) -> np.ndarray:
    """A piece of another product lying over this one (from an edge or inside)."""
    s = img.shape[0]
    a = s * s * rng.uniform(*area)
    ratio = math.exp(rng.uniform(math.log(1 / 2), math.log(2)))
    pw, ph = min(s, int(math.sqrt(a * ratio))), min(s, int(math.sqrt(a / ratio)))
    if pw < 4 or ph < 4:
        return img
    src = cv2.resize(other, (s, s), interpolation=cv2.INTER_AREA)
    sx, sy = int(rng.integers(0, s - pw + 1)), int(rng.integers(0, s - ph + 1))
    dx, dy = int(rng.integers(0, s - pw + 1)), int(rng.integers(0, s - ph + 1))
    out = img.copy()
    out[dy : dy + ph, dx : dx + pw] = src[sy : sy + ph, sx : sx + pw]
    return out


def skin_colour(rng: np.random.Generator) -> np.ndarray:
    """An RGB skin tone, light to dark (HSV hue 5-25 deg, saturation 0.2-0.6)."""
    hsv = np.uint8([[[rng.uniform(3, 13), rng.uniform(50, 150), rng.uniform(70, 245)]]])
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)


def hand(img: np.ndarray, rng: np.random.Generator, scale: float = 1.0) -> np.ndarray:
    """A hand reaching in from one edge: a palm ellipse and 2-4 fingers, skin coloured, shaded."""
    s = img.shape[0]
    mask = np.zeros((s, s), np.float32)
    edge = int(rng.integers(0, 4))
    along = rng.uniform(0.15, 0.85) * s
    depth = rng.uniform(0.1, 0.35) * s * scale  # how far the palm reaches in
    palm_r = rng.uniform(0.14, 0.26) * s * scale
    cx, cy = [(along, depth - palm_r * 0.6), (s - depth + palm_r * 0.6, along),
              (along, s - depth + palm_r * 0.6), (depth - palm_r * 0.6, along)][edge]
    inward = [(0, 1), (-1, 0), (0, -1), (1, 0)][edge]
    angle = math.degrees(math.atan2(inward[1], inward[0])) + rng.uniform(-35, 35)
    cv2.ellipse(mask, (int(cx), int(cy)), (int(palm_r * 1.2), int(palm_r)), angle, 0, 360, 1.0, -1)
    rad = math.radians(angle)
    direction = np.array([math.cos(rad), math.sin(rad)])
    side = np.array([-direction[1], direction[0]])
    n_fingers = int(rng.integers(2, 5))
    width = max(2, int(palm_r * rng.uniform(0.28, 0.4)))
    for k in range(n_fingers):
        off = (k - (n_fingers - 1) / 2) * width * 1.1
        base = np.array([cx, cy]) + direction * palm_r * 0.8 + side * off
        tip = base + direction * palm_r * rng.uniform(0.7, 1.4) + side * rng.uniform(-0.2, 0.2) * palm_r
        cv2.line(mask, tuple(int(v) for v in base), tuple(int(v) for v in tip), 1.0, width, cv2.LINE_AA)
    mask = cv2.GaussianBlur(mask, (0, 0), max(0.6, s / 200))[..., None]
    colour = skin_colour(rng)
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32)
    shade = 0.8 + 0.35 * ((xx * side[0] + yy * side[1]) / s % 1.0)[..., None]  # soft light falloff
    skin = np.clip(colour * shade, 0, 255)
    return (img * (1 - mask) + skin * mask).astype(np.uint8)


def wire_grid(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Thin dark or grey lines of a wire basket, over the product (a rotated square grid)."""
    s = img.shape[0]
    spacing = rng.uniform(0.08, 0.2) * s
    thick = max(1, int(round(rng.uniform(0.004, 0.012) * s)))
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32)
    a = rng.uniform(0, math.pi / 2)
    u = (xx * math.cos(a) + yy * math.sin(a) + rng.uniform(0, spacing)) % spacing
    v = (-xx * math.sin(a) + yy * math.cos(a) + rng.uniform(0, spacing)) % spacing
    lines = ((u < thick) | (v < thick)).astype(np.float32)
    if rng.random() < 0.5:  # only one direction visible (bars of the basket's side)
        lines = (u < thick).astype(np.float32)
    lines = cv2.GaussianBlur(lines, (0, 0), 0.7)[..., None] * rng.uniform(0.5, 0.95)
    grey = rng.uniform(20, 170)
    return (img * (1 - lines) + grey * lines).astype(np.uint8)


def photometric(img: np.ndarray, rng: np.random.Generator, strength: float = 1.0) -> np.ndarray:
    """Exposure (gain, gamma), white balance (per-channel gains), saturation, contrast."""
    x = img.astype(np.float32) / 255.0
    x = x * rng.uniform(1 - 0.4 * strength, 1 + 0.4 * strength)
    x = np.clip(x, 0, 1) ** rng.uniform(1 - 0.3 * strength, 1 + 0.3 * strength)
    x = x * rng.uniform(1 - 0.15 * strength, 1 + 0.15 * strength, 3).astype(np.float32)
    grey = x.mean(axis=2, keepdims=True)
    x = grey + (x - grey) * rng.uniform(1 - 0.35 * strength, 1 + 0.3 * strength)
    m = x.mean()
    x = m + (x - m) * rng.uniform(1 - 0.3 * strength, 1 + 0.3 * strength)
    return np.clip(x * 255.0, 0, 255).astype(np.uint8)


def blur(img: np.ndarray, rng: np.random.Generator, max_sigma: float = 1.8) -> np.ndarray:
    """Defocus (Gaussian) or motion blur (the cart moving)."""
    s = img.shape[0]
    if rng.random() < 0.5:
        return cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, max_sigma) * s / 160)
    k = max(3, int(rng.uniform(3, 3 + 6 * max_sigma) * s / 160)) | 1
    kernel = np.zeros((k, k), np.float32)
    kernel[k // 2] = 1.0 / k
    m = cv2.getRotationMatrix2D((k / 2 - 0.5, k / 2 - 0.5), rng.uniform(0, 180), 1.0)
    kernel = cv2.warpAffine(kernel, m, (k, k))
    kernel /= max(kernel.sum(), 1e-6)
    return cv2.filter2D(img, -1, kernel)


def low_resolution(img: np.ndarray, rng: np.random.Generator, low=(48, 120)) -> np.ndarray:
    """The detail of a small crop (an item far from the camera is 60-150 px)."""
    s = img.shape[0]
    small = int(rng.integers(low[0], low[1] + 1))
    if small >= s:
        return img
    tiny = cv2.resize(img, (small, small), interpolation=cv2.INTER_AREA)
    return cv2.resize(tiny, (s, s), interpolation=cv2.INTER_LINEAR)


def jpeg(img: np.ndarray, rng: np.random.Generator, quality=(30, 90)) -> np.ndarray:
    q = int(rng.integers(quality[0], quality[1] + 1))
    ok, buf = cv2.imencode(".jpg", img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, q])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1] if ok else img


def noise(img: np.ndarray, rng: np.random.Generator, sigma=(1.0, 6.0)) -> np.ndarray:
    n = rng.normal(0, rng.uniform(*sigma), img.shape).astype(np.float32)
    return np.clip(img.astype(np.float32) + n, 0, 255).astype(np.uint8)


def cart_view(
    rgb: np.ndarray, size: int, produce: bool, rng: np.random.Generator, other: np.ndarray | None = None
) -> np.ndarray:
    """One random training view (uint8 size x size RGB) of a decoded photo ``rgb``.
    ``other``: a photo of another product, for occlusion (None: no pasted occluder)."""
    img = partial_crop(rgb, rng, (0.3, 1.0)) if rng.random() < 0.85 else rgb
    img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.5:
        img = perspective(img, rng)
    if other is not None and rng.random() < 0.3:
        img = paste_other(img, other, rng)
    if rng.random() < 0.3:
        img = hand(img, rng)
    if rng.random() < 0.25:
        img = wire_grid(img, rng)
    img = np.rot90(img, int(rng.integers(0, 4)))  # seen from above: any quarter turn
    if produce and rng.random() < 0.5:
        img = img[:, ::-1]
    img = photometric(np.ascontiguousarray(img), rng)
    r = rng.random()
    if r < 0.25:
        img = low_resolution(img, rng)
    elif r < 0.5:
        img = blur(img, rng)
    if rng.random() < 0.4:
        img = jpeg(img, rng)
    if rng.random() < 0.3:
        img = noise(img, rng)
    return np.ascontiguousarray(img)


def basket_crop(rgb: np.ndarray, rng: np.random.Generator, size: int | None = None) -> np.ndarray:
    """An in-basket-like crop of a (test) photo for the bench, moderate fixed-recipe corruption:
    partial view (50-90 %), a hand over part of it (half the crops), exposure and white-balance
    shift, blur, JPEG 50-80. Returns uint8 RGB at ``size`` (default: the photo's short side),
    to be prepared by the runtime like any crop."""
    s = size or min(rgb.shape[:2])
    img = partial_crop(rgb, rng, (0.5, 0.9))
    img = cv2.resize(img, (s, s), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.5:
        img = hand(img, rng, scale=0.8)
    img = photometric(img, rng, strength=0.6)
    img = blur(img, rng, max_sigma=1.2)
    img = jpeg(img, rng, (50, 80))
    return img
