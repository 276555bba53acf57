"""A recognizer that answers after the decision's deadline: the live cart waits for it (as
its replay, which always has the answer in time, decides), holding back what comes later."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from dashcart.core.catalogue import Catalogue
from dashcart.events import ItemRecognized, ShopperAction, Tick, WeightLive, WeightSettled
from dashcart.runtime.cart_runtime import CartRuntime, wait_for
from dashcart.runtime.late_evidence import LateEvidenceHold
from dashcart.snapshot import SessionState
from tests.runtime.test_runtime import MILK, _config


class Decision:
    def __init__(self, pending: tuple[float, float] | None) -> None:
        self.pending_decision = pending


def test_what_would_decide_a_waiting_change_is_held_with_all_after_it() -> None:
    working = {"busy": True}
    hold = LateEvidenceHold(lambda t: working["busy"] and t >= 10.0, max_wait_s=1.0)
    pending = Decision((10.0, 10.5))
    assert not hold.offer(Tick(11.0), Decision(None))           # nothing waits for the cameras
    assert not hold.offer(ShopperAction(10.3, "language", "ko"), pending)   # before the deadline
    assert not hold.overdue(pending, 10.4) and hold.overdue(pending, 10.6)
    deciding = [Tick(10.6), ShopperAction(10.62, "language", "en")]
    assert all(hold.offer(event, pending) for event in deciding) and hold.held_from == 10.5
    assert not hold.offer(ItemRecognized(10.0, "top", "added", ()), pending)   # the answer goes through
    assert hold.must_wait(pending, 10.7) and hold.next_held(pending, 10.7) is None
    working["busy"] = False
    assert not hold.must_wait(pending, 10.7)
    assert [hold.next_held(pending, 10.7) for _ in deciding] == deciding and hold.next_held(pending, 10.7) is None


def test_the_next_change_settling_waits_for_the_last_one_s_recognition() -> None:
    # A second item settles 0.3 s after the first, before the first's deadline: it would
    # decide the first (replay recognizes the first before it), so it waits, and all after it.
    hold = LateEvidenceHold(lambda t: True)
    pending = Decision((10.0, 10.5))
    assert hold.offer(WeightSettled(10.3, 200.0, 1263.0), pending) and hold.held_from == 10.3
    assert hold.offer(ShopperAction(10.31, "language", "ko"), pending)
    assert not hold.offer(ItemRecognized(10.0, "top", "added", ()), pending)


def test_a_change_that_settles_while_events_wait_goes_before_them() -> None:
    # A tap at 10.6 is held behind the first change's deadline; then the scale reader, lagging,
    # posts the next change, settled at 10.45: it would decide the first change too, so it
    # waits, and it goes before the tap.
    hold = LateEvidenceHold(lambda t: True)
    pending = Decision((10.0, 10.5))
    tap = ShopperAction(10.6, "language", "ko")
    assert hold.offer(tap, pending) and hold.held_from == 10.5
    change = WeightSettled(10.45, 200.0, 1263.0)
    assert hold.offer(change, pending) and hold.held_from == 10.45 and hold.held == [change, tap]


def test_a_produce_confirm_waits_only_once_the_cameras_have_looked() -> None:
    # "Add" on the weighing screen decides the change at once; a replay has the cameras'
    # answer only from look_after_s (0.3 s) after the settle.
    hold = LateEvidenceHold(lambda t: True, look_after_s=0.3)
    pending = Decision((10.0, 10.5))
    assert not hold.offer(ShopperAction(10.2, "confirm", "4011"), pending)
    assert hold.offer(ShopperAction(10.35, "confirm", "4011"), pending) and hold.held_from == 10.35
    assert not LateEvidenceHold(lambda t: True).offer(ShopperAction(10.35, "confirm", "checkout"), pending)


def test_a_decision_stops_waiting_after_max_wait(caplog) -> None:
    hold = LateEvidenceHold(lambda t: True, max_wait_s=1.0)
    pending = Decision((10.0, 10.5))
    assert hold.overdue(pending, 10.6)
    assert not hold.must_wait(pending, 11.6) and not hold.overdue(pending, 11.7)
    assert caplog.text.count("deciding without it") == 1


def _late_recognizer(runtime: CartRuntime, max_wait_s: float) -> threading.Event:
    """The cart's recognizer stand-in: busy with every change until ``answered`` is set."""
    answered = threading.Event()
    runtime._late_evidence = LateEvidenceHold(lambda t: not answered.is_set(), max_wait_s=max_wait_s)
    return answered


def _signed_in(runtime: CartRuntime) -> float:
    runtime.post(ShopperAction(runtime.clock(), "signin", "dcs1:test-shopper-00000001"))
    assert wait_for(runtime, lambda s: s.state is SessionState.SHOPPING, 10)
    return runtime.clock()


def test_a_late_recognition_still_decides_the_change(tmp_path: Path, catalogue: Catalogue) -> None:
    # A milk without a readable barcode: only the cameras can name it. They answer 0.8 s after
    # the load came to rest, past the 0.5 s deadline; the cart charges it, as its replay would.
    runtime = CartRuntime(_config(tmp_path), catalogue=catalogue)
    answered = _late_recognizer(runtime, max_wait_s=5.0)
    runtime.start()
    try:
        t = _signed_in(runtime)
        runtime.post(WeightSettled(t, 1584.0, 1584.0, started_t=t - 0.3))
        time.sleep(0.8)
        assert not runtime.snapshot().questions and not runtime.snapshot().lines   # still waiting
        runtime.post(ItemRecognized(t, "top", "added", ((MILK, 0.95), ("2400000001409", 0.5))))
        answered.set()
        snap = wait_for(runtime, lambda s: bool(s.lines or s.questions), 10)
        assert snap is not None and [(line.code, line.qty) for line in snap.lines] == [(MILK, 1)]
        assert not snap.questions
    finally:
        runtime.stop()


