"""The Grocery Store Dataset (Klasson et al., WACV 2019; MIT) as lists of (path, class) pairs.

Used by training, export (calibration images, prototypes) and the accuracy bench. Needs only
the standard library and numpy/Pillow, so the bench can use it from the runtime venv too.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

DEFAULT_ROOT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "grocery-store"


@dataclass(frozen=True)
class Sample:
    path: Path
    label: int  # fine class id (0..80), index into `class_names`
    group: str  # Fruit | Vegetables | Packages (the dataset's top-level folder)


def class_names(root: Path = DEFAULT_ROOT) -> list[str]:
    """The 81 fine class names in class-id order (as `gsd_class` in the demo catalogue)."""
    with open(root / "classes.csv", newline="") as f:
        rows = list(csv.reader(f))[1:]
    names = [""] * len(rows)
    for row in rows:
        names[int(row[1])] = row[0].strip()
    return names


def read_split(root: Path, split: str) -> list[Sample]:
    """`split` is "train" or "val": the dataset's own `<split>.txt` lists."""
    samples = []
    with open(root / f"{split}.txt") as f:
        for line in f:
            if not line.strip():
                continue
            rel, fine, _coarse = (p.strip() for p in line.split(","))
            samples.append(Sample(root / rel, int(fine), rel.split("/")[1]))
    return samples


def _series_key(sample: Sample) -> int:
    match = re.search(r"_(\d+)\.jpg$", sample.path.name)
    return int(match.group(1)) if match else 0


def holdout_split(
    train: list[Sample], covered: set[int], fraction: float = 0.2
) -> tuple[list[Sample], list[Sample]]:
    """Carve a held-out part out of train for the classes that `val` does not cover.

    GSD photographs each physical item several times in a row, so consecutive file numbers
    show the same item: a random split would leak. The held-out part is the last `fraction`
    of each uncovered class's images in file order (whole tail series, not a sample).
    Returns (train_rest, heldout).
    """
    by_class: dict[int, list[Sample]] = {}
    for s in train:
        by_class.setdefault(s.label, []).append(s)
    rest, held = [], []
    for label, items in sorted(by_class.items()):
        items = sorted(items, key=_series_key)
        if label in covered:
            rest.extend(items)
            continue
        n_held = max(1, round(len(items) * fraction))
        rest.extend(items[:-n_held])
        held.extend(items[-n_held:])
    return rest, held


def evaluation_sets(root: Path = DEFAULT_ROOT) -> tuple[list[Sample], list[Sample], list[Sample]]:
    """(training images, val images, held-out train tail for the classes val lacks)."""
    train = read_split(root, "train")
    val = read_split(root, "val")
    rest, held = holdout_split(train, {s.label for s in val})
    return rest, val, held
