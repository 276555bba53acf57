import sqlite3

import pytest

from dashcart.cli import main
from dashcart.core.catalogue import Catalogue, CatalogueInvalid, import_catalogue, parse_catalogue_csv

HEADER = "code,code_type,name,group,category,sold_by,price_cents,unit_weight_g,unit_weight_sd_g,net_content,zone,gsd_class_id,gsd_class\n"
GOOD = [
    "4011,plu,Banana,Fruit,Banana,weight,129,120,18,,produce-fruit,6,Banana\n",
    "2280000001285,ean13,Bravo Apple Juice,Packages,Juice,unit,299,1062,6,1 l,chilled-juice,28,Bravo-Apple-Juice\n",
]


def write(tmp_path, rows, header=HEADER, name="cat.csv"):
    path = tmp_path / name
    path.write_text(header + "".join(rows))
    return path


def test_demo_store_imports_with_pictures(shared_data, tmp_path, capsys):
    db = tmp_path / "cat.db"
    assert main(["catalogue", "import", str(shared_data / "catalogue/demo_store.csv"), "--db", str(db)]) == 0
    catalogue = Catalogue.open(db)
    assert len(catalogue) == 81
    banana = catalogue.get("4011")
    assert banana.by_weight and banana.price_cents == 129 and banana.zone == "produce-fruit"
    assert banana.image and banana.image.endswith("Banana_Iconic.jpg")
    assert catalogue.by_gtin("2280000001285").name == "Bravo Apple Juice"
    assert catalogue.by_class("Red-Bell-Pepper").code == "4088"
    assert main(["catalogue", "show", "4011", "--db", str(db), "--json"]) == 0
    assert '"code": "4011"' in capsys.readouterr().out


def test_every_problem_reported_with_its_line_and_nothing_changes(tmp_path, capsys):
    db = tmp_path / "cat.db"
    import_catalogue(write(tmp_path, GOOD), db)
    bad = write(tmp_path, GOOD + [
        "2280000001286,ean13,Wrong check digit,Packages,Juice,unit,299,1062,6,,x,,\n",        # line 4
        "4011,plu,Banana again,Fruit,Banana,weight,129,120,18,,produce-fruit,,\n",            # line 5
        "4225,plu,Avocado,Fruit,Avocado,unit,-149,210,25,,produce-fruit,,\n",                 # line 6
        "4030,plu,Kiwi,Fruit,Kiwi,each,59,85,10,,produce-fruit,,\n",                          # line 7
        "4053,plu,Lemon,Fruit,Lemon,unit,79,0,18,,produce-fruit,,\n",                         # line 8
        "12,plu,Too short,Fruit,Lemon,unit,79,10,1,,produce-fruit,,\n",                       # line 9
        "4048,plu,Lime,Fruit\n",                                                              # line 10
        "2900000001022,ean13,Free Tasting Sample,Packages,Misc,unit,0,30,2,,x,,\n",           # line 11
    ], name="bad.csv")
    assert main(["catalogue", "import", str(bad), "--db", str(db)]) == 2
    err = capsys.readouterr().err
    for line, words in ((4, "check digit"), (5, "duplicate code 4011"), (6, "price_cents -149"),
                        (7, "sold_by 'each'"), (8, "unit_weight_g 0"), (9, "not a PLU"), (10, "4 fields"),
                        (11, "price_cents 0 must be at least 1")):   # the store API prices a line at 1 cent or more
        assert f"bad.csv:{line}: " in err and words in err, (line, words, err)
    assert "unchanged" in err and "Traceback" not in err
    # the old catalogue is still there, whole
    assert sorted(p.code for p in Catalogue.open(db)) == ["2280000001285", "4011"]


def test_unknown_and_missing_columns(tmp_path):
    path = write(tmp_path, ["4011,plu,Banana,weight,129,120,18,z,1\n"],
                 header="code,code_type,name,sold_by,price_cents,unit_weight_g,unit_weight_sd_g,zone,colour\n")
    with pytest.raises(CatalogueInvalid) as info:
        parse_catalogue_csv(path)
    assert any(p.line == 1 and "unknown column 'colour'" in p.message for p in info.value.problems)
    path = write(tmp_path, ["4011,plu,Banana\n"], header="code,code_type,name\n")
    with pytest.raises(CatalogueInvalid) as info:
        parse_catalogue_csv(path)
    assert {p.message for p in info.value.problems} >= {"missing column 'price_cents'", "missing column 'sold_by'"}


def test_short_codes_widen_to_gtin13(tmp_path):
    path = write(tmp_path, ["036000291452,upca,Upc thing,,,unit,100,50,2,,a,,\n",
                            "96385074,ean8,Ean8 thing,,,unit,100,50,2,,a,,\n"])
    codes = {p.code for p in parse_catalogue_csv(path)}
    assert codes == {"0036000291452", "0000096385074"}


def test_missing_file_is_one_line(tmp_path, capsys):
    assert main(["catalogue", "import", str(tmp_path / "nope.csv"), "--db", str(tmp_path / "x.db")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nope.csv" in err


def test_import_is_one_transaction(tmp_path):
    db = tmp_path / "cat.db"
    import_catalogue(write(tmp_path, GOOD), db)
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("SELECT COUNT(*) FROM products").fetchone()[0] == 2
