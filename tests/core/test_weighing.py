import csv

import numpy as np
import pytest

from dashcart.config import WeighingSection
from dashcart.core.weighing import ScaleState, SettledChange, WeighingEngine
from dashcart.errors import Misconfigured
from dashcart.events import WeightSettled
from dashcart.sim.load_script import Drift, Fault, Lift, LoadScript, Place, Push, render_scale_log
from dashcart.trips.scale_replay import replay_pairs

OFFSET = -123456
CPG = 420.0


def weigh(script, seed=1, settings=None):
    pairs = render_scale_log(script, seed=seed, offset=OFFSET, counts_per_gram=CPG)
    return replay_pairs(pairs, "hx711-bridge", OFFSET, CPG, settings).changes


def assert_matches(changes, truth, tol_g=2.0):
    assert len(changes) == len(truth), (changes, truth)
    for change, true in zip(changes, truth):
        assert abs(change.delta_g - true.delta_g) <= max(tol_g, 0.005 * abs(true.delta_g)), (change, true)
        assert change.t >= true.rest_t - 0.05, "confirmed before the load came to rest"
        assert change.t <= true.rest_t + 1.0, "confirmed too late"


def steady(engine, t0, seconds, grams, rate=80):
    out = []
    for k in range(int(seconds * rate)):
        out += engine.feed_raw(t0 + k / rate, int(OFFSET + grams * CPG))
    return out


def test_items_placed_and_lifted():
    script = LoadScript(12, (Place(1, 500), Place(4, 37), Lift(7, 500), Place(10, 12)))
    changes = weigh(script)
    assert_matches(changes, script.truth())
    assert changes[-1].total_g == pytest.approx(49, abs=2)
    assert all(c.started_t < c.t for c in changes)


def test_no_event_before_the_first_rest_and_initial_load_is_the_reference():
    changes = weigh(LoadScript(4, (Place(2, 100),), initial_g=800))
    assert len(changes) == 1
    assert changes[0].delta_g == pytest.approx(100, abs=2)
    assert changes[0].total_g == pytest.approx(900, abs=2)


def _started(expected_g, load_g):
    engine = WeighingEngine(OFFSET, CPG)
    engine.expect(expected_g)
    return engine, steady(engine, 0.0, 2.0, load_g)


def test_a_first_rest_unlike_what_the_journal_expects_is_a_change_from_it():
    # the basket held 800 g when the cart stopped; 1,300 g at rest when it starts again: a
    # 500 g item went in meanwhile, not a new zero point
    engine, changes = _started(800.0, 1300.0)
    assert len(changes) == 1
    assert changes[0].delta_g == pytest.approx(500, abs=2) and changes[0].total_g == pytest.approx(1300, abs=2)
    assert steady(engine, 2.0, 2.0, 1300.0) == []          # reported once; the load is the reference now
    engine, changes = _started(800.0, 400.0)               # taken out meanwhile
    assert [round(c.delta_g) for c in changes] == [-400]


def test_a_first_rest_as_expected_or_without_an_expectation_is_the_reference():
    assert _started(800.0, 802.0)[1] == []                 # within the least change worth reporting
    assert _started(None, 1300.0)[1] == []
    engine = WeighingEngine(OFFSET, CPG)
    engine.expect(800.0)
    engine.rebase(0.0)                                     # the scale zeroed itself: its readings jumped
    assert steady(engine, 0.0, 2.0, 1300.0) == []


def test_pushing_the_cart_makes_no_event():
    assert weigh(LoadScript(10, (Push(1, 8, 400),))) == []


def test_change_during_shaking_is_reported_once_when_it_settles():
    script = LoadScript(10, (Push(1, 6, 300), Place(3, 250)))
    changes = weigh(script)
    assert len(changes) == 1
    assert changes[0].delta_g == pytest.approx(250, abs=2)
    assert changes[0].t > 6.0  # not while the cart still shakes
    assert_matches(changes, script.truth())


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_two_items_half_a_second_apart(seed):
    changes = weigh(LoadScript(5, (Place(1, 300), Place(1.5, 120))), seed=seed)
    # either as two changes or as one of their sum, never anything else
    assert sum(c.delta_g for c in changes) == pytest.approx(420, abs=2)
    assert len(changes) in (1, 2)
    if len(changes) == 2:
        assert changes[0].delta_g == pytest.approx(300, abs=2)


