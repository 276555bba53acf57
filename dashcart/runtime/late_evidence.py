"""Waiting for a late recognizer, so that the live cart decides as its replay does.

The controller decides a settled weight change at its deadline (``fusion.evidence_after_s``
after the load came to rest) with whatever the cameras said by then. A replay recognizes each
change before its clock passes that deadline, always; the live recognizer runs in its own
thread and, on a busy Pi, may answer after it. Then the live cart decides without the cameras
(usually a question) while the replay of its recording commits: two bills for one trip.

:class:`LateEvidenceHold` closes that gap in the controller loop: while the recognizer is
still working on the change a decision waits for, the events at or past the decision's
deadline are held back (those before it, the recognizer's answer among them, go through),
and handed on in their order once the answer is in. At most ``max_wait_s`` past the
deadline: then the cart decides without it, as before, and says so in the log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from dashcart.events import Event

log = logging.getLogger(__name__)

#: How long past its deadline a decision may wait for the recognizer. Past it the shopper
#: would be looking at a basket that does not move: better a question than a stall.
MAX_WAIT_S = 1.0


class DecisionSource(Protocol):
    @property
    def pending_decision(self) -> tuple[float, float] | None: ...   # (change t, deadline)


class LateEvidenceHold:
    """``working_on(t)``: whether the recognizer still works on the change settled at ``t``
    (:meth:`dashcart.runtime.vision_threads.RecognitionWorker.working_on`)."""

    def __init__(self, working_on: Callable[[float], bool], max_wait_s: float = MAX_WAIT_S) -> None:
        self.working_on = working_on
        self.max_wait_s = max_wait_s
        self.held: list[Event] = []
        self.held_for: float | None = None      # the deadline the held events wait behind
        self.late = 0           # decisions that waited for the recognizer
        self.gave_up = 0        # ... and that waited in vain
        self._waited_for: float | None = None   # the deadline of the decision being waited for

    def due(self, controller: DecisionSource, now: float) -> float | None:
        """The deadline of a decision that must wait for the recognizer now, else None."""
        pending = controller.pending_decision
        if pending is None:
            return None
        change_t, deadline = pending
        if now < deadline or not self.working_on(change_t):
            return None
        if now >= deadline + self.max_wait_s:
            if self._waited_for == deadline:
                self.gave_up += 1
                log.warning("the recognizer has not answered about the change at t=%.3f %.1f s after its "
                            "deadline: deciding without it", change_t, now - deadline)
            self._waited_for = None
            return None
        if self._waited_for != deadline:
            self._waited_for = deadline
            self.late += 1
        return deadline

    def hold(self, event: Event, due: float) -> bool:
        """Keep ``event`` back while a decision due at ``due`` waits (True), or let it through."""
        if event.t < due:
            return False
        self.held.append(event)
        self.held_for = due
        return True

    def release(self) -> list[Event]:
        """What was held back, in order, for the controller now (after what the recognizer
        posted before it finished: the caller takes those off its queue first)."""
        held, self.held, self.held_for = self.held, [], None
        return held
