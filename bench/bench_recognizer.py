"""Recognizer bench: accuracy on held-out Grocery Store images, latency, load time, size.

    /work/venv/bin/python bench/bench_recognizer.py [--model cart/vision/models/recognizer.tflite]
        [--float /work/model-artifacts/recognizer_float.tflite] [--gallery ...npz] [--threads N]

Runs the .tflite models with ai-edge-litert, exactly as the cart does: the crop is prepared as
the model's JSON sidecar says, the embedding is L2-normalized and the class is the one of the
nearest prototype (cosine) in the gallery (`gsd_prototypes.npz`, built from *training* images
only). Candidates are ranked by class (each class scored by its best prototype).

Held-out images: the dataset's own val split (296 images, 60 of the 81 classes) plus, for the 21
classes val lacks, the last 20 % (by file number, i.e. whole photo series of the same item) of
their train images; training/gsd_data.py removes those from training and from the gallery.
Prints a table; no pass/fail (targets: top-1 >= 86 %, top-5 >= 98 %).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "training"))
import gsd_data  # noqa: E402  (stdlib-only helpers: lists, split)

MODELS = REPO / "cart" / "vision" / "models"


def make_interpreter(path: Path, threads: int):
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # the fallback the runtime accepts too
        from tflite_runtime.interpreter import Interpreter
    it = Interpreter(model_path=str(path), num_threads=threads)
    it.allocate_tensors()
    return it


def prepare(path: Path, spec: dict) -> np.ndarray:
    """Crop file -> model input, following the sidecar (the runtime's contract)."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    size = int(spec["input_size"])
    x = cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32)
    x = (x * float(spec["scale"]) - np.asarray(spec["mean"], np.float32)) / np.asarray(spec["std"], np.float32)
    return x[None]


def embed_all(it, inputs: list[np.ndarray]) -> tuple[np.ndarray, list[float]]:
    inp = it.get_input_details()[0]["index"]
    out = it.get_output_details()[0]["index"]
    vecs, ms = [], []
    for x in inputs:
        t = time.perf_counter()
        it.set_tensor(inp, x)
        it.invoke()
        v = it.get_tensor(out)[0].astype(np.float32)
        ms.append((time.perf_counter() - t) * 1000)
        vecs.append(v / max(np.linalg.norm(v), 1e-12))
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
    ap.add_argument("--data", type=Path, default=gsd_data.DEFAULT_ROOT)
    ap.add_argument("--threads", type=int, default=1, help="interpreter threads (Pi: 4)")
    ap.add_argument("--limit", type=int, default=0, help="use only every n-th image (quick look)")
    args = ap.parse_args()

    spec = json.loads(args.model.with_suffix(".json").read_text())
    g = np.load(args.gallery)
    gallery = {"classes": list(g["classes"]), "vectors": g["vectors"], "labels": g["labels"]}
    names = gsd_data.class_names(args.data)
    assert gallery["classes"] == names, "gallery classes differ from the dataset's classes.csv"

    _train, val, held = gsd_data.evaluation_sets(args.data)
    sets = {"val": val, "held-out train tail": held}
    if args.limit > 1:
        sets = {k: v[:: args.limit] for k, v in sets.items()}
    print(f"held-out images: val split {len(sets['val'])} images of {len({s.label for s in val})} classes; "
          f"held-out train tail {len(sets['held-out train tail'])} images of the other "
          f"{len({s.label for s in held})} classes (never trained on, not in the gallery)")
    inputs = {k: [prepare(s.path, spec) for s in v] for k, v in sets.items()}

    models = [("int8", args.model)]
    if args.float_model and args.float_model.exists():
        models.append(("float", args.float_model))
    acc_rows, perf_rows = [], []
    for kind, path in models:
        t = time.perf_counter()
        it = make_interpreter(path, args.threads)
        load_ms = (time.perf_counter() - t) * 1000
        all_ranks, all_y, all_g, lat = [], [], [], []
        for set_name, samples in sets.items():
            emb, ms = embed_all(it, inputs[set_name])
            ranks = rank_classes(emb, gallery)
            y = np.array([s.label for s in samples])
            grp = np.array([s.group for s in samples])
            acc_rows += accuracy_rows(f"{kind} {set_name}", ranks, y, grp)
            all_ranks.append(ranks)
            all_y.append(y)
            all_g.append(grp)
            lat += ms
        acc_rows += accuracy_rows(f"{kind} ALL 81 classes", np.concatenate(all_ranks),
                                  np.concatenate(all_y), np.concatenate(all_g))
        lat = np.array(lat[3:])  # first invocations warm caches
        perf_rows.append((kind, path.stat().st_size / 1e6, load_ms, float(np.median(lat)),
                          float(np.percentile(lat, 90))))

    print(f"\nmodel {args.model.name} version {spec.get('version')}, input {spec['input_size']}px, "
          f"embedding {spec['embedding_dim']}-d, gallery {len(gallery['vectors'])} prototypes "
          f"/ {len(names)} classes\n")
    print(f"{'model / set':34} {'group':11} {'images':>6} {'classes':>7} {'top-1 %':>8} {'top-5 %':>8}")
    for r in acc_rows:
        print(f"{r[0]:34} {r[1]:11} {r[2]:6d} {r[3]:7d} {r[4]:8.1f} {r[5]:8.1f}")
    print("targets (all held-out images, int8): top-1 >= 86.0 %, top-5 >= 98.0 %\n")
    print(f"{'model':6} {'size MB':>8} {'load ms':>8} {'ms/crop p50':>12} {'ms/crop p90':>12}   (threads={args.threads})")
    for r in perf_rows:
        print(f"{r[0]:6} {r[1]:8.2f} {r[2]:8.1f} {r[3]:12.1f} {r[4]:12.1f}")
    print("ms/crop = set input + invoke + read output, on this machine (shared CPU); size limit 8 MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
