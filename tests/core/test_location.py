import dataclasses

import pytest

from dashcart.config import LocationSection
from dashcart.core.lane_auth import EidVerifier, current_eid
from dashcart.core.location import LaneDetector, LaneState, Locator, Site
from dashcart.errors import Misconfigured
from dashcart.events import BeaconSighting, LaneDetected, LaneEntered, ZoneChanged
from dashcart.sim.lane_radio import PlacedBeacon, Radio, hear, straight

FRUIT = "ibeacon:e2c56db5-dffb-48d2-b060-d0f5a71096e0:1:1"
DAIRY = "ibeacon:e2c56db5-dffb-48d2-b060-d0f5a71096e0:1:2"
KEY = bytes(range(16))
EPOCH = 1_767_225_600.0
SETTINGS = LocationSection()


def sighting(t, key, rssi, wall_t=None):
    kind, _, ident = key.partition(":")
    return BeaconSighting(t, kind, ident, rssi, wall_t=wall_t)


def feed(locator, sightings):
    out = []
    for s in sightings:
        out.extend(locator.on_sighting(s))
    return out


def test_site_from_trip_json_shape_and_errors():
    site = Site.from_dict({"zones": {FRUIT.upper().replace("IBEACON", "ibeacon"): "produce-fruit"},
                           "lane": ["ibeacon:e2c56db5dffb48d2b060d0f5a71096e0:9:1",
                                    "ibeacon:e2c56db5dffb48d2b060d0f5a71096e0:9:2"]}, "trip.json: site")
    assert site.zones == {FRUIT: "produce-fruit"}
    assert site.lane[0].endswith(":9:1")
    assert Site.from_dict({"lane": [FRUIT]}, "trip.json: site").lane == (FRUIT,)   # one beacon: a lane
    with pytest.raises(Misconfigured, match=r"site.zones: 'nope' is not <kind>:<id>"):
        Site.from_dict({"zones": {"nope": "x"}}, "site")
    with pytest.raises(Misconfigured, match="unknown key 'lanes'"):
        Site.from_dict({"lanes": []}, "site")


def test_unauthenticated_lane_is_refused_unless_allowed():
    site = Site(lane=(FRUIT, DAIRY))
    with pytest.raises(Misconfigured, match="not an eddystone-eid beacon"):
        Locator(site, SETTINGS)
    Locator(site, SETTINGS, allow_unauthenticated_lane=True)
    with pytest.raises(Misconfigured, match="need checkout.lane_key"):
        Locator(Site(lane=("eddystone-eid:entry", "eddystone-eid:exit")), SETTINGS)


def test_zone_switches_only_when_clearly_stronger_for_a_while():
    locator = Locator(Site(zones={FRUIT: "produce-fruit", DAIRY: "dairy"}), SETTINGS)
    events = feed(locator, [sighting(0.0, FRUIT, -70), sighting(0.1, DAIRY, -80)])
    assert events == [ZoneChanged(0.0, "produce-fruit", "")]
    # Dairy a little stronger (within the 4 dB hysteresis): stay.
    events = feed(locator, [s for i in range(30) for s in (sighting(0.2 + i * 0.1, FRUIT, -72),
                                                             sighting(0.25 + i * 0.1, DAIRY, -70))])
    assert events == [] and locator.zone == "produce-fruit"
    # Dairy clearly stronger: switch, but only after the dwell time.
    stream = [s for i in range(40) for s in (sighting(3.2 + i * 0.1, FRUIT, -82), sighting(3.25 + i * 0.1, DAIRY, -62))]
    events = feed(locator, stream)
    (change,) = events
    assert change.zone == "dairy" and change.previous == "produce-fruit"
    assert change.t >= 3.2 + SETTINGS.zone_dwell_s


def test_zone_is_left_when_its_beacons_go_silent():
    locator = Locator(Site(zones={FRUIT: "produce-fruit"}), SETTINGS)
    feed(locator, [sighting(0.0, FRUIT, -70)])
    assert locator.on_tick(1.0) == []
    assert locator.on_tick(1.0 + SETTINGS.stale_s + 0.1) == [ZoneChanged(5.1, "", "produce-fruit")]


def test_calibration_offsets_a_quiet_beacon():
    site = Site(zones={FRUIT: "produce-fruit"}, calibration={FRUIT: 10.0})
    locator = Locator(site, dataclasses.replace(SETTINGS, zone_enter_dbm=-80.0))
    assert feed(locator, [sighting(0.0, FRUIT, -88)]) == [ZoneChanged(0.0, "produce-fruit", "")]


