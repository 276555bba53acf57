"""`dashcart replay TRIP_DIR --json` on generated trips: the contract, determinism, bad input."""

import json
import shutil

import pytest

from dashcart.cli import main
from dashcart.core.catalogue import Catalogue
from dashcart.events import WeightSettled
from dashcart.trips.format import read_trip
from dashcart.trips.generator import ShopperOracle, basket_of, compare, generate_trip, load_truth
from dashcart.trips.replay import replay

SEED = 7


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from tests.conftest import SHARED_DATA
    if not SHARED_DATA.is_dir():
        pytest.skip("shared data missing")
    csv = SHARED_DATA / "catalogue" / "demo_store.csv"
    catalogue = Catalogue.from_csv(csv)
    trip = tmp_path_factory.mktemp("trips") / "trip"
    generate_trip(trip, catalogue, SHARED_DATA / "grocery-store", SEED, events=10)
    return trip, csv, catalogue


def run_json(capsys, *argv):
    code = main(["replay", *argv, "--json"])
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if captured.out.strip() else None, captured.err


def test_json_contract(demo, capsys):
    trip, csv, _ = demo
    code, out, err = run_json(capsys, str(trip), "--catalogue", str(csv))
    assert code == 0, err
    assert set(out) == {"basket", "total_cents", "open_questions", "events", "checkout"}
    for line in out["basket"]:
        assert set(line) == {"code", "name", "qty", "weight_g", "price_cents"}
        assert isinstance(line["qty"], int) and isinstance(line["price_cents"], int)
    assert out["total_cents"] == sum(line["price_cents"] for line in out["basket"])
    for q in out["open_questions"]:
        assert set(q) == {"t", "kind", "candidates"} and all(isinstance(c, str) for c in q["candidates"])
    assert all({"t", "type"} <= set(e) for e in out["events"])
    assert [e["t"] for e in out["events"]] == sorted(e["t"] for e in out["events"])
    # the generated trip ends in the lane: checkout either went through or is blocked by questions
    assert out["checkout"] is not None and set(out["checkout"]) == {"t", "status", "order_id"}
    if out["open_questions"]:
        assert out["checkout"]["status"] == "blocked" and out["checkout"]["order_id"] is None
    else:
        assert out["checkout"]["status"] == "local" and out["checkout"]["order_id"]
    for line in out["basket"]:
        if line["weight_g"] is not None:
            assert line["qty"] == 1


def test_replay_is_deterministic(demo, capsys):
    trip, csv, _ = demo
    first = run_json(capsys, str(trip), "--catalogue", str(csv))[1]
    second = run_json(capsys, str(trip), "--catalogue", str(csv))[1]
    assert first == second


def test_answered_as_the_shopper_would_the_basket_is_the_truth(demo):
    trip, _, catalogue = demo
    truth = load_truth(trip)
    result = replay(trip, catalogue=catalogue, oracle=ShopperOracle(truth))
    out = result.as_json()
    cmp = compare(truth, basket_of(out), out["events"])
    assert cmp.exact, cmp
    assert out["open_questions"] == [] and out["checkout"]["status"] == "local"


def test_a_change_is_recognized_with_the_frames_up_to_look_after_s_after_it(demo):
    """As the live worker waits, replay recognizes a settled change once the frames up to
    vision.look_after_s after it are in, and no later one; the cart still decides with it."""
    from dashcart.config import VisionSection
    from dashcart.trips.format import read_trip
    trip, _, catalogue = demo
    look = VisionSection().look_after_s
    frame_times = sorted(f.t for f in read_trip(trip).frames)

    class Watch:
        def __init__(self):
            self.fed, self.asked = [], []

        def feed(self, camera_id, t, frame):
            self.fed.append(t)
            return []

        def on_settled(self, change):
            self.asked.append((change.t, max(self.fed, default=0.0), isinstance(change, WeightSettled)))
            return []

    watch = Watch()
    result = replay(trip, catalogue=catalogue, vision=watch)
    # every settled change, and every time the load came back to its rest (LoadReturned)
    assert len(watch.asked) == result.settled + result.returned and result.settled > 0
    settles = [t for t, _, change in watch.asked if change]
    for settled_t, fed, _ in watch.asked:
        # a newer change settling sooner does not wait for this one's frames (a return does)
        until = min([settled_t + look] + [t for t in settles if settled_t < t <= settled_t + look][:1])
        due = [t for t in frame_times if t <= until]
        assert fed == (due[-1] if due else 0.0)


