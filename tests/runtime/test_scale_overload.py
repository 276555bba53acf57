"""The scale reader reports an overload as a scale fault (``DeviceStatus("scale", "down")``), as
it does a mute scale, with why: too heavy a load (the shopper takes something out) or readings
at the converter's limit (a wire or the bridge: staff). The runtime keeps it in the snapshot."""

from __future__ import annotations

from dashcart.config import parse_config
from dashcart.core.weighing import WeighingEngine
from dashcart.events import DeviceStatus, Event
from dashcart.readings import Gap, Sample, ScaleZeroed
from dashcart.runtime.scale_reader import ScaleEventSource
from dashcart.snapshot import DeviceFault
from tests.runtime.test_scale_reader import BatchingScale

OFFSET = 8421
CPG = 100.0     # the HX711 saturates near 84 kg: 25 kg on a 20 kg basket reads as a number
RATE = 80


def _readings(start: float, end: float, raw_at) -> list[Sample]:
    return [Sample(round(start + k / RATE, 4), raw=raw_at(start + k / RATE)) for k in range(int((end - start) * RATE))]


def _statuses(raw_at, seconds: float) -> list[DeviceStatus]:
    readings = _readings(0.0, seconds, raw_at)
    batches: list[list[Sample | Gap | ScaleZeroed]] = [readings[i:i + 20] for i in range(0, len(readings), 20)]
    events: list[Event] = []
    weighing = parse_config("").weighing
    source = ScaleEventSource(BatchingScale(batches), WeighingEngine(OFFSET, CPG, weighing, 20000.0), events.append)
    for _ in range(len(batches) + 1):
        source.poll(timeout=0)
    return [e for e in events if isinstance(e, DeviceStatus)]


def grams(g: float) -> int:
    return int(OFFSET + g * CPG)


def test_too_heavy_a_load_is_the_scale_down_until_it_comes_out():
    # 5 kg in the basket, a 20 kg sack on top from 1 s to 3 s
    statuses = _statuses(lambda t: grams(25000.0 if 1.0 <= t < 3.0 else 5000.0), 5.0)
    assert [(s.state, s.fault) for s in statuses] == [("ok", DeviceFault.NONE), ("down", DeviceFault.TOO_HEAVY),
                                                      ("ok", DeviceFault.NONE)]
    _, heavy, back = statuses
    # stamped with the readings that began and ended it (the 4th in a row past the limit; the
    # first back in range), not with the batch's last
    assert 1.0 < heavy.t < 1.06 and 3.0 <= back.t < 3.02
    assert "overloaded" in heavy.message and "20,009 g" in heavy.message and "taken out" in heavy.message


def test_readings_at_the_converter_s_limit_are_the_scale_down_for_staff():
    statuses = _statuses(lambda t: 8388607 if 1.0 <= t < 3.0 else grams(5000.0), 5.0)
    assert [(s.state, s.fault) for s in statuses] == [("ok", DeviceFault.NONE), ("down", DeviceFault.SATURATED),
                                                      ("ok", DeviceFault.NONE)]
    assert "saturation" in statuses[1].message and "wires" in statuses[1].message


def test_a_lone_reading_past_capacity_changes_nothing():
    statuses = _statuses(lambda t: grams(60000.0 if abs(t - 1.5) < 1e-6 else 5000.0), 3.0)
    assert [(s.state, s.fault) for s in statuses] == [("ok", DeviceFault.NONE)]
