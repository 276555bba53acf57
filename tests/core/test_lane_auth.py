import math

import pytest

from dashcart.config import parse_hex_key
from dashcart.core.lane_auth import EidVerifier, current_eid, eid_for, period_counter

KEY = bytes.fromhex("00112233445566778899aabbccddeeff")
PERIOD = 64
NOW = 1_767_225_600.0 + 5 * PERIOD + 10


def verifier():
    return EidVerifier(KEY, ["entry", "exit"], PERIOD, skew_periods=1)


def test_current_identifier_is_accepted_and_names_the_beacon():
    v = verifier()
    assert v.verify(current_eid(KEY, "exit", NOW, PERIOD), NOW) == "exit"
    assert v.verify(current_eid(KEY, "entry", NOW, PERIOD), NOW) == "entry"
    assert v.stats.accepted == 2


def test_identifier_rotates_each_period_and_differs_per_beacon():
    c = period_counter(NOW, PERIOD)
    assert eid_for(KEY, "entry", c) != eid_for(KEY, "entry", c + 1)
    assert eid_for(KEY, "entry", c) != eid_for(KEY, "exit", c)
    assert len(eid_for(KEY, "entry", c)) == 8


@pytest.mark.parametrize("beacon_skew_s, accepted", [(-PERIOD, True), (PERIOD, True), (-3 * PERIOD, False),
                                                      (3 * PERIOD, False)])
def test_clock_skew_of_one_period_is_tolerated_not_more(beacon_skew_s, accepted):
    eid = current_eid(KEY, "entry", NOW + beacon_skew_s, PERIOD)
    assert (verifier().verify(eid, NOW) == "entry") is accepted


def test_forged_identifiers_are_rejected():
    v = verifier()
    assert v.verify(current_eid(bytes(16), "entry", NOW, PERIOD), NOW) is None
    assert v.verify("0011223344556677", NOW) is None
    assert v.verify("not hex", NOW) is None
    assert v.stats.forged == 3 and v.stats.accepted == 0


def test_replay_of_an_older_period_after_a_newer_one_is_rejected():
    v = verifier()
    previous = current_eid(KEY, "entry", NOW - PERIOD, PERIOD)
    assert v.verify(current_eid(KEY, "entry", NOW, PERIOD), NOW) == "entry"
    assert v.verify(previous, NOW) is None  # inside the skew window, but the beacon has moved on
    assert v.stats.replayed == 1


def test_recording_played_back_later_is_rejected():
    recorded = current_eid(KEY, "entry", NOW, PERIOD)
    assert verifier().verify(recorded, NOW + 10 * PERIOD) is None


def test_sighting_without_wall_time_cannot_be_verified():
    v = verifier()
    assert v.verify(current_eid(KEY, "entry", NOW, PERIOD), None) is None
    assert v.stats.no_clock == 1


def test_keys_are_checked():
    assert parse_hex_key("00" * 16, "checkout.lane_key") == bytes(16)
    with pytest.raises(ValueError, match="checkout.lane_key: missing"):
        parse_hex_key("", "checkout.lane_key")
    with pytest.raises(ValueError, match="too short"):
        parse_hex_key("abcd", "checkout.lane_key")
    with pytest.raises(ValueError, match="not hexadecimal"):
        parse_hex_key("xyz", "checkout.lane_key")


@pytest.mark.parametrize("delay_s", [3.0, 5.0, 10.0, 60.0, 120.0])
def test_with_the_default_2_s_period_a_recording_is_worthless_within_seconds(delay_s):
    # Every phase of the period: the recording's id never matches 3 s or more later.
    for phase in range(20):
        recorded_at = NOW + phase * 0.1
        eid = current_eid(KEY, "entry", recorded_at, 2)
        assert EidVerifier(KEY, ["entry"], 2, skew_s=1.0).verify(eid, recorded_at + delay_s) is None


@pytest.mark.parametrize("beacon_clock_s", [-0.9, -0.3, 0.0, 0.4, 0.9])
def test_beacon_clock_within_the_skew_is_accepted_in_every_phase(beacon_clock_s):
    for phase in range(20):
        heard_at = NOW + phase * 0.1
        eid = current_eid(KEY, "exit", heard_at + beacon_clock_s, 2)
        assert EidVerifier(KEY, ["exit"], 2, skew_s=1.0).verify(eid, heard_at) == "exit"


@pytest.mark.parametrize("wall_error_s", [math.inf, 1.6, 60.0, -0.1, math.nan])
def test_a_clock_the_cart_cannot_prove_checks_no_identifier(wall_error_s):
    """Unsynchronised (or proven only to more than max_clock_error_s), the cart's clock could be
    minutes behind, and a recording made minutes ago would look current to it."""
    v = EidVerifier(KEY, ["exit"], 2, skew_s=1.0, max_clock_error_s=1.5)
    assert v.verify(current_eid(KEY, "exit", NOW, 2), NOW, wall_error_s) is None
    assert v.stats.unproven_clock == 1 and v.stats.accepted == 0


def test_the_window_widens_by_the_error_the_cart_proves_and_no_further():
    # A beacon 2.2 s ahead: outside the beacons' own 1 s, inside 1 s + a proven 1.2 s.
    for phase in range(20):
        heard_at = NOW + phase * 0.1
        eid = current_eid(KEY, "exit", heard_at + 2.2, 2)
        assert EidVerifier(KEY, ["exit"], 2, skew_s=1.0).verify(eid, heard_at, 1.2) == "exit"
    assert any(EidVerifier(KEY, ["exit"], 2, skew_s=1.0).verify(current_eid(KEY, "exit", NOW + p * 0.1 + 2.2, 2),
                                                                NOW + p * 0.1, 0.01) is None for p in range(20))


@pytest.mark.parametrize("delay_s", [4.5, 5.0, 10.0])
def test_at_the_largest_provable_error_a_recording_is_still_worthless_before_5_s(delay_s):
    for phase in range(40):
        recorded_at = NOW + phase * 0.05
        eid = current_eid(KEY, "entry", recorded_at, 2)
        assert EidVerifier(KEY, ["entry"], 2, skew_s=1.0, max_clock_error_s=1.5).verify(
            eid, recorded_at + delay_s, 1.5) is None
