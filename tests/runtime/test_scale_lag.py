"""A deadline falls due live only once the scale reader has reported up to it, as in the replay
of the same recording (dashcart.runtime.scale_lag)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from dashcart.core.catalogue import Catalogue
from dashcart.core.controller import Controller
from dashcart.drivers.scale.decoder import ScaleCounters
from dashcart.events import (
    BarcodeSeen,
    BeaconSighting,
    DeviceStatus,
    ItemRecognized,
    LaneDetected,
    LoadReturned,
    ShopperAction,
    Tick,
    WeightLive,
    WeightSettled,
)
from dashcart.readings import Sample
from dashcart.runtime.cart_runtime import CartRuntime, Devices, wait_for
from dashcart.runtime.late_evidence import LateEvidenceHold
from dashcart.runtime.scale_lag import ScaleLagHold
from dashcart.snapshot import SessionState
from tests.runtime.test_runtime import _config

JUICE = "2280000001285"     # 1,062 g
COUNTS_PER_GRAM = 420.0     # the config's default calibration (offset 0)


def test_a_due_deadline_waits_for_the_scale_and_holds_what_comes_past_it() -> None:
    reported: dict[str, float | None] = {"t": 9.9}
    lag = ScaleLagHold(lambda: reported["t"], max_lag_s=0.5)
    assert not lag.behind(None, 10.2) and not lag.behind(10.5, 10.2)       # nothing due yet
    assert lag.behind(10.0, 10.2)                                          # due, the scale at 9.9
    assert not lag.behind(10.0, 10.5)                                      # waited long enough
    beacon, tap = BeaconSighting(10.1, "ibeacon", "lane", -60.0), ShopperAction(10.05, "language", "ko")
    assert lag.offer(beacon, 10.0, 10.2) and lag.offer(tap, 10.0, 10.2)
    assert lag.held == [tap, beacon]                                       # in time order
    # the scale's own events go through, and so does an answer about an older change
    assert not lag.offer(WeightLive(9.95, 800.0, False), 10.0, 10.2)
    assert not lag.offer(WeightSettled(10.1, 510.0, 1572.0), 10.0, 10.2)
    assert not lag.offer(DeviceStatus(10.1, "scale", "ok"), 10.0, 10.2)
    assert not lag.offer(ItemRecognized(9.0, "top", "added", ()), 10.0, 10.2)
    assert lag.release(10.2) == []
    reported["t"] = 10.02
    assert lag.release(10.2) == [tap, beacon] and not lag.held


def test_nothing_waits_for_a_scale_that_is_not_talking() -> None:
    lag = ScaleLagHold(lambda: None)
    assert not lag.behind(10.0, 10.1)
    assert not lag.offer(Tick(10.1), 10.0, 10.1)


class LaggingScale:
    """A load-cell bridge at 20 Hz whose readings reach the reader ``lag_s`` late (a busy Pi:
    the reader's poll and the line's transit). The load follows ``steps``: (from t, grams,
    ramp seconds), each ramping from the load before it."""

    def __init__(self, lag_s: float = 0.3) -> None:
        self.lag_s = lag_s
        self.connected = True
        self.counters = ScaleCounters()
        self.steps: list[tuple[float, float, float]] = [(0.0, 0.0, 0.0)]
        self._next_t = time.monotonic()
        self._lock = threading.Lock()

    def load_at(self, t: float) -> float:
        with self._lock:
            steps = list(self.steps)
        grams = 0.0
        for start, target, ramp in steps:
            if t >= start + ramp:
                grams = target
            elif t > start:
                grams += (target - grams) * (t - start) / ramp
        return grams

    def then(self, start: float, grams: float, ramp_s: float) -> None:
        with self._lock:
            self.steps.append((start, grams, ramp_s))

    def describe(self) -> str:
        return "a lagging scale"

    def read(self, timeout: float | None = None) -> list[Sample]:
        time.sleep(0.02)
        out = []
        while self._next_t + self.lag_s <= time.monotonic():
            out.append(Sample(self._next_t, raw=round(self.load_at(self._next_t) * COUNTS_PER_GRAM)))
            self._next_t += 0.05
        return out

    def close(self) -> None:
        self.connected = False


def _past_the_exit_with_a_juice(runtime: CartRuntime) -> tuple[Controller, float]:
    """Once the juice is on the bill, past the lane's exit: the controller, and when the order falls due."""
    assert wait_for(runtime, lambda s: [line.code for line in s.lines] == [JUICE], 10) is not None
    runtime.post(LaneDetected(runtime.clock(), "lane-1"))
    assert wait_for(runtime, lambda s: s.checkout is not None and s.checkout.countdown, 10) is not None
    controller = runtime.controller
    assert controller is not None
    due = controller.next_deadline()
    assert due is not None
    return controller, due


def test_an_item_going_in_as_the_order_falls_due_is_waited_for_as_in_the_replay(
        tmp_path: Path, catalogue: Catalogue) -> None:
    # The cart is past the lane's exit with a juice on the bill; a second item starts going in
    # 0.35 s before the order falls due. The scale reader says so 0.3 s late. Its replay waits
    # for the basket to settle, so the live cart must too: placed at once, the order would
    # leave the item out, and it would be ignored ("order placed").
    scale = LaggingScale(lag_s=0.3)
    runtime = CartRuntime(_config(tmp_path), catalogue=catalogue, devices=Devices(scale=scale))
    runtime.start()
    try:
        time.sleep(0.5)   # the scale's first readings
        runtime.post(ShopperAction(runtime.clock(), "signin", "dcs1:test-shopper-00000001"))
        assert wait_for(runtime, lambda s: s.state is SessionState.SHOPPING, 10) is not None
        t = runtime.clock()
        runtime.post(BarcodeSeen(t, "top", JUICE, "EAN-13"))
        scale.then(t, 1062.0, 0.3)
        controller, due = _past_the_exit_with_a_juice(runtime)
        scale.then(due - 0.35, 1062.0 + 510.0, 0.6)
        time.sleep(max(0.0, due + 0.6 - runtime.clock()))
        snap = runtime.snapshot()
        assert snap.checkout is not None and snap.checkout.stage == "summary", snap.checkout
        # the item is decided once the basket rests (asked: no barcode, no camera), then the
        # order holds for the answer
        snap = wait_for(runtime, lambda s: bool(s.questions), 10)
        assert snap is not None and snap.checkout is not None and snap.checkout.stage != "paying"
    finally:
        runtime.stop()


