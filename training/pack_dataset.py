"""A smaller copy of the Grocery Store Dataset for a machine it does not live on (the device
machine that trains on a GPU gets only what travels with the working tree, 64 MiB in all).

    python -m training.pack_dataset OUT_DIR [--data ../shared/data/grocery-store] [--max-side 224]

Same layout as the original (``classes.csv``, ``train.txt``, ``val.txt``, the image paths they
list), so ``--data OUT_DIR`` works for training, export and the bench alike; each photo is
shrunk so its longer side is at most ``--max-side`` (the originals are 348 px; training runs at
160-224 px) and stored as JPEG at quality 80. Attribution: keep the dataset's LICENSE (MIT) with it.
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import cv2

from training import gsd_data


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--data", type=Path, default=gsd_data.DEFAULT_ROOT)
    ap.add_argument("--max-side", type=int, default=224)
    args = ap.parse_args()
    if problem := gsd_data.missing(args.data):
        print(f"pack_dataset: {problem}", file=sys.stderr)
        return 2
    for name in ("classes.csv", "train.txt", "val.txt", "LICENSE"):
        args.out.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(args.data / name, args.out / name)
    count = 0
    for split in ("train", "val"):
        for sample in gsd_data.read_split(args.data, split):
            rel = sample.path.relative_to(args.data)
            image = cv2.imread(str(sample.path), cv2.IMREAD_COLOR)
            if image is None:
                print(f"{sample.path}: not a readable image", file=sys.stderr)
                return 1
            scale = args.max_side / max(image.shape[:2])
            if scale < 1:
                image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            (args.out / rel).parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(args.out / rel), image, [cv2.IMWRITE_JPEG_QUALITY, 80])
            count += 1
    size = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"{count} images, {size / 2**20:.1f} MiB in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
