"""The recognizer's gallery lives with the catalogue: import seeds it, enroll adds to it, and
the running cart recognizes from it."""

import json
import sqlite3

from dashcart.cli import main
from dashcart.config import parse_config
from dashcart.core.vision.recognizer import Recognizer
from dashcart.runtime.cart_runtime import CartRuntime
from tests.core.test_catalogue import GOOD, write

NEW_PRODUCT = "2000000000015,ean13,House Kombucha,Packages,Drink,unit,349,380,5,33 cl,chilled-juice,,\n"


def _config(db):
    return parse_config(f'[catalogue]\ndb = "{db}"\n')


def _gallery_codes(db, version):
    with sqlite3.connect(db) as conn:
        return {code for (code,) in conn.execute("SELECT DISTINCT code FROM gallery WHERE model = ?", (version,))}


def test_import_puts_the_shipped_prototypes_under_the_catalogues_codes(tmp_path, capsys):
    db = tmp_path / "cat.db"
    assert main(["catalogue", "import", str(write(tmp_path, GOOD)), "--db", str(db)]) == 0
    assert "gallery: 10 new prototypes" in capsys.readouterr().out
    version = Recognizer().version
    assert _gallery_codes(db, version) == {"4011", "2280000001285"}
    # Importing again adds nothing twice.
    assert main(["catalogue", "import", str(write(tmp_path, GOOD)), "--db", str(db)]) == 0
    assert "gallery: 0 new prototypes" in capsys.readouterr().out


def test_enroll_refuses_a_code_the_catalogue_does_not_sell(shared_data, tmp_path, capsys):
    db = tmp_path / "cat.db"
    assert main(["catalogue", "import", str(write(tmp_path, GOOD)), "--db", str(db)]) == 0
    capsys.readouterr()
    photo = next((shared_data / "grocery-store" / "train" / "Fruit" / "Kiwi").glob("*.jpg"))
    assert main(["enroll", "4030", str(photo), "--catalogue-db", str(db)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "4030: not a product in the catalogue" in err
    assert "4030" not in _gallery_codes(db, Recognizer().version)


def test_the_running_cart_recognizes_an_enrolled_product(shared_data, tmp_path, capsys):
    db = tmp_path / "cat.db"
    assert main(["catalogue", "import", str(write(tmp_path, GOOD + [NEW_PRODUCT])), "--db", str(db)]) == 0
    capsys.readouterr()
    photos = sorted((shared_data / "grocery-store" / "train" / "Packages" / "Juice" / "Tropicana-Golden-Grapefruit").glob("*.jpg"))[:4]
    config = _config(db)
    assert main(["enroll", "2000000000015", *map(str, photos), "--catalogue-db", str(db), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["added"] == 4

    recognizer = Recognizer()
    runtime = CartRuntime(config)
    gallery = runtime._gallery(recognizer, None)
    assert set(gallery.codes) == {"4011", "2280000001285", "2000000000015"}
    import cv2
    query = cv2.imread(str(photos[0]))
    assert gallery.rank(recognizer.embed(query), 1)[0][0] == "2000000000015"


def test_photos_enrolled_before_the_catalogue_is_imported_leave_the_cart_running(shared_data, tmp_path, capsys):
    db = tmp_path / "cat.db"
    photo = next((shared_data / "grocery-store" / "train" / "Fruit" / "Kiwi").glob("*.jpg"))
    assert main(["enroll", "4030", str(photo), "--catalogue-db", str(db)]) == 0   # no catalogue there yet
    capsys.readouterr()
    config = parse_config(f'[catalogue]\ndb = "{db}"\n[cart]\nstate_dir = "{tmp_path / "state"}"\n')
    runtime = CartRuntime(config, data_dir=tmp_path / "no-data")
    runtime.start()   # as with no database: it runs, the catalogue marked down
    try:
        assert runtime.device_states["catalogue"].state == "down"
        assert "holds only enrolled photos" in runtime.device_states["catalogue"].message
    finally:
        runtime.stop()
    capsys.readouterr()
    assert main(["catalogue", "show", "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no catalogue imported yet, only enrolled photos" in err
    assert main(["catalogue", "import", str(write(tmp_path, GOOD)), "--db", str(db)]) == 0   # then it is a catalogue


def test_a_gsd_class_the_model_does_not_know_is_said_at_import(tmp_path, capsys):
    db = tmp_path / "cat.db"
    typo = GOOD[0].replace(",Banana\n", ",Banana-Typo\n")
    assert main(["catalogue", "import", str(write(tmp_path, [typo, GOOD[1]])), "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "for 1 products; no pictures for gsd_class 'Banana-Typo' (product 4011)" in out
    assert _gallery_codes(db, Recognizer().version) == {"2280000001285"}
