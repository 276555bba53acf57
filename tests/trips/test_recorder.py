"""`dashcart run --record DIR`: a running cart (its own serial driver on the simulated bridge's
pseudo-terminal) records a trip that replays to the same basket; the shopper's token and the
frames stay out of it."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

from dashcart.cli import main
from dashcart.config import Config
from dashcart.core.catalogue import Catalogue
from dashcart.events import BeaconSighting, ShopperAction
from dashcart.runtime.cart_runtime import CartRuntime, wait_for
from dashcart.sim.scale_bridge import LoadScript, Place, SimulatedBridge
from dashcart.snapshot import SessionState
from dashcart.trips.format import read_trip
from dashcart.trips.recorder import RECORDED_TOKEN, TripRecorder
from dashcart.trips.replay import replay

MILK = "2410000001415"
TOKEN = "dcs1:test-shopper-00000001"


def _config(tmp_path: Path, port: str) -> Config:
    config = Config()
    scale = dataclasses.replace(config.scale, backend="serial", port=port, offset=-84211, counts_per_gram=420.0)
    return dataclasses.replace(config, cart=dataclasses.replace(config.cart, state_dir=str(tmp_path / "state")),
                               scale=scale)


def test_a_recorded_run_replays_to_the_same_basket(tmp_path: Path, catalogue: Catalogue) -> None:
    out = tmp_path / "trip"
    # The carton goes in well after the sign-in: a change that settled before the sign-in is
    # outside the session (live or replayed), and a loaded CI box may start the cart slowly.
    place_t = 8.0
    script = LoadScript(duration_s=60.0, events=(Place(place_t, 1584.0),))
    started = time.monotonic()   # about when the bridge's script begins
    with SimulatedBridge(script, seed=3, offset=-84211, counts_per_gram=420.0) as bridge:
        config = _config(tmp_path, bridge.port)
        runtime = CartRuntime(config, catalogue=catalogue, recorder=None)
        recorder = TripRecorder(out, config, start_t=runtime.clock())
        runtime.recorder = recorder
        runtime.start()
        try:
            runtime.post(ShopperAction(runtime.clock(), "signin", TOKEN))
            runtime.post(BeaconSighting(runtime.clock(), "ibeacon", "f7826da6-4fa2-4e98-8024-bc5b71e0893e:1:7", -70))
            assert wait_for(runtime, lambda s: s.state is SessionState.SHOPPING, 10), "the sign-in was not taken"
            assert time.monotonic() - started < place_t - 1.0, "the cart started too slowly for this trip"
            # nothing identified the carton: the cart asks; the shopper names it on the screen
            asked = wait_for(runtime, lambda s: bool(s.questions), 20)
            assert asked is not None, "the cart did not ask"
            # as the screen does, the answer names its question
            runtime.post(ShopperAction(runtime.clock(), "choose", MILK, question_id=asked.questions[0].id))
            chosen = wait_for(runtime, lambda s: any(line.code == MILK for line in s.lines), 10)
            assert chosen is not None and not chosen.questions
            # staff take it off the bill (after the PIN, on the screen): it changes the bill, so
            # it is recorded, the PIN never
            runtime.post(ShopperAction(runtime.clock(), "staff", "void_last"))
            live = wait_for(runtime, lambda s: not s.lines, 10)
            assert live is not None
        finally:
            runtime.stop()
    assert recorder.lines > 100
    trip = read_trip(out)
    assert trip.problems == [] and trip.offset == -84211 and trip.cameras == ()
    assert not (out / "frames").exists()                                   # frames only when asked for
    shopper = (out / "shopper.csv").read_text()
    assert TOKEN not in shopper and f"signin,{RECORDED_TOKEN}" in shopper   # the token stays out
    assert shopper.startswith("t,action,value\n")                         # the contract's columns
    assert f"choose,{MILK}" in shopper and shopper.rstrip().endswith(",staff,void_last")
    choose_line = 1 + next(i for i, row in enumerate(shopper.splitlines()) if f"choose,{MILK}" in row)
    assert (out / "answers.csv").read_text() == f"line,question,qty\n{choose_line},1,\n"   # question 1
    assert "ibeacon,f7826da6-4fa2-4e98-8024-bc5b71e0893e:1:7,-70" in (out / "beacons.csv").read_text()
    assert json.loads((out / "trip.json").read_text())["format"] == "dashcart-trip/1"

    # trip.json names the catalogue the cart ran with, relative to the trip: the replay finds it
    assert (out / json.loads((out / "trip.json").read_text())["catalogue"]).resolve() == Path(catalogue.source).resolve()
    replayed = replay(out, vision=False).as_json()
    assert [(b["code"], b["qty"]) for b in replayed["basket"]] == [(line.code, line.qty) for line in live.lines] == []
    assert replayed["open_questions"] == []
    assert [e.get("code") for e in replayed["events"] if e["type"] == "added"] == [MILK]
    assert [(e.get("action"), e.get("code")) for e in replayed["events"] if e["type"] == "staff"] == [("void_last", MILK)]
    weights = [e for e in replayed["events"] if e["type"] == "question"]
    assert len(weights) == 1 and abs(weights[0]["delta_g"] - 1584.0) < 10


def test_run_record_refuses_a_used_directory_and_frames_without_record(tmp_path: Path, capsys) -> None:
    used = tmp_path / "used"
    used.mkdir()
    (used / "x").write_text("")
    assert main(["run", "--headless", "--record", str(used)]) == 2
    err = capsys.readouterr().err
    assert "not empty" in err and str(used) in err and "Traceback" not in err
    assert main(["run", "--headless", "--record-frames"]) == 2
    assert "--record-frames: only with --record DIR" in capsys.readouterr().err


def test_frames_are_written_only_when_asked_for_and_at_most_at_their_rate(tmp_path: Path) -> None:
    import numpy as np

    image = np.zeros((48, 64, 3), np.uint8)
    blind = TripRecorder(tmp_path / "blind", Config(), start_t=100.0, cameras=("top",))
    for i in range(30):
        blind.frame("top", 100.0 + i / 15, image)
    blind.close()
    assert not (tmp_path / "blind" / "frames").exists()

    seeing = TripRecorder(tmp_path / "seeing", Config(), start_t=100.0, frames=True, cameras=("top",),
                          frames_fps=5.0)
    for i in range(30):                     # 2 s at 15 fps
        seeing.frame("top", 100.0 + i / 15, image)
    seeing.frame("top", 99.0, image)        # from before the recording began
    seeing.close()
    written = sorted(int(p.stem) for p in (tmp_path / "seeing" / "frames" / "top").glob("*.jpg"))
    assert len(written) == 10 and written[0] == 0 and min(np.diff(written)) >= 150
    assert read_trip(tmp_path / "seeing").cameras == ("top",)
