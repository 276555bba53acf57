"""`sudo dashcart calibrate` rewrites /etc/dashcart/dashcart.toml: the service must still read it."""

import dataclasses
import os

import pytest

from dashcart.config import Config, load_config, write_config


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner needs root")
def test_rewrite_as_root_keeps_owner_group_and_mode(tmp_path):
    path = tmp_path / "dashcart.toml"
    path.write_text("[scale]\noffset = 5\n")
    os.chown(path, 0, 4242)  # root:dashcart on a cart
    os.chmod(path, 0o640)
    config = load_config(path)
    write_config(dataclasses.replace(config, scale=dataclasses.replace(config.scale, offset=-84211)), path)
    st = path.stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (0, 4242, 0o640)
    assert load_config(path).scale.offset == -84211


def test_rewrite_keeps_mode(tmp_path):
    path = tmp_path / "dashcart.toml"
    path.write_text("")
    os.chmod(path, 0o640)
    write_config(Config(), path)
    assert path.stat().st_mode & 0o777 == 0o640