def test_slow_drift_never_adds_up_to_a_phantom():
    # 3 g/min creep for 10 min with a load on (and from zero): 30 g in all, but no event
    assert weigh(LoadScript(600, (Place(1, 2000), Drift(5, 600, 0.05)))) [1:] == []
    assert weigh(LoadScript(300, (Drift(0, 300, -0.05),))) == []


def test_delta_after_drift_is_measured_from_where_the_load_was():
    changes = weigh(LoadScript(200, (Place(1, 1000), Drift(5, 195, 0.1), Place(197, 50))))
    assert len(changes) == 2
    assert changes[1].delta_g == pytest.approx(50, abs=2)


def test_zero_tracking_only_at_zero_and_at_most_half_a_d_per_second():
    engine = WeighingEngine(OFFSET, CPG)
    steady(engine, 0, 2, 0.0)
    assert engine.stable and engine.total_g == pytest.approx(0, abs=0.1)
    # at zero, a 0.8 g shift (within 1 d) is tracked away, but no faster than 0.5 g/s
    steady(engine, 2, 0.5, 0.8)
    assert engine.live_g > 0.5
    steady(engine, 2.5, 3, 0.8)
    assert engine.live_g == pytest.approx(0, abs=0.05)
    # with a load on, the indication is never zero-tracked
    steady(engine, 5.5, 2, 500.8)
    steady(engine, 7.5, 10, 501.3)
    assert engine.live_g == pytest.approx(501.3 - 0.8, abs=0.05)


def test_tare_and_zero():
    engine = WeighingEngine(OFFSET, CPG)
    assert not engine.tare()  # nothing stable yet
    steady(engine, 0, 2, 350.0)
    assert engine.tare()
    assert engine.live_g == pytest.approx(0, abs=0.1)
    changes = steady(engine, 2, 2, 450.0)
    assert len(changes) == 1 and changes[0].delta_g == pytest.approx(100, abs=0.1)
    assert changes[0].total_g == pytest.approx(100, abs=0.1)
    assert engine.zero() and engine.live_g == pytest.approx(0, abs=0.1)


def test_settled_change_becomes_an_event():
    change = SettledChange(2.0, 10.0, 30.0, 1.5)
    assert change.to_event() == WeightSettled(t=2.0, delta_g=10.0, total_g=30.0, started_t=1.5)


def test_wire_faults_make_no_phantom_and_lose_no_item():
    faults = tuple(Fault(1.5 + i, kind, count=3) for i, kind in enumerate(
        ("garbage", "bad_crc", "drop", "truncated", "sign_glitch", "spike", "bridge_error", "saturation")))
    script = LoadScript(14, faults + (Place(0.5, 0.0 + 200), Place(11, 80)))
    assert_matches(weigh(script), script.truth())


def test_a_change_during_a_disconnect_is_reported_when_it_comes_back():
    script = LoadScript(10, (Place(1, 200), Fault(3, "disconnect", duration_s=3), Lift(4, 200)))
    changes = weigh(script)
    assert [round(c.delta_g) for c in changes] in ([200, -200], [200, -199], [200, -201])
    assert changes[1].t > 6.0


def test_overload_is_not_an_item():
    engine = WeighingEngine(OFFSET, CPG)
    steady(engine, 0, 2, 100.0)
    out = []
    for k in range(80):
        out += engine.feed_raw(2 + k / 80, 8388607)
    assert engine.state is ScaleState.OVERLOAD and out == []
    out += steady(engine, 3, 2, 100.0)
    assert out == [] and engine.stable


def test_same_samples_same_changes_whatever_the_wall_clock():
    script = LoadScript(6, (Place(1, 500), Push(2, 3, 200), Lift(4, 100)))
    assert weigh(script, seed=9) == weigh(script, seed=9)


def test_median_samples_must_be_odd():
    with pytest.raises(Misconfigured, match="weighing.median_samples"):
        WeighingEngine(0, 1.0, WeighingSection(median_samples=4))


def _glitch_blocks(shared_data):
    rows = list(csv.DictReader(open(shared_data / "scale" / "hx711_glitches.csv", newline="")))
    blocks = {}
    for row in rows:
        blocks.setdefault(row["snippet_id"], []).append(row)
    return blocks


