"""`dashcart record` against the simulated bridge on a pseudo-terminal: a replayable trip."""

import json

from dashcart.cli import main
from dashcart.drivers.scale.protocol import Reading, parse_hx711
from dashcart.sim.scale_bridge import LoadScript, Place, SimulatedBridge
from dashcart.trips.format import read_trip
from dashcart.trips.scale_replay import read_scale_log


def test_record_writes_a_trip_of_the_scale_lines(tmp_path):
    script = LoadScript(duration_s=30.0, events=(Place(0.2, 500.0),))
    with SimulatedBridge(script, seed=3, offset=-84211, counts_per_gram=420.0) as bridge:
        config = tmp_path / "cart.toml"
        config.write_text(f'[scale]\nbackend = "serial"\nport = "{bridge.port}"\noffset = -84211\n')
        out = tmp_path / "trip"
        assert main(["record", str(out), "--duration", "1.5", "--config", str(config)]) == 0
    trip = read_trip(out)
    assert trip.problems == [] and trip.offset == -84211 and trip.cameras == ()
    assert not (out / "frames").exists()                      # frames only when asked for
    problems = []
    pairs = list(read_scale_log(out / "scale.log", problems.append))
    assert problems == [] and len(pairs) > 20
    readings = [m for m in (parse_hx711(line) for _, line in pairs) if isinstance(m, Reading)]
    assert readings and max((r.raw + 84211) / 420.0 for r in readings) > 300.0


def test_record_refuses_a_non_empty_directory(tmp_path, capsys):
    (tmp_path / "x").write_text("")
    config = tmp_path / "cart.toml"
    config.write_text('[scale]\nbackend = "serial"\nport = "loop://"\n')
    assert main(["record", str(tmp_path), "--duration", "0.1", "--config", str(config)]) == 2
    assert "not empty" in capsys.readouterr().err


def test_record_writes_the_beacons_heard_with_the_site_and_epoch(tmp_path):
    script = tmp_path / "beacons-script.csv"
    script.write_text("t,kind,id,rssi\n0.1,ibeacon,f7826da6-4fa2-4e98-8024-bc5b71e0893e:1:7,-71\n"
                      "0.3,ibeacon,f7826da6-4fa2-4e98-8024-bc5b71e0893e:1:7,-69.5\n")
    with SimulatedBridge(LoadScript(duration_s=30.0), seed=3) as bridge:
        config = tmp_path / "cart.toml"
        config.write_text(f'[scale]\nbackend = "serial"\nport = "{bridge.port}"\n'
                          f'[location]\nbackend = "sim"\nscript = "{script}"\n'
                          '[location.zones]\n"ibeacon:f7826da6-4fa2-4e98-8024-bc5b71e0893e:1:7" = "dairy"\n')
        out = tmp_path / "trip"
        assert main(["record", str(out), "--duration", "1.0", "--config", str(config)]) == 0
    trip = read_trip(out)
    assert trip.problems == []
    assert [(b.kind, b.id, b.rssi) for b in trip.beacons] == [
        ("ibeacon", "f7826da6-4fa2-4e98-8024-bc5b71e0893e:1:7", -71.0),
        ("ibeacon", "f7826da6-4fa2-4e98-8024-bc5b71e0893e:1:7", -69.5)]
    assert 0.0 < trip.beacons[0].t < trip.beacons[1].t < 1.0
    meta = json.loads((out / "trip.json").read_text())
    assert meta["site"]["zones"] == {"ibeacon:f7826da6-4fa2-4e98-8024-bc5b71e0893e:1:7": "dairy"}
    assert meta["started_at"] > 1.7e9


def test_record_takes_the_simulated_scale_that_run_takes(tmp_path, monkeypatch, capsys):
    """No config at all: ``scale.backend = "sim"``, the simulated bridge `dashcart run` reads."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    out = tmp_path / "trip"
    assert main(["record", str(out), "--duration", "1.5"]) == 0, capsys.readouterr().err
    trip = read_trip(out)
    assert trip.problems == []
    problems = []
    pairs = list(read_scale_log(out / "scale.log", problems.append))
    assert problems == [] and len(pairs) > 20
    assert pairs[0][0] < 0.5 and all(0.0 <= t < 3.0 for t, _ in pairs)    # from the scale's first line on
    assert all(line.startswith(b"R ") for _, line in pairs[1:])             # the bridge's readings, as sent


def test_record_says_why_a_scale_cannot_be_opened(tmp_path, capsys):
    config = tmp_path / "cart.toml"
    config.write_text(f'[scale]\nbackend = "serial"\nport = "{tmp_path / "no-such-tty"}"\n')
    assert main(["record", str(tmp_path / "trip"), "--duration", "0.5", "--config", str(config)]) != 0
    err = capsys.readouterr().err
    assert "cannot open the scale" in err and "Traceback" not in err