def test_a_recognizer_that_never_answers_leaves_a_question(tmp_path: Path, catalogue: Catalogue) -> None:
    runtime = CartRuntime(_config(tmp_path), catalogue=catalogue)
    _late_recognizer(runtime, max_wait_s=0.3)
    runtime.start()
    try:
        t = _signed_in(runtime)
        runtime.post(WeightSettled(t, 1584.0, 1584.0, started_t=t - 0.3))
        snap = wait_for(runtime, lambda s: bool(s.lines or s.questions), 10)
        assert snap is not None and snap.questions and not snap.lines
    finally:
        runtime.stop()


def test_what_waits_behind_a_late_recognizer_is_journaled_when_the_cart_stops(tmp_path: Path,
                                                                                catalogue: Catalogue) -> None:
    # An update restarts the cart while a second carton waits behind the first one's late
    # recognizer: the second change must be in the journal all the same, to be decided after
    # the restart (dropped, a trade scale would take the load with it in as its new reference).
    runtime = CartRuntime(_config(tmp_path), catalogue=catalogue)
    _late_recognizer(runtime, max_wait_s=60.0)
    runtime.start()
    try:
        t = _signed_in(runtime)
        runtime.post(WeightSettled(t, 1584.0, 1584.0, started_t=t - 0.3))
        runtime.post(WeightSettled(t + 0.8, 1584.0, 3168.0, started_t=t + 0.5))
        time.sleep(0.5)
        snap = runtime.snapshot()
        assert not snap.questions and not snap.lines   # both wait for the cameras
    finally:
        runtime.stop()
    again = CartRuntime(_config(tmp_path), catalogue=catalogue)
    again.start()
    try:
        snap = wait_for(again, lambda s: len(s.questions) >= 2, 10)
        assert snap is not None and [q.delta_g for q in snap.questions] == [1584.0, 1584.0]
    finally:
        again.stop()


def test_a_controller_loop_the_supervisor_gave_up_on_hands_nothing_on(tmp_path: Path, catalogue: Catalogue) -> None:
    # A loop stalled past its deadline (a slow write to the SD card) is replaced; when it wakes,
    # its stop is set, and it must leave: handing on what waits is the stopping cart's job, or
    # two threads would handle events at once, out of order.
    runtime = CartRuntime(_config(tmp_path), catalogue=catalogue, loop_deadline_s=0.5)
    runtime.start()
    stalled: dict[str, int | None] = {"thread": None}
    stall_over = threading.Event()
    late: list[str] = []
    try:
        _signed_in(runtime)
        controller = runtime.controller
        assert controller is not None
        real = controller.handle

        def handle(event: object) -> None:
            if isinstance(event, ShopperAction) and event.value == "stall":
                stalled["thread"] = threading.get_ident()
                time.sleep(2.0)
                stall_over.set()
            elif stall_over.is_set() and threading.get_ident() == stalled["thread"]:
                late.append(type(event).__name__)
            else:
                time.sleep(0.01)   # a Pi's pace: events queue up behind the new loop
            real(event)  # type: ignore[arg-type]

        controller.handle = handle  # type: ignore[method-assign]
        runtime.post(ShopperAction(runtime.clock(), "language", "stall"))
        t0 = time.monotonic()
        while time.monotonic() - t0 < 3.5:      # the screen's live weight, as the scale reader posts it
            runtime.post(WeightLive(runtime.clock(), 100.0, True))
            time.sleep(0.005)
    finally:
        runtime.stop()
    assert stall_over.is_set() and not late


def test_a_controller_inside_a_slow_commit_at_stop_still_gets_what_waits(tmp_path: Path,
                                                                         catalogue: Catalogue) -> None:
    # A commit on a slow SD card holds the controller loop past the 5 s that all loops share at
    # a stop: it gets a few seconds more, then the carton that settled meanwhile is journaled.
    runtime = CartRuntime(_config(tmp_path), catalogue=catalogue, loop_deadline_s=30.0)
    runtime.start()
    inside = threading.Event()
    try:
        t = _signed_in(runtime)
        controller = runtime.controller
        assert controller is not None
        real = controller.handle

        def handle(event: object) -> None:
            if isinstance(event, ShopperAction) and event.value == "slow":
                inside.set()
                time.sleep(6.5)
            real(event)  # type: ignore[arg-type]

        controller.handle = handle  # type: ignore[method-assign]
        runtime.post(ShopperAction(t + 0.1, "language", "slow"))
        assert inside.wait(5)
        runtime.post(WeightSettled(t + 0.2, 1584.0, 1584.0, started_t=t))
    finally:
        runtime.stop()
    again = CartRuntime(_config(tmp_path), catalogue=catalogue)
    again.start()
    try:
        snap = wait_for(again, lambda s: bool(s.questions or s.lines), 10)
        assert snap is not None and [q.delta_g for q in snap.questions] == [1584.0]
    finally:
        again.stop()
