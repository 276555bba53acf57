"""Build the data that ships inside the repository from the full shared data.

    python tools/make_bundled_data.py [--shared ../shared/data] [--heldout DIR]

Writes two things (both committed, so a fresh clone needs nothing beside it):

- ``dashcart/sim/demo_store/``: package data for ``dashcart demo``, ``screenshots``, ``ui-demo``
  and ``identify``: the demo store's catalogue and, per product, the dataset's iconic image and
  one store photo (validation split first) no larger than 320 px, in the Grocery Store
  Dataset's own layout (``classes.csv``, ``val.txt``, ``train.txt``), with its MIT licence.
- ``tests/data/``: the fixtures the tests need: a subset of the zxing blackbox barcode photos
  (with ``manifest.csv``), the captured BLE advertisements, the HX711 glitches, each with its
  licence; ``catalogue`` and ``grocery-store`` link to the demo store.

``--heldout`` adds the zxing blackbox photos that once gave misreads (from the sets the
shared data leaves out) as regression fixtures.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
from pathlib import Path

import cv2

REPO = Path(__file__).resolve().parent.parent
MAX_SIDE = 320
JPEG_QUALITY = 80

# Photos the tests name, besides the one per product (tests/core/vision/test_recognizer_model.py,
# tests/core/test_catalogue_gallery.py, tests/core/vision/test_recognizer.py, tests/commands/test_vision_cli.py).
EXTRA_PHOTOS = (
    "val/Fruit/Banana/Banana_001.jpg", "val/Fruit/Banana/Banana_002.jpg",
    "val/Vegetables/Carrots/Carrots_001.jpg",
    "val/Packages/Milk/Arla-Standard-Milk/Arla-Standard-Milk_001.jpg",
)
EXTRA_TRAIN_FIRST = {"train/Fruit/Kiwi": 1, "train/Packages/Juice/Tropicana-Golden-Grapefruit": 4,
                     "train/Vegetables/Asparagus": 5}

# Barcode photos per set: the first few of each set, by file size, so the subset stays small
# while every format and both outcomes (read, not read) are there.
BARCODES_PER_SET = 4
FALSEPOSITIVES = ("01.png", "07.png")
# Photos the tests name (tests/commands/test_vision_cli.py).
NAMED_BARCODES = {("upce-1", "1.png"), ("upca-1", "2.png"), ("ean8-1", "1.png")}
# Held-out photos that once gave a misread or a missed read (github.com/zxing/zxing blackbox).
HELDOUT = {"ean13-4": ("06.png", "14.png"), "upca-4": ("4.png",)}


def small_jpeg(src: Path, dst: Path) -> None:
    image = cv2.imread(str(src))
    if image is None:
        raise SystemExit(f"{src}: not an image")
    h, w = image.shape[:2]
    if max(h, w) > MAX_SIDE:
        scale = MAX_SIDE / max(h, w)
        image = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    dst.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(dst), image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])


def demo_store(shared: Path, out: Path) -> None:
    gsd_src, gsd = shared / "grocery-store", out / "grocery-store"
    for built in ("catalogue", "grocery-store"):   # only what this script makes (promotions.csv stays)
        if (out / built).exists():
            shutil.rmtree(out / built)
    (out / "catalogue").mkdir(parents=True)
    shutil.copy(shared / "catalogue" / "demo_store.csv", out / "catalogue" / "demo_store.csv")
    gsd.mkdir()
    shutil.copy(gsd_src / "LICENSE", gsd / "LICENSE")
    with open(shared / "catalogue" / "demo_store.csv", newline="", encoding="utf-8") as handle:
        classes = {row["gsd_class"] for row in csv.DictReader(handle)}
    rows = list(csv.reader(open(gsd_src / "classes.csv", newline="", encoding="utf-8")))
    with open(gsd / "classes.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(rows[0])
        for row in rows[1:]:
            if row[0] not in classes:
                continue
            writer.writerow(row)
            iconic = row[4].lstrip("/")
            target = gsd / iconic
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(gsd_src / iconic, target)   # already 198 px
    picked: dict[str, list[str]] = {"val": [], "train": []}
    for split in ("val", "train"):
        for line in (gsd_src / f"{split}.txt").read_text().splitlines():
            rel = line.split(",")[0].strip()
            cls = Path(rel).parent.name
            if cls in classes and not any(Path(p).parent.name == cls for s in picked.values() for p in s):
                picked[split].append(line)
    listed = {line.split(",")[0].strip(): line for split in ("val", "train")
              for line in (gsd_src / f"{split}.txt").read_text().splitlines()}
    for rel in EXTRA_PHOTOS:
        if rel not in {line.split(",")[0].strip() for line in picked["val"]}:
            picked["val"].append(listed[rel])
    for folder, n in EXTRA_TRAIN_FIRST.items():
        for photo in sorted((gsd_src / folder).glob("*.jpg"))[:n]:
            rel = str(photo.relative_to(gsd_src))
            if rel not in {line.split(",")[0].strip() for line in picked["train"]}:
                picked["train"].append(listed[rel])
    for split, lines in picked.items():
        lines.sort()
        (gsd / f"{split}.txt").write_text("".join(line + "\n" for line in lines))
        for line in lines:
            rel = line.split(",")[0].strip()
            small_jpeg(gsd_src / rel, gsd / rel)
    (out / "README.md").write_text(README_DEMO_STORE)


def test_data(shared: Path, heldout: Path | None, out: Path) -> None:
    for name in ("barcodes", "ble", "scale"):
        if (out / name).exists():
            shutil.rmtree(out / name)
    src = shared / "barcodes"
    (out / "barcodes").mkdir(parents=True)
    shutil.copy(src / "LICENSE", out / "barcodes" / "LICENSE")
    rows = list(csv.DictReader(open(src / "manifest.csv", newline="")))
    keep = []
    for name in sorted({r["set"] for r in rows}):
        in_set = sorted((r for r in rows if r["set"] == name), key=lambda r: int(r["bytes"]))
        keep += [r for i, r in enumerate(in_set)
                 if i < BARCODES_PER_SET or (r["set"], r["image"]) in NAMED_BARCODES]
    if heldout is not None:
        for name, images in HELDOUT.items():
            for image in images:
                path = heldout / name / image
                keep.append({"set": f"heldout-{name}", "image": image, "format": "",
                             "expected_text": path.with_suffix(".txt").read_text().strip(),
                             "width": "", "height": "", "bytes": str(path.stat().st_size), "_src": str(path)})
    with open(out / "barcodes" / "manifest.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0].keys()), extrasaction="ignore")
        writer.writeheader()
        for row in keep:
            writer.writerow(row)
            target = out / "barcodes" / row["set"] / row["image"]
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(row.get("_src") or src / row["set"] / row["image"], target)
    (out / "barcodes" / "falsepositives").mkdir()
    for image in FALSEPOSITIVES:
        shutil.copy(src / "falsepositives" / image, out / "barcodes" / "falsepositives" / image)
    shutil.copytree(shared / "ble", out / "ble")
    shutil.copytree(shared / "scale", out / "scale")
    for name in ("catalogue", "grocery-store"):
        link = out / name
        if link.is_symlink() or link.exists():
            link.unlink()
        os.symlink(Path("..") / ".." / "dashcart" / "sim" / "demo_store" / name, link)


README_DEMO_STORE = """\
# The demo store (bundled)

What `dashcart demo`, `screenshots`, `ui-demo` and `identify` use when no `--data` or
`data_dir` names the full dataset: the demo store's catalogue (`catalogue/demo_store.csv`, one
product per class of the Grocery Store Dataset, made for this project) and, per product, the
dataset's iconic image and one store photo (validation split first, else training; at most
320 px, JPEG quality 80), in the dataset's own layout (`grocery-store/classes.csv`, `val.txt`,
`train.txt`).

Photos: the Grocery Store Dataset, Marcus Klasson, Cheng Zhang, Hedvig Kjellström, "A
Hierarchical Grocery Store Image Dataset with Visual and Semantic Labels", WACV 2019,
github.com/marcusklasson/GroceryStoreDataset; MIT licence, `grocery-store/LICENSE`.

Rebuilt from the full data by `tools/make_bundled_data.py`.
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--heldout", help="a folder of zxing blackbox sets (ean13-4, upca-4, ...)")
    args = parser.parse_args()
    shared = Path(args.shared)
    demo_store(shared, REPO / "dashcart" / "sim" / "demo_store")
    test_data(shared, Path(args.heldout) if args.heldout else None, REPO / "tests" / "data")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