@pytest.mark.parametrize("snippet", ["glitch_raw_block1", "glitch_raw_block2", "clean_raw_block3"])
def test_real_sign_extension_glitches_are_rejected(shared_data, snippet):
    values = [int(r["value"]) for r in _glitch_blocks(shared_data)[snippet]]
    offset = int(np.median(values))
    engine = WeighingEngine(offset, -100.0)  # SimonHLMC's cells: ~100 counts per gram
    out = []
    for k in range(400):  # the real block repeated at 80 Hz for 5 s, glitch included
        out += engine.feed_raw(k / 80, values[k % len(values)])
    assert out == [] and engine.stable
    assert abs(engine.live_g) < 2.0


def test_real_spikes_in_grams_are_rejected(shared_data):
    blocks = _glitch_blocks(shared_data)
    for snippet in ("spike_units", "spike_with_read_time"):
        values = [float(r["value"]) for r in blocks[snippet]]
        engine = WeighingEngine()
        out = []
        for k in range(400):
            out += engine.feed_grams(k / 80, values[k % len(values)])
        assert out == [], snippet
        assert engine.stable
        assert abs(engine.live_g - float(np.median(values))) < 1.0


def test_real_spurious_codes_are_rejected(shared_data):
    spurious = [int(r["value"]) for r in _glitch_blocks(shared_data)["saturated_raw"]]
    engine = WeighingEngine(OFFSET, CPG)
    out = steady(engine, 0, 2, 250.0)
    for i, code in enumerate(spurious):  # each one alone among good readings
        t = 2 + i * 0.5
        out += engine.feed_raw(t, code)
        out += steady(engine, t + 1 / 80, 0.48, 250.0)
    assert out == [] and engine.stable


def test_random_wiring_noise_never_settles(shared_data):
    values = [int(r["value"]) for r in _glitch_blocks(shared_data)["rpi_unloaded_random"]]
    engine = WeighingEngine(0, 420.0)
    out = []
    for k in range(800):
        out += engine.feed_raw(k / 80, values[k % len(values)])
    assert out == [] and not engine.stable


def test_weighing_section_is_validated():
    from dashcart.config import parse_config

    assert parse_config("[weighing]\nmotion_band_g = 3\n").weighing.motion_band_g == 3.0
    with pytest.raises(Misconfigured, match=r"f.toml: weighing.track_rate_d_per_s: 1.0 is above the maximum 0.5"):
        parse_config("[weighing]\ntrack_rate_d_per_s = 1.0\n", "f.toml")
    with pytest.raises(Misconfigured, match="unknown key 'band'"):
        parse_config("[weighing]\nband = 1\n", "f.toml")


def test_truth_merges_what_comes_to_rest_together():
    script = LoadScript(20, (Place(1, 100), Place(1.5, 50), Place(5, 20), Push(8, 10, 300), Place(9, 70),
                             Place(14, 30)))
    truth = script.truth()
    assert [round(t.delta_g) for t in truth] == [150, 20, 70, 30]
    assert truth[2].rest_t > 10.0  # the item placed while pushing rests when the shaking stops
    # within a confirmation budget, the next change may be reported with the previous one
    close = LoadScript(20, (Place(1, 100), Place(2.0, 50)))
    assert [round(t.delta_g) for t in close.truth()] == [100, 50]
    assert [round(t.delta_g) for t in close.truth(merge_within_s=0.5)] == [150]


def test_overloaded_from_the_start_then_in_range():
    engine = WeighingEngine(OFFSET, CPG)
    out = []
    for k in range(40):
        out += engine.feed_raw(k / 80, -8388608)
    assert engine.state is ScaleState.OVERLOAD
    out += steady(engine, 0.5, 2, 300.0)
    out += steady(engine, 2.5, 2, 400.0)
    assert engine.stable and [round(c.delta_g) for c in out] == [100]


# Cells of ~100 counts/g (SimonHLMC's): the HX711 saturates near 84 kg, so a load past a 20 kg
# basket's rated capacity reads as a number, not as a saturation code.
LOW_GAIN = 100.0


def ramp(engine, t0, seconds, from_g, to_g, rate=80):
    out = []
    n = int(seconds * rate)
    for k in range(n):
        out += engine.feed_raw(t0 + k / rate, int(OFFSET + (from_g + (to_g - from_g) * k / n) * LOW_GAIN))
    return out


def steady_low_gain(engine, t0, seconds, grams, rate=80):
    return [c for k in range(int(seconds * rate))
            for c in engine.feed_raw(t0 + k / rate, int(OFFSET + grams * LOW_GAIN))]


