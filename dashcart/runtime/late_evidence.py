"""Waiting for a late recognizer, so that the live cart decides as its replay does.

The controller decides a settled weight change at its deadline (``fusion.evidence_after_s``
after the load came to rest), or sooner when the next change settles, with whatever the
cameras said by then. A replay recognizes each change before its clock reaches either; the
live recognizer runs in its own thread and, on a busy Pi, may answer later. Then the live
cart decides without the cameras (usually a question) while the replay of its recording
commits: two bills for one trip.

:class:`LateEvidenceHold` closes that gap in the controller loop. An event that would decide
the waiting change (one at or past its deadline, or the next ``WeightSettled``) is held back,
with every later one; the loop sends no ``Tick`` meanwhile. Once the recognizer is done with
that change (:meth:`RecognitionWorker.working_on`, which turns false only after its answer
is posted), the loop first takes from its queue what came before the held events (the
answer among them), then hands on the held ones in their order. At most ``max_wait_s`` past
the deadline: then the cart decides without it, as before, and says so in the log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from dashcart.events import Event, WeightSettled

log = logging.getLogger(__name__)

#: How long past its deadline a decision may wait for the recognizer. Past it the shopper
#: would be looking at a basket that does not move: better a question than a stall.
MAX_WAIT_S = 1.0


class DecisionSource(Protocol):
    @property
    def pending_decision(self) -> tuple[float, float] | None: ...   # (change t, deadline)


def decides_at(event: Event, pending: tuple[float, float]) -> float | None:
    """From which time on events wait behind ``event``, if it decides the pending change
    (change t, deadline): its deadline, or the next settled change's own time; else None."""
    change_t, deadline = pending
    if isinstance(event, WeightSettled) and change_t < event.t < deadline:
        return event.t
    return deadline if event.t >= deadline else None


class LateEvidenceHold:
    """``working_on(t)``: whether the recognizer still works on the change settled at ``t``."""

    def __init__(self, working_on: Callable[[float], bool], max_wait_s: float = MAX_WAIT_S) -> None:
        self.working_on = working_on
        self.max_wait_s = max_wait_s
        self.held: list[Event] = []
        self.held_from: float | None = None     # events from this time on wait behind the held ones
        self.late = 0           # decisions that waited for the recognizer
        self.gave_up = 0        # ... and that waited in vain
        self._waited_for: float | None = None   # the deadline of the decision being waited for

    def offer(self, event: Event, controller: DecisionSource) -> bool:
        """Keep ``event`` back (True) when held events wait or it would decide the waiting
        change; the loop then lets the recognizer finish and calls :meth:`release`."""
        if self.held:
            if self.held_from is not None and event.t < self.held_from:
                return False
            self.held.append(event)
            return True
        pending = controller.pending_decision
        start = decides_at(event, pending) if pending is not None else None
        if start is None:
            return False
        self.held, self.held_from = [event], start
        return True

    def must_wait(self, controller: DecisionSource, now: float) -> bool:
        """Whether the waiting change's recognizer is still at work and may be waited for."""
        pending = controller.pending_decision
        if pending is None or not self.working_on(pending[0]):
            return False
        change_t, deadline = pending
        if now >= deadline + self.max_wait_s:
            if self._waited_for == deadline:
                self.gave_up += 1
                log.warning("the recognizer has not answered about the change at t=%.3f %.1f s after its "
                            "deadline: deciding without it", change_t, now - deadline)
            self._waited_for = None
            return False
        if self._waited_for != deadline and (self.held or now >= deadline):
            self._waited_for = deadline
            self.late += 1
        return True

    def overdue(self, controller: DecisionSource, now: float) -> bool:
        """Whether the waiting change's deadline has passed while its recognizer works: the
        loop must not send the Tick that would decide it."""
        pending = controller.pending_decision
        return pending is not None and now >= pending[1] and self.must_wait(controller, now)

    def next_held(self, controller: DecisionSource, now: float) -> Event | None:
        """The next held event to hand on, or None while it must wait (it would decide a
        change, a newer one perhaps, whose recognizer is still at work)."""
        if not self.held:
            self.held_from = None
            return None
        pending = controller.pending_decision
        if pending is not None:
            start = decides_at(self.held[0], pending)
            if start is not None and self.must_wait(controller, now):
                self.held_from = start
                return None
        return self.held.pop(0)