LANE = ("ibeacon:e2c56db5-dffb-48d2-b060-d0f5a71096e0:9:1", "ibeacon:e2c56db5-dffb-48d2-b060-d0f5a71096e0:9:2")


def steady(key, t0, t1, rssi, step=0.1):
    n = int(round((t1 - t0) / step))
    return [sighting(round(t0 + i * step, 3), key, rssi) for i in range(n)]


def run_detector(detector, stream):
    return [e for s in stream if (e := detector.update(f"{s.kind}:{s.id}", s.t, s.rssi))]


def test_lane_needs_entry_then_exit_each_close_for_the_dwell():
    detector = LaneDetector(LANE, SETTINGS, {})
    events = run_detector(detector, steady(LANE[0], 0.0, 1.5, -50) + steady(LANE[1], 1.5, 3.0, -50))
    entered, detected = events
    assert isinstance(entered, LaneEntered) and entered.t >= SETTINGS.lane_dwell_s
    assert isinstance(detected, LaneDetected) and detected.t >= 1.5 + SETTINGS.lane_dwell_s
    assert detector.state is LaneState.PASSED


@pytest.mark.parametrize("stream", [
    # exit then entry: came in the wrong way
    steady(LANE[1], 0.0, 1.5, -50) + steady(LANE[0], 1.5, 3.0, -50),
    # nosed into the entry and backed out
    steady(LANE[0], 0.0, 3.0, -50),
    # both heard, never close (a cart rolling by a couple of metres away)
    [s for a, b in zip(steady(LANE[0], 0.0, 5.0, -66), steady(LANE[1], 0.05, 5.05, -66)) for s in (a, b)],
    # a close blip shorter than the dwell on each
    steady(LANE[0], 0.0, 0.3, -45) + steady(LANE[0], 0.3, 1.0, -80) + steady(LANE[1], 1.0, 1.3, -45),
    # entry, then the exit only after the transit limit
    steady(LANE[0], 0.0, 1.5, -50) + steady(LANE[1], 30.0, 31.5, -50),
])
def test_lane_is_not_triggered_by(stream):
    detector = LaneDetector(LANE, SETTINGS, {})
    assert not [e for e in run_detector(detector, stream) if isinstance(e, LaneDetected)]


def test_lane_rearms_only_after_the_beacons_fade():
    detector = LaneDetector(LANE, SETTINGS, {})
    stream = steady(LANE[0], 0.0, 1.5, -50) + steady(LANE[1], 1.5, 3.0, -50) + steady(LANE[1], 3.0, 6.0, -50)
    assert len([e for e in run_detector(detector, stream) if isinstance(e, LaneDetected)]) == 1
    assert detector.tick(6.0 + SETTINGS.stale_s + 1) is None
    assert detector.state is LaneState.WAITING


def _simulated_lane_run(y, seed, reverse=False):
    radio = Radio(lane_key=KEY, epoch=EPOCH)
    beacons = [PlacedBeacon("eddystone-eid", "entry", 0.0, 0.5), PlacedBeacon("eddystone-eid", "exit", 3.0, 0.5)]
    start, end = (-4.0, y), (7.0, y)
    path, duration = straight(end, start, 1.0) if reverse else straight(start, end, 1.0)
    site = Site(lane=("eddystone-eid:entry", "eddystone-eid:exit"))
    locator = Locator(site, SETTINGS, EidVerifier(KEY, ["entry", "exit"], radio.eid_period_s))
    return [e for e in feed(locator, hear(beacons, path, duration, radio, seed)) if isinstance(e, LaneDetected)]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_simulated_cart_through_the_lane_checks_out_and_one_passing_2m_away_does_not(seed):
    assert len(_simulated_lane_run(0.1, seed)) == 1
    assert _simulated_lane_run(0.5 + 2.0, seed) == []
    assert _simulated_lane_run(0.1, seed, reverse=True) == []