def test_a_load_past_capacity_plus_9d_is_an_overload_not_an_item_and_the_scale_recovers():
    engine = WeighingEngine(OFFSET, LOW_GAIN, capacity_g=20000.0)
    out = steady_low_gain(engine, 0, 2, 5000.0)
    assert engine.stable and out == []
    # a 20 kg sack on top, 25 kg in all: the readings go on past 20,009 g, none of them a weight
    out += ramp(engine, 2, 1, 5000.0, 25000.0)
    out += steady_low_gain(engine, 3, 3, 25000.0)
    assert out == [] and engine.state is ScaleState.OVERLOAD
    assert engine.counters.overloads == 1 and engine.counters.over_capacity >= 3 * 80
    assert engine.total_g == pytest.approx(5000.0, abs=0.5)   # still the last weight it could trust
    assert not engine.tare() and not engine.zero()             # nothing to set them from
    # the sack comes out: back at 5 kg, nothing happened
    out += ramp(engine, 6, 1, 25000.0, 5000.0)
    out += steady_low_gain(engine, 7, 2, 5000.0)
    assert out == [] and engine.stable
    # and the next real change settles as ever
    out += steady_low_gain(engine, 9, 2, 5300.0)
    assert [round(c.delta_g) for c in out] == [300] and out[0].total_g == pytest.approx(5300.0, abs=0.5)


def test_back_within_capacity_after_an_overload_the_load_then_is_the_change():
    # 15 kg in, which with the 5 kg already there is 20 kg: never at rest above capacity, so the
    # 25 kg on the way is no change; the 20 kg it comes to rest at is, from the 5 kg before
    engine = WeighingEngine(OFFSET, LOW_GAIN, capacity_g=20000.0)
    out = steady_low_gain(engine, 0, 2, 5000.0)
    out += steady_low_gain(engine, 2, 1, 25000.0)
    assert engine.state is ScaleState.OVERLOAD
    out += steady_low_gain(engine, 3, 2, 20000.0)
    assert [round(c.delta_g) for c in out] == [15000] and engine.stable


@pytest.mark.parametrize("division_g,under_g,over_g", [(1.0, 20008.0, 20010.0), (5.0, 20044.0, 20046.0)])
def test_a_load_just_under_capacity_plus_9d_weighs_normally(division_g, under_g, over_g):
    settings = WeighingSection(division_g=division_g)
    engine = WeighingEngine(OFFSET, LOW_GAIN, settings, capacity_g=20000.0)
    assert engine.overload_g == 20000.0 + 9 * division_g
    out = steady_low_gain(engine, 0, 2, 5000.0)
    out += steady_low_gain(engine, 2, 2, under_g)
    assert [round(c.delta_g) for c in out] == [round(under_g - 5000.0)] and engine.stable
    out += steady_low_gain(engine, 4, 2, over_g)
    assert len(out) == 1 and engine.state is ScaleState.OVERLOAD


def test_a_lone_reading_past_capacity_is_a_glitch_not_an_overload():
    engine = WeighingEngine(OFFSET, LOW_GAIN, capacity_g=20000.0)
    out = steady_low_gain(engine, 0, 2, 5000.0)
    for i in range(5):                      # a spike of 60 kg now and then among good readings
        t = 2 + i * 0.5
        out += engine.feed_raw(t, int(OFFSET + 60000.0 * LOW_GAIN))
        out += steady_low_gain(engine, t + 1 / 80, 0.48, 5000.0)
    assert out == [] and engine.stable and engine.counters.overloads == 0


def test_the_capacity_is_the_scale_s_config():
    from dashcart.config import ScaleSection
    assert WeighingEngine().capacity_g == ScaleSection().capacity_g == 20000.0
    with pytest.raises(Misconfigured, match="scale.capacity_g"):
        WeighingEngine(capacity_g=0.0)


def test_a_trade_scale_past_the_basket_s_capacity_is_an_overload():
    # A 35 kg trade scale under a 20 kg basket: the scale itself says S + only past 35 kg, so
    # 25 kg comes as "S S 25.000 kg", stable; the engine blanks it as the basket's scale.
    engine = WeighingEngine(capacity_g=20000.0)
    out = [c for k in range(10) for c in engine.feed_grams(k * 0.2, 5000.0, True)]
    out += [c for k in range(10, 20) for c in engine.feed_grams(k * 0.2, 25000.0, k > 12)]
    assert out == [] and engine.state is ScaleState.OVERLOAD
    out += [c for k in range(20, 30) for c in engine.feed_grams(k * 0.2, 5000.0, k > 22)]
    out += [c for k in range(30, 40) for c in engine.feed_grams(k * 0.2, 5355.0, k > 32)]
    assert [round(c.delta_g) for c in out] == [355] and engine.stable


