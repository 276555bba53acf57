"""Retail barcode reading: zxing-cpp first, OpenCV's detector for what zxing misses.

Only EAN-13, UPC-A, EAN-8 and UPC-E are decoded: a cart never needs anything else and
every extra format is another chance of a false read. zxing-cpp misses codes turned
30-60 degrees in the image plane; ``cv2.barcode`` (still in OpenCV 5's main modules) finds
those at any angle, so when zxing finds nothing OpenCV decodes them itself and zxing
reads each box OpenCV found, warped upright.

A read is kept only when re-decoding the region around it agrees: zxing occasionally
returns a valid-check-digit misread from a thin slice across the bars (the edge of a
label, the digits under it) and re-reading the surrounding region with another
binarizer and scale outvotes it. Live, :class:`Consensus` additionally requires agreement
across frames.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from dashcart.core.gtin import is_valid, to_gtin13, upca_to_upce

FORMATS = ("EAN-13", "UPC-A", "EAN-8", "UPC-E")


@dataclass(frozen=True)
class Code:
    """One barcode: ``format`` one of FORMATS, ``text`` as printed, ``gtin13`` 13 digits."""

    format: str
    text: str
    gtin13: str


@dataclass(frozen=True)
class Read:
    """A code and where it was found: ``quad`` is 4x2 image coordinates (float)."""

    code: Code
    quad: np.ndarray


def _gray(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return image
    # The green channel: on a Bayer sensor it has twice the samples of red or blue, and
    # it reads more codes on the blackbox photos than the luma mix does.
    return np.ascontiguousarray(image[:, :, 1])


def normalize(fmt: str, text: str, extra: dict[str, Any] | None = None) -> Code | None:
    """A :class:`Code` from a decoder's format name and text, or None if it isn't a valid
    retail code.

    zxing-cpp 3 reports UPC-A as EAN-13 with a leading zero and UPC-E expanded to 13
    digits (the printed form in ``extra["UPCE"]``); older versions and OpenCV report the
    printed form. A leading-zero EAN-13 *is* a UPC-A symbol, so it is reported as one.
    """
    fmt = fmt.upper().replace("_", "-").replace("UPCA", "UPC-A").replace("UPCE", "UPC-E")
    fmt = {"EAN13": "EAN-13", "EAN8": "EAN-8"}.get(fmt, fmt)
    if not (text.isascii() and text.isdigit()):
        return None
    if fmt == "EAN-13" and len(text) == 12:
        fmt = "UPC-A"
    if fmt in ("EAN-13", "UPC-A") and len(text) == 13 and text.startswith("0"):
        fmt, text = "UPC-A", text[1:]
    if fmt == "UPC-E" and len(text) != 8:
        printed = (extra or {}).get("UPCE", "")
        expanded = text[-12:]
        short = printed if len(printed) == 8 else upca_to_upce(expanded)
        if short is None:
            return None
        text = short
    lengths = {"EAN-13": 13, "UPC-A": 12, "EAN-8": 8, "UPC-E": 8}
    if fmt not in lengths or len(text) != lengths[fmt]:
        return None
    try:
        gtin = to_gtin13(fmt, text)
    except ValueError:
        return None
    if not is_valid(gtin):
        return None
    return Code(fmt, text, gtin)


class BarcodeReader:
    """Reads retail barcodes from one image at a time (BGR or grayscale ``uint8``).

    ``fallback``: try ``cv2.barcode`` boxes when zxing finds nothing. ``verify``: drop reads
    the surrounding region doesn't confirm (see the module doc).
    """

    def __init__(self, *, fallback: bool = True, verify: bool = True) -> None:
        import zxingcpp
        self._zx = zxingcpp
        self._formats = [zxingcpp.BarcodeFormat.EAN13, zxingcpp.BarcodeFormat.UPCA,
                         zxingcpp.BarcodeFormat.EAN8, zxingcpp.BarcodeFormat.UPCE]
        self._verify = verify
        self._cv_detector: Any = None
        if fallback:
            import cv2
            # OpenCV 5 still ships the barcode module in the main package; older
            # headless builds without it just run zxing alone.
            factory = getattr(getattr(cv2, "barcode", None), "BarcodeDetector", None)
            self._cv_detector = factory() if factory else None

    @property
    def has_fallback(self) -> bool:
        return self._cv_detector is not None

    def read(self, image: np.ndarray) -> list[Code]:
        """The distinct codes in ``image``, in the order found."""
        seen: dict[str, Code] = {}
        for r in self.read_located(image):
            seen.setdefault(r.code.gtin13, r.code)
        return list(seen.values())

    def read_located(self, image: np.ndarray) -> list[Read]:
        gray = _gray(image)
        found = self._zxing(gray)
        reads = [r for r in found if _stands_alone(gray, r) and not _inside_longer(r, found)]
        if self._verify:
            reads = [r for r in reads if self._confirmed(gray, r)]
        if not reads and self._cv_detector is not None:
            reads = self._fallback(gray)
        return reads

    def _zxing(self, gray: np.ndarray, **options: Any) -> list[Read]:
        out = []
        for b in self._zx.read_barcodes(gray, formats=self._formats, **options):
            code = normalize(str(b.format), b.text, getattr(b, "extra", None))
            if code is None:
                continue
            p = b.position
            quad = np.array([(p.top_left.x, p.top_left.y), (p.top_right.x, p.top_right.y),
                             (p.bottom_right.x, p.bottom_right.y), (p.bottom_left.x, p.bottom_left.y)],
                            dtype=np.float32)
            out.append(Read(code, quad))
        return out

    def _confirmed(self, gray: np.ndarray, read: Read) -> bool:
        """Re-decode the region around ``read`` eight ways; its code must win outright.

        The region runs along the bars well beyond the quad (zxing may have found the code on
        one or two scan lines) but only a little beyond its ends, so a neighbouring code does
        not crowd the re-read."""
        import cv2
        votes: Counter[str] = Counter()
        binarizers = (self._zx.Binarizer.GlobalHistogram, self._zx.Binarizer.LocalAverage)
        # A tight and a loose margin past the ends: the tight one keeps a neighbouring code
        # out (an ISBN's price add-on), the loose one keeps the quiet zone zxing may need.
        for along in (0.1, 0.25):
            crop = _crop(gray, read.quad, along=along, across=0.35)
            if crop is None:
                continue
            for scale in (1.0, 1.5):
                view = crop if scale == 1.0 else cv2.resize(crop, None, fx=scale, fy=scale,
                                                            interpolation=cv2.INTER_LINEAR)
                for binarizer in binarizers:
                    votes.update({r.code.gtin13 for r in self._zxing(view, binarizer=binarizer)})
        mine = votes.pop(read.code.gtin13, 0)
        return mine > 0 and mine > max(votes.values(), default=0)

    def _fallback(self, gray: np.ndarray) -> list[Read]:
        """OpenCV's detector+decoder at three scales, where a code counts when at least two
        of the three agree and no other code gets as many votes (it, too, misreads now and
        then: a partial UPC-A as an EAN-8); plus zxing on each box OpenCV found, upright."""
        import cv2
        votes: Counter[str] = Counter()
        codes: dict[str, Read] = {}
        straightened: list[Read] = []
        for scale in (1.0, 0.8, 1.25):
            view = gray if scale == 1.0 else cv2.resize(gray, None, fx=scale, fy=scale,
                                                        interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
            try:
                ok, texts, kinds, boxes = self._cv_detector.detectAndDecodeWithType(view)
            except cv2.error:
                return []
            quads = (np.asarray(boxes, dtype=np.float32).reshape(-1, 4, 2) / scale
                     if boxes is not None else np.zeros((0, 4, 2), np.float32))
            if scale == 1.0:
                if not len(quads):
                    return []  # nothing even detected: spare the other two passes
                straightened = self._read_straightened(gray, quads)
            if not ok:
                continue
            found = set()
            for text, kind, quad in zip(texts, kinds, quads):
                code = normalize(kind, text) if text else None
                if code is not None and code.format in SHORT_MODULES and not _box_fits_short(gray, quad, code.format):
                    continue   # a short code decoded from part of a longer symbol's bars
                if code is not None and code.gtin13 not in found:
                    found.add(code.gtin13)
                    codes.setdefault(code.gtin13, Read(code, quad))
            votes.update(found)
        ranked = votes.most_common()
        voted = [codes[g] for g, n in ranked if n >= 2 and all(m < n for h, m in ranked if h != g)]
        return voted + [r for r in straightened if r.code.gtin13 not in {v.code.gtin13 for v in voted}]

    def _read_straightened(self, gray: np.ndarray, quads: np.ndarray) -> list[Read]:
        """zxing on each OpenCV box warped upright (OpenCV finds UPC-E boxes it can't decode)."""
        reads = []
        for quad in quads:
            straight = _straighten(gray, quad)
            if straight is None:
                continue
            candidates = self._zxing(straight) or self._zxing(
                straight, binarizer=self._zx.Binarizer.GlobalHistogram)
            for r in candidates:
                if not _stands_alone(straight, r):
                    continue
                if not self._verify or self._confirmed(straight, r):
                    reads.append(Read(r.code, quad))
                    break
        return reads


# Modules across a whole short symbol (guards included) and the bars it has. A short symbol
# (EAN-8, UPC-E) must have its quiet zones clear: zxing and OpenCV both now and then decode
# one from a slice of a longer symbol (a UPC-E inside an ISBN's EAN-13, an EAN-8 inside a
# UPC-A) with a valid check digit.
SHORT_MODULES = {"EAN-8": 67, "UPC-E": 51}
SHORT_BARS = {"EAN-8": 22, "UPC-E": 17}
LONG_BARS = 30          # EAN-13 and UPC-A
QUIET_FROM, QUIET_TO = 1.5, 6.0   # modules beyond the symbol's end that must be free of bars


def _axis(quad: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """(start, unit along the scan, unit across the bars, length) of a zxing quad
    (top-left, top-right, bottom-right, bottom-left; the scan runs left to right)."""
    left = (quad[0] + quad[3]) / 2
    right = (quad[1] + quad[2]) / 2
    along = right - left
    length = float(np.linalg.norm(along))
    along = along / max(length, 1e-6)
    return left, along, np.array([-along[1], along[0]], dtype=np.float32), length


def _crop(gray: np.ndarray, quad: np.ndarray, along: float, across: float) -> np.ndarray | None:
    """The axis-aligned region around ``quad``, widened by ``along`` of its length past its
    ends and by ``across`` of its length along the bars on both sides."""
    _, u, n, length = _axis(quad)
    pad_u, pad_n = u * (along * length + 4), n * (across * length + 4)
    points = np.concatenate([quad + pad_u + pad_n, quad + pad_u - pad_n, quad - pad_u + pad_n, quad - pad_u - pad_n])
    h, w = gray.shape
    x0, y0 = np.floor(points.min(axis=0)).astype(int)
    x1, y1 = np.ceil(points.max(axis=0)).astype(int)
    crop = gray[max(0, y0):min(h, y1 + 1), max(0, x0):min(w, x1 + 1)]
    return crop if crop.size and min(crop.shape) >= 8 else None


def _profile(gray: np.ndarray, start: np.ndarray, along: np.ndarray, across: np.ndarray,
             t: np.ndarray, half_height: float) -> np.ndarray:
    """Grey levels at distances ``t`` along the scan line, averaged over five parallel lines
    ``half_height`` either side; NaN outside the image."""
    h, w = gray.shape
    rows = []
    for k in np.linspace(-half_height, half_height, 5):
        pts = start[None, :] + t[:, None] * along[None, :] + k * across[None, :]
        xi, yi = np.rint(pts[:, 0]).astype(int), np.rint(pts[:, 1]).astype(int)
        inside = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
        row = np.full(len(t), np.nan, np.float32)
        row[inside] = gray[yi[inside], xi[inside]]
        rows.append(row)
    stacked = np.stack(rows)
    seen = ~np.isnan(stacked)
    counts = seen.sum(axis=0)
    sums = np.where(seen, stacked, 0.0).sum(axis=0)
    return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan).astype(np.float32)


def _stands_alone(gray: np.ndarray, read: Read) -> bool:
    """False for a short symbol with bars in its quiet zones (a slice of a wider pattern)."""
    modules = SHORT_MODULES.get(read.code.format)
    if modules is None:
        return True
    start, u, n, length = _axis(read.quad)
    if length < 8:
        return False
    module = length / modules
    step = max(0.25, module / 4)
    inner = np.arange(0.0, length, step)
    symbol = _profile(gray, start, u, n, inner, 1.5 * module)
    symbol = symbol[~np.isnan(symbol)]
    if len(symbol) < 8:
        return False
    dark, light = np.percentile(symbol, 10), np.percentile(symbol, 90)
    if light - dark < 10:
        return False
    threshold = (dark + light) / 2
    zone = np.arange(QUIET_FROM * module, QUIET_TO * module, step)
    for t in (-zone, length + zone):
        levels = _profile(gray, start, u, n, t, 1.5 * module)
        is_bar = np.nan_to_num(levels, nan=255.0) < threshold
        run = longest = 0
        for bar in is_bar:
            run = run + 1 if bar else 0
            longest = max(longest, run)
        if longest * step >= 0.6 * module:
            return False
    return True


def _inside_longer(read: Read, others: list[Read]) -> bool:
    """Whether a short ``read`` lies within the bars (or the digits under them) of a long
    symbol read in the same image: the bars run across the scan line well beyond zxing's quad."""
    if read.code.format not in SHORT_MODULES:
        return False
    centre = read.quad.mean(axis=0)
    for other in others:
        if other.code.format in SHORT_MODULES:
            continue
        _, u, n, length = _axis(other.quad)
        offset = centre - other.quad.mean(axis=0)
        half_height = float(np.abs((other.quad - other.quad.mean(axis=0)) @ n).max())
        if abs(float(offset @ u)) <= length / 2 and abs(float(offset @ n)) <= half_height + 0.6 * length:
            return True
    return False


def _box_fits_short(gray: np.ndarray, box: np.ndarray, fmt: str) -> bool:
    """Whether an OpenCV box holds about as many bars as a ``fmt`` symbol, not a long one's."""
    straight = _straighten(gray, box)
    if straight is None:
        return False
    h, w = straight.shape
    band = straight[int(h * 0.35):max(int(h * 0.65), int(h * 0.35) + 1), :].mean(axis=0)
    dark, light = np.percentile(band, 10), np.percentile(band, 90)
    is_bar = band < (dark + light) / 2
    bars = int(np.count_nonzero(is_bar[1:] & ~is_bar[:-1]) + int(is_bar[0]))
    return bars < (SHORT_BARS[fmt] + LONG_BARS) / 2


def _straighten(gray: np.ndarray, box: np.ndarray) -> np.ndarray | None:
    """The box warped to an upright rectangle along its longer side, with a quiet zone."""
    import cv2
    # cv2.barcode boxes come as (bottomLeft, topLeft, topRight, bottomRight) of a rotated
    # rectangle; the longer side runs across the bars.
    side_a = float(np.linalg.norm(box[1] - box[0]))
    side_b = float(np.linalg.norm(box[2] - box[1]))
    if min(side_a, side_b) < 4:
        return None
    if side_b >= side_a:
        src = np.array([box[1], box[2], box[3], box[0]], dtype=np.float32)
        length, height = side_b, side_a
    else:
        src = np.array([box[2], box[3], box[0], box[1]], dtype=np.float32)
        length, height = side_a, side_b
    # The box hugs the bars; widen it so the guard patterns keep a quiet zone.
    centre = src.mean(axis=0)
    along = (src[1] - src[0]) / max(length, 1e-6)
    widened = src + np.outer(np.sign((src - centre) @ along), along) * (0.1 * length)
    scale = max(1.0, 480.0 / length)
    w, h = int(length * 1.2 * scale), max(int(height * scale), 32)
    dst = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(widened.astype(np.float32), dst)
    return cv2.warpPerspective(gray, matrix, (w, h), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE)


def read_qr(image: np.ndarray) -> list[str]:
    """The texts of the QR codes in ``image`` (e.g. a shopper's sign-in code), in order found."""
    import zxingcpp
    return [b.text for b in zxingcpp.read_barcodes(_gray(image), formats=[zxingcpp.BarcodeFormat.QRCode])
            if b.text]


class Consensus:
    """Counts a code only after ``min_agree`` reads of it within ``window_s`` on one camera,
    and at least ``dominance`` times as many as the most-read code in that window (so a
    misread that happens to repeat doesn't ride along with the code really in front of the
    camera, while two products held up together both count).

    Each code is reported once per appearance: after it has not been read for
    ``forget_s`` it can be reported again (the same product put in twice).
    """

    def __init__(self, min_agree: int = 2, window_s: float = 1.0, forget_s: float = 2.0,
                 dominance: float = 0.5) -> None:
        if min_agree < 1:
            raise ValueError("min_agree must be at least 1")
        self.min_agree = min_agree
        self.dominance = dominance
        self.window_s = window_s
        self.forget_s = forget_s
        self._reads: deque[tuple[float, Code]] = deque()
        self._reported: dict[str, float] = {}  # gtin13 -> last time read while reported

    def add(self, t: float, codes: list[Code]) -> list[Code]:
        """Record the codes one frame at time ``t`` gave; returns codes newly agreed on."""
        for code in codes:
            self._reads.append((t, code))
        while self._reads and self._reads[0][0] < t - self.window_s:
            self._reads.popleft()
        for gtin, last in list(self._reported.items()):
            if t - last > self.forget_s:
                del self._reported[gtin]
        counts = Counter(code.gtin13 for _, code in self._reads)
        latest = {code.gtin13: code for _, code in self._reads}
        agreed = []
        for code in codes:
            gtin = code.gtin13
            if gtin in self._reported:
                self._reported[gtin] = t
                continue
            top = max(counts.values())
            if counts[gtin] >= self.min_agree and counts[gtin] >= self.dominance * top:
                self._reported[gtin] = t
                agreed.append(latest[gtin])
        return agreed
