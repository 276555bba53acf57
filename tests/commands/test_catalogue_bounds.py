"""`catalogue import` names the line of a number SQLite cannot hold or a field the csv module
will not read, instead of a traceback; the catalogue already there is unchanged."""

import pytest

from dashcart.cli import main

HEADER = "code,code_type,name,group,category,sold_by,price_cents,unit_weight_g,unit_weight_sd_g,net_content,zone," \
         "gsd_class_id,gsd_class"
GOOD = "4020,plu,Golden Delicious,Fruit,Apple,weight,329,190,30,,produce-fruit,0,Golden-Delicious"


@pytest.mark.parametrize("row, expected", [
    ("4020,plu,Golden Delicious,Fruit,Apple,weight,99999999999999999999999,190,30,,produce-fruit,0,GD",
     ":2: price_cents 99999999999999999999999 is too large"),
    ("4020,plu,Golden Delicious,Fruit,Apple,weight,329,190,30,,produce-fruit,9223372036854775808,GD",
     ":2: gsd_class_id 9223372036854775808 is too large"),
    ("4020,plu," + "B" * 200_000 + ",Fruit,Apple,weight,329,190,30,,produce-fruit,0,GD",
     ":2: cannot read the line: field larger than field limit"),
])
def test_bad_lines_are_named_and_nothing_is_imported(tmp_path, capsys, row, expected):
    config = tmp_path / "dashcart.toml"
    config.write_text(f'[cart]\nstate_dir = "{tmp_path / "state"}"\n')
    good = tmp_path / "good.csv"
    good.write_text(f"{HEADER}\n{GOOD}\n")
    assert main(["catalogue", "import", str(good), "--config", str(config)]) == 0
    before = (tmp_path / "state" / "catalogue.db").read_bytes()
    bad = tmp_path / "bad.csv"
    bad.write_text(f"{HEADER}\n{row}\n")
    capsys.readouterr()
    code = main(["catalogue", "import", str(bad), "--config", str(config)])
    err = capsys.readouterr().err
    assert code != 0 and "Traceback" not in err
    assert any(line.startswith(str(bad)) and expected in line for line in err.splitlines()), err
    assert (tmp_path / "state" / "catalogue.db").read_bytes() == before


@pytest.mark.parametrize("where", ["before", "after"])
def test_config_is_honoured_before_or_after_the_action(tmp_path, capsys, where):
    config = tmp_path / "dashcart.toml"
    config.write_text(f'[cart]\nstate_dir = "{tmp_path / "state"}"\n')
    good = tmp_path / "good.csv"
    good.write_text(f"{HEADER}\n{GOOD}\n")
    given = ["--config", str(config)]
    argv = ["catalogue", *given, "import", str(good)] if where == "before" else ["catalogue", "import", str(good), *given]
    assert main(argv) == 0
    assert (tmp_path / "state" / "catalogue.db").is_file()
    assert main(["catalogue", "--config", str(tmp_path / "typo.toml"), "show"]) == 2   # a typo is said
    assert "typo.toml" in capsys.readouterr().err
