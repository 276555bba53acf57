"""Which overload the weighing engine is in (``WeighingEngine.too_heavy``): a load above
capacity + 9 d, which the shopper ends by taking something out, or readings at the converter's
limit (saturation codes, MT-SICS ``S +`` / ``S -``), a loose wire or a failing bridge for staff."""

from __future__ import annotations

from dashcart.core.weighing import ScaleState, WeighingEngine

OFFSET = 8421
# Cells of ~100 counts/g: the HX711 saturates near 84 kg, so a load past a 20 kg basket's
# capacity reads as a number, not as a saturation code.
CPG = 100.0
RAW_MAX, RAW_MIN = 8388607, -8388608


def steady(engine: WeighingEngine, t0: float, seconds: float, grams: float, rate: int = 80) -> list:
    return [c for k in range(int(seconds * rate))
            for c in engine.feed_raw(t0 + k / rate, int(OFFSET + grams * CPG))]


def codes(engine: WeighingEngine, t0: float, seconds: float, raw: int, rate: int = 80) -> list:
    return [c for k in range(int(seconds * rate)) for c in engine.feed_raw(t0 + k / rate, raw)]


def test_a_load_above_capacity_is_too_heavy_until_it_comes_out():
    engine = WeighingEngine(OFFSET, CPG, capacity_g=20000.0)
    steady(engine, 0, 2, 5000.0)
    assert engine.stable and not engine.too_heavy
    out = steady(engine, 2, 2, 25000.0)
    assert out == [] and engine.state is ScaleState.OVERLOAD and engine.too_heavy
    steady(engine, 4, 2, 5000.0)
    assert engine.stable and not engine.too_heavy


def test_saturation_codes_are_an_overload_the_shopper_cannot_fix():
    for raw in (RAW_MAX, RAW_MIN):
        engine = WeighingEngine(OFFSET, CPG, capacity_g=20000.0)
        steady(engine, 0, 2, 5000.0)
        codes(engine, 2, 1, raw)        # a load-cell wire came loose
        assert engine.state is ScaleState.OVERLOAD and not engine.too_heavy, raw
        steady(engine, 3, 2, 5000.0)
        assert engine.stable and not engine.too_heavy


def test_a_trade_scale_s_overload_and_underload_are_not_too_heavy():
    engine = WeighingEngine(capacity_g=20000.0)
    for k in range(10):
        engine.feed_grams(k * 0.2, 5000.0, True)
    for k in range(10, 16):
        engine.feed_overload(k * 0.2)   # S + / S -: the scale itself is at its limit
    assert engine.state is ScaleState.OVERLOAD and not engine.too_heavy
    for k in range(16, 22):
        engine.feed_grams(k * 0.2, 25000.0, True)   # then S S 25.000 kg: above the basket's capacity
    assert engine.state is ScaleState.OVERLOAD and engine.too_heavy


def test_a_load_that_goes_on_past_the_converter_s_range_stays_too_heavy():
    # above capacity first, then so heavy that the HX711 saturates: the run began as a load
    # the shopper put in, and taking it out still ends it
    engine = WeighingEngine(OFFSET, CPG, capacity_g=20000.0)
    steady(engine, 0, 2, 5000.0)
    steady(engine, 2, 0.5, 25000.0)
    codes(engine, 2.5, 1, RAW_MAX)
    assert engine.state is ScaleState.OVERLOAD and engine.too_heavy
    # back in range, then a wire fault: that overload is the bridge's
    steady(engine, 3.5, 2, 5000.0)
    codes(engine, 5.5, 1, RAW_MIN)
    assert engine.state is ScaleState.OVERLOAD and not engine.too_heavy


def test_a_lone_reading_past_capacity_is_no_overload_of_either_kind():
    engine = WeighingEngine(OFFSET, CPG, capacity_g=20000.0)
    steady(engine, 0, 2, 5000.0)
    engine.feed_raw(2.0, int(OFFSET + 60000.0 * CPG))
    assert not engine.too_heavy
    steady(engine, 2 + 1 / 80, 1, 5000.0)
    assert engine.stable and not engine.too_heavy and engine.counters.overloads == 0
