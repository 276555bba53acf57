"""deploy/install.sh: the dry run shows every step and changes nothing; its default config loads."""

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from dashcart.config import missing_keys, parse_config

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "deploy" / "install.sh"

# Commands that change the system: in a dry run none of them may run.
MUTATORS = ("apt-get", "groupadd", "useradd", "usermod", "install", "python3", "pip", "chgrp", "chmod",
            "chown", "mv", "cp", "mkdir", "tee", "mktemp", "ln", "rm")

STUBS = {
    # systemctl: answer the read-only queries like a machine where nothing is enabled; log the rest.
    "systemctl": 'case "$1" in is-enabled) echo disabled; exit 1;; is-active) echo inactive; exit 3;; esac\n'
                 'echo "systemctl $*" >> "$STUB_LOG"; exit 97',
    "dpkg-query": "exit 1",  # nothing installed
    "apt-cache": 'echo "$2:"; echo "  Installed: (none)"; echo "  Candidate: 1.0"',
    "getent": 'for g in $FAKE_GROUPS; do [ "$2" = "$g" ] && { echo "$g:x:1:"; exit 0; }; done; exit 2',
    "id": 'if [ "$1" = -u ] && [ $# = 1 ]; then echo "${FAKE_UID:-0}"; exit 0; fi\n'
          'if [ -n "$FAKE_USER_GROUPS" ]; then\n'
          '  case "$1" in -u) echo 999;; -nG) echo "$FAKE_USER_GROUPS";; esac; exit 0\n'
          'fi\n'
          'echo "id: dashcart: no such user" >&2; exit 1',
}