def test_missing_trip_json_is_one_line(tmp_path, capsys):
    (tmp_path / "scale.log").write_text("")
    code, out, err = run_json(capsys, str(tmp_path))
    assert code == 2 and out is None
    assert len(err.strip().splitlines()) == 1 and "trip.json" in err and "Traceback" not in err


def test_bad_lines_are_named_and_replay_goes_on(demo, tmp_path, capsys):
    trip, csv, _ = demo
    bad = tmp_path / "bad"
    shutil.copytree(trip, bad)
    lines = (bad / "scale.log").read_text().splitlines()
    lines[100] = "not-a-time R 99 12 00"
    (bad / "scale.log").write_text("\n".join(lines) + "\n")
    with (bad / "shopper.csv").open("a") as handle:
        handle.write("12.5,dance,now\n")
        handle.write("13.0,plu,99999\n")
    frames = sorted((bad / "frames" / "top").iterdir())
    frames[0].write_bytes(b"this is no jpeg")
    code, out, err = run_json(capsys, str(bad), "--catalogue", str(csv))
    assert code == 1 and out is not None                      # still a full answer on stdout
    n = len((trip / "shopper.csv").read_text().splitlines())
    assert "scale.log:101:" in err
    assert f"shopper.csv:{n + 1}: action 'dance'" in err
    assert f"shopper.csv:{n + 2}: code '99999' is not in the catalogue" in err
    assert f"{frames[0].name}: cannot decode the frame" in err
    assert "Traceback" not in err
    assert err.count("scale.log:101:") == 1 and err.count(frames[0].name) == 1   # each problem said once
    good = run_json(capsys, str(trip), "--catalogue", str(csv))[1]
    assert out["basket"] == good["basket"]                    # one bad line and frame changed nothing


def test_missing_optional_files_and_catalogue(demo, tmp_path, capsys):
    trip, csv, _ = demo
    bare = tmp_path / "bare"
    shutil.copytree(trip, bare)
    shutil.rmtree(bare / "frames")
    (bare / "scale.log").unlink()
    meta = json.loads((bare / "trip.json").read_text())
    meta["catalogue"] = "nowhere.csv"
    (bare / "trip.json").write_text(json.dumps(meta))
    code, out, err = run_json(capsys, str(bare), "--catalogue", str(csv))
    assert code == 1 and out is not None
    assert "scale.log: missing" in err and "frames/top: missing" in err and "nowhere.csv does not exist" in err
    assert out["basket"] == []


def _edited(trip, path, **changes):
    shutil.copytree(trip, path)
    meta = json.loads((path / "trip.json").read_text())
    meta.update(changes)
    (path / "trip.json").write_text(json.dumps(meta))
    return path


def test_a_bad_optional_field_is_reported_once_and_the_rest_replayed(demo, tmp_path, capsys):
    # The contract's optional fields: null is absent, and a bad one costs that field, not the bill.
    trip, csv, _ = demo
    good = run_json(capsys, str(trip), "--catalogue", str(csv), "--no-vision")[1]
    cases = {"catalogue": None, "site": ["x"], "started_at": "2024-01-01T00:00:00Z",
             "cameras": ["top", "a/b"]}
    for field, value in cases.items():
        edited = _edited(trip, tmp_path / field, **{field: value})
        code, out, err = run_json(capsys, str(edited), "--catalogue", str(csv), "--no-vision")
        assert out is not None and out["basket"] == good["basket"], (field, err)
        if value is None:
            assert code == 0 and not err, err
        else:
            assert code == 1 and err.count(f"trip.json: {field}") == 1 and "Traceback" not in err, err
    read = read_trip(tmp_path / "cameras")
    assert read.cameras == ("top",) and read.frames       # the valid camera's frames are kept


def test_a_line_that_is_not_utf8_costs_that_line_only(demo, tmp_path, capsys):
    trip, csv, _ = demo
    bad = tmp_path / "bad"
    shutil.copytree(trip, bad)
    shopper = (bad / "shopper.csv").read_bytes()
    n = len(shopper.splitlines())
    (bad / "shopper.csv").write_bytes(b"\xef\xbb\xbf" + shopper + b"40.0,plu,40\xe911\n")   # a BOM, one bad byte
    good = run_json(capsys, str(trip), "--catalogue", str(csv), "--no-vision")[1]
    code, out, err = run_json(capsys, str(bad), "--catalogue", str(csv), "--no-vision")
    assert code == 1 and out["basket"] == good["basket"]
    assert err.strip().splitlines() == [f"dashcart replay: {bad / 'shopper.csv'}:{n + 1}: not UTF-8 text (byte 12); "
                                        "line skipped"]


