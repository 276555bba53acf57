"""Export the recognizer: PyTorch checkpoint -> float .tflite -> int8 .tflite + sidecar + gallery.

    python -m training.export_recognizer --checkpoint /work/model-artifacts/recognizer.pt
    python -m training.export_recognizer --pretrained      # ImageNet weights, no fine-tuning

Steps: litert-torch converts the embedding net (head dropped) to a float .tflite; the
ai-edge-quantizer makes it int8 (weights and activations) from calibration on training images
with plain MIN/MAX range tracking (its default moving-average tracking did not keep the int8
embeddings in agreement with the float model); the sidecar JSON tells the runtime how to feed
the model; the demo gallery holds k-means prototypes of each class's int8 embeddings.
"""
from __future__ import annotations

import argparse
import datetime
import json
import re
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

from dashcart.core.vision.recognizer import Recognizer
from training import gsd_data
from training.preprocess import model_input
from training.recognizer_model import (
    PIXEL_MEAN,
    PIXEL_SCALE,
    PIXEL_STD,
    EmbeddingNet,
    NHWCExport,
    load_backbone,
)

REPO = Path(__file__).resolve().parents[1]


MODELS_DIR = REPO / "dashcart" / "core" / "vision" / "models"


def build_net(checkpoint: Path | None, use_ema: bool = False) -> tuple[EmbeddingNet, dict]:
    if checkpoint is None:
        net = EmbeddingNet(load_backbone(pretrained=True))
        return net.eval(), {"image_size": 224, "version": "lite0-imagenet"}
    ckpt = torch.load(checkpoint, map_location="cpu", weights_only=False)
    meta = dict(ckpt["meta"])
    # checkpoints from before --backbone are all Lite0
    net = EmbeddingNet(load_backbone(pretrained=False, name=meta.get("backbone", "lite0")), meta.get("embedding_dim"))
    if use_ema:
        if "ema_net" not in ckpt:
            raise SystemExit(f"export_recognizer: {checkpoint} has no moving average (train with --ema)")
        net.load_state_dict(ckpt["ema_net"])
        meta["version"] = f"{meta['version']}-ema"
    else:
        net.load_state_dict(ckpt["embedding_net"])
    return net.eval(), meta


def convert_float(net: EmbeddingNet, size: int, out: Path) -> None:
    import litert_torch

    sample = (torch.zeros(1, size, size, 3),)
    edge = litert_torch.convert(NHWCExport(net).eval(), sample)
    edge.export(str(out))


def quantize_int8(float_path: Path, calib: list[np.ndarray], out: Path) -> None:
    from ai_edge_quantizer import algorithm_manager, calibrator, qtyping, quantizer, recipe, recipe_manager
    from ai_edge_quantizer.utils import qsv_utils

    rm = recipe_manager.RecipeManager()
    rm.load_quantization_recipe(recipe.static_wi8_ai8())
    # keep the graph's input and output float32 (quantize/dequantize inside the model) so
    # the runtime feeds normalized floats and reads float embeddings, whatever the precision
    for io_op in (qtyping.TFLOperationName.INPUT, qtyping.TFLOperationName.OUTPUT):
        rm.add_quantization_config(
            ".*", io_op, algorithm_key=algorithm_manager.AlgorithmName.NO_QUANTIZE
        )
    int8_recipe = rm.get_quantization_recipe()
    qt = quantizer.Quantizer(str(float_path), int8_recipe)
    # Quantizer.calibrate() always uses the moving-average update; drive the calibrator
    # directly so the ranges are the true min/max over the calibration set.
    cal = calibrator.Calibrator(
        float_path.read_bytes(), num_threads=2, qsv_update_func=qsv_utils.min_max_update
    )
    key = _signature_key(float_path)
    input_name = _input_name(float_path)
    cal.calibrate({key: [{input_name: x} for x in calib]}, rm)
    result = qt.quantize(cal.get_model_qsvs())
    result.export_model(str(out), overwrite=True)


def _signature(path: Path):
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path))
    sigs = it.get_signature_list()
    return next(iter(sigs.items()))


