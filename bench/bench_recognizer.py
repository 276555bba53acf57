"""Recognizer bench: accuracy on the held-out TEST split, latency, load time, size.

    /work/venv/bin/python -m bench.bench_recognizer [--model .../models/recognizer.tflite]
        [--float /work/model-artifacts/recognizer_float.tflite] [--gallery ...npz] [--threads N]
        [--data DIR | $DASHCART_GSD] [--crops-per-photo 3] [--seed 12] [--split test|calib]

Runs the .tflite models with ai-edge-litert, exactly as the cart does: the crop is prepared as
the model's JSON sidecar says, the embedding is L2-normalized and the class is the one of the
nearest prototype (cosine) in the gallery (`gsd_prototypes.npz`, built from *training* photos
only). Candidates are ranked by class (each class scored by its best prototype).

Images: only training/gsd_data.py `splits(...).test` (all 81 classes, whole photo series held
out of training, of the gallery and of the calibration set), two ways:
- "test photos": the photos as they are;
- "in-basket crops": each test photo made into --crops-per-photo crops like a basket camera's
  (training/augment.py `basket_crop`: partial view 50-90 %, a hand over half of them,
  exposure and white-balance shift, blur, JPEG 50-80), deterministic from --seed.
``--split calib`` measures the same on the calib split instead: what models, galleries and
settings are chosen on, never what is reported. Prints a table; no pass/fail (targets: test
photos top-1 >= 88 %, top-5 >= 99 %; in-basket crops top-1 >= 85 %, top-5 >= 98 %; int8 <= 15
ms per crop; model <= 8 MB).
"""
from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from dashcart.core.vision.recognizer import Recognizer
from training import gsd_data  # stdlib-only helpers: lists, split
from training.augment import basket_crop  # numpy + cv2 only

REPO = Path(__file__).resolve().parents[1]


def _models_dir() -> Path:
    """dashcart/core/vision/models once the package has moved there, else cart/vision/models."""
    for rel in ("dashcart/core/vision/models", "cart/vision/models"):
        if (REPO / rel).is_dir():
            return REPO / rel
    return REPO / "dashcart/core/vision/models"


MODELS = _models_dir()


def read_rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def open_recognizer(path: Path, sidecar: Path, threads: int, workdir: Path) -> Recognizer:
    """The cart's own Recognizer for ``path`` read with ``sidecar`` (the float model has none
    of its own: it gets the int8 model's, as both take the same input)."""
    if path.with_suffix(".json") != sidecar:
        link = workdir / path.name
        link.symlink_to(path.resolve())
        shutil.copyfile(sidecar, link.with_suffix(".json"))
        path = link
    return Recognizer(path, threads=threads)


def embed_all(recognizer: Recognizer, crops_rgb: list[np.ndarray]) -> tuple[np.ndarray, list[float]]:
    """Embeddings as the cart makes them (``Recognizer.embed``: preparation, the sidecar's
    quarter turns, normalization) and the time each crop took."""
    vecs, ms = [], []
    for rgb in crops_rgb:
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        t = time.perf_counter()
        vecs.append(recognizer.embed(bgr))
        ms.append((time.perf_counter() - t) * 1000)
    return np.stack(vecs), ms


def rank_classes(emb: np.ndarray, gallery: dict) -> np.ndarray:
    """[N, n_classes] class indices best first; a class scores its best prototype."""
    sims = emb @ gallery["vectors"].T
    n_cls = len(gallery["classes"])
    per_class = np.full((len(emb), n_cls), -np.inf, np.float32)
    for c in range(n_cls):
        cols = gallery["labels"] == c
        if cols.any():
            per_class[:, c] = sims[:, cols].max(1)
    return np.argsort(-per_class, axis=1)