class _Reported:
    """A scale reader's ``reported_through`` that the test moves by hand."""

    def __init__(self) -> None:
        self.through: float | None = None

    def reported_through(self) -> float | None:
        return self.through


def _the_order_still_waits(runtime: CartRuntime, controller: Controller) -> None:
    """The order has not fallen due: the summary is still up, nothing was ever paying."""
    snap = runtime.snapshot()
    assert snap.checkout is not None and snap.checkout.stage == "summary", snap.checkout
    assert not [n for n in controller.log if n.get("stage") == "paying"]


def _a_juice_billed_past_the_exit(runtime: CartRuntime, reported: _Reported) -> tuple[Controller, float]:
    """A shopper signed in, a juice in (read and settled) and the cart past the lane's exit, with
    ``reported`` as the scale reader: the controller, and when the order falls due."""
    runtime.scale_source = reported  # type: ignore[assignment]
    runtime.post(WeightLive(runtime.clock(), 0.0, True))
    runtime.post(ShopperAction(runtime.clock(), "signin", "dcs1:test-shopper-00000001"))
    assert wait_for(runtime, lambda s: s.state is SessionState.SHOPPING, 10) is not None
    t = runtime.clock()
    runtime.post(BarcodeSeen(t, "top", JUICE, "EAN-13"))
    runtime.post(WeightSettled(t + 0.01, 1062.0, 1062.0, started_t=t - 0.3))
    runtime.post(WeightLive(t + 0.01, 1062.0, True))
    return _past_the_exit_with_a_juice(runtime)


def test_what_the_scale_posted_while_the_controller_was_busy_goes_before_the_held_events(
        tmp_path: Path, catalogue: Catalogue) -> None:
    # A tap past the due order waits for the scale. While the controller is inside another
    # event, the reader catches up: it posts that the load began to move just before the
    # deadline, then a reading past it. The tap must not go first: handed on, it lets the
    # order fall due with the basket "at rest", and the item going in is ignored as "order
    # placed", while the replay (time order) sees the load moving and waits.
    runtime = CartRuntime(_config(tmp_path), catalogue=catalogue)
    runtime.start()
    reported = _Reported()
    try:
        controller, due = _a_juice_billed_past_the_exit(runtime, reported)
        reported.through = due - 0.3      # the reader lags behind what falls due
        real = controller.handle

        def handle(event: object) -> None:
            if isinstance(event, ShopperAction) and event.action == "language" and event.value == "en":
                # the reader catches up meanwhile, in two polls
                runtime.post(WeightLive(due - 0.2, 1300.0, False))
                runtime.post(WeightLive(due + 0.05, 1500.0, False))
                reported.through = due + 0.05
            real(event)  # type: ignore[arg-type]

        controller.handle = handle  # type: ignore[method-assign]
        time.sleep(max(0.0, due + 0.03 - runtime.clock()))
        runtime.post(ShopperAction(due + 0.02, "language", "ko"))   # held: past the due order
        time.sleep(0.06)
        runtime.post(ShopperAction(due - 0.25, "language", "en"))   # before it: goes through
        time.sleep(0.3)
        _the_order_still_waits(runtime, controller)
    finally:
        runtime.stop()


def test_what_waited_for_a_late_recognizer_still_waits_for_the_scale(tmp_path: Path, catalogue: Catalogue) -> None:
    # Past the exit, the load is lifted and put back (a return: the cameras look at it) and the
    # recognizer is late with that look. A tap past the order's due time waits behind it. When
    # the recognizer answers, the scale reader lags behind the due order: the tap must then
    # wait for the scale too, or the order falls due with the basket "at rest" while an item
    # was going in (posted late by the reader), and the item is ignored as "order placed".
    runtime = CartRuntime(_config(tmp_path), catalogue=catalogue)
    answered = threading.Event()
    answered.set()
    runtime._late_evidence = LateEvidenceHold(lambda t: not answered.is_set(), max_wait_s=5.0)
    reported = _Reported()
    runtime._scale_lag = ScaleLagHold(reported.reported_through, max_lag_s=5.0)   # no race with the test's pace
    runtime.start()
    try:
        controller, due = _a_juice_billed_past_the_exit(runtime, reported)
        assert due - runtime.clock() > 1.0, "the cancel window is too short for this test"
        answered.clear()                                     # the recognizer is busy from now on
        reported.through = due - 0.25
        runtime.post(LoadReturned(due - 0.8, 1062.0, started_t=due - 1.0))   # its look falls due at due - 0.3
        time.sleep(max(0.0, due + 0.1 - runtime.clock()))
        runtime.post(ShopperAction(due + 0.05, "language", "ko"))          # behind the recognizer
        time.sleep(0.1)
        answered.set()                                       # the look is done; the scale still lags
        time.sleep(0.2)
        runtime.post(WeightLive(due - 0.1, 1300.0, False))   # the reader catches up: an item going in
        reported.through = due + 0.1
        time.sleep(0.3)
        _the_order_still_waits(runtime, controller)
    finally:
        runtime.stop()