def test_a_frame_name_of_other_digits_is_not_a_frame(demo, tmp_path):
    trip, _, _ = demo
    bad = tmp_path / "bad"
    shutil.copytree(trip, bad)
    frame = next((bad / "frames" / "top").iterdir())
    for name in ("\u00b2.jpg", "\u0967\u0968.jpg"):   # a superscript two; Devanagari digits
        shutil.copy(frame, frame.parent / name)
    read = read_trip(bad)
    assert sum("not a frame" in p.message for p in read.problems) == 2
    assert len(read.frames) == len(read_trip(trip).frames)


def test_a_trip_catalogue_that_cannot_be_read_falls_back_to_the_given_one(demo, tmp_path, capsys):
    trip, csv, _ = demo
    edited = _edited(trip, tmp_path / "cat", catalogue="broken.csv")
    (edited / "broken.csv").write_text("code,name\n1,x\n")
    code, out, err = run_json(capsys, str(edited), "--catalogue", str(csv), "--no-vision")
    assert code == 1 and out is not None and out["basket"], err
    assert "broken.csv cannot be used" in err and f"using {csv}" in err
    code, out, err = run_json(capsys, str(edited), "--no-vision")   # and none configured: one line
    assert code == 2 and out is None and len(err.strip().splitlines()) == 1 and "broken.csv" in err


def test_a_bridge_at_10_hz_is_said_not_silently_misweighed(demo, tmp_path, capsys):
    # An HX711 with its RATE pin low: outside the contract's 80 Hz, and the replay says so.
    from dashcart.drivers.scale.protocol import Reading, encode_hx711, parse_hx711
    trip, csv, _ = demo
    slow = tmp_path / "slow"
    shutil.copytree(trip, slow)
    kept, seq = [], 0
    for line in (trip / "scale.log").read_text().splitlines():
        t, _, text = line.partition(" ")
        reading = parse_hx711(text)
        if isinstance(reading, Reading):
            if reading.seq % 8:
                continue
            text, seq = encode_hx711(seq, reading.raw).decode().rstrip(), seq + 1
        kept.append(f"{t} {text}")
    (slow / "scale.log").write_text("\n".join(kept) + "\n")
    code, out, err = run_json(capsys, str(slow), "--catalogue", str(csv), "--no-vision")
    assert code == 1 and out is not None
    assert err.count("the bridge sends about 10 readings a second") == 1 and "RATE pin" in err, err


# --- the lane in a recorded trip: eddystone-eid sightings authenticated at started_at + t ---

LANE_KEY = "000102030405060708090a0b0c0d0e0f"
STARTED_AT = 1_767_225_600.0
FRUIT = "ibeacon:e2c56db5-dffb-48d2-b060-d0f5a71096e0:1:1"


def _lane_trip(path, lane, beacons, started_at=STARTED_AT, y=0.0):
    from dashcart.sim.lane_radio import Radio, hear, straight
    from dashcart.sim.scripted_beacons import write_beacons_csv
    path.mkdir()
    meta = {"format": "dashcart-trip/1", "scale": {"protocol": "hx711-bridge", "offset": 0, "counts_per_gram": 420.0},
            "cameras": [], "started_at": started_at, "site": {"zones": {FRUIT: "produce-fruit"}, "lane": lane}}
    (path / "trip.json").write_text(json.dumps(meta))
    (path / "scale.log").write_text("")
    (path / "shopper.csv").write_text("t,action,value\n0.1,signin,dcs1:ReplayShopper0123456\n")
    path_fn, duration = straight((-4.0, y), (7.0, y), 1.0)
    # Recorded at STARTED_AT: a trip.json claiming another start replays the ids at the wrong time.
    from dashcart.sim.lane_radio import PlacedBeacon
    beacons = [*beacons, PlacedBeacon("ibeacon", FRUIT.partition(":")[2], -3.0, 1.0)]
    heard = hear(beacons, path_fn, duration, Radio(lane_key=bytes.fromhex(LANE_KEY), epoch=STARTED_AT), seed=3)
    write_beacons_csv(path / "beacons.csv", heard)
    return path


