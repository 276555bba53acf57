import fcntl
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dashcart.config import load_config
from dashcart.core.scale_calibration import (
    calibrate,
    gain_change,
    known_weight_problem,
    readback_tolerance_g,
    stable_mean,
    zero_tolerance_g,
)
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


def test_the_read_back_allows_the_noise_and_the_band_not_more():
    assert readback_tolerance_g(100.0, 2.0) == 3.0            # a few grams on a light weight
    assert readback_tolerance_g(2000.0, 2.0) == 10.0          # 0.5 % of a heavy one
    assert readback_tolerance_g(1000.0, 5.2) == 5.2           # what a wide --band-counts calls at rest
    # zero again with the weight off: a thing left in weighs what it weighs, whatever the weight
    assert zero_tolerance_g(1000.0, 2.0) == 3.0 and zero_tolerance_g(20000.0, 2.0) == 20.0
    assert readback_tolerance_g(20000.0, 2.0) == 100.0        # 25 g left in would pass that


def test_the_known_weight_s_bounds_and_the_gain_s_change():
    assert known_weight_problem(1000.0, 20000.0) is None and known_weight_problem(20000.0, 20000.0) is None
    assert "below the 1000 g" in known_weight_problem(999.0, 20000.0)
    assert "more than the basket's capacity (20000 g" in known_weight_problem(20001.0, 20000.0)
    assert gain_change(-380.0, 380.0) == 0.0                  # a cell turned round: the same sensitivity
    assert gain_change(38.0, -380.0) == pytest.approx(-0.9)   # a zero too many in the weight typed


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


def _read_until(proc, text, may_end=False):
    """What calibrate printed up to ``text``; with ``may_end``, up to its end if it ends first."""
    seen = ""
    while text not in seen:
        ch = proc.stdout.read(1)
        if not ch and may_end:
            return seen
        assert ch, f"calibrate ended before {text!r}: {seen!r} {proc.stderr.read()}"
        seen += ch
    return seen


def _weight_off(proc, off, interactive):
    """Step 4: take the weight off (``off()``) when asked; press Enter when a person would.
    Returns what calibrate printed up to there (everything, if it ended before step 4)."""
    seen = _read_until(proc, "4/4 Take the weight off", may_end=True)
    if "4/4" in seen:
        off()
        if interactive:
            time.sleep(0.2)
            proc.stdin.write("\n")
            proc.stdin.flush()
    return seen


INSTALLED = ('# written by the installer\n[cart]\nid = "cart-0042"\n\n[scale]\nbackend = "serial"\n'
             '# the bridge\'s stable name\nport = "/dev/ttyUSB0"\nbaudrate = 115200\n')


@pytest.fixture
def config_file(tmp_path):
    """A cart calibrated before: its gain's sign says which way its (inverted) cell reads."""
    path = tmp_path / "dashcart.toml"
    path.write_text(INSTALLED + "offset = 12000\ncounts_per_gram = -380.0\n")
    return path


def _guided(bridge, config_file, typed: str, placed_g: float | None,
            preloaded_g: float = 0.0, off=None, extra: tuple[str, ...] = ()) -> tuple[int, str, str]:
    """Answer the prompts like a person: Enter on the empty basket, then the weight, then Enter
    with the weight taken off (``off()``, default: lifting ``placed_g``). A person who left
    ``preloaded_g`` on at step 1 takes it off at step 2 (``placed_g`` then None)."""
    if preloaded_g:
        bridge.place(preloaded_g)
    proc = _spawn(["--config", str(config_file), "--port", bridge.port, "--band-counts", "2000", "--timeout", "30",
                   *extra])
    try:
        seen = _read_until(proc, "press Enter")
        proc.stdin.write("\n")
        proc.stdin.flush()
        seen += _read_until(proc, "type its weight")
        if placed_g is not None:
            bridge.place(placed_g)
        if preloaded_g:
            bridge.lift(preloaded_g)
        time.sleep(0.2)
        proc.stdin.write(typed + "\n")
        proc.stdin.flush()
        seen += _weight_off(proc, off or (lambda: bridge.lift(placed_g or 0.0)), interactive=True)
        return proc.wait(timeout=90), seen + proc.stdout.read(), proc.stderr.read()
    finally:
        proc.kill()


def _unattended(bridge, config_file, grams: float, *extra: str, off=None) -> tuple[int, str, str]:
    """``--known-grams G --yes``: the weight put on when it waits for it, taken off at step 4
    (``off()``, default: lifting it)."""
    proc = _spawn(["--config", str(config_file), "--port", bridge.port, "--known-grams", f"{grams:g}", "--yes",
                   "--band-counts", "2000", "--timeout", "30", *extra])
    try:
        seen = _read_until(proc, "waiting for it to settle")
        bridge.place(grams)
        seen += _weight_off(proc, off or (lambda: bridge.lift(grams)), interactive=False)
        return proc.wait(timeout=90), seen + proc.stdout.read(), proc.stderr.read()
    finally:
        proc.kill()


