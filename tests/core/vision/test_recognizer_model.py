"""The shipped recognizer model, its sidecar and the demo gallery keep their contract.

These check the artifacts in dashcart/core/vision/models with the real LiteRT interpreter: the runtime
(dashcart/core/vision/recognizer.py) relies on exactly these shapes, keys and classes.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

MODELS = Path(__file__).resolve().parents[3] / "dashcart" / "core" / "vision" / "models"


def _interpreter(path: Path):
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        from tflite_runtime.interpreter import Interpreter
    it = Interpreter(model_path=str(path), num_threads=1)
    it.allocate_tensors()
    return it


@pytest.fixture(scope="module")
def spec() -> dict:
    return json.loads((MODELS / "recognizer.json").read_text())


@pytest.fixture(scope="module")
def interpreter():
    return _interpreter(MODELS / "recognizer.tflite")


@pytest.fixture(scope="module")
def gallery():
    return np.load(MODELS / "gsd_prototypes.npz")


def test_sidecar_has_the_keys_the_runtime_reads(spec):
    for key in ("input_size", "layout", "input_dtype", "color", "scale", "mean", "std",
                "embedding_dim", "version"):
        assert key in spec, key
    assert spec["layout"] == "NHWC" and spec["input_dtype"] == "float32" and spec["color"] == "RGB"
    assert len(spec["mean"]) == 3 and len(spec["std"]) == 3 and min(spec["std"]) > 0


def test_model_is_small_enough_for_the_pi():
    assert (MODELS / "recognizer.tflite").stat().st_size <= 8 * 1024 * 1024


def test_model_io_matches_the_sidecar(interpreter, spec):
    (inp,) = interpreter.get_input_details()
    (out,) = interpreter.get_output_details()
    s = spec["input_size"]
    assert list(inp["shape"]) == [1, s, s, 3]
    assert inp["dtype"] == np.float32
    assert list(out["shape"]) == [1, spec["embedding_dim"]]
    assert out["dtype"] == np.float32


def test_weights_are_int8(interpreter):
    dtypes = {d["dtype"] for d in interpreter.get_tensor_details()}
    assert np.int8 in dtypes


def test_gallery_covers_every_catalogue_class(gallery, spec, shared_data):
    classes = [str(c) for c in gallery["classes"]]
    with open(shared_data / "catalogue" / "demo_store.csv", newline="") as f:
        catalogue = {row["gsd_class"] for row in csv.DictReader(f)}
    assert set(classes) == catalogue
    assert len(classes) == 81
    vectors, labels = gallery["vectors"], gallery["labels"]
    assert vectors.dtype == np.float32 and vectors.shape == (len(labels), spec["embedding_dim"])
    assert set(labels.tolist()) == set(range(len(classes)))
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)


def _embed(interpreter, spec, path: Path) -> np.ndarray:
    import cv2

    rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    s = spec["input_size"]
    x = cv2.resize(rgb, (s, s), interpolation=cv2.INTER_AREA).astype(np.float32)
    x = (x * spec["scale"] - np.array(spec["mean"], np.float32)) / np.array(spec["std"], np.float32)
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x[None])
    interpreter.invoke()
    v = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])[0]
    return v / np.linalg.norm(v)


def test_held_out_photos_land_near_their_own_class(interpreter, spec, gallery, shared_data):
    # val images are from other photo sessions than the gallery's train images
    root = shared_data / "grocery-store"
    picks = {"val/Fruit/Banana/Banana_001.jpg": "Banana",
             "val/Vegetables/Carrots/Carrots_001.jpg": "Carrots",
             "val/Packages/Milk/Arla-Standard-Milk/Arla-Standard-Milk_001.jpg": "Arla-Standard-Milk"}
    classes = [str(c) for c in gallery["classes"]]
    for rel, name in picks.items():
        sims = gallery["vectors"] @ _embed(interpreter, spec, root / rel)
        best = [classes[gallery["labels"][i]] for i in np.argsort(-sims)]
        top5 = list(dict.fromkeys(best))[:5]
        assert name in top5, (rel, top5)


def test_different_products_get_different_embeddings(interpreter, spec, shared_data):
    root = shared_data / "grocery-store" / "val"
    a = _embed(interpreter, spec, root / "Fruit/Banana/Banana_001.jpg")
    b = _embed(interpreter, spec, root / "Fruit/Banana/Banana_002.jpg")
    c = _embed(interpreter, spec, root / "Packages/Milk/Arla-Standard-Milk/Arla-Standard-Milk_001.jpg")
    assert float(a @ b) > float(a @ c)
