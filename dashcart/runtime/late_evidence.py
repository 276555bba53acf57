"""Waiting for a late recognizer, so that the live cart decides as its replay does.

The controller decides a settled weight change at its deadline (``fusion.evidence_after_s``
after the load came to rest), or sooner when the next change settles or the shopper confirms
a weighed produce entry, with whatever the cameras said by then. A replay recognizes each
change once its clock passes ``vision.look_after_s`` after it, and before the next change;
the live recognizer runs in its own thread and, on a busy Pi, may answer later. Then the live
cart decides without the cameras (usually a question) while the replay of its recording
commits: two bills for one trip.

:class:`LateEvidenceHold` closes that gap in the controller loop. An event that would decide
the waiting change (one at or past its deadline, the next ``WeightSettled``, a produce
``confirm`` after the cameras looked) is held back, with every later one, in time order; the
loop sends no ``Tick`` meanwhile. Once the recognizer is done with that change
(:meth:`RecognitionWorker.working_on`, which turns false only after its answer is posted),
the loop first takes from its queue what came before the held events (the answer among
them), then hands on the held ones in their order. At most ``max_wait_s`` past the
deadline: then the cart decides without it, as before, and says so in the log.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Callable
from typing import Protocol

from dashcart.events import Event, ShopperAction, WeightSettled

log = logging.getLogger(__name__)

#: How long past its deadline a decision may wait for the recognizer. Past it the shopper
#: would be looking at a basket that does not move: better a question than a stall.
MAX_WAIT_S = 1.0


class DecisionSource(Protocol):
    @property
    def pending_decision(self) -> tuple[float, float] | None: ...   # (change t, deadline)


def decides_at(event: Event, pending: tuple[float, float], look_after_s: float) -> float | None:
    """From which time on events wait behind ``event``, if it decides the pending change
    (change t, deadline) with the cameras' answer in a replay: its deadline, or the event's
    own time for the next settled change or a produce confirm tapped after the cameras
    looked; else None."""
    change_t, deadline = pending
    if event.t >= deadline:
        return deadline
    if isinstance(event, WeightSettled) and event.t > change_t:
        return event.t
    if isinstance(event, ShopperAction) and event.action == "confirm" and event.value != "checkout" \
            and event.t > change_t + look_after_s:
        return event.t
    return None


class LateEvidenceHold:
    """``working_on(t)``: whether the recognizer still works on the change settled at ``t``."""

    def __init__(self, working_on: Callable[[float], bool], look_after_s: float = 0.3,
                 max_wait_s: float = MAX_WAIT_S) -> None:
        self.working_on = working_on
        self.look_after_s = look_after_s    # vision.look_after_s: when the cameras look
        self.max_wait_s = max_wait_s
        self.held: list[Event] = []
        self.held_from: float | None = None     # events from this time on wait behind the held ones
        self._waited_for: float | None = None   # the deadline of the decision being waited for

    def offer(self, event: Event, controller: DecisionSource) -> bool:
        """Keep ``event`` back (True) when it would decide the waiting change or comes after
        held events; the loop lets the recognizer finish, then hands them on (next_held)."""
        pending = controller.pending_decision
        start = decides_at(event, pending, self.look_after_s) if pending is not None else None
        if start is None and not (self.held and self.held_from is not None and event.t >= self.held_from):
            return False
        self.insert(event)
        if start is not None:
            self.held_from = start if self.held_from is None else min(self.held_from, start)
        return True

    def insert(self, event: Event) -> None:
        """Hold ``event`` among the held ones in time order (after those of its own time)."""
        bisect.insort_right(self.held, event, key=lambda e: e.t)

    def must_wait(self, controller: DecisionSource, now: float) -> bool:
        """Whether the waiting change's recognizer is still at work and may be waited for."""
        pending = controller.pending_decision
        if pending is None or not self.working_on(pending[0]):
            return False
        change_t, deadline = pending
        if now >= deadline + self.max_wait_s:
            if self._waited_for == deadline:    # said once per change
                log.warning("the recognizer has not answered about the change at t=%.3f %.1f s after its "
                            "deadline: deciding without it", change_t, now - deadline)
            self._waited_for = None
            return False
        self._waited_for = deadline
        return True

    def overdue(self, controller: DecisionSource, now: float) -> bool:
        """Whether the waiting change's deadline has passed while its recognizer works: the
        loop must not send the Tick that would decide it."""
        pending = controller.pending_decision
        return pending is not None and now >= pending[1] and self.must_wait(controller, now)

    def holding(self, controller: DecisionSource, now: float) -> bool:
        """Whether the loop is waiting for the recognizer: events are held, or the deadline
        has passed while it works (then no Tick may be sent)."""
        return bool(self.held) or self.overdue(controller, now)

    def take_all(self) -> list[Event]:
        """Every held event, in time order, and hold nothing more (the cart is stopping)."""
        held, self.held, self.held_from = self.held, [], None
        return held

    def next_held(self, controller: DecisionSource, now: float) -> Event | None:
        """The next held event to hand on, or None while it must wait (it would decide a
        change, a newer one perhaps, whose recognizer is still at work)."""
        if not self.held:
            self.held_from = None
            return None
        pending = controller.pending_decision
        if pending is not None:
            start = decides_at(self.held[0], pending, self.look_after_s)
            if start is not None and self.must_wait(controller, now):
                self.held_from = start
                return None
        return self.held.pop(0)
