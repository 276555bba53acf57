import json
import sqlite3

import numpy as np
import pytest

from dashcart.core.vision import gallery
from dashcart.core.vision.recognizer import Recognizer
from dashcart.errors import Misconfigured, PermanentlyBroken
from tests.vision_helpers import MODEL, PROTOTYPES

needs_model = pytest.mark.skipif(not MODEL.is_file(), reason="recognizer model not built yet")


@pytest.fixture(scope="module")
def recognizer():
    if not MODEL.is_file():
        pytest.skip("recognizer model not built yet")
    return Recognizer(MODEL, threads=1)


def _val_images(shared_data, per_class=1, limit=12):
    """(class name, path) for the first val images of up to ``limit`` classes."""
    rows = []
    seen = {}
    classes = {}
    for line in (shared_data / "grocery-store" / "classes.csv").read_text().splitlines()[1:]:
        parts = line.split(",")
        classes[int(parts[1])] = parts[0]
    for line in (shared_data / "grocery-store" / "val.txt").read_text().splitlines():
        path, fine, _ = [p.strip() for p in line.split(",")]
        name = classes[int(fine)]
        if seen.get(name, 0) < per_class and len(seen) < limit or name in seen and seen[name] < per_class:
            seen[name] = seen.get(name, 0) + 1
            rows.append((name, shared_data / "grocery-store" / path))
    return rows


def test_embedding_is_unit_length_and_deterministic(recognizer, shared_data):
    import cv2
    [(_, path)] = _val_images(shared_data, limit=1)
    image = cv2.imread(str(path))
    a, b = recognizer.embed(image), recognizer.embed(image)
    assert a.shape == (recognizer.embedding_dim,) and a.dtype == np.float32
    assert np.linalg.norm(a) == pytest.approx(1.0, abs=1e-5)
    assert np.array_equal(a, b)


def test_shipped_prototypes_rank_the_right_class_in_the_top_five(recognizer, shared_data):
    import cv2
    protos = gallery.prototypes_gallery(PROTOTYPES, recognizer.version)
    samples = _val_images(shared_data, limit=20)
    hits = [name in [c for c, _ in protos.rank(recognizer.embed(cv2.imread(str(p))), 5)] for name, p in samples]
    # Even the ImageNet-only first model gets most of these; a broken preprocessing
    # (BGR for RGB, wrong scaling) drops far below.
    assert sum(hits) >= 0.75 * len(samples), hits


def test_missing_model_is_permanently_broken_with_its_name(tmp_path):
    with pytest.raises(PermanentlyBroken, match="nope.tflite: recognizer model not found"):
        Recognizer(tmp_path / "nope.tflite")


def test_corrupt_model_is_permanently_broken(tmp_path):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"\x00" * 1000)
    bad.with_suffix(".json").write_text('{"input_size": 224, "scale": 1, "mean": [0,0,0], "std": [1,1,1], "version": "x"}')
    with pytest.raises(PermanentlyBroken, match="bad.tflite: not a usable LiteRT model"):
        Recognizer(bad)


@needs_model
def test_missing_or_bad_sidecar_is_named(tmp_path):
    model = tmp_path / "m.tflite"
    model.write_bytes(MODEL.read_bytes())
    with pytest.raises(PermanentlyBroken, match="m.json: the recognizer's sidecar is missing"):
        Recognizer(model)
    model.with_suffix(".json").write_text('{"input_size": 224}')
    with pytest.raises(PermanentlyBroken, match="m.json: missing 'scale'"):
        Recognizer(model)
    # a size the shipped model is not, whatever size it was exported at
    wrong = json.loads(MODEL.with_suffix(".json").read_text())["input_size"] + 32
    model.with_suffix(".json").write_text(
        f'{{"input_size": {wrong}, "scale": 1, "mean": [0,0,0], "std": [1,1,1], "version": "x"}}')
    with pytest.raises(PermanentlyBroken, match=f"does not match the sidecar's input_size {wrong}"):
        Recognizer(model)


def _model_with_turns(tmp_path, turns):
    model = tmp_path / f"turns{turns}.tflite"
    model.write_bytes(MODEL.read_bytes())
    meta = json.loads(MODEL.with_suffix(".json").read_text())
    meta["quarter_turns"] = turns
    model.with_suffix(".json").write_text(json.dumps(meta))
    return Recognizer(model, threads=1)


@needs_model
def test_four_quarter_turns_average_every_turn_of_the_crop(tmp_path, shared_data):
    import cv2
    [(_, path)] = _val_images(shared_data, limit=1)
    image = cv2.resize(cv2.imread(str(path)), (200, 140))
    one, four = _model_with_turns(tmp_path, 1), _model_with_turns(tmp_path, 4)
    singles = [one.embed(np.ascontiguousarray(np.rot90(image, k))) for k in range(4)]
    mean = np.sum(singles, axis=0)
    mean /= np.linalg.norm(mean)
    # (the turns are of the prepared square input, the singles' of the crop before resizing:
    # equal up to resampling, which int8 activations magnify a little)
    assert float(four.embed(image) @ mean) > 0.999
    # so a crop turned by 90 degrees gives the same four views in another order
    assert float(four.embed(np.ascontiguousarray(np.rot90(image))) @ four.embed(image)) > 0.999
    # while single turns differ that much or more (so the checks above can fail)
    assert float(singles[0] @ singles[1]) < 0.99


