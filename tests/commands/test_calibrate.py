import fcntl
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dashcart.config import load_config
from dashcart.core.scale_calibration import calibrate, stable_mean
from dashcart.errors import Misconfigured
from dashcart.sim.scale_bridge import LoadScript, SimulatedBridge

REPO = Path(__file__).resolve().parents[2]
TRUE_OFFSET = 12345
TRUE_CPG = -387.5   # a cell mounted upside down: negative gain is fine


def test_calibrate_from_means():
    cal = calibrate(1000.0, 1000.0 + 400.0 * 500, 500.0, noise=50)
    assert cal.offset == 1000 and cal.counts_per_gram == pytest.approx(400.0)


@pytest.mark.parametrize("loaded,known,message", [
    (1012.0, 500.0, "moved the reading by only"),
    (201000.0, 0.0, "positive"),
    (201000.0, -5.0, "positive"),
    (201000.0, float("nan"), "positive"),
])
def test_calibrate_refuses_nonsense(loaded, known, message):
    with pytest.raises(Misconfigured, match=message):
        calibrate(1000.0, loaded, known, noise=5)


def test_span_must_beat_the_noise():
    with pytest.raises(Misconfigured):
        calibrate(0.0, 5000.0, 100.0, noise=400.0)


def test_stable_mean_ignores_a_lone_glitch_but_not_motion():
    assert stable_mean([100, 101, 99, 100, 5307, 100, 101, 99, 100], 10) == pytest.approx(100, abs=1)
    assert stable_mean([100, 150, 200, 250, 300, 350, 400], 10) is None


@pytest.fixture
def bridge():
    sim = SimulatedBridge(LoadScript(0.0), seed=5, offset=TRUE_OFFSET, counts_per_gram=TRUE_CPG)
    sim.start()
    yield sim
    sim.stop()


def _spawn(args):
    return subprocess.Popen([sys.executable, "-m", "dashcart", "calibrate", *args], cwd=REPO, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})


def _read_until(proc, text):
    seen = ""
    while text not in seen:
        ch = proc.stdout.read(1)
        assert ch, f"calibrate ended before {text!r}: {seen!r} {proc.stderr.read()}"
        seen += ch
    return seen


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "dashcart.toml"
    path.write_text('# written by the installer\n[cart]\nid = "cart-0042"\n\n[scale]\nbackend = "serial"\n'
                    '# the bridge\'s stable name\nport = "/dev/ttyUSB0"\nbaudrate = 115200\n')
    return path


def _guided(bridge, config_file, typed: str, placed_g: float | None) -> tuple[int, str]:
    """Answer the prompts like a person: Enter on the empty basket, then the weight."""
    proc = _spawn(["--config", str(config_file), "--port", bridge.port, "--band-counts", "2000", "--timeout", "30"])
    try:
        _read_until(proc, "press Enter")
        proc.stdin.write("\n")
        proc.stdin.flush()
        _read_until(proc, "type its weight")
        if placed_g is not None:
            bridge.place(placed_g)
            time.sleep(0.2)
        proc.stdin.write(typed + "\n")
        proc.stdin.flush()
        return proc.wait(timeout=90), proc.stderr.read()
    finally:
        proc.kill()


def test_guided_calibration_writes_the_config(bridge, config_file):
    rc, err = _guided(bridge, config_file, "1000", 1000.0)
    assert rc == 0, err
    config = load_config(config_file)
    assert abs(config.scale.offset - TRUE_OFFSET) < 150
    assert config.scale.counts_per_gram == pytest.approx(TRUE_CPG, rel=0.005)
    # the rest of the file survives, and --port was for this run only
    assert config.cart.id == "cart-0042" and config.scale.port == "/dev/ttyUSB0"
    # ...as it was written: its comments and a key at its default value too (docs/scale.md)
    text = config_file.read_text()
    assert text.startswith("# written by the installer\n[cart]") and "# the bridge's stable name\n" in text
    assert "baudrate = 115200\n" in text


def test_unattended_calibration(bridge, config_file):
    proc = _spawn(["--config", str(config_file), "--port", bridge.port, "--known-grams", "500", "--yes",
                   "--band-counts", "2000", "--timeout", "30"])
    try:
        _read_until(proc, "waiting for it to settle")
        bridge.place(500.0)
        assert proc.wait(timeout=90) == 0, proc.stderr.read()
    finally:
        proc.kill()
    assert load_config(config_file).scale.counts_per_gram == pytest.approx(TRUE_CPG, rel=0.005)


def test_a_weight_that_moves_nothing_is_refused_and_the_config_kept(bridge, config_file):
    before = config_file.read_text()
    rc, err = _guided(bridge, config_file, "500", None)   # typed, but nothing was put on
    assert rc == 2
    assert "moved the reading by only" in err and "Traceback" not in err
    assert config_file.read_text() == before


def test_yes_without_known_weight_is_refused(config_file, capsys):
    from dashcart.cli import main

    assert main(["calibrate", "--config", str(config_file), "--yes"]) == 2
    assert "--known-grams" in capsys.readouterr().err


def test_a_weight_that_is_not_positive_is_asked_again(bridge, config_file):
    rc, err = _guided(bridge, config_file, "0\n-5\nnan\n1000", 1000.0)
    assert rc == 0, err
    assert load_config(config_file).scale.counts_per_gram == pytest.approx(TRUE_CPG, rel=0.005)


@pytest.fixture
def mute_port(tmp_path):
    """A pty whose other end says nothing: a scale powered off behind its USB-serial adapter."""
    master, slave = os.openpty()
    link = tmp_path / "scale"
    link.symlink_to(os.ttyname(slave))
    yield link, slave
    os.close(master)
    os.close(slave)


def test_a_mute_scale_is_retry_later_not_a_bad_setting(mute_port, config_file):
    link, _ = mute_port
    proc = _spawn(["--config", str(config_file), "--port", str(link), "--known-grams", "500", "--yes",
                   "--timeout", "2"])
    rc, err = proc.wait(timeout=30), proc.stderr.read()
    assert rc == 3, err
    assert "open, but no readings in 2 s" in err and "sends nothing" in err and "Traceback" not in err


def test_a_port_held_by_the_cart_is_said_at_once(mute_port, config_file):
    link, slave = mute_port
    fcntl.flock(slave, fcntl.LOCK_EX | fcntl.LOCK_NB)   # as the running service's driver holds it
    started = time.monotonic()
    proc = _spawn(["--config", str(config_file), "--port", str(link), "--known-grams", "500", "--yes"])
    rc, err = proc.wait(timeout=60), proc.stderr.read()
    assert rc == 3 and "systemctl stop dashcart" in err, err
    assert time.monotonic() - started < 20   # not after --timeout's 60 s