def test_guided_calibration_writes_the_config(bridge, config_file):
    rc, out, err = _guided(bridge, config_file, "1000", 1000.0)
    assert rc == 0, err
    # read back with the values written, the weight still on
    reads = float(out.split("    reads ")[1].split(" g with the new calibration (you said 1000 g)")[0])
    assert abs(reads - 1000.0) < 1.0 and "Calibrated: offset = " in out
    # and the basket back at zero with the weight off
    zero = float(out.split("    reads ")[2].split(" g with the weight off")[0])
    assert abs(zero) < 1.0
    assert re.findall(r"(\d/\d) ", out) == ["1/4", "2/4", "3/4", "4/4"]
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
    rc, out, err = _unattended(bridge, config_file, 2000.0)
    assert rc == 0, err
    assert "4/4 Take the weight off" in out and " g with the weight off" in out
    assert load_config(config_file).scale.counts_per_gram == pytest.approx(TRUE_CPG, rel=0.005)


def test_a_weight_lifted_before_the_read_back_is_refused_and_the_config_kept(bridge, config_file):
    before = config_file.read_text()
    proc = _spawn(["--config", str(config_file), "--port", bridge.port, "--known-grams", "1000", "--yes",
                   "--band-counts", "2000", "--timeout", "30"])
    try:
        _read_until(proc, "waiting for it to settle")
        bridge.place(1000.0)
        _read_until(proc, "3/4 Reading it back")
        bridge.lift(1000.0)   # taken off as soon as the gain was known
        rc, out, err = proc.wait(timeout=90), proc.stdout.read(), proc.stderr.read()
    finally:
        proc.kill()
    assert rc == 2, err
    assert abs(float(out.split("    reads ")[1].split(" g")[0])) < 5 and "Calibrated" not in out
    assert "g off the 1000 g" in err and "the load moved" in err and "Traceback" not in err
    assert err.startswith("dashcart calibrate: the read-back is"), err   # one prefix, not "calibrate: " twice
    assert config_file.read_text() == before


def test_a_weight_left_on_at_the_empty_step_is_refused_and_the_config_kept(bridge, config_file):
    before = config_file.read_text()
    # on at "empty the basket", taken off at "put the known weight in": the gain's sign flips
    rc, _, err = _guided(bridge, config_file, "1000", None, preloaded_g=1000.0)
    assert rc == 2, err
    assert "was the weight already on at step 1, or off at step 2?" in err and "Traceback" not in err
    assert err.startswith("dashcart calibrate: the reading went"), err
    assert len(err.strip().splitlines()) == 1
    assert config_file.read_text() == before


def test_a_first_calibration_takes_the_cells_direction_from_cell(bridge, config_file):
    config_file.write_text(INSTALLED)   # no gain yet: a load is taken to raise the count
    for cell, rc in ((), 2), (("--cell", "inverted"), 0):
        got, _, err = _unattended(bridge, config_file, 1000.0, *cell)
        assert got == rc, err
        if rc:
            assert "the reading went down" in err and "--cell inverted" in err, err
            assert config_file.read_text() == INSTALLED
            bridge.lift(1000.0)
    assert load_config(config_file).scale.counts_per_gram == pytest.approx(TRUE_CPG, rel=0.005)


def test_a_trade_scale_is_not_calibrated_by_dashcart(config_file, capsys):
    from dashcart.cli import main

    # an MT-SICS scale sends grams: offset and counts_per_gram are never applied to it
    config_file.write_text('[scale]\nbackend = "serial"\nprotocol = "mt-sics"\nport = "/dev/ttyUSB0"\n')
    assert main(["calibrate", "--config", str(config_file), "--known-grams", "1000", "--yes"]) == 2
    assert "a trade scale is calibrated by its own service" in capsys.readouterr().err


def test_a_weight_that_moves_nothing_is_refused_and_the_config_kept(bridge, config_file):
    before = config_file.read_text()
    rc, _, err = _guided(bridge, config_file, "1000", None)   # typed, but nothing was put on
    assert rc == 2
    assert "moved the reading by only" in err and "Traceback" not in err
    assert config_file.read_text() == before


def test_yes_without_known_weight_is_refused(config_file, capsys):
    from dashcart.cli import main

    assert main(["calibrate", "--config", str(config_file), "--yes"]) == 2
    assert "--known-grams" in capsys.readouterr().err


def test_a_weight_that_is_not_positive_is_asked_again(bridge, config_file):
    rc, _, err = _guided(bridge, config_file, "0\n-5\nnan\n1000", 1000.0)
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
    proc = _spawn(["--config", str(config_file), "--port", str(link), "--known-grams", "1000", "--yes",
                   "--timeout", "2"])
    rc, err = proc.wait(timeout=30), proc.stderr.read()
    assert rc == 3, err
    assert "open, but no readings in 2 s" in err and "sends nothing" in err and "Traceback" not in err


