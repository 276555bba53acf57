"""Barcode reading on the zxing blackbox photos: reads per set next to zxing-cpp's own
"try harder" pass (its defaults: rotations, downscales, inverted), misreads, false positives,
and milliseconds per 640x480 frame.

    python -m bench.bench_barcodes [--data DIR ...] [--no-fallback]

Each ``--data`` folder is either one with ``manifest.csv`` (``set,image,...,expected_text``,
like ``../shared/data/barcodes``) or a folder of zxing blackbox sets (``SET/N.png`` with
``SET/N.txt`` holding the expected text, e.g. the held-out sets ean13-3, upca-4 ... copied
from github.com/zxing/zxing, core/src/test/resources/blackbox). A set named
``falsepositives*`` must give nothing. Exit 1 when a set has a misread or fewer reads than
zxing-cpp's own pass.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections import Counter
from pathlib import Path

import cv2

from dashcart.core.vision.barcode import FORMATS, BarcodeReader, normalize

# Codes printed next to the one the manifest names, really there in the photo (the
# price code under the ISBN on Japanese books): reading them is right, not a misread.
SECOND_CODES = {"1920081045006"}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif")


def samples(root: Path) -> list[tuple[str, Path, str]]:
    """(set, image path, expected text; "" for none) of one data folder."""
    out: list[tuple[str, Path, str]] = []
    manifest = root / "manifest.csv"
    if manifest.is_file():
        with manifest.open(newline="") as handle:
            out += [(row["set"], root / row["set"] / row["image"], row["expected_text"])
                    for row in csv.DictReader(handle)]
    else:
        for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("falsepositives")):
            for image in sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
                expected = image.with_suffix(".txt")
                out.append((folder.name, image, expected.read_text().strip() if expected.is_file() else ""))
    for folder in sorted(root.glob("falsepositives*")):
        out += [("falsepositives", p, "") for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES]
    return out


def zxing_own(image, zxingcpp) -> set[str]:
    """What zxing-cpp itself reads with its default (try-harder) options, retail formats only."""
    formats = [zxingcpp.BarcodeFormat.EAN13, zxingcpp.BarcodeFormat.UPCA,
               zxingcpp.BarcodeFormat.EAN8, zxingcpp.BarcodeFormat.UPCE]
    texts = set()
    for b in zxingcpp.read_barcodes(image, formats=formats):
        code = normalize(str(b.format), b.text, getattr(b, "extra", None))
        if code is not None:
            texts.add(code.text)
    return texts


def main() -> int:
    import zxingcpp

    default = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "barcodes"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=[str(default)], metavar="DIR")
    parser.add_argument("--no-fallback", action="store_true", help="zxing only, no cv2.barcode")
    args = parser.parse_args()
    reader = BarcodeReader(fallback=not args.no_fallback)
    found, own, total, wrong = Counter(), Counter(), Counter(), Counter()
    misreads: list[str] = []
    frame_ms: list[float] = []
    for root in map(Path, args.data):
        if not root.is_dir():
            print(f"bench_barcodes: {root}: no such folder", file=sys.stderr)
            return 2
        for name, path, expected in samples(root):
            image = cv2.imread(str(path))
            if image is None:
                continue
            start = time.process_time()
            codes = reader.read(image)
            elapsed = (time.process_time() - start) * 1000
            if image.shape[:2] == (480, 640):
                frame_ms.append(elapsed)
            total[name] += 1
            if expected and any(c.text == expected for c in codes):
                found[name] += 1
            if expected and expected in zxing_own(image, zxingcpp):
                own[name] += 1
            for c in codes:
                if c.text != expected and c.gtin13 not in SECOND_CODES:
                    wrong[name] += 1
                    misreads.append(f"{name}/{path.name}: read {c.format} {c.text}, expected {expected or 'nothing'}")
    failed = False
    print(f"{'set':<20}{'read':>6}{'of':>5}{'zxing':>7}{'misread':>9}  ok")
    for name in sorted(total):
        ok = found[name] >= own[name] and not wrong[name]
        failed |= not ok
        print(f"{name:<20}{found[name]:>6}{total[name]:>5}{own[name]:>7}{wrong[name]:>9}  {'yes' if ok else 'NO'}")
    print(f"{'all':<20}{sum(found.values()):>6}{sum(total.values()):>5}{sum(own.values()):>7}{sum(wrong.values()):>9}")
    for line in misreads:
        print("  misread:", line)
    frame_ms.sort()
    if frame_ms:
        print(f"ms per 640x480 frame (CPU, {len(frame_ms)} frames): median {frame_ms[len(frame_ms) // 2]:.1f}, "
              f"p90 {frame_ms[int(len(frame_ms) * 0.9)]:.1f}, mean {sum(frame_ms) / len(frame_ms):.1f}")
    print(f"formats {', '.join(FORMATS)}; cv2.barcode fallback: {'on' if reader.has_fallback else 'off'}; "
          f"zxing = zxing-cpp {getattr(zxingcpp, '__version__', '')} read_barcodes with its defaults")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
