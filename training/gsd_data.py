"""The Grocery Store Dataset (Klasson et al., WACV 2019; MIT) as lists of (path, class) pairs.

Used by training, export (calibration images, prototypes) and the accuracy bench. Needs only
the standard library and numpy/Pillow, so the bench can use it from the runtime venv too.
"""
from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

# The dataset's folder: $DASHCART_GSD if set, else ../shared/data/grocery-store beside the repo.
# Scripts also take --data.
DEFAULT_ROOT = Path(
    os.environ.get("DASHCART_GSD")
    or Path(__file__).resolve().parents[1].parent / "shared" / "data" / "grocery-store"
)


@dataclass(frozen=True)
class Sample:
    path: Path
    label: int  # fine class id (0..80), index into `class_names`
    group: str  # Fruit | Vegetables | Packages (the dataset's top-level folder)


def missing(root: Path) -> str | None:
    """Why `root` is not the dataset, in one line for a script's stderr; None when it is."""
    for name in ("classes.csv", "train.txt", "val.txt"):
        if not (root / name).is_file():
            return (f"{root}: no {name} here; it is not the Grocery Store Dataset "
                    "(give its folder with --data or $DASHCART_GSD)")
    return None


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
    """(training images, val images, held-out train tail for the classes val lacks).

    The older two-way split (kept for the callers that have not moved to `splits`): its
    training part is the same as `splits(root).train`; val + held = calib + test.
    """
    train = read_split(root, "train")
    val = read_split(root, "val")
    rest, held = holdout_split(train, {s.label for s in val})
    return rest, val, held


class Splits(NamedTuple):
    """Three disjoint sets, each made of whole photo series, every class in each of them.

    train: the model is trained on it and the gallery is built from it.
    calib: held out of training and of the gallery; only for fitting the runtime's recognizer
        calibration (temperature, reliability) and look thresholds.
    test: held out of everything; the only set accuracy is reported on.
    """

    train: list[Sample]
    calib: list[Sample]
    test: list[Sample]


def _halves(items: list[Sample]) -> tuple[list[Sample], list[Sample]]:
    """First half (by file number) and second half: two contiguous runs of series.
    With an odd count the extra image goes to the test half."""
    items = sorted(items, key=_series_key)
    k = len(items) // 2
    return items[:k], items[k:]


def splits(root: Path = DEFAULT_ROOT, fraction: float = 0.2) -> Splits:
    """train / calib / test, by whole series per class (never random: see `holdout_split`).

    - Classes in the dataset's val split (60): train = all their train images; val's images in
      file order, first half -> calib, second half -> test.
    - The 21 classes val lacks: the last `fraction` of their train images (whole tail series)
      are held out of training and split the same way, first half calib, second half test.
    """
    train = read_split(root, "train")
    val = read_split(root, "val")
    rest, held = holdout_split(train, {s.label for s in val}, fraction)
    calib, test = [], []
    by_class: dict[int, list[Sample]] = {}
    for s in val + held:
        by_class.setdefault(s.label, []).append(s)
    for _label, items in sorted(by_class.items()):
        c, t = _halves(items)
        calib.extend(c)
        test.extend(t)
    return Splits(rest, calib, test)