def test_forged_and_replayed_lane_advertisements_do_not_check_out():
    site = Site(lane=("eddystone-eid:entry", "eddystone-eid:exit"))
    locator = Locator(site, SETTINGS, EidVerifier(KEY, ["entry", "exit"], 64))
    now = EPOCH + 10_000
    forged_key = bytes(16)
    old = now - 3600
    stream = []
    for i in range(60):
        t = i * 0.1
        # a forger without the key, and a recording of the real beacons made an hour ago
        stream.append(BeaconSighting(t, "eddystone-eid", current_eid(forged_key, "entry" if i < 30 else "exit", now + t, 64), -45, wall_t=now + t))
        stream.append(BeaconSighting(t, "eddystone-eid", current_eid(KEY, "entry" if i < 30 else "exit", old + t, 64), -45, wall_t=now + t))
    assert [e for e in feed(locator, stream) if isinstance(e, LaneDetected)] == []
    assert locator.stats.unverified_lane == 120


def test_site_from_config_names_the_key():
    from dashcart.config import parse_config
    with pytest.raises(Misconfigured, match=r"dashcart.toml: location.lane: 'ibeacon:nope': an iBeacon id is"):
        parse_config('[location]\nlane = ["ibeacon:nope", "ibeacon:nope2"]\n', "dashcart.toml")   # as it is read
    with pytest.raises(Misconfigured, match=r"location.lane: 'ibeacon:nope': an iBeacon id is"):
        Site.from_config(LocationSection(lane=["ibeacon:nope"]))
    config = parse_config('[location]\nzones = { "eddystone-uid:00112233445566778899:aabbccddeeff" = "dairy" }\n')
    assert Site.from_config(config.location).zones == {"eddystone-uid:00112233445566778899:aabbccddeeff": "dairy"}


def test_zone_does_not_flicker_at_its_edge():
    locator = Locator(Site(zones={FRUIT: "produce-fruit"}), SETTINGS)
    edge = SETTINGS.zone_enter_dbm
    events = feed(locator, [sighting(i * 0.1, FRUIT, edge + (2 if i % 20 < 10 else -2)) for i in range(100)])
    assert events == [ZoneChanged(0.0, "produce-fruit", "")]
    events = feed(locator, [sighting(10 + i * 0.1, FRUIT, edge - 15) for i in range(50)])
    assert [e.zone for e in events] == [""]


def test_wrong_way_does_not_even_open_the_checkout_window():
    detector = LaneDetector(LANE, SETTINGS, {})
    stream = steady(LANE[1], 0.0, 1.5, -50) + steady(LANE[1], 1.5, 3.0, -75) + steady(LANE[0], 3.0, 4.5, -50)
    assert run_detector(detector, stream) == []


def test_window_closes_when_the_cart_does_not_go_through():
    from dashcart.events import LaneLeft
    detector = LaneDetector(LANE, SETTINGS, {})
    events = run_detector(detector, steady(LANE[0], 0.0, 1.5, -50) + steady(LANE[0], 1.5, 25.0, -80))
    assert [type(e) for e in events] == [LaneEntered, LaneLeft]
    assert events[1].t > events[0].t + SETTINGS.lane_max_transit_s


# A two-sided lane: gates of two beacons (either side of a 1.0 m lane), entry then exit.
GATES = ("eddystone-eid:in-l+eddystone-eid:in-r", "eddystone-eid:out-l+eddystone-eid:out-r")
GATE_BEACONS = [PlacedBeacon("eddystone-eid", "in-l", 0.0, 0.5), PlacedBeacon("eddystone-eid", "in-r", 0.0, -0.5),
                PlacedBeacon("eddystone-eid", "out-l", 3.0, 0.5), PlacedBeacon("eddystone-eid", "out-r", 3.0, -0.5)]


def _two_sided_run(y, speed, seed, reverse=False):
    radio = Radio(lane_key=KEY, epoch=EPOCH, beacon_clock_s=0.4, rate_hz=20.0)   # lane beacons: every 50 ms
    start, end = (-3.0, y), (6.0, y)
    path, duration = straight(end, start, speed) if reverse else straight(start, end, speed)
    locator = Locator(Site(lane=GATES), SETTINGS, EidVerifier(KEY, ["in-l", "in-r", "out-l", "out-r"], 2))
    return [type(e) for e in feed(locator, hear(GATE_BEACONS, path, duration, radio, seed))]


