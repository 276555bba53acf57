"""Hardware in the loop: the real serial driver and the weighing engine against a bridge.

By default the bridge is the simulator on a pseudo-terminal (every fault on demand). With
``--scale-port URL`` (or DASHCART_SCALE_PORT) the tests that need no scripted load run
against a real bridge at rest; those that need to place items or inject faults skip.
The simulated trade scale's tests run either way; with ``--sics-port URL`` (or
DASHCART_SICS_PORT, and ``--sics-baudrate``, default 9600) the ``real_trade_scale`` tests
run against a real MT-SICS scale at rest on the bench (they tare and zero it), else they skip.
No timing assertions: waits are generous deadlines, never measurements.
"""

from __future__ import annotations

import time

import pytest

from dashcart.core.weighing import WeighingEngine, feed_decoded
from dashcart.drivers.scale.serial_scale import SerialScale
from dashcart.readings import Sample, ScaleZeroed
from dashcart.sim.scale_bridge import LoadScript, SimulatedBridge

OFFSET = 5000
CPG = 420.0
WAIT_S = 15.0


class Rig:
    """A driver + engine on a bridge; collects settled changes as they come."""

    def __init__(self, port: str, protocol: str, bridge: SimulatedBridge | None, baudrate: int = 115200) -> None:
        self.bridge = bridge
        self.port = port
        self.driver = SerialScale(port, protocol, baudrate, backoff_s=(0.05, 0.5))
        self.engine = WeighingEngine(OFFSET, CPG)
        self.changes = []
        self.answers: list[ScaleZeroed] = []   # a trade scale's Z A / T S
        self.stable_readings = 0               # its readings flagged S S

    def _take(self) -> None:
        items = self.driver.read(timeout=0.05)
        self.answers += [item for item in items if isinstance(item, ScaleZeroed)]
        self.stable_readings += sum(isinstance(item, Sample) and item.stable is True for item in items)
        self.changes += feed_decoded(self.engine, items)

    def control(self) -> SimulatedBridge:
        if self.bridge is None:
            pytest.skip("needs the simulated bridge (it scripts loads and faults)")
        return self.bridge

    def pump(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self._take()

    def until(self, predicate, what: str) -> None:
        end = time.monotonic() + WAIT_S
        while not predicate():
            assert time.monotonic() < end, f"gave up waiting for {what}; counters {self.driver.counters}"
            self._take()

    def settle(self) -> None:
        self.until(lambda: self.engine.stable, "the scale to be stable")

    def until_changes(self, n: int) -> None:
        self.until(lambda: len(self.changes) >= n, f"{n} settled changes")


@pytest.fixture
def rig(request):
    port = request.config.getoption("--scale-port")
    protocol = getattr(request, "param", "hx711-bridge")
    bridge = None
    if not port:
        bridge = SimulatedBridge(LoadScript(0.0), seed=3, offset=OFFSET, counts_per_gram=CPG, protocol=protocol)
        port = bridge.start()
    elif protocol != "hx711-bridge":
        pytest.skip("a real bridge speaks hx711-bridge/1")
    rig = Rig(port, protocol, bridge)
    try:
        assert rig.driver.wait_connected(WAIT_S), rig.driver.last_error
        yield rig
    finally:
        rig.driver.close()
        if bridge is not None:
            bridge.stop()


def test_readings_arrive_clean_and_the_empty_scale_is_quiet(rig):
    rig.settle()
    rig.pump(1.5)
    counters = rig.driver.counters
    assert counters.readings > 20
    assert counters.corrupt == 0 and counters.seq_gaps == 0
    assert rig.changes == []


def test_items_placed_and_lifted_are_weighed(rig):
    bridge = rig.control()
    rig.settle()
    bridge.place(500)
    rig.until_changes(1)
    bridge.lift(500 - 380)
    rig.until_changes(2)
    rig.pump(0.5)
    assert [round(c.delta_g) for c in rig.changes] in ([500, -120], [499, -120], [500, -121], [501, -120],
                                                       [500, -119], [499, -119], [501, -121])
    assert rig.changes[1].total_g == pytest.approx(380, abs=2)


def test_shaking_cart_no_event_then_one_change(rig):
    bridge = rig.control()
    rig.settle()
    bridge.push(2.0, 350)
    bridge.place(250)
    rig.until_changes(1)
    rig.pump(1.0)
    assert len(rig.changes) == 1
    assert rig.changes[0].delta_g == pytest.approx(250, abs=2)


@pytest.mark.parametrize("kind,counter", [
    ("garbage", "corrupt"), ("bad_crc", "corrupt"), ("truncated", "corrupt"), ("bridge_error", "bridge_errors"),
    ("drop", "seq_gaps"), ("saturation", "saturated"), ("sign_glitch", None), ("spike", None),
    ("silence", "seq_gaps"),
])
def test_wire_faults_are_counted_and_make_no_phantom(rig, kind, counter):
    bridge = rig.control()
    rig.settle()
    bridge.place(300)
    rig.until_changes(1)
    rig.settle()
    before = rig.driver.counters.as_dict()
    bridge.fault(kind, duration_s=0.6, count=3)
    rig.pump(0.9)
    rig.settle()
    rig.pump(0.3)
    assert len(rig.changes) == 1, rig.changes
    if counter:
        assert rig.driver.counters.as_dict()[counter] > before[counter]
    assert rig.driver.counters.reconnects == 0


def test_disconnect_reconnects_and_reports_what_changed_meanwhile(rig):
    bridge = rig.control()
    rig.settle()
    bridge.place(400)
    rig.until_changes(1)
    rig.settle()
    bridge.fault("disconnect", duration_s=1.5)
    rig.until(lambda: not rig.driver.connected, "the driver to notice the unplug")
    bridge.lift(150)
    rig.until(lambda: rig.driver.counters.reconnects >= 1, "a reconnect")
    rig.until_changes(2)
    assert rig.changes[1].delta_g == pytest.approx(-150, abs=2)
    assert rig.changes[1].total_g == pytest.approx(250, abs=2)


@pytest.mark.parametrize("rig", ["mt-sics"], indirect=True)
def test_trade_scale_streams_after_sir(rig):
    bridge = rig.control()
    rig.settle()
    bridge.place(725)
    rig.until_changes(1)
    assert rig.changes[0].delta_g == pytest.approx(725, abs=1)
    assert rig.driver.counters.corrupt == 0


def test_wrong_protocol_counts_corrupt_and_never_weighs(rig):
    other = SerialScale(rig.port, "mt-sics", backoff_s=(0.05, 0.5))
    try:
        rig.driver.close()  # one reader on the port at a time
        assert other.wait_connected(WAIT_S)
        end = time.monotonic() + WAIT_S
        while other.counters.corrupt < 40:
            assert time.monotonic() < end
            assert other.read(timeout=0.05) == []
    finally:
        other.close()


def test_a_missing_port_is_retried_not_fatal(tmp_path):
    driver = SerialScale(str(tmp_path / "ttyUSB9"), backoff_s=(0.05, 0.2))
    try:
        end = time.monotonic() + WAIT_S
        while "ttyUSB9" not in driver.last_error:
            assert time.monotonic() < end
            time.sleep(0.05)
        assert not driver.connected and driver.read(timeout=0.1) == []
    finally:
        driver.close()


def test_any_bytes_on_the_line_never_crash_the_driver():
    import os
    import random
    import tty

    from dashcart.drivers.scale.protocol import encode_hx711

    master, slave = os.openpty()
    tty.setraw(slave)
    driver = SerialScale(os.ttyname(slave), backoff_s=(0.05, 0.5))
    try:
        assert driver.wait_connected(WAIT_S)
        rng = random.Random(11)
        junk = bytes(rng.randrange(256) for _ in range(20000))
        for start in range(0, len(junk), 1000):
            os.write(master, junk[start:start + 1000])
        os.write(master, b"\n" + b"R" * 9000 + b"\n")   # an endless "line"
        for seq in range(5):
            os.write(master, encode_hx711(seq, 1000 + seq))
        got = []
        end = time.monotonic() + WAIT_S
        while len(got) < 5:
            assert time.monotonic() < end, driver.counters
            got += [s.raw for s in driver.read(timeout=0.05) if getattr(s, "raw", None) is not None]
        assert got[-5:] == [1000, 1001, 1002, 1003, 1004]
        assert driver.connected and driver.counters.corrupt > 0
    finally:
        driver.close()
        os.close(master)
        os.close(slave)


def test_wrong_baud_rate_is_garbage_not_weight(rig):
    other = SerialScale(rig.port, "hx711-bridge", baudrate=9600, backoff_s=(0.05, 0.5))
    try:
        rig.driver.close()
        assert other.wait_connected(WAIT_S)
        engine = WeighingEngine(OFFSET, CPG)
        end = time.monotonic() + WAIT_S
        while other.counters.bytes_received < 300:
            assert time.monotonic() < end, other.counters
            assert feed_decoded(engine, other.read(timeout=0.05)) == []
        assert other.counters.readings == 0
    finally:
        other.close()


def test_event_source_puts_settled_live_and_status_events(rig):
    import queue as queue_module
    import threading

    from dashcart.events import DeviceStatus, WeightLive, WeightSettled
    from dashcart.runtime.scale_reader import ScaleEventSource

    bridge = rig.control()
    events = queue_module.Queue()
    source = ScaleEventSource(rig.driver, rig.engine, events.put)

    class Beat:
        beats = 0

        def beat(self):
            Beat.beats += 1

    stop = threading.Event()
    worker = threading.Thread(target=source.loop, args=(Beat(), stop))
    worker.start()
    got = []
    try:
        end = time.monotonic() + WAIT_S
        while not any(isinstance(e, WeightLive) and e.stable for e in got):
            assert time.monotonic() < end
            got += [events.get(timeout=WAIT_S)]
        bridge.place(640)
        while not any(isinstance(e, WeightSettled) for e in got):
            assert time.monotonic() < end + WAIT_S
            got += [events.get(timeout=WAIT_S)]
    finally:
        stop.set()
        worker.join(timeout=5)
    assert isinstance(got[0], DeviceStatus) and got[0].state == "ok"
    settled = [e for e in got if isinstance(e, WeightSettled)]
    assert len(settled) == 1 and settled[0].delta_g == pytest.approx(640, abs=2)
    assert settled[0].started_t < settled[0].t
    live = [e for e in got if isinstance(e, WeightLive)]
    assert any(not e.stable for e in live) and max(e.grams for e in live) > 600
    assert all(b.t - a.t >= 0 for a, b in zip(live, live[1:]))
    assert Beat.beats > 0


# ---------------------------------------------------------------- a trade scale (MT-SICS)

@pytest.mark.parametrize("rig", ["mt-sics"], indirect=True)
def test_trade_scale_gives_the_six_changes_of_the_issue(rig):
    # a 35 kg x 5 g scale streaming ~5 readings a second in kg, with its own stable flag
    bridge = rig.control()
    rig.settle()
    for n, (action, grams) in enumerate([(bridge.place, 1250), (bridge.place, 355), (bridge.lift, 355),
                                         (bridge.place, 2000), (bridge.place, 40), (bridge.lift, 1250)], start=1):
        action(grams)
        rig.until_changes(n)
    rig.pump(1.0)
    assert [round(c.delta_g) for c in rig.changes] == [1250, 355, -355, 2000, 40, -1250]
    assert rig.changes[-1].total_g == pytest.approx(2040)
    assert rig.driver.counters.corrupt == 0 and rig.driver.counters.readings > 0


@pytest.mark.parametrize("rig", ["mt-sics"], indirect=True)
def test_trade_scale_tare_and_zero_are_answered_and_are_no_item(rig):
    bridge = rig.control()
    rig.settle()
    bridge.place(400)
    rig.until_changes(1)
    rig.settle()
    assert rig.driver.tare()
    rig.until(lambda: "T" in bridge.commands and rig.engine.stable and rig.engine.total_g == pytest.approx(0.0),
              "the tare to be answered and the engine re-referenced")
    bridge.place(355)
    rig.until_changes(2)
    assert [round(c.delta_g) for c in rig.changes] == [400, 355]
    assert rig.changes[1].total_g == pytest.approx(355)     # net of the tare
    rig.settle()
    bridge.lift(755)
    rig.until_changes(3)
    rig.settle()
    assert rig.driver.zero()
    rig.until(lambda: "Z" in bridge.commands and rig.engine.stable and rig.engine.total_g == pytest.approx(0.0),
              "the zero to be answered")
    rig.pump(1.0)
    assert [round(c.delta_g) for c in rig.changes] == [400, 355, -755]
    assert rig.driver.counters.refused == 0 and rig.driver.counters.bridge_errors == 0


@pytest.mark.parametrize("rig", ["mt-sics"], indirect=True)
def test_trade_scale_unplugged_and_back_streams_again_and_reports_the_change_once(rig):
    bridge = rig.control()
    rig.settle()
    bridge.place(1250)
    rig.until_changes(1)
    rig.settle()
    bridge.fault("disconnect", duration_s=1.5)
    rig.until(lambda: not rig.driver.connected, "the driver to notice the unplug")
    bridge.lift(355)
    rig.until(lambda: rig.driver.counters.reconnects >= 1, "a reconnect")
    rig.until_changes(2)
    rig.pump(1.0)
    assert [round(c.delta_g) for c in rig.changes] == [1250, -355]
    assert bridge.commands.count("SIR") >= 2     # asked to stream again after power-up


@pytest.mark.parametrize("rig", ["mt-sics", "hx711-bridge"], indirect=True)
def test_a_mute_scale_is_a_device_fault_and_talking_again_clears_it(rig):
    import queue as queue_module

    from dashcart.events import DeviceStatus
    from dashcart.runtime.scale_reader import ScaleEventSource

    bridge = rig.control()
    events = queue_module.Queue()
    source = ScaleEventSource(rig.driver, rig.engine, events.put)

    def statuses():
        source.poll(timeout=0.05)
        out = []
        while not events.empty():
            event = events.get()
            if isinstance(event, DeviceStatus):
                out.append(event)
        return out

    seen = []
    rig.until(lambda: seen.extend(statuses()) or any(s.state == "ok" for s in seen), "the scale to be ok")
    bridge.mute()
    rig.until(lambda: seen.extend(statuses()) or seen[-1].state == "down", "a mute scale to be reported")
    assert "sends nothing" in seen[-1].message and rig.driver.connected
    bridge.mute(False)
    rig.until(lambda: seen.extend(statuses()) or seen[-1].state == "ok", "the scale to be ok again")
    assert rig.driver.counters.silences == 1 and rig.driver.counters.reconnects == 0


def test_a_corrupt_line_flood_is_reported_with_the_right_counts(rig):
    bridge = rig.control()
    rig.settle()
    before = rig.driver.counters.corrupt
    for _ in range(10):
        bridge.inject("R 12 x\x00junk 7F", 30)   # 30 junk lines on top of the readings
        rig.pump(0.1)
    rig.until(lambda: rig.driver.health.state == "degraded", "the flood to be reported")
    message = rig.driver.health.message
    rig.until(lambda: rig.driver.counters.corrupt - before == 300, "every junk line to be counted")
    assert "lines corrupt in the last 2 s" in message
    rig.until(lambda: rig.driver.health.state == "ok", "the line to be clean again")
    assert rig.changes == []                  # 300 junk lines and no phantom weight


@pytest.mark.parametrize("protocol", ["mt-sics", "hx711-bridge"])
def test_doctor_listens_to_the_scale_and_names_a_mute_one(protocol):
    import dataclasses

    from dashcart.commands import doctor
    from dashcart.config import load_config

    config = load_config(None)
    with SimulatedBridge(LoadScript(0.0), protocol=protocol, transport="tcp") as bridge:
        scale = dataclasses.replace(config.scale, backend="serial", port=bridge.port, protocol=protocol)
        [talking] = doctor._scale_line(dataclasses.replace(config, scale=scale), seconds=1.5)
        bridge.mute()
        [mute] = doctor._scale_line(dataclasses.replace(config, scale=scale), seconds=1.5)
    assert talking.ok and " 0 corrupt" in talking.detail
    assert not mute.ok and "sends nothing" in mute.detail


# ---------------------------------------------------------------- a real trade scale (--sics-port)

@pytest.fixture
def real_trade_scale(request):
    port = request.config.getoption("--sics-port")
    if not port:
        pytest.skip("needs a real MT-SICS trade scale: --sics-port URL (or DASHCART_SICS_PORT)")
    rig = Rig(port, "mt-sics", None, request.config.getoption("--sics-baudrate"))
    try:
        assert rig.driver.wait_connected(WAIT_S), f"{port}: {rig.driver.last_error}"
        yield rig
    finally:
        rig.driver.close()


def test_real_trade_scale_streams_its_own_stable_weights_and_at_rest_reports_nothing(real_trade_scale):
    rig = real_trade_scale
    rig.settle()                 # only its own S S readings make the engine stable
    rig.pump(5.0)
    counters = rig.driver.counters
    assert counters.readings >= 5 and rig.stable_readings >= 5, counters
    assert counters.corrupt == 0 and counters.bridge_errors == 0, (counters, rig.driver.last_corrupt)
    assert rig.driver.health.state == "ok", rig.driver.health
    assert rig.changes == []


def test_real_trade_scale_answers_tare_and_zero_and_neither_is_an_item(real_trade_scale):
    rig = real_trade_scale
    rig.settle()
    for send, kind in ((rig.driver.tare, "tare"), (rig.driver.zero, "zero")):
        answers, refused = len(rig.answers), rig.driver.counters.refused
        assert send(), f"could not send the {kind}"
        rig.until(lambda a=answers, r=refused: len(rig.answers) > a or rig.driver.counters.refused > r,
                  f"the scale to answer the {kind} (done, or refused: T - / Z + on a loaded platform)")
        if len(rig.answers) > answers:
            assert rig.answers[-1].kind == kind
        rig.settle()
    rig.pump(1.0)
    assert rig.changes == []
    assert rig.driver.counters.bridge_errors == 0    # no ES / EL: it knows Z and T


def test_real_trade_scale_opened_again_streams_again(real_trade_scale):
    rig = real_trade_scale
    rig.settle()
    rig.driver.close()
    again = Rig(rig.port, "mt-sics", None, rig.driver.baudrate)
    try:
        assert again.driver.wait_connected(WAIT_S), again.driver.last_error
        again.settle()
        assert again.driver.counters.corrupt == 0 and again.changes == []
    finally:
        again.driver.close()


def test_real_trade_scale_through_the_weigh_command(real_trade_scale, capsys):
    from dashcart.cli import main

    rig = real_trade_scale
    rig.driver.close()           # one reader on the port at a time
    code = main(["weigh", "--port", rig.port, "--protocol", "mt-sics", "--baudrate", str(rig.driver.baudrate),
                 "--duration", "4", "--zero", "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert out.out == ""         # at rest: no settled change
    assert "sent Z to the scale" in out.err and " 0 corrupt" in out.err
