import csv
import json

import pytest

from dashcart.cli import main
from tests.vision_helpers import MODEL

needs_model = pytest.mark.skipif(not MODEL.is_file(), reason="recognizer model not built yet")


def _lines(capsys):
    out = capsys.readouterr()
    return [json.loads(line) for line in out.out.splitlines()], out.err


def test_barcode_json_is_one_object_per_image_as_the_contract_says(shared_data, capsys):
    root = shared_data / "barcodes"
    images = [str(root / "upce-1" / "1.png"), str(root / "upca-1" / "2.png"), str(root / "falsepositives" / "01.png")]
    assert main(["barcode", *images, "--json"]) == 0
    lines, err = _lines(capsys)
    assert lines == [
        {"image": images[0], "codes": [{"format": "UPC-E", "text": "01234565", "gtin13": "0012345000065"}]},
        {"image": images[1], "codes": [{"format": "UPC-A", "text": "036602301467", "gtin13": "0036602301467"}]},
        {"image": images[2], "codes": []},
    ]


def test_an_unreadable_image_is_named_and_the_rest_still_read(shared_data, tmp_path, capsys):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not really a jpeg")
    good = str(shared_data / "barcodes" / "ean8-1" / "1.png")
    code = main(["barcode", str(tmp_path / "missing.png"), str(broken), good, "--json"])
    lines, err = _lines(capsys)
    assert code != 0
    assert [line["image"] for line in lines] == [good]
    assert lines[0]["codes"][0]["gtin13"] == "0000048512343"
    assert err.splitlines() == [f"{tmp_path / 'missing.png'}: no such file",
                                f"{broken}: not an image OpenCV can read"]


def _val_image(shared_data, name):
    return sorted((shared_data / "grocery-store" / "val").rglob(f"{name}_*.jpg"))[0]


@needs_model
def test_identify_gives_at_least_five_candidates_best_first(shared_data, capsys):
    image = str(_val_image(shared_data, "Pink-Lady"))
    assert main(["identify", image, "--classes", "--json"]) == 0
    [line], _ = _lines(capsys)
    assert line["image"] == image
    scores = [c["score"] for c in line["candidates"]]
    assert len(scores) >= 5 and scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
    classes = {row.split(",")[0] for row in (shared_data / "grocery-store" / "classes.csv").read_text().splitlines()[1:]}
    assert {c["code"] for c in line["candidates"]} <= classes


@needs_model
def test_identify_with_a_catalogue_reports_its_codes(shared_data, capsys):
    catalogue = shared_data / "catalogue" / "demo_store.csv"
    mapping = {row["gsd_class"]: row["code"] for row in csv.DictReader(open(catalogue, newline=""))}
    image = str(_val_image(shared_data, "Pink-Lady"))
    assert main(["identify", image, "--classes", "--json"]) == 0
    [by_class], _ = _lines(capsys)
    assert main(["identify", image, "--catalogue", str(catalogue), "--json"]) == 0
    [by_code], _ = _lines(capsys)
    assert [c["code"] for c in by_code["candidates"]] == [mapping[c["code"]] for c in by_class["candidates"]]


@needs_model
def test_identify_by_default_names_the_bundled_demo_stores_codes(shared_data, tmp_path, monkeypatch, capsys):
    from dashcart.runtime.cart_runtime import BUNDLED_DATA_DIR
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))      # a fresh machine: no imported catalogue
    catalogue = BUNDLED_DATA_DIR / "catalogue" / "demo_store.csv"
    mapping = {row["gsd_class"]: row["code"] for row in csv.DictReader(open(catalogue, newline=""))}
    image = str(_val_image(shared_data, "Pink-Lady"))
    assert main(["identify", image, "--classes", "--json"]) == 0
    [by_class], _ = _lines(capsys)
    assert main(["identify", image, "--json"]) == 0
    [by_default], err = _lines(capsys)
    assert [c["code"] for c in by_default["candidates"]] == [mapping[c["code"]] for c in by_class["candidates"]]
    assert f"demo catalogue {catalogue}" in err


@needs_model
def test_identify_by_default_ranks_as_the_cart_does_with_the_imported_catalogue(shared_data, tmp_path,
                                                                               monkeypatch, capsys):
    from dashcart.runtime.cart_runtime import BUNDLED_DATA_DIR
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    csv_path = str(BUNDLED_DATA_DIR / "catalogue" / "demo_store.csv")
    query = str(_val_image(shared_data, "Asparagus"))
    assert main(["catalogue", "import", csv_path]) == 0
    assert main(["enroll", "4011", query]) == 0               # this very photo, enrolled as bananas
    capsys.readouterr()
    assert main(["identify", query, "--json"]) == 0
    [line], err = _lines(capsys)
    assert line["candidates"][0] == {"code": "4011", "score": 1.0}    # the database's gallery, enrolled photo included
    assert f"catalogue {tmp_path / 'dashcart' / 'catalogue.db'}" in err
    assert main(["identify", query, "--catalogue", csv_path, "--json"]) == 0
    [line], _ = _lines(capsys)
    # the shipped prototypes, not the database's enrolled photo: asparagus among them, no exact match
    assert "3392" in [c["code"] for c in line["candidates"]] and line["candidates"][0]["score"] < 0.99


@needs_model
def test_identify_with_a_bad_catalogue_says_what_is_wrong(tmp_path, shared_data, capsys):
    bad = tmp_path / "cat.csv"
    bad.write_text("code,name\n4011,Banana\n")
    assert main(["identify", str(_val_image(shared_data, "Lemon")), "--catalogue", str(bad), "--json"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"dashcart identify: {bad}:1: missing column 'code_type' (and 5 more problems)"


@needs_model
def test_enroll_then_identify_from_the_catalogue_db(shared_data, tmp_path, capsys):
    photos = sorted((shared_data / "grocery-store" / "train" / "Vegetables" / "Asparagus").glob("*.jpg"))[:4]
    db = tmp_path / "catalogue.db"
    code = main(["enroll", "4080", *map(str, photos), str(tmp_path / "nope.jpg"), "--catalogue-db", str(db), "--json"])
    out = capsys.readouterr()
    assert code != 0 and f"{tmp_path / 'nope.jpg'}: no such file" in out.err
    result = json.loads(out.out)
    assert result["added"] == 4 and result["prototypes"] == 4 and result["code"] == "4080"
    query = str(_val_image(shared_data, "Asparagus"))
    assert main(["identify", query, "--catalogue-db", str(db), "--json"]) == 0
    [line], _ = _lines(capsys)
    assert line["candidates"][0]["code"] == "4080"


def test_broken_model_is_one_line_and_non_zero(tmp_path, shared_data, capsys):
    model = tmp_path / "r.tflite"
    model.write_bytes(b"junk")
    model.with_suffix(".json").write_text('{"input_size": 224, "scale": 1, "mean": [0,0,0], "std": [1,1,1], "version": "x"}')
    code = main(["identify", str(_val_image(shared_data, "Lemon")), "--model", str(model), "--json"])
    out = capsys.readouterr()
    assert code == 4 and out.out == ""
    assert out.err.startswith(f"dashcart identify: {model}: not a usable LiteRT model") and out.err.count("\n") == 1