def test_a_load_past_capacity_through_the_decoder_settles_nothing():
    # the simulated bridge's readings through the real decoder, as a scale.log replays
    script = LoadScript(16, (Place(1, 5000), Place(4, 20000), Lift(8, 20000), Place(12, 355)), initial_g=800)
    pairs = render_scale_log(script, seed=2, offset=OFFSET, counts_per_gram=LOW_GAIN)
    changes = replay_pairs(pairs, "hx711-bridge", OFFSET, LOW_GAIN, capacity_g=20000.0).changes
    assert [c.delta_g for c in changes] == pytest.approx([5000, 355], abs=3)
    # a basket built for 30 kg weighs the same 20 kg sack
    changes = replay_pairs(pairs, "hx711-bridge", OFFSET, LOW_GAIN, capacity_g=30000.0).changes
    assert [c.delta_g for c in changes] == pytest.approx([5000, 20000, -20000, 355], abs=3)


# ---------------------------------------------------------------- a trade scale (MT-SICS)

from dashcart.sim.load_script import SicsProfile, render_sics_log  # noqa: E402

# The six load changes on a 35 kg x 5 g trade scale streaming ~5 readings/s in kg.
SIX = (Place(3, 1250), Place(9, 355), Lift(15, 355), Place(21, 2000), Place(27, 40), Lift(33, 1250))
SIX_DELTAS = [1250.0, 355.0, -355.0, 2000.0, 40.0, -1250.0]


def weigh_sics(script, seed=1, profile=None):
    return replay_pairs(render_sics_log(script, seed=seed, profile=profile), "mt-sics").changes


def test_a_trade_scale_past_the_basket_s_capacity_through_the_decoder_settles_nothing():
    script = LoadScript(20, (Place(1, 5000), Place(5, 20000), Lift(10, 20000), Place(15, 355)))
    pairs = render_sics_log(script, seed=2)    # a 35 kg x 5 g scale: it says S S 25.000 kg
    assert any(line.startswith("S S") and float(line.split()[2]) > 24.0 for _, line in pairs)
    changes = replay_pairs(pairs, "mt-sics", capacity_g=20000.0).changes
    assert [round(c.delta_g) for c in changes] == [5000, 355]


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_trade_scale_in_kg_at_five_readings_a_second_gives_the_six_changes(seed):
    pairs = render_sics_log(LoadScript(40.0, SIX), seed=seed)
    assert pairs[0][1].endswith(" kg") and 180 <= len(pairs) <= 220   # ~5 a second
    changes = replay_pairs(pairs, "mt-sics").changes
    assert [round(c.delta_g, 1) for c in changes] == SIX_DELTAS
    truth = LoadScript(40.0, SIX).truth()
    for change, true in zip(changes, truth):
        assert true.rest_t <= change.t <= true.rest_t + 1.5   # the scale's own 0.5 s + a reading or two


def test_trade_scale_in_grams_with_a_fine_division():
    profile = SicsProfile(unit="g", decimals=1, division_g=0.5, rate_hz=8.0, capacity_g=6000.0, zero_range_g=120.0)
    changes = weigh_sics(LoadScript(40.0, SIX), profile=profile)
    assert [round(c.delta_g) for c in changes] == SIX_DELTAS


def test_trade_scale_flicker_by_one_division_is_no_item():
    engine = WeighingEngine()
    out = []
    for k in range(100):   # "stable" readings flickering 1.250 / 1.255 kg, 5 a second
        out += engine.feed_grams(k * 0.2, 1250.0 + 5.0 * (k % 3 == 0), True)
    assert out == []


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_trade_scale_with_a_wide_stability_range_flickers_while_stable_and_makes_no_phantom(seed):
    # Stability range 5 d and a cart that is never still: the display says stable while it
    # flickers by one or two divisions; each of the six changes once, within two divisions.
    profile = SicsProfile(noise_d=1.0, stability_range_d=5.0)
    pairs = render_sics_log(LoadScript(40.0, SIX), seed=seed, profile=profile)
    stable = [float(line.split()[2]) * 1000 for _, line in pairs if line.startswith("S S")]
    assert max(abs(a - b) for a, b in zip(stable, stable[1:]) if abs(a - b) <= 10.0) == 10.0
    changes = replay_pairs(pairs, "mt-sics").changes
    assert len(changes) == len(SIX_DELTAS)
    assert [c.delta_g for c in changes] == pytest.approx(SIX_DELTAS, abs=10.0)


