"""A recognizer that answers after the decision's deadline: the live cart waits for it (as
its replay, which always has the answer in time, decides), holding back what comes later."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from dashcart.core.catalogue import Catalogue
from dashcart.events import ItemRecognized, ShopperAction, Tick, WeightSettled
from dashcart.runtime.cart_runtime import CartRuntime, wait_for
from dashcart.runtime.late_evidence import LateEvidenceHold
from dashcart.snapshot import SessionState
from tests.runtime.test_runtime import MILK, _config


class Decision:
    def __init__(self, pending: tuple[float, float] | None) -> None:
        self.pending_decision = pending


def test_a_decision_waits_only_past_its_deadline_and_only_while_the_recognizer_works() -> None:
    working = {"busy": True}
    hold = LateEvidenceHold(lambda t: working["busy"] and t >= 10.0, max_wait_s=1.0)
    pending = Decision((10.0, 10.5))
    assert hold.due(Decision(None), 11.0) is None           # nothing waits for the cameras
    assert hold.due(pending, 10.4) is None                  # not due yet: nothing to hold
    assert hold.due(pending, 10.6) == 10.5 and hold.late == 1
    assert not hold.hold(ItemRecognized(10.0, "top", "added", ()), 10.5)   # the answer goes through
    later = [ShopperAction(10.55, "language", "ko"), Tick(10.6)]
    assert all(hold.hold(event, 10.5) for event in later)
    working["busy"] = False
    assert hold.due(pending, 10.7) is None
    assert hold.release() == later and hold.held == []
    assert hold.due(Decision((9.0, 9.5)), 10.6) is None      # the recognizer is not on that one


def test_a_decision_stops_waiting_after_max_wait(caplog) -> None:
    hold = LateEvidenceHold(lambda t: True, max_wait_s=1.0)
    pending = Decision((10.0, 10.5))
    assert hold.due(pending, 10.6) == 10.5
    assert hold.due(pending, 11.6) is None and hold.gave_up == 1
    assert "deciding without it" in caplog.text


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