def _two_sided(tmp_path, **kw):
    from dashcart.sim.lane_radio import PlacedBeacon
    beacons = [PlacedBeacon("eddystone-eid", n, x, side) for n, x, side in
               (("in-l", 0.0, 0.5), ("in-r", 0.0, -0.5), ("out-l", 3.0, 0.5), ("out-r", 3.0, -0.5))]
    lane = ["eddystone-eid:in-l+eddystone-eid:in-r", "eddystone-eid:out-l+eddystone-eid:out-r"]
    return _lane_trip(tmp_path / "trip", lane, beacons, **kw)


def _catalogue():
    from tests.conftest import SHARED_DATA
    return ["--catalogue", str(SHARED_DATA / "catalogue" / "demo_store.csv")]


def _config(tmp_path):
    config = tmp_path / "dashcart.toml"
    config.write_text(f'[checkout]\nlane_key = "{LANE_KEY}"\n')
    return str(config)


def test_a_recorded_authenticated_lane_replays_with_the_config_s_lane_key(tmp_path, capsys):
    trip = _two_sided(tmp_path)
    code, out, err = run_json(capsys, str(trip), "--config", _config(tmp_path), "--no-vision", *_catalogue())
    assert out["checkout"] is not None and out["checkout"]["status"] == "empty", err


def test_without_the_lane_key_the_lane_is_reported_once_and_the_zones_kept(tmp_path, capsys):
    trip = _two_sided(tmp_path)
    code, out, err = run_json(capsys, str(trip), "--no-vision", *_catalogue())
    assert code == 1 and out["checkout"] is None
    assert err.count("checkout.lane_key") == 1 and "the lane is left out" in err
    assert any(e.get("zone") == "produce-fruit" for e in out["events"]), out["events"]


def test_a_forged_start_time_makes_the_recorded_lane_worthless(tmp_path, capsys):
    # The same recording under a trip.json that says it began a minute later: replay at the
    # claimed time, and the ids are a minute old.
    trip = _two_sided(tmp_path)
    meta = json.loads((trip / "trip.json").read_text())
    meta["started_at"] = STARTED_AT + 60
    (trip / "trip.json").write_text(json.dumps(meta))
    code, out, err = run_json(capsys, str(trip), "--config", _config(tmp_path), "--no-vision", *_catalogue())
    assert out["checkout"] is None


def test_a_lane_of_one_beacon_is_accepted(tmp_path, capsys):
    from dashcart.sim.lane_radio import PlacedBeacon
    lane_beacon = "e2c56db5-dffb-48d2-b060-d0f5a71096e0:9:1"
    trip = _lane_trip(tmp_path / "trip", [f"ibeacon:{lane_beacon}"], [PlacedBeacon("ibeacon", lane_beacon, 0.0, 0.5)],
                      y=0.1)
    code, out, err = run_json(capsys, str(trip), "--no-vision", *_catalogue())
    assert "lane" not in err and out["checkout"] is not None, err


def test_a_bad_zone_entry_or_beacon_id_is_reported_and_the_rest_kept(tmp_path, capsys):
    trip = _two_sided(tmp_path)
    meta = json.loads((trip / "trip.json").read_text())
    meta["site"]["zones"]["bogus"] = "dairy"
    (trip / "trip.json").write_text(json.dumps(meta))
    with (trip / "beacons.csv").open("a") as handle:
        handle.write("0.5,ibeacon,e2c56db5-dffb-48d2-b060-d0f5a71096e0:99999:1,-60\n")
    code, out, err = run_json(capsys, str(trip), "--config", _config(tmp_path), "--no-vision", *_catalogue())
    assert code == 1 and out["checkout"] is not None, err
    assert any(e.get("zone") == "produce-fruit" for e in out["events"])      # the good zone is kept
    assert err.count("site.zones: 'bogus'") == 1 and "major and minor are 0..65535" in err


def test_a_recording_that_names_its_start_epoch_still_replays_its_lane(tmp_path, capsys):
    trip = _two_sided(tmp_path)   # as recorders wrote it before the contract called it started_at
    meta = json.loads((trip / "trip.json").read_text())
    meta["epoch"] = meta.pop("started_at")
    (trip / "trip.json").write_text(json.dumps(meta))
    code, out, err = run_json(capsys, str(trip), "--config", _config(tmp_path), "--no-vision", *_catalogue())
    assert out["checkout"] is not None and "started_at" not in err, err


def test_an_eid_lane_without_started_at_is_reported(tmp_path, capsys):
    trip = _two_sided(tmp_path)
    meta = json.loads((trip / "trip.json").read_text())
    del meta["started_at"]
    (trip / "trip.json").write_text(json.dumps(meta))
    code, out, err = run_json(capsys, str(trip), "--config", _config(tmp_path), "--no-vision", *_catalogue())
    assert code == 1 and out["checkout"] is None
    assert err.count("no started_at; the lane is left out") == 1


