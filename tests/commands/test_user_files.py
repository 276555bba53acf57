"""Every file the user names (config, catalogue, trip, scale log) that is missing, a directory
or not text gets one line naming it and saying what is wrong, and exit 2 from a command."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashcart.cli import main
from dashcart.config import load_config
from dashcart.core.catalogue import parse_catalogue_csv
from dashcart.errors import Misconfigured
from dashcart.trips.format import read_trip
from dashcart.trips.scale_replay import read_scale_log, trip_scale_settings


def _readers():
    return {
        "config": lambda p: load_config(p),
        "catalogue": lambda p: parse_catalogue_csv(p),
        "scale log": lambda p: list(read_scale_log(p, lambda message: None)),
        "trip description": lambda p: trip_scale_settings(p),
    }


@pytest.mark.parametrize("what", ["config", "catalogue", "scale log", "trip description"])
def test_missing_a_directory_or_not_text(tmp_path: Path, what: str) -> None:
    read = _readers()[what]
    with pytest.raises(Misconfigured, match=r"nothing-here.*: no such "):
        read(tmp_path / "nothing-here")
    folder = tmp_path / "a-folder"
    folder.mkdir()
    with pytest.raises(Misconfigured) as exc:
        read(folder)
    assert str(exc.value) == f"{folder}: cannot read: Is a directory"
    if what != "scale log":          # a scale log is bytes as received: any byte is allowed
        binary = tmp_path / "binary"
        binary.write_bytes(b"\xff\xfe\x00garbage\xc3")
        with pytest.raises(Misconfigured) as exc:
            read(binary)
        assert str(exc.value).startswith(f"{binary}: ") and "\n" not in str(exc.value)


def test_a_trip_whose_trip_json_is_a_directory(tmp_path: Path) -> None:
    (tmp_path / "trip.json").mkdir()
    with pytest.raises(Misconfigured) as exc:
        read_trip(tmp_path)
    assert str(exc.value) == f"{tmp_path / 'trip.json'}: cannot read: Is a directory"


def test_commands_say_it_in_one_line_and_exit_2(tmp_path: Path, capsys) -> None:
    # a folder is taken for a trip: its scale.log is what is missing
    assert main(["weigh", "--replay", str(tmp_path), "--json"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"{tmp_path / 'scale.log'}: no such scale log" in err
    assert main(["catalogue", "import", str(tmp_path / "none.csv"), "--db", str(tmp_path / "c.db")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "none.csv: no such catalogue file" in err and "Traceback" not in err


def test_run_with_a_data_folder_that_is_not_one_is_one_line(tmp_path, capsys):
    assert main(["run", "--headless", "--data", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--data:" in err and "demo_store.csv" in err


def test_config_into_a_page_that_is_not_text_is_one_line(tmp_path, capsys):
    page = tmp_path / "page.md"
    page.write_bytes(b"# title\n\xff\xfe\n")
    assert main(["config", "--defaults", "--into", str(page)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not UTF-8" in err
