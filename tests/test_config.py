import pytest

from dashcart.config import Config, dump_config, load_config, parse_config, write_config
from dashcart.errors import Misconfigured


def test_no_file_gives_simulated_defaults():
    config = parse_config("")
    assert config == Config()
    assert config.scale.backend == "sim"


def test_values_are_read_and_ints_widen_to_floats():
    config = parse_config('[scale]\nbackend = "serial"\nport = "/dev/ttyUSB0"\ncounts_per_gram = 400\n')
    assert config.scale.port == "/dev/ttyUSB0"
    assert config.scale.counts_per_gram == 400.0
    assert isinstance(config.scale.counts_per_gram, float)


@pytest.mark.parametrize("text, expected", [
    ('[scale]\nprot = "x"\n', "cart.toml: scale: unknown key 'prot'"),
    ('[scael]\n', "cart.toml: unknown key 'scael'"),
    ('[scale]\nbaudrate = "115200"\n', "cart.toml: scale.baudrate: expected an integer, got string '115200'"),
    ('[scale]\nbaudrate = true\n', "cart.toml: scale.baudrate: expected an integer, got boolean True"),
    ('[scale]\nbaudrate = 10\n', "cart.toml: scale.baudrate: 10 is below the minimum 300"),
    ('[scale]\nprotocol = "hx"\n', "cart.toml: scale.protocol: 'hx' is not one of"),
    ('[scale]\ncounts_per_gram = 0\n', "cart.toml: scale.counts_per_gram: must not be zero"),
    ('[scale]\ncounts_per_gram = nan\n', "cart.toml: scale.counts_per_gram: must be a finite number"),
    ('scale = 3\n', "cart.toml: scale: expected a [scale] table, got integer 3"),
    ('[scale\n', "cart.toml: not valid TOML"),
    ('[vision]\nlook_after_s = 0.6\n',
     "cart.toml: vision.look_after_s (0.6) must be less than fusion.evidence_after_s (0.5)"),
])
def test_bad_values_name_file_key_and_problem(text, expected):
    with pytest.raises(Misconfigured) as info:
        parse_config(text, "cart.toml")
    message = str(info.value)
    assert message.startswith(expected)
    assert "\n" not in message


def test_missing_file_is_named(tmp_path):
    with pytest.raises(Misconfigured, match="nope.toml: no such config file"):
        load_config(tmp_path / "nope.toml")


def test_write_then_load_round_trips_and_keeps_only_changes(tmp_path):
    path = tmp_path / "etc" / "dashcart.toml"
    config = parse_config('[scale]\noffset = -84211\ncounts_per_gram = 412.5\n[cart]\nstate_dir = "/srv/cart \\"7\\""\n')
    write_config(config, path)
    text = path.read_text()
    assert "baudrate" not in text  # defaults are not written
    reloaded = load_config(path)
    assert reloaded == config
    assert reloaded.source == str(path)
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temp file left


def test_dump_of_defaults_is_empty():
    assert dump_config(Config()).strip() == ""


@pytest.mark.parametrize("text, where", [
    ('[cart]\nid = "_all"\n', "cart.id"),                                  # the fleet's broadcast topic level
    ('[cart]\nid = "a/b"\n', "cart.id"),
    ('[[cameras.devices]]\nid = "../x"\n', "cameras.devices[0].id"),       # a folder of a recorded trip
])
def test_ids_that_are_not_one_plain_name_are_refused_naming_the_field(text, where):
    with pytest.raises(Misconfigured) as info:
        parse_config(text, "t.toml")
    assert where in str(info.value) and "starting with a letter or digit" in str(info.value)