# --- staff overrides in a recorded trip ---

def _staff_trip(path, overrides):
    from dashcart.sim.load_script import LoadScript, Place, format_scale_log, render_scale_log
    path.mkdir()
    meta = {"format": "dashcart-trip/1", "scale": {"protocol": "hx711-bridge", "offset": 0, "counts_per_gram": 420.0},
            "cameras": []}
    (path / "trip.json").write_text(json.dumps(meta))
    # 40 g of dirt in the empty basket; staff zero the scale at 2 s; a carton goes in at 5 s
    script = LoadScript(duration_s=12.0, initial_g=40.0, events=(Place(5.0, 1062.0),))
    (path / "scale.log").write_text(format_scale_log(render_scale_log(script, seed=4)))
    rows = "".join(f"{t},staff,{override}\n" for t, override in overrides)
    (path / "shopper.csv").write_text(f"t,action,value\n0.5,signin,dcs1:ReplayShopper0123456\n8.0,choose,2280000001285\n{rows}")
    return path


def test_a_recorded_staff_override_replays_as_it_happened(tmp_path):
    from tests.conftest import SHARED_DATA
    trip = _staff_trip(tmp_path / "trip", [(2.0, "tare"), (10.0, "void_last")])
    result = replay(trip, vision=False, catalogue_path=SHARED_DATA / "catalogue" / "demo_store.csv").as_json()
    assert [e.get("action") for e in result["events"] if e["type"] == "staff"] == ["tare", "void_last"]
    assert [e.get("code") for e in result["events"] if e["type"] == "added"] == ["2280000001285"]
    assert result["basket"] == []                            # staff took the juice off the bill


def test_a_replayed_staff_zero_zeroes_the_replay_s_scale_at_its_next_rest():
    from dashcart.core.weighing import WeighingEngine, feed_decoded
    from dashcart.drivers.scale.decoder import LineDecoder
    from dashcart.sim.load_script import LoadScript, render_scale_log
    from dashcart.trips.replay import ReplayScale
    engine, decoder = WeighingEngine(0, 420.0), LineDecoder("hx711-bridge")
    scale = ReplayScale(engine)
    asked = False
    for t, line in render_scale_log(LoadScript(duration_s=4.0, initial_g=40.0), seed=4):
        list(feed_decoded(engine, decoder.decode(t, line)))
        if t >= 2.0 and not asked:
            scale.request_zero()            # staff pressed "zero the scale" at 2 s
            asked = True
        scale.after_reading(t)
    assert abs(engine.zero_g - 40.0) < 2.0 and abs(engine.live_g) < 2.0


# --- which question an answer was for ---

def _two_questions_trip(path, answers=None):
    """A juice (1062 g) at 3 s and a sour cream (318 g) at 6 s, neither named: two questions.
    At 9 s (shopper.csv line 3) the shopper answers the older one, the juice's, while the
    sour cream's is newest; ``answers`` is answers.csv's text, if any."""
    from dashcart.sim.load_script import LoadScript, Place, format_scale_log, render_scale_log
    path.mkdir()
    meta = {"format": "dashcart-trip/1", "scale": {"protocol": "hx711-bridge", "offset": 0, "counts_per_gram": 420.0},
            "cameras": []}
    (path / "trip.json").write_text(json.dumps(meta))
    script = LoadScript(duration_s=12.0, events=(Place(3.0, 1062.0), Place(6.0, 318.0)))
    (path / "scale.log").write_text(format_scale_log(render_scale_log(script, seed=5)))
    (path / "shopper.csv").write_text("t,action,value\n0.5,signin,dcs1:ReplayShopper0123456\n9.0,choose,2280000001285\n")
    if answers is not None:
        (path / "answers.csv").write_text(answers)
    return path


def _replayed(trip):
    from tests.conftest import SHARED_DATA
    return replay(trip, vision=False, catalogue_path=SHARED_DATA / "catalogue" / "demo_store.csv").as_json()


def test_a_recorded_answer_goes_to_the_question_it_was_for(tmp_path):
    result = _replayed(_two_questions_trip(tmp_path / "trip", "line,question,qty\n3,1,\n"))
    assert [(e["id"], e["code"]) for e in result["events"] if e["type"] == "answered"] == [(1, "2280000001285")]
    assert [b["code"] for b in result["basket"]] == ["2280000001285"]
    [still_open] = result["open_questions"]                        # the sour cream's
    assert "2470000001471" in still_open["candidates"]


