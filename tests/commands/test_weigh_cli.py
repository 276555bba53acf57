import json

import pytest

from dashcart.cli import main
from dashcart.sim.load_script import Fault, Lift, LoadScript, Place, format_scale_log, render_scale_log


@pytest.fixture
def scale_log(tmp_path):
    script = LoadScript(8, (Place(1, 500), Fault(2.5, "garbage"), Fault(3, "bad_crc"), Lift(4, 120)))
    path = tmp_path / "scale.log"
    path.write_text(format_scale_log(render_scale_log(script, seed=4, offset=2000, counts_per_gram=400.0)))
    return path


def test_replay_json_is_exactly_the_contract(scale_log, capsys):
    assert main(["weigh", "--replay", str(scale_log), "--offset", "2000", "--counts-per-gram", "400", "--json"]) == 0
    lines = capsys.readouterr().out.splitlines()
    records = [json.loads(line) for line in lines]
    assert [set(r) for r in records] == [{"t", "event", "delta_g", "total_g"}] * 2
    assert [r["event"] for r in records] == ["settled", "settled"]
    assert records[0]["delta_g"] == pytest.approx(500, abs=2)
    assert records[1]["delta_g"] == pytest.approx(-120, abs=2)
    assert records[1]["total_g"] == pytest.approx(380, abs=2)
    assert 1.5 < records[0]["t"] < 3.0 and 4.3 < records[1]["t"] < 5.5


def test_replay_uses_the_config_calibration(scale_log, tmp_path, capsys):
    config = tmp_path / "c.toml"
    config.write_text("[scale]\noffset = 2000\ncounts_per_gram = 200.0\n")
    assert main(["weigh", "--config", str(config), "--replay", str(scale_log), "--json"]) == 0
    first = json.loads(capsys.readouterr().out.splitlines()[0])
    assert first["delta_g"] == pytest.approx(1000, abs=4)  # half the gain: twice the grams


def test_malformed_log_lines_are_named_and_skipped(scale_log, capsys):
    text = scale_log.read_text().splitlines()
    text.insert(100, "not-a-time R 1 2 3")
    text.insert(200, "")
    scale_log.write_text("\n".join(text) + "\n")
    assert main(["weigh", "--replay", str(scale_log), "--offset", "2000", "--counts-per-gram", "400", "--json"]) == 0
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 2
    assert f"{scale_log}:101:" in captured.err and f"{scale_log}:201:" in captured.err
    assert "Traceback" not in captured.err