def test_trade_scale_dynamic_readings_never_settle_and_its_flag_is_trusted():
    engine = WeighingEngine()
    out = [c for k in range(10) for c in engine.feed_grams(k * 0.2, 0.0, True)]
    out += [c for k in range(10, 40) for c in engine.feed_grams(k * 0.2, 500.0, False)]   # S D: held off
    assert out == []
    out += engine.feed_grams(8.0, 500.0, True)
    assert [round(c.delta_g) for c in out] == [500]     # the first S S at the new load


def test_trade_scale_zeroed_is_no_item_going_out():
    from dashcart.core.weighing import feed_decoded
    from dashcart.readings import Sample, ScaleZeroed
    engine = WeighingEngine()
    items = [Sample(k * 0.2, grams=300.0, stable=True) for k in range(5)]
    items += [ScaleZeroed(1.0)]                            # Z A: the scale reads 0 from now
    items += [Sample(1.0 + k * 0.2, grams=0.0, stable=True) for k in range(1, 6)]
    items += [Sample(2.2 + k * 0.2, grams=500.0, stable=k > 2) for k in range(8)]
    changes = feed_decoded(engine, items)
    assert [round(c.delta_g) for c in changes] == [500]
    assert changes[0].total_g == pytest.approx(500.0)


@pytest.mark.parametrize("kind", ["garbage", "bad_crc", "truncated", "drop", "saturation", "bridge_error"])
def test_trade_scale_wire_faults_make_no_phantom(kind):
    faults = tuple(Fault(t, kind, count=2) for t in np.arange(1.0, 39.0, 0.7))
    changes = weigh_sics(LoadScript(40.0, SIX + faults), seed=2)
    assert [round(c.delta_g, 1) for c in changes] == SIX_DELTAS


def test_trade_scale_silence_and_unplug_report_a_change_made_meanwhile_once():
    script = LoadScript(30.0, (Place(3, 1250), Fault(8, "silence", 3.0), Place(9, 355),
                               Fault(16, "disconnect", 4.0), Lift(17, 1250)))
    assert [round(c.delta_g) for c in weigh_sics(script, seed=3)] == [1250, 355, -1250]


def test_the_expectation_is_net_of_the_restored_zero():
    # zeroed 120 g above the calibration before the restart; 800 g net expected
    for gross_g, deltas in ((920.0, []), (1420.0, [500])):
        engine = WeighingEngine(OFFSET, CPG)
        engine.restore_zero(120.0)
        engine.expect(800.0)
        assert [round(c.delta_g) for c in steady(engine, 0.0, 2.0, gross_g)] == deltas


def test_the_load_back_at_its_rest_after_moving_far_is_a_return_not_a_change():
    """A bottle lifted out and another of its weight put in, in one motion: no change to report,
    but the engine says the load came back (the cameras then look); a wobble does not."""
    from dashcart.core.weighing import events_of
    from dashcart.events import LoadReturned
    engine = WeighingEngine(OFFSET, CPG)
    assert steady(engine, 0.0, 1.0, 750.0) == [] and engine.take_returns() == []
    moved = steady(engine, 1.0, 0.2, 750.0 - 740.0)        # the first bottle out...
    moved += steady(engine, 1.2, 0.1, 760.0)               # ...the second in, no rest between
    back = steady(engine, 1.3, 1.0, 752.0)
    assert moved + back == []
    [returned] = engine.take_returns()
    assert isinstance(returned, LoadReturned) and returned.total_g == pytest.approx(752.0, abs=1.0)
    assert 1.0 <= returned.started_t < 1.1 and returned.t > 1.3 and engine.take_returns() == []
    # a hand brushing the rim moves the load less than any product
    steady(engine, 2.3, 0.2, 772.0)
    steady(engine, 2.5, 1.0, 752.0)
    assert engine.take_returns() == []
    # a real change is a change, not a return as well
    steady(engine, 3.5, 0.2, 300.0)
    events = events_of(engine, steady(engine, 3.7, 1.0, 1252.0))
    assert [type(e).__name__ for e in events] == ["WeightSettled"]
