"""``dashcart config``: the reference comes from the schema, loads as it is, and the docs carry it."""

import re
from pathlib import Path

from dashcart.cli import main
from dashcart.config import Config, load_config

DOCS = Path(__file__).resolve().parents[2] / "docs" / "raspberry-pi.md"


def test_defaults_is_every_setting_and_loads_as_the_defaults(tmp_path, capsys):
    assert main(["config", "--defaults"]) == 0
    text = capsys.readouterr().out
    path = tmp_path / "ref.toml"
    path.write_text(text)
    assert load_config(path) == Config()
    # Every key of every section is there, with its comment.
    import dataclasses
    for section in dataclasses.fields(Config):
        if section.metadata.get("internal"):
            continue
        assert f"[{section.name}]" in text
        for f in dataclasses.fields(section.default_factory()):
            assert re.search(rf"^(# )?{f.name} = ", text, re.M) or f"[[{section.name}.{f.name}]]" in text, f.name
    assert "# [[cameras.devices]]" in text and "one of opencv, picamera2, recorded, sim" in text


def test_effective_shows_the_file_over_the_defaults_and_hides_secrets(tmp_path, capsys):
    path = tmp_path / "cart.toml"
    path.write_text('[scale]\nbackend = "serial"\nport = "/dev/ttyACM0"\n[checkout]\ncart_key = "' + "ab" * 16 + '"\n'
                    '[[cameras.devices]]\nid = "top"\n')
    assert main(["config", "--effective", "--config", str(path)]) == 0
    text = capsys.readouterr().out
    assert 'backend = "serial"    # set in the config file' in text
    assert 'cart_key = "<set>"' in text and "abab" not in text
    assert '[[cameras.devices]]\n' in text and 'id = "top"' in text
    assert 'lane_key = ""' in text


def test_the_docs_carry_the_reference_as_generated(capsys):
    main(["config", "--defaults"])
    generated = capsys.readouterr().out
    docs = DOCS.read_text(encoding="utf-8")
    block = re.search(r"<!-- BEGIN dashcart config --defaults -->\n```toml\n(.*?)```\n<!-- END", docs, re.S)
    assert block, "docs/raspberry-pi.md lost its generated config reference"
    assert block.group(1) == generated, \
        "the config schema changed: dashcart config --defaults --into docs/raspberry-pi.md"


def test_into_writes_the_reference_between_the_markers(tmp_path, capsys):
    page = tmp_path / "page.md"
    page.write_text("# Setup\n\n<!-- BEGIN dashcart config --defaults -->\n```toml\nstale reference\n```\n"
                    "<!-- END dashcart config --defaults -->\n\nafter\n")
    assert main(["config", "--defaults", "--into", str(page)]) == 0
    text = page.read_text()
    assert "stale reference" not in text and text.startswith("# Setup\n") and text.endswith("\n\nafter\n")
    assert '[cart]\n# this cart' in text
    (tmp_path / "plain.md").write_text("no markers\n")
    assert main(["config", "--defaults", "--into", str(tmp_path / "plain.md")]) == 2
    assert "no <!-- BEGIN dashcart config --defaults --> ... <!-- END" in capsys.readouterr().err


def test_config_needs_a_choice(capsys):
    import pytest
    with pytest.raises(SystemExit) as exit_:
        main(["config"])
    assert exit_.value.code == 2 and "one of the arguments --defaults --effective is required" in capsys.readouterr().err


# Each was passed by `config` and `doctor --strict`, then refused by `run` at start (exit 2,
# which systemd does not restart): now refused as the file is read, naming the file and key.
REFUSED_AT_START = [
    ("[weighing]\nmedian_samples = 4\n", "weighing.median_samples: must be odd"),
    ('[checkout]\nlane_key = "abcd"\n[location]\nlane = ["eddystone-eid:a"]\n', "checkout.lane_key: 2 bytes is too short"),
    ('[location]\nzones = { "foo" = "produce" }\n', "location.zones: 'foo' is not <kind>:<id>"),
    ('[fleet]\nbroker_url = "http://x"\nstore_id = "s1"\n', "fleet.broker_url: 'http://x' is not mqtt://"),
    ('[fleet]\nbroker_url = "mqtt://x"\n', "fleet.store_id: '' must be"),
    ('[fleet]\nbroker_url = "mqtt://x"\nstore_id = "a/b"\n', "fleet.store_id: 'a/b' must be"),
    ('[fleet]\nconfig_public_key = "zz"\n', "fleet.config_public_key: not hex"),
    ('[checkout]\ncart_key = "not-hex"\n', "checkout.cart_key: not hexadecimal"),
    ('[checkout]\nretry_initial_s = 90.0\n', "checkout.retry_initial_s (90.0) must not exceed"),
    ('[cart]\nid = "Cart 7"\n', "cart.id: 'Cart 7' must be"),
    ('[ui]\nstaff_pin = "12ab"\n', "ui.staff_pin: digits only"),
    ('[ui]\nstaff_pin_sha256 = "' + "ab" * 32 + '  -"\n', "ui.staff_pin_sha256: expected the 64 hex digits"),
]


def test_what_run_would_refuse_is_refused_as_the_config_is_read(tmp_path, capsys):
    config = tmp_path / "cart.toml"
    for text, message in REFUSED_AT_START:
        config.write_text(text)
        for argv in (["config", "--effective"], ["doctor", "--strict"]):
            assert main([*argv, "--config", str(config)]) == 2, (text, argv)
            err = capsys.readouterr().err
            assert f"{config}: {message}" in err and err.count("\n") == 1, (text, err)


def test_a_key_still_to_come_from_the_store_stops_only_the_cart(tmp_path, capsys):
    # deploy/install.sh writes it empty under "NOT SET": the scale can be calibrated meanwhile,
    # and doctor names what is missing
    config = tmp_path / "cart.toml"
    config.write_text('[checkout]\nstore_url = "https://store.example/api"\n[location]\nlane = ["eddystone-eid:a"]\n')
    assert main(["config", "--effective", "--config", str(config)]) == 0
    capsys.readouterr()
    assert main(["doctor", "--strict", "--config", str(config)]) == 1
    out = capsys.readouterr().out
    assert "checkout.cart_key: missing" in out and "checkout.lane_key: missing" in out