def test_missing_log_is_one_line_exit_2(tmp_path, capsys):
    assert main(["weigh", "--replay", str(tmp_path / "none.log"), "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1 and "none.log" in captured.err


def test_zero_counts_per_gram_is_refused(scale_log, capsys):
    assert main(["weigh", "--replay", str(scale_log), "--counts-per-gram", "0", "--json"]) == 2
    assert "--counts-per-gram" in capsys.readouterr().err


def test_other_protocol_says_so(scale_log, capsys):
    assert main(["weigh", "--replay", str(scale_log), "--protocol", "mt-sics", "--json"]) == 1   # nothing weighed
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "no mt-sics readings" in captured.err


def test_live_weigh_on_the_default_simulated_scale(capsys):
    # the built-in defaults run the simulated cart: its first item (500 g) lands at 2 s
    assert main(["weigh", "--json", "--duration", "6"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert records and records[0]["event"] == "settled"
    assert records[0]["delta_g"] == pytest.approx(500, abs=2)


def test_live_weigh_on_a_missing_port_says_so(tmp_path, capsys):
    assert main(["weigh", "--port", str(tmp_path / "ttyUSB7"), "--duration", "0.5", "--json"]) == 3
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip().splitlines()[-1].startswith(f"dashcart weigh: {tmp_path / 'ttyUSB7'}")


def test_live_weigh_at_the_wrong_baud_rate_says_so(capsys):
    from dashcart.sim.scale_bridge import LoadScript, SimulatedBridge

    with SimulatedBridge(LoadScript(0.0), baudrate=115200) as bridge:
        assert main(["weigh", "--port", bridge.port, "--baudrate", "9600", "--duration", "4", "--json"]) == 3
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "wrong baud rate or protocol" in captured.err


def test_a_log_of_random_bytes_is_survived(tmp_path, capsys):
    import random

    rng = random.Random(3)
    path = tmp_path / "scale.log"
    path.write_bytes(bytes(rng.randrange(256) for _ in range(50000)))
    assert main(["weigh", "--replay", str(path), "--json"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "Traceback" not in captured.err
    assert f"{path}:" in captured.err and "malformed lines in all" in captured.err


def test_replay_takes_the_calibration_from_the_trip(scale_log, capsys):
    trip = scale_log.parent
    (trip / "trip.json").write_text(json.dumps({"format": "dashcart-trip/1", "cameras": [],
                                                "scale": {"protocol": "hx711-bridge", "offset": 2000,
                                                          "counts_per_gram": 400.0}}))
    assert main(["weigh", "--replay", str(trip), "--json"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [round(r["delta_g"]) for r in records] in ([500, -120], [500, -121], [501, -120], [499, -120])
    # a flag still wins over the trip
    assert main(["weigh", "--replay", str(scale_log), "--counts-per-gram", "200", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[0])["delta_g"] == pytest.approx(1000, abs=4)


def test_a_bad_trip_json_is_named(scale_log, capsys):
    (scale_log.parent / "trip.json").write_text('{"scale": {"counts_per_gram": 0}}')
    assert main(["weigh", "--replay", str(scale_log), "--json"]) == 2
    err = capsys.readouterr().err
    assert "trip.json: scale.counts_per_gram" in err and len(err.strip().splitlines()) == 1


# The six load changes on a trade scale (35 kg x 5 g, ~5 readings a second, in kg).
SIX = (Place(3, 1250), Place(9, 355), Lift(15, 355), Place(21, 2000), Place(27, 40), Lift(33, 1250))


def test_replay_of_a_trade_scale_log_gives_the_six_changes(tmp_path, capsys):
    from dashcart.sim.load_script import render_sics_log
    path = tmp_path / "scale.log"
    path.write_text(format_scale_log(render_sics_log(LoadScript(40.0, SIX), seed=7)))
    assert "S S      1.250 kg" in path.read_text()
    assert main(["weigh", "--replay", str(path), "--protocol", "mt-sics", "--json"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["delta_g"] for r in records] == [1250.0, 355.0, -355.0, 2000.0, 40.0, -1250.0]
    assert [r["total_g"] for r in records] == [1250.0, 1605.0, 1250.0, 3250.0, 3290.0, 2040.0]


def test_live_weigh_of_a_trade_scale_over_tcp(capsys):
    # like an MT-SICS emulator (or a serial-to-Ethernet converter) at socket://HOST:PORT
    from dashcart.sim.scale_bridge import SimulatedBridge
    script = LoadScript(60.0, (Place(1.0, 1250), Place(3.5, 40), Lift(6.0, 355)))
    with SimulatedBridge(script, protocol="mt-sics", transport="tcp", seed=5) as bridge:
        assert bridge.port.startswith("socket://127.0.0.1:")
        assert main(["weigh", "--port", bridge.port, "--protocol", "mt-sics", "--json", "--duration", "8.5"]) == 0
        commands = list(bridge.commands)
    captured = capsys.readouterr()
    records = [json.loads(line) for line in captured.out.splitlines()]
    assert [r["delta_g"] for r in records] == [1250.0, 40.0, -355.0]
    assert commands[0] == "SIR"
    assert "0 corrupt" in captured.err.splitlines()[-1]


@pytest.mark.parametrize("flags, message", [
    (["--baudrate", "0"], "--baudrate: 0 is below the minimum 300"),
    (["--offset", "99999999999"], "--offset: 99999999999 is above the maximum 8388607"),
    (["--duration", "-1"], "--duration: -1.0 is not a number of seconds above 0"),
    (["--counts-per-gram", "nan"], "--counts-per-gram: must be a finite number"),
])
def test_a_bad_flag_is_one_line_naming_it(capsys, flags, message):
    assert main(["weigh", *flags]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_an_empty_log_weighs_nothing_and_says_so(tmp_path, capsys):
    log = tmp_path / "scale.log"
    log.write_text("")
    assert main(["weigh", "--replay", str(log), "--json"]) == 1
    assert "no hx711-bridge readings (the log is empty)" in capsys.readouterr().err
