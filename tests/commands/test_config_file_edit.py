"""Changing one value of the config file (calibrate) keeps the rest of it as the engineer wrote it."""

import os

import pytest

from dashcart.config import load_config, update_config_file
from dashcart.errors import Misconfigured

FILE = '''# dashcart configuration, written by deploy/install.sh
[cart]
id = "cart-0042"   # the hostname

[scale]
backend = "serial"
# the bridge's stable name
port = "/dev/serial/by-id/usb-bridge"
baudrate = 115200
offset = 0

[[cameras.devices]]
id = "cam0"
source = "/dev/v4l/by-id/usb-cam-video-index0"
'''


def test_one_value_changes_and_everything_else_stays(tmp_path):
    path = tmp_path / "dashcart.toml"
    path.write_text(FILE)
    os.chmod(path, 0o640)
    update_config_file(path, {"scale": {"offset": -84211, "counts_per_gram": 412.5}})
    text = path.read_text()
    assert text == FILE.replace("offset = 0\n", "offset = -84211\ncounts_per_gram = 412.5\n")
    config = load_config(path)
    assert (config.scale.offset, config.scale.counts_per_gram, config.cameras.devices[0].id) == (-84211, 412.5, "cam0")
    assert path.stat().st_mode & 0o777 == 0o640
    # a section the file did not have is added at the end
    update_config_file(path, {"ui": {"sound": False}})
    assert path.read_text().startswith(text) and load_config(path).ui.sound is False


def test_a_value_the_cart_would_refuse_is_never_written(tmp_path):
    path = tmp_path / "dashcart.toml"
    path.write_text(FILE)
    with pytest.raises(Misconfigured, match="counts_per_gram"):
        update_config_file(path, {"scale": {"counts_per_gram": 0.0}})
    assert path.read_text() == FILE


def test_a_broken_file_is_named(tmp_path):
    path = tmp_path / "dashcart.toml"
    path.write_text("[scale\n")
    with pytest.raises(Misconfigured, match="dashcart.toml: not valid TOML"):
        update_config_file(path, {"scale": {"offset": 1}})


def test_a_config_that_is_a_link_is_written_where_it_points(tmp_path):
    real = tmp_path / "carts" / "cart7.toml"
    real.parent.mkdir()
    real.write_text(FILE)
    link = tmp_path / "dashcart.toml"
    link.symlink_to(real)
    update_config_file(link, {"scale": {"offset": -84211}})
    assert link.is_symlink() and load_config(real).scale.offset == -84211