def accuracy_rows(name: str, ranks: np.ndarray, labels: np.ndarray, groups: np.ndarray) -> list[tuple]:
    rows = []
    for part in ("all", "Fruit", "Vegetables", "Packages"):
        sel = np.ones(len(labels), bool) if part == "all" else groups == part
        if not sel.any():
            continue
        r, y = ranks[sel], labels[sel, None]
        rows.append((name, part, int(sel.sum()), len(set(labels[sel])),
                     100 * float((r[:, :1] == y).mean()), 100 * float((r[:, :5] == y).any(1).mean())))
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=MODELS / "recognizer.tflite")
    ap.add_argument("--float", dest="float_model", type=Path,
                    default=Path("/work/model-artifacts/recognizer_float.tflite"),
                    help="float .tflite to compare (skipped when missing)")
    ap.add_argument("--gallery", type=Path, default=MODELS / "gsd_prototypes.npz")
    ap.add_argument("--data", type=Path, default=gsd_data.DEFAULT_ROOT, help="dataset root (or $DASHCART_GSD)")
    ap.add_argument("--threads", type=int, default=1, help="interpreter threads (Pi: 4)")
    ap.add_argument("--crops-per-photo", type=int, default=3, help="in-basket crops made from each test photo")
    ap.add_argument("--seed", type=int, default=12, help="the in-basket crops' corruption")
    ap.add_argument("--limit", type=int, default=0, help="use only every n-th image (quick look)")
    ap.add_argument("--split", choices=("test", "calib"), default="test",
                    help="test: the figures reported; calib: what a model, gallery or setting is chosen on")
    args = ap.parse_args()

    spec = json.loads(args.model.with_suffix(".json").read_text())
    g = np.load(args.gallery)
    gallery = {"classes": list(g["classes"]), "vectors": g["vectors"], "labels": g["labels"]}
    names = gsd_data.class_names(args.data)
    assert gallery["classes"] == names, "gallery classes differ from the dataset's classes.csv"

    test = getattr(gsd_data.splits(args.data), args.split)
    if args.limit > 1:
        test = test[:: args.limit]
    photos = [read_rgb(s.path) for s in test]
    crops, crop_samples = [], []
    for i, (s, rgb) in enumerate(zip(test, photos)):
        for k in range(args.crops_per_photo):
            crops.append(basket_crop(rgb, np.random.default_rng((args.seed, i, k))))
            crop_samples.append(s)
    sets = {f"{args.split} photos": (test, photos), "in-basket crops": (crop_samples, crops)}
    print(f"{args.split} split (gsd_data.splits: held out of training and gallery"
          f"{'' if args.split == 'calib' else ' and calibration'}): {len(test)} photos "
          f"of {len({s.label for s in test})} classes; {len(crops)} in-basket crops made from them "
          f"({args.crops_per_photo} per photo, seed {args.seed})")

    models = [("int8", args.model)]
    if args.float_model and args.float_model.exists():
        models.append(("float", args.float_model))
    acc_rows, perf_rows = [], []
    workdir = Path(tempfile.mkdtemp(prefix="bench_recognizer-"))
    for kind, path in models:
        t = time.perf_counter()
        recognizer = open_recognizer(path, args.model.with_suffix(".json"), args.threads, workdir)
        load_ms = (time.perf_counter() - t) * 1000
        lat = []
        for set_name, (samples, inputs) in sets.items():
            emb, ms = embed_all(recognizer, inputs)
            ranks = rank_classes(emb, gallery)
            y = np.array([s.label for s in samples])
            grp = np.array([s.group for s in samples])
            acc_rows += accuracy_rows(f"{kind} {set_name}", ranks, y, grp)
            lat += ms
        lat = np.array(lat[3:])  # first invocations warm caches
        perf_rows.append((kind, path.stat().st_size / 1e6, load_ms, float(np.median(lat)),
                          float(np.percentile(lat, 90))))

    shutil.rmtree(workdir)
    print(f"\nmodel {args.model} version {spec.get('version')}, input {spec['input_size']}px, "
          f"{spec.get('quarter_turns', 1)} quarter turn(s) per crop, "
          f"embedding {spec['embedding_dim']}-d, gallery {len(gallery['vectors'])} prototypes "
          f"/ {len(names)} classes\n")
    print(f"{'model / set':24} {'group':11} {'images':>6} {'classes':>7} {'top-1 %':>8} {'top-5 %':>8}")
    for r in acc_rows:
        print(f"{r[0]:24} {r[1]:11} {r[2]:6d} {r[3]:7d} {r[4]:8.1f} {r[5]:8.1f}")
    print("targets (int8, all): test photos top-1 >= 88.0 %, top-5 >= 99.0 %; "
          "in-basket crops top-1 >= 85.0 %, top-5 >= 98.0 %\n")
    print(f"{'model':6} {'size MB':>8} {'load ms':>8} {'ms/crop p50':>12} {'ms/crop p90':>12}   (threads={args.threads})")
    for r in perf_rows:
        print(f"{r[0]:6} {r[1]:8.2f} {r[2]:8.1f} {r[3]:12.1f} {r[4]:12.1f}")
    print("ms/crop = Recognizer.embed (prepare, one inference per quarter turn, normalize), on this machine (shared CPU); limits 15 ms, 8 MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