@pytest.fixture
def sandbox(tmp_path):
    """A PATH whose system-changing commands only record that they were called."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "calls.log"
    for name in MUTATORS:
        STUBS.setdefault(name, None)
    for name, body in STUBS.items():
        stub = bindir / name
        stub.write_text("#!/bin/sh\n" + (body or f'echo "{name} $*" >> "$STUB_LOG"; exit 97') + "\n")
        stub.chmod(stub.stat().st_mode | stat.S_IXUSR)
    # Parts looked for in empty made-up trees unless a test fills them (never this machine's).
    for tree in ("dev", "sys"):
        (tmp_path / tree).mkdir()
    env = {"PATH": f"{bindir}:{os.environ['PATH']}", "STUB_LOG": str(log), "FAKE_GROUPS": "dialout video input",
           "DASHCART_DEV": str(tmp_path / "dev"), "DASHCART_SYS": str(tmp_path / "sys"),
           "DASHCART_BLUEZ_CONF": str(tmp_path / "no-bluez.conf")}

    def run(*args, **extra):
        return subprocess.run(["bash", str(SCRIPT), *args], env={**env, **extra}, capture_output=True,
                              text=True, timeout=60)

    run.log = log
    return run


def _plus_lines(out: str) -> list[str]:
    return [line[2:] for line in out.splitlines() if line.startswith("+ ")]


def test_dry_run_on_a_fresh_pi_shows_every_step_and_changes_nothing(sandbox):
    before = {p: os.path.exists(p) for p in ("/etc/dashcart", "/opt/dashcart", "/etc/systemd/system/dashcart.service")}
    result = sandbox("--dry-run")
    assert result.returncode == 0, result.stderr
    assert not sandbox.log.exists(), sandbox.log.read_text()
    assert {p: os.path.exists(p) for p in before} == before

    steps = _plus_lines(result.stdout)
    apt = next(s for s in steps if "apt-get install" in s)
    for package in ("python3-venv", "bluez", "systemd-timesyncd", "libgbm1"):
        assert package in apt.split()
    assert "python3-picamera2" not in apt  # only with --csi
    assert [s for s in steps if s.startswith("groupadd")] == [
        "groupadd --system gpio", "groupadd --system render", "groupadd --system bluetooth"]
    assert any(s.startswith("useradd --system") and s.endswith(" dashcart") for s in steps)
    assert "usermod --append --groups dialout,video,gpio,input,render,bluetooth dashcart" in steps
    assert "python3 -m venv /opt/dashcart/venv" in steps
    assert f"/opt/dashcart/venv/bin/pip install --quiet --upgrade {REPO}\\[pi\\]" in steps
    assert f"install -m 0644 {REPO}/systemd/dashcart.service /etc/systemd/system/dashcart.service" in steps
    assert "systemctl enable dashcart.service" in steps
    assert not any("systemctl start" in s or "systemctl restart" in s for s in steps)
    assert "+ write /etc/dashcart/dashcart.toml (mode 0640, root:dashcart):" in result.stdout


def test_dry_run_with_user_present_adds_only_missing_groups(sandbox):
    result = sandbox("--dry-run", "--start", "--csi", FAKE_USER_GROUPS="dashcart dialout video",
                     FAKE_GROUPS="dialout video gpio input render bluetooth")
    assert result.returncode == 0, result.stderr
    steps = _plus_lines(result.stdout)
    assert not any(s.startswith(("useradd", "groupadd")) for s in steps)
    assert "usermod --append --groups gpio,input,render,bluetooth dashcart" in steps
    assert "python3 -m venv --system-site-packages /opt/dashcart/venv" in steps
    assert "python3-picamera2" in next(s for s in steps if "apt-get install" in s)
    assert steps[-1] == "systemctl start dashcart.service"
    assert not sandbox.log.exists()


def test_the_written_default_config_is_one_the_cart_accepts(sandbox):
    result = sandbox("--print-config")
    assert result.returncode == 0, result.stderr
    config = parse_config(result.stdout, "default dashcart.toml")
    assert config.scale.backend == "serial" and config.scale.protocol == "hx711-bridge"
    assert config.cart.state_dir == "/var/lib/dashcart"
    # and it is exactly what the dry run says it would write
    dry = sandbox("--dry-run").stdout
    shown = [line[4:] for line in dry.splitlines() if line.startswith("|   ")]
    assert "\n".join(shown).strip() == result.stdout.strip()


def test_real_run_needs_root(sandbox):
    result = sandbox(FAKE_UID="1000")
    assert result.returncode == 1
    assert "run as root" in result.stderr
    assert not sandbox.log.exists()


def test_unknown_option_is_refused(sandbox):
    result = sandbox("--dry-rnu")
    assert result.returncode != 0 and "unknown option --dry-rnu" in result.stderr


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck not installed")
def test_shellcheck_is_clean():
    result = subprocess.run(["shellcheck", str(SCRIPT)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout


def _pi_tree(root):
    """/dev and /sys of a Pi with one scale bridge, two USB cameras, Bluetooth and GPIO."""
    dev, sys_ = root / "dev", root / "sys"
    for path in (dev / "serial/by-id/usb-Arduino_Nano_bridge-if00", dev / "v4l/by-id/usb-Logi_C270_A-video-index0",
                 dev / "v4l/by-id/usb-Logi_C270_A-video-index1", dev / "v4l/by-id/usb-Logi_C270_B-video-index0",
                 dev / "gpiochip0", sys_ / "class/bluetooth/hci0"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    return dev


def test_the_config_names_every_part_found_and_the_stores_settings(sandbox, tmp_path):
    dev = _pi_tree(tmp_path)
    result = sandbox("--print-config", "--store-url", "https://store.example/api", "--cart-key", "ab" * 16,
                     "--lane-key", "cd" * 16, "--lane", "eddystone-eid:lane1-entry eddystone-eid:lane1-exit")
    assert result.returncode == 0, result.stderr
    config = parse_config(result.stdout, "installer's dashcart.toml")
    assert config.scale.port == f"{dev}/serial/by-id/usb-Arduino_Nano_bridge-if00"
    assert [(c.id, c.backend, c.source) for c in config.cameras.devices] == [
        ("cam0", "opencv", f"{dev}/v4l/by-id/usb-Logi_C270_A-video-index0"),
        ("cam1", "opencv", f"{dev}/v4l/by-id/usb-Logi_C270_B-video-index0")]
    assert config.location.backend == "bleak" and config.location.adapter == "hci0"
    assert config.location.lane == ["eddystone-eid:lane1-entry", "eddystone-eid:lane1-exit"]
    assert (config.checkout.store_url, config.checkout.cart_key, config.checkout.lane_key) == (
        "https://store.example/api", "ab" * 16, "cd" * 16)
    assert config.gpio.pin_factory == "auto" and config.gpio.buzzer_pin == 23
    assert "NOT FOUND" not in result.stdout and "NOT SET" not in result.stdout
    # The environment works as well as the options (for provisioning scripts).
    env = sandbox("--print-config", DASHCART_STORE_URL="https://s.example/api", DASHCART_LANE="eddystone-eid:x",
                  DASHCART_CART_KEY="ab" * 16, DASHCART_LANE_KEY="cd" * 16)
    assert parse_config(env.stdout).checkout.store_url == "https://s.example/api"
    # A store without the key to sign orders for it yet: the file loads (the scale can be
    # calibrated), and what the cart still needs is named.
    half = sandbox("--print-config", DASHCART_STORE_URL="https://s.example/api")
    assert "NOT SET: the key this cart signs orders with" in half.stdout
    assert [line.partition(":")[0] for line in missing_keys(parse_config(half.stdout))] == ["checkout.cart_key"]


def test_a_long_hostname_still_gives_a_cart_id_the_store_takes(sandbox, tmp_path):
    # a hostname may be 63 characters; the store API's cart_id is at most 64
    hostname = tmp_path / "bin" / "hostname"
    hostname.write_text("#!/bin/sh\necho " + "aisle" + "7" * 58 + "\n")
    hostname.chmod(0o755)
    config = parse_config(sandbox("--print-config").stdout)
    assert len(config.cart.id) == 64 and config.cart.id.startswith("cart-aisle77")


def test_what_is_not_found_is_left_empty_with_a_comment_and_still_loads(sandbox):
    result = sandbox("--print-config")
    config = parse_config(result.stdout)
    assert config.scale.port == "" and config.cameras.devices == [] and config.location.adapter == ""
    assert config.gpio.pin_factory == "none" and config.checkout.store_url == ""
    for missing in ("NOT FOUND: 0 serial devices", "NOT FOUND: no USB camera", "NOT FOUND: no Bluetooth adapter",
                    "NOT SET: without a store this is a practice cart", "NOT FOUND: no "):
        assert missing in result.stdout


def test_csi_adds_a_picamera2_camera(sandbox):
    config = parse_config(sandbox("--print-config", "--csi").stdout)
    assert [(c.backend, c.source) for c in config.cameras.devices] == [("picamera2", "0")]


def test_bluez_experimental_mode_is_switched_on(sandbox, tmp_path):
    conf = tmp_path / "main.conf"
    conf.write_text("[General]\n#Name = BlueZ\n#Experimental = false\n")
    steps = _plus_lines(sandbox("--dry-run", DASHCART_BLUEZ_CONF=str(conf)).stdout)
    import shlex
    sed = [shlex.split(s) for s in steps if s.startswith("sed ")]
    assert sed == [["sed", "-i", "-E", "0,/^[#[:space:]]*Experimental[[:space:]]*=.*/s//Experimental = true/", str(conf)]]
    assert "systemctl restart bluetooth.service" in steps
    # Applied for real (the sed the step runs), the file turns it on and keeps the rest.
    subprocess.run(["sed", "-i", "-E", "0,/^[#[:space:]]*Experimental[[:space:]]*=.*/s//Experimental = true/",
                    str(conf)], check=True)
    assert conf.read_text() == "[General]\n#Name = BlueZ\nExperimental = true\n"
    done = _plus_lines(sandbox("--dry-run", DASHCART_BLUEZ_CONF=str(conf)).stdout)
    assert not any("bluetooth.service" in s and "restart" in s for s in done)


def test_time_sync_is_enabled(sandbox):
    steps = _plus_lines(sandbox("--dry-run").stdout)
    assert "systemctl enable --now systemd-timesyncd.service" in steps


def test_the_config_tells_how_to_calibrate_as_the_docs_do(sandbox):
    # The service's user may read the config (root:dashcart, 0640) but not rewrite it, and the
    # running cart holds the scale's port: calibrate as root with the service stopped.
    text = sandbox("--print-config").stdout
    assert "sudo -u dashcart" not in text.split("[scale]")[1].split("\n[")[0]
    assert "sudo systemctl stop dashcart" in text and "calibrate --config /etc/dashcart/dashcart.toml" in text