def test_a_port_held_by_the_cart_is_said_at_once(mute_port, config_file):
    link, slave = mute_port
    fcntl.flock(slave, fcntl.LOCK_EX | fcntl.LOCK_NB)   # as the running service's driver holds it
    started = time.monotonic()
    proc = _spawn(["--config", str(config_file), "--port", str(link), "--known-grams", "1000", "--yes"])
    rc, err = proc.wait(timeout=60), proc.stderr.read()
    assert rc == 3 and "systemctl stop dashcart" in err, err
    assert time.monotonic() - started < 20   # not after --timeout's 60 s


# -- a weight typed wrong, and a basket that does not come back to zero ----------------------

@pytest.mark.parametrize("grams, words", [
    (1.0, "1 g is below the 1000 g a precise gain needs: type the weight in grams (1 kg is 1000)"),
    (100.0, "100 g is below the 1000 g"),
    (50000.0, "more than the basket's capacity (20000 g, scale.capacity_g)"),
])
def test_a_known_weight_outside_the_basket_s_range_is_refused_before_anything(config_file, capsys, grams, words):
    from dashcart.cli import main

    before = config_file.read_text()
    # refused before the scale is opened: its port does not even exist
    assert main(["calibrate", "--config", str(config_file), "--port", "/nonexistent/tty", "--known-grams",
                 f"{grams:g}", "--yes"]) == 2
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert config_file.read_text() == before


def test_a_weight_typed_in_kilograms_is_asked_again(bridge, config_file):
    # a 1 kg weight typed as "1": said why, and asked again (the empty basket is read already)
    rc, out, err = _guided(bridge, config_file, "1\n1000", 1000.0)
    assert rc == 0, err
    assert "a known weight of 1 g is below the 1000 g" in out and "(1 kg is 1000)" in out
    assert out.index("(1 kg is 1000)") < out.index("3/4")
    assert load_config(config_file).scale.counts_per_gram == pytest.approx(TRUE_CPG, rel=0.005)


def test_a_gain_ten_times_off_the_last_calibration_is_refused_unless_the_cell_is_new(bridge, config_file):
    """A 1000 g weight typed as 10000 (a zero too many): the read-back cannot catch it (the
    gain was made from that figure), the previous calibration's gain can."""
    before = config_file.read_text()
    rc, out, err = _guided(bridge, config_file, "10000", 1000.0)
    assert rc == 2, err
    assert "counts per gram is 0.1 times the previous calibration's 380" in err
    assert "is 10000 g the figure on the weight, in grams" in err and "--new-cell" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err and "3/4" not in out
    assert config_file.read_text() == before
    bridge.lift(1000.0)
    # new load cells of a tenth of the sensitivity: the engineer says so, and it is written
    rc, out, err = _guided(bridge, config_file, "10000", 1000.0, extra=("--new-cell",))
    assert rc == 0, err
    assert load_config(config_file).scale.counts_per_gram == pytest.approx(TRUE_CPG / 10, rel=0.005)


def test_a_recalibration_close_to_the_last_one_is_written(bridge, config_file):
    config_file.write_text(INSTALLED + "offset = 12000\ncounts_per_gram = -420.0\n")   # 8 % more sensitive
    rc, _, err = _guided(bridge, config_file, "1000", 1000.0)
    assert rc == 0, err
    assert load_config(config_file).scale.counts_per_gram == pytest.approx(TRUE_CPG, rel=0.005)


def test_something_left_in_the_basket_at_the_end_is_refused_and_the_config_kept(bridge, config_file):
    before = config_file.read_text()

    def off():                      # the weight comes off, a 25 g something stays (or a hand rests on it)
        bridge.lift(1000.0)
        bridge.place(25.0)
    rc, out, err = _guided(bridge, config_file, "1000", 1000.0, off=off)
    assert rc == 2, err
    zero = float(out.split("    reads ")[2].split(" g with the weight off")[0])
    assert zero == pytest.approx(25.0, abs=3.0) and "Calibrated" not in out
    assert f"with the weight off the basket reads {zero:+.1f} g, more than " in err
    assert "from zero" in err and "creep" in err and "nothing was written" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert config_file.read_text() == before


def test_a_basket_that_does_not_come_back_to_zero_unattended_is_refused(bridge, config_file):
    before = config_file.read_text()
    # the reading stays 15 g up after the weight went (a creeping cell, a bag hook caught)
    rc, out, err = _unattended(bridge, config_file, 1000.0, off=lambda: bridge.lift(985.0))
    assert rc == 2, err
    assert "with the weight off the basket reads +1" in err and "Traceback" not in err
    assert config_file.read_text() == before