@pytest.mark.parametrize("seed", range(6))
def test_two_sided_gates_tell_through_from_beside(seed):
    assert _two_sided_run(0.15, 1.2, seed) == [LaneEntered, LaneDetected]
    assert _two_sided_run(-0.2, 0.4, seed) == [LaneEntered, LaneDetected]
    # 0.5 m outside the lane's edge: as close to one side's beacons as a cart in the lane,
    # but the other side is 1.5 m away. Slow or fast, no checkout (not even the window).
    assert _two_sided_run(1.0, 0.1, seed) == []
    assert _two_sided_run(-1.0, 1.5, seed) == []
    assert LaneDetected not in _two_sided_run(0.0, 1.0, seed, reverse=True)


def test_the_lane_works_only_while_the_cart_proves_its_clock():
    def run(error_s, beacon_clock_s):
        radio = Radio(lane_key=KEY, epoch=EPOCH, beacon_clock_s=beacon_clock_s, rate_hz=20.0,
                      cart_clock_error_s=error_s)
        path, duration = straight((-3.0, 0.0), (6.0, 0.0), 1.0)
        locator = Locator(Site(lane=GATES), SETTINGS, EidVerifier(KEY, ["in-l", "in-r", "out-l", "out-r"], 2))
        return [type(e) for e in feed(locator, hear(GATE_BEACONS, path, duration, radio, 1))], locator

    assert run(0.05, 0.4)[0] == [LaneEntered, LaneDetected]
    # Beacons 2 s off: more than their 1 s allowance, within it plus what the cart proves (1.2 s).
    assert run(1.2, 2.0)[0] == [LaneEntered, LaneDetected]
    assert run(0.05, 3.2)[0] == []                 # 3.2 s off: past 1 s + 0.05 s by more than a period
    events, locator = run(float("inf"), 0.0)       # not synchronised: nothing is checked
    assert events == [] and locator.stats.unverified_lane == locator.stats.sightings > 0


def test_a_gate_needs_both_sides_heard_and_comparable():
    detector = LaneDetector(GATES, SETTINGS, {})
    left, right = GATES[0].split("+")
    lopsided = [s for a, b in zip(steady(left, 0.0, 3.0, -45), steady(right, 0.05, 3.05, -59)) for s in (a, b)]
    assert run_detector(detector, lopsided) == []        # both above -60, but 14 dB apart: beside one post
    assert run_detector(detector, steady(left, 4.0, 8.0, -45)) == []   # one side only
    level = detector.gate_level(0, 8.0)
    assert level is None or level[1] >= SETTINGS.lane_balance_db


def test_a_lane_of_one_beacon_is_entered_when_close_and_passed_when_it_fades():
    detector = LaneDetector((LANE[0],), SETTINGS, {})
    events = run_detector(detector, steady(LANE[0], 0.0, 2.0, -50) + steady(LANE[0], 2.0, 4.0, -75))
    assert [type(e) for e in events] == [LaneEntered, LaneDetected]
    assert events[1].t > 2.0
    parked = LaneDetector((LANE[0],), SETTINGS, {})
    from dashcart.events import LaneLeft
    events = run_detector(parked, steady(LANE[0], 0.0, SETTINGS.lane_max_transit_s + 5, -50))
    assert [type(e) for e in events] == [LaneEntered, LaneLeft]


@pytest.mark.parametrize("rssi", [127, 1, 20, 0])
def test_rssi_127_and_positive_values_are_not_readings(rssi):
    locator = Locator(Site(zones={FRUIT: "produce-fruit"}, lane=LANE), SETTINGS, allow_unauthenticated_lane=True)
    stream = steady(LANE[0], 0.0, 2.0, rssi) + steady(LANE[1], 2.0, 4.0, rssi) + steady(FRUIT, 4.0, 5.0, rssi)
    assert feed(locator, stream) == []
    assert locator.stats.not_a_reading == len(stream)


def test_an_invalid_part_of_a_site_is_reported_once_and_the_rest_kept():
    problems: list[str] = []
    site = Site.from_dict({"zones": {FRUIT: "produce-fruit"}, "lane": ["ibeacon:nope"], "calibration": {FRUIT: "x"}},
                          "trip.json: site", problems)
    assert site.zones == {FRUIT: "produce-fruit"} and site.lane == () and site.calibration == {}
    assert len(problems) == 2 and problems[0].startswith("trip.json: site.calibration")
    assert "trip.json: site.lane: 'ibeacon:nope'" in problems[1]
    assert Site.from_dict({"lane": ["a:b+c:d+e:f"]}, "s", problems := []).lane == () and "one beacon or two" in problems[0]
