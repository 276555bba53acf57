"""training/pack_dataset.py: the dataset shrunk to travel keeps its layout, lists and labels."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from training import gsd_data

REPO = Path(__file__).resolve().parents[2]


def _tiny_dataset(root: Path) -> None:
    root.mkdir()
    (root / "classes.csv").write_text("Class Name (str),Class ID (int),Coarse Class Name (str),Coarse Class ID (int)\n"
                                      "Banana,0,Banana,0\nOat-Milk,1,Oat-Milk,1\n")
    (root / "LICENSE").write_text("MIT\n")
    rows = {"train": ["train/Fruit/Banana/Banana_001.jpg, 0, 0", "train/Packages/Oat-Milk/Oat-Milk_001.jpg, 1, 1"],
            "val": ["val/Fruit/Banana/Banana_009.jpg, 0, 0"]}
    rng = np.random.default_rng(0)
    for split, lines in rows.items():
        (root / f"{split}.txt").write_text("\n".join(lines) + "\n")
        for line in lines:
            path = root / line.split(",")[0]
            path.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(path), rng.integers(0, 255, (348, 464, 3), dtype=np.uint8))


def test_the_packed_copy_reads_as_the_original(tmp_path: Path) -> None:
    original, packed = tmp_path / "gsd", tmp_path / "packed"
    _tiny_dataset(original)
    done = subprocess.run([sys.executable, "-m", "training.pack_dataset", str(packed),
                           "--data", str(original), "--max-side", "224"], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert "3 images" in done.stdout and (packed / "LICENSE").is_file()
    assert gsd_data.class_names(packed) == gsd_data.class_names(original) == ["Banana", "Oat-Milk"]
    for split in ("train", "val"):
        a, b = gsd_data.read_split(original, split), gsd_data.read_split(packed, split)
        assert [(s.path.relative_to(original), s.label, s.group) for s in a] == \
               [(s.path.relative_to(packed), s.label, s.group) for s in b]
        for s in b:
            assert max(cv2.imread(str(s.path)).shape[:2]) == 224


def test_an_unreadable_photo_is_named(tmp_path: Path) -> None:
    original = tmp_path / "gsd"
    _tiny_dataset(original)
    (original / "val" / "Fruit" / "Banana" / "Banana_009.jpg").write_bytes(b"not a jpeg")
    done = subprocess.run([sys.executable, "-m", "training.pack_dataset", str(tmp_path / "p"),
                           "--data", str(original)], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 1 and "Banana_009.jpg: not a readable image" in done.stderr