@needs_model
@pytest.mark.parametrize("turns", [3, 0, "4", True])
def test_a_bad_quarter_turns_is_named(tmp_path, turns):
    with pytest.raises(PermanentlyBroken, match=r"turns.*\.json: quarter_turns .* must be 1, 2 or 4"):
        _model_with_turns(tmp_path, turns)


def _unit(v):
    v = np.asarray(v, np.float32)
    return v / np.linalg.norm(v)


def test_gallery_round_trips_through_sqlite_and_ranks_by_nearest_prototype():
    conn = sqlite3.connect(":memory:")
    gallery.add(conn, "4011", "m1", np.array([[1, 0, 0], [0.8, 0.6, 0]], np.float32))
    gallery.add(conn, "7310865004703", "m1", np.array([0, 0, 2], np.float32))
    gallery.add(conn, "4011", "m2", np.array([0, 1, 0], np.float32))   # another model's space
    g = gallery.load(conn, "m1")
    assert g.codes == ("4011", "7310865004703") and g.vectors.shape == (3, 3)
    ranked = g.rank(_unit([0.7, 0.7, 0.1]), k=5)
    assert [c for c, _ in ranked] == ["4011", "7310865004703"]
    assert ranked[0][1] == pytest.approx(float(_unit([0.7, 0.7, 0.1]) @ _unit([0.8, 0.6, 0])), abs=1e-6)
    assert all(0.0 <= s <= 1.0 for _, s in g.rank(_unit([-1, -1, -1]), 5))
    assert gallery.load(conn, "m2").codes == ("4011",)
    assert len(gallery.load(conn, "m3")) == 0 and gallery.load(conn, "m3").rank(_unit([1, 0, 0]), 5) == []


def test_adding_the_same_vector_twice_stores_it_once():
    conn = sqlite3.connect(":memory:")
    assert gallery.add(conn, "4011", "m1", np.array([[1, 0], [0, 1]], np.float32)) == 2
    assert gallery.add(conn, "4011", "m1", np.array([[2, 0]], np.float32)) == 0   # same direction
    assert gallery.remove(conn, "4011", "m1") == 2


def test_import_prototypes_maps_classes_to_codes_and_is_idempotent(tmp_path):
    npz = tmp_path / "protos.npz"
    np.savez(npz, classes=np.array(["Lemon", "Lime", "Oatly-Oat-Milk"]),
             vectors=np.array([[1, 0, 0], [0.9, 0.1, 0], [0, 1, 0], [0, 0, 1]], np.float32),
             labels=np.array([0, 0, 1, 2], np.int32))
    conn = sqlite3.connect(":memory:")
    mapping = {"Lemon": "4053", "Oatly-Oat-Milk": "7394376616037"}
    assert gallery.import_prototypes(conn, npz, "m1", mapping) == {"4053": 2, "7394376616037": 1}
    assert gallery.import_prototypes(conn, npz, "m1", mapping) == {"4053": 0, "7394376616037": 0}
    g = gallery.load(conn, "m1")
    assert set(g.codes) == {"4053", "7394376616037"} and len(g.vectors) == 3
    assert g.rank(_unit([0, 0, 1]), 1) == [("7394376616037", pytest.approx(1.0))]


def test_broken_prototypes_file_is_named(tmp_path):
    bad = tmp_path / "protos.npz"
    np.savez(bad, classes=np.array(["a"]), vectors=np.eye(2, dtype=np.float32))
    with pytest.raises(Misconfigured, match="protos.npz: missing array 'labels'"):
        gallery.read_prototypes(bad)
    with pytest.raises(Misconfigured, match="prototypes file not found"):
        gallery.read_prototypes(tmp_path / "none.npz")


@needs_model
def test_enrolled_product_is_recognized_without_retraining(recognizer, shared_data):
    import cv2
    train = sorted((shared_data / "grocery-store" / "train" / "Vegetables" / "Asparagus").glob("*.jpg"))
    val = sorted((shared_data / "grocery-store" / "val" / "Vegetables" / "Asparagus").glob("*.jpg"))
    conn = sqlite3.connect(":memory:")
    gallery.import_prototypes(conn, PROTOTYPES, recognizer.version, {"Lemon": "4053", "Lime": "4048"})
    before = gallery.load(conn, recognizer.version)
    query = recognizer.embed(cv2.imread(str(val[0])))
    assert "9999" not in [c for c, _ in before.rank(query, 5)]
    photos = np.stack([recognizer.embed(cv2.imread(str(p))) for p in train[:5]])
    gallery.add(conn, "9999", recognizer.version, photos)
    assert gallery.load(conn, recognizer.version).rank(query, 1)[0][0] == "9999"
