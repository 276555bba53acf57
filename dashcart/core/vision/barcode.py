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
        reads = self._zxing(gray)
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
        """Re-decode the region around ``read`` four ways; its code must win outright."""
        import cv2
        x0, y0 = read.quad.min(axis=0)
        x1, y1 = read.quad.max(axis=0)
        margin = int(max(x1 - x0, y1 - y0) * 0.25) + 4
        h, w = gray.shape
        crop = gray[max(0, int(y0) - margin):min(h, int(y1) + margin + 1),
                    max(0, int(x0) - margin):min(w, int(x1) + margin + 1)]
        votes: Counter[str] = Counter()
        binarizers = (self._zx.Binarizer.GlobalHistogram, self._zx.Binarizer.LocalAverage)
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
                if not self._verify or self._confirmed(straight, r):
                    reads.append(Read(r.code, quad))
                    break
        return reads


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
    src = src + np.outer(np.sign(((src - centre) @ along)), along) * (0.1 * length)
    scale = max(1.0, 480.0 / length)
    w, h = int(length * 1.2 * scale), max(int(height * scale), 32)
    dst = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(src.astype(np.float32), dst)
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