def _signature_key(path: Path) -> str:
    return _signature(path)[0]


def _input_name(path: Path) -> str:
    return _signature(path)[1]["inputs"][0]


def embed_tflite(path: Path, inputs: list[np.ndarray]) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path), num_threads=2)
    it.allocate_tensors()
    inp = it.get_input_details()[0]["index"]
    outp = it.get_output_details()[0]["index"]
    vecs = []
    for x in inputs:
        it.set_tensor(inp, x)
        it.invoke()
        vecs.append(it.get_tensor(outp)[0].astype(np.float32))
    return np.stack(vecs)


def l2n(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def kmeans_prototypes(vecs: np.ndarray, k: int, seed: int = 0, iters: int = 30) -> np.ndarray:
    """Spherical k-means: k unit vectors summarizing one class's (unit) embeddings."""
    k = min(k, len(vecs))
    rng = np.random.default_rng(seed)
    centers = vecs[rng.choice(len(vecs), k, replace=False)]
    for _ in range(iters):
        assign = np.argmax(vecs @ centers.T, axis=1)
        for j in range(k):
            members = vecs[assign == j]
            if len(members):
                centers[j] = members.mean(0)
        centers = l2n(centers)
    return centers.astype(np.float32)


def versioned(version: str, quarter_turns: int) -> str:
    """The model's version with the turns its embeddings are made with: a gallery is stored per
    version, and prototypes made with other turns must not be mixed with these."""
    base = re.sub(r"-t\d$", "", version)
    return base if quarter_turns == 1 else f"{base}-t{quarter_turns}"


def write_gallery(args: argparse.Namespace, int8_path: Path) -> None:
    """``gsd_prototypes.npz``: up to ``--prototypes-per-class`` spherical k-means centres of each
    class's training photos, embedded by the cart's own Recognizer (its sidecar's turns)."""
    train_imgs = gsd_data.splits(args.data).train
    names = gsd_data.class_names(args.data)
    recognizer = Recognizer(int8_path, threads=2)
    print(f"gallery: embedding {len(train_imgs)} training images with the int8 model, as the cart "
          f"embeds a crop ({recognizer.quarter_turns} quarter turns)", flush=True)
    emb = np.stack([recognizer.embed(cv2.imread(str(s.path), cv2.IMREAD_COLOR)) for s in train_imgs])
    labels = np.array([s.label for s in train_imgs])
    vectors, owner = [], []
    for c in range(len(names)):
        protos = kmeans_prototypes(emb[labels == c], args.prototypes_per_class, args.seed)
        vectors.append(protos)
        owner.extend([c] * len(protos))
    np.savez_compressed(
        int8_path.parent / "gsd_prototypes.npz",
        classes=np.array(names),
        vectors=np.concatenate(vectors).astype(np.float32),
        labels=np.array(owner, dtype=np.int32),
    )
    print(f"gallery: {len(owner)} prototypes for {len(names)} classes")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", type=Path, help="train_recognizer.py output (.pt)")
    src.add_argument("--pretrained", action="store_true", help="ImageNet weights, no fine-tuning")
    src.add_argument("--regallery", action="store_true",
                     help="keep the model in --out-dir; set its sidecar's quarter_turns (and the version's "
                          "-tN) and embed the gallery again")
    ap.add_argument("--ema", action="store_true", help="export the checkpoint's moving average of the weights")
    ap.add_argument("--data", type=Path, default=gsd_data.DEFAULT_ROOT, help="dataset root (or $DASHCART_GSD)")
    ap.add_argument("--out-dir", type=Path, default=MODELS_DIR,
                    help="default: dashcart/core/vision/models")
    ap.add_argument("--float-out", type=Path, default=Path("/work/model-artifacts/recognizer_float.tflite"))
    ap.add_argument("--calib-count", type=int, default=300, help="training images for int8 ranges")
    ap.add_argument("--prototypes-per-class", type=int, default=5)
    ap.add_argument("--no-gallery", action="store_true", help="skip gsd_prototypes.npz")
    # 2 for the 224 px model: 4 turns rank a little better but cost 4 inferences (about 19 ms
    # per crop on one thread here, over the 15 ms budget); 2 cost about 10.6 ms
    ap.add_argument("--quarter-turns", type=int, default=2, choices=(1, 2, 4),
                    help="the sidecar's quarter_turns: the runtime averages the embeddings of this many "
                         "turns of each crop (the training views come at any quarter turn)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    if problem := gsd_data.missing(args.data):
        print(f"export_recognizer: {problem}", file=sys.stderr)
        return 2
    if args.regallery:
        sidecar_path = args.out_dir / "recognizer.json"
        sidecar = json.loads(sidecar_path.read_text())
        sidecar["quarter_turns"] = args.quarter_turns
        sidecar["version"] = versioned(sidecar["version"], args.quarter_turns)
        sidecar_path.write_text(json.dumps(sidecar, indent=2) + "\n")
        print(f"{sidecar_path}: version {sidecar['version']}, quarter_turns {args.quarter_turns}")
        write_gallery(args, args.out_dir / "recognizer.tflite")
        return 0
    torch.manual_seed(args.seed)
    net, meta = build_net(None if args.pretrained else args.checkpoint, args.ema)
    size = int(meta["image_size"])
    args.out_dir.mkdir(parents=True, exist_ok=True)
    args.float_out.parent.mkdir(parents=True, exist_ok=True)
    int8_path = args.out_dir / "recognizer.tflite"

    print(f"converting to float tflite ({size}x{size}) -> {args.float_out}", flush=True)
    convert_float(net, size, args.float_out)

    train_imgs = gsd_data.splits(args.data).train  # calibration and gallery: TRAIN photos only
    rng = np.random.default_rng(args.seed)
    pick = rng.choice(len(train_imgs), min(args.calib_count, len(train_imgs)), replace=False)
    calib = [model_input(train_imgs[i].path, size) for i in sorted(pick)]
    print(f"int8 quantization, min/max calibration on {len(calib)} training images", flush=True)
    quantize_int8(args.float_out, calib, int8_path)

    # agreement check: the int8 embedding must point where the float one does
    check = calib[:64]
    with torch.no_grad():
        ref = torch.cat([net(torch.from_numpy(x).permute(0, 3, 1, 2)) for x in check]).numpy()
    f_emb = embed_tflite(args.float_out, check)
    q_emb = embed_tflite(int8_path, check)
    cos_fp = np.sum(l2n(ref) * l2n(f_emb), 1)
    cos_q = np.sum(l2n(f_emb) * l2n(q_emb), 1)
    print(f"cosine torch~float tflite: min {cos_fp.min():.4f}; float~int8: mean {cos_q.mean():.4f} min {cos_q.min():.4f}")
    dim = int(q_emb.shape[1])

    sidecar = {
        "format": "dashcart-recognizer/1",
        "model": "recognizer.tflite",
        "input_size": size,
        "layout": "NHWC",
        "input_dtype": "float32",
        "color": "RGB",
        "resize": "whole crop to input_size x input_size, cv2.INTER_AREA, no centre crop",
        "scale": PIXEL_SCALE,
        "mean": list(PIXEL_MEAN),
        "std": list(PIXEL_STD),
        "normalization": "x = (pixel * scale - mean) / std, per channel",
        "output": "embedding [1, embedding_dim] float32; L2-normalize, compare by cosine",
        "embedding_dim": dim,
        "quantization": "int8 weights and activations (float32 input/output), min/max calibration",
        "version": versioned(meta.get("version", "unknown"), args.quarter_turns),
        "exported": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d"),
        "float_int8_cosine_mean": round(float(cos_q.mean()), 4),
        "quarter_turns": args.quarter_turns,
    }
    (args.out_dir / "recognizer.json").write_text(json.dumps(sidecar, indent=2) + "\n")
    print(json.dumps(sidecar, indent=2))

    if not args.no_gallery:
        write_gallery(args, int8_path)
    print(f"int8 model: {int8_path} ({int8_path.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