def test_without_answers_csv_an_answer_goes_to_the_newest_question(tmp_path):
    # A trip written to the contract alone: the answer goes where a tap without a question
    # would, to the newest, the sour cream's: a juice (1062 g) for its 318 g is refused there
    # (given to the older question, the juice's, it would have been taken)
    result = _replayed(_two_questions_trip(tmp_path / "trip"))
    assert not [e for e in result["events"] if e["type"] == "answered"]
    assert [e["value"] for e in result["events"] if e["type"] == "rejected"] == ["2280000001285"]
    assert len(result["open_questions"]) == 2 and not result["basket"]


def test_a_bad_answers_line_is_reported_with_its_line(tmp_path):
    trip = _two_questions_trip(tmp_path / "trip", "line,question,qty\n3,first,\n3,1,-2\n9,1,\n3,1\n")
    problems = [str(p) for p in read_trip(trip).problems]
    answers = trip / "answers.csv"
    assert problems == [f"{answers}:2: question 'first' is not a whole number from 1; line skipped",
                        f"{answers}:3: qty '-2' is not a whole number from 0; line skipped",
                        f"{answers}:4: shopper.csv has no action on line 9; line skipped",
                        f"{answers}:5: 2 fields, expected 3; line skipped"]


def test_a_replayed_sign_out_while_the_load_moves_waits_as_the_live_cart_does(tmp_path):
    # A juice put in at 3 s, the sign-out tapped at 3.3 s while the load still moves: the
    # replay sees the scale move (as the live cart's WeightLive says) and refuses it.
    from dashcart.sim.load_script import LoadScript, Place, format_scale_log, render_scale_log
    path = tmp_path / "trip"
    path.mkdir()
    meta = {"format": "dashcart-trip/1", "scale": {"protocol": "hx711-bridge", "offset": 0, "counts_per_gram": 420.0},
            "cameras": []}
    (path / "trip.json").write_text(json.dumps(meta))
    (path / "scale.log").write_text(format_scale_log(render_scale_log(LoadScript(duration_s=8.0,
                                                                                   events=(Place(3.0, 1062.0),)), seed=5)))
    (path / "shopper.csv").write_text("t,action,value\n0.5,signin,dcs1:ReplayShopper0123456\n3.3,signout,\n")
    result = _replayed(path)
    assert {"t": 3.3, "type": "rejected", "action": "signout", "value": "settling"} in result["events"]
    assert [e["type"] for e in result["events"] if e["type"] in ("state", "question")] == ["question"]


def test_a_recorded_answer_naming_the_shoppers_bag_or_the_item_to_take_out_replays(tmp_path):
    """The removal question's answers that are no product ("My own bag", "The item to take
    out") are recorded as they were tapped and replay as answers, not as codes the catalogue
    lacks: a 150 g bag at the sign-in, a 150 g item nobody named and told out, 150 g out."""
    from dashcart.sim.load_script import Lift, LoadScript, Place, format_scale_log, render_scale_log
    trip = tmp_path / "trip"
    trip.mkdir()
    meta = {"format": "dashcart-trip/1", "scale": {"protocol": "hx711-bridge", "offset": 0, "counts_per_gram": 420.0},
            "cameras": []}
    (trip / "trip.json").write_text(json.dumps(meta))
    script = LoadScript(duration_s=14.0, events=(Place(0.2, 150.0), Place(4.0, 150.0), Lift(8.0, 150.0)))
    (trip / "scale.log").write_text(format_scale_log(render_scale_log(script, seed=5)))
    (trip / "shopper.csv").write_text("t,action,value\n1.5,signin,dcs1:ReplayShopper0123456\n6.0,not_in_cart,\n"
                                      "11.0,choose,unnamed:2\n12.0,choose,own\n")
    (trip / "answers.csv").write_text("line,question,qty\n3,1,\n4,3,\n5,3,\n")
    assert not read_trip(trip).problems
    result = _replayed(trip)
    events = result["events"]
    # the item: a tap cannot close a "take it out" the weight cannot tell from the bag; the bag can
    assert [e["value"] for e in events if e["type"] == "rejected"] == ["unnamed:2"]
    assert [(e["id"], e.get("resolution")) for e in events if e["type"] == "answered"] == [(1, "take_it_out"),
                                                                                           (3, "own")]
    assert [q["kind"] for q in result["open_questions"]] == ["remove_unknown"] and not result["basket"]
