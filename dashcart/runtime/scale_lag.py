"""Waiting for the scale reader, so that a deadline falls due live where its replay has it.

A deadline (a change's decision, the checkout's order) happens at its own time on the event
clock. In a replay every reading of the recording comes before a deadline that follows it; live,
the scale reader posts what a reading means (the load began to move, a change settled) a
little after the reading arrived (a poll later: more on a busy Pi). Without a wait, the
controller loop sends the deadline's ``Tick`` (or hands on a beacon sighting or a tap past it)
first: an item that began going in just before the order fell due is then outside the order
and ignored as "order placed", while the replay of the same recording waits for the basket to
settle and charges it. Two bills for one trip, one of them missing an item.

:class:`ScaleLagHold` closes that gap in the controller loop: a due deadline waits until the
scale reader has reported readings up to it. Meanwhile no ``Tick`` is sent, and any event of
another source at or past the deadline is held back, in time order; the scale's own events go
through. Once the reader has caught up, what it posted and the loop has not yet taken goes
before the held events, in time order with them. The wait is bounded by ``max_lag_s``: a
scale that falls silent is reported down only after a second of silence (its line's health is
looked at every 0.25 s), and the cart must not stall on it meanwhile.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable

from dashcart.events import DeviceStatus, Event, LoadReturned, WeightLive, WeightSettled

#: The longest a due deadline waits for the scale's readings up to it: many of the bridge's
#: 12.5 ms readings (80 Hz), less than the second after which a silent scale is reported down.
MAX_LAG_S = 0.5


def from_scale(event: Event) -> bool:
    """Whether the scale reader posted ``event`` (those are what the hold waits for)."""
    return isinstance(event, (WeightLive, WeightSettled, LoadReturned)) or (
        isinstance(event, DeviceStatus) and event.device == "scale")


class ScaleLagHold:
    """``reported_through()``: the time of the newest reading whose events the scale reader has
    posted, or None when there is no scale to wait for (none, down, or not talking)."""

    def __init__(self, reported_through: Callable[[], float | None], max_lag_s: float = MAX_LAG_S) -> None:
        self.reported_through = reported_through
        self.max_lag_s = max_lag_s
        self.held: list[Event] = []
        self._deadline: float | None = None   # what the held events wait behind

    def behind(self, deadline: float | None, now: float) -> bool:
        """Whether ``deadline`` is due at ``now``, less than ``max_lag_s`` ago, but the scale has
        not yet reported up to it."""
        if deadline is None or deadline > now or now - deadline >= self.max_lag_s:
            return False
        through = self.reported_through()
        return through is not None and through < deadline

    def offer(self, event: Event, deadline: float | None, now: float) -> bool:
        """Keep ``event`` back (True) when it is at or past a due ``deadline`` (or one events are
        held for already) that the scale has not reported up to; the scale's own events and
        anything earlier go through."""
        if from_scale(event):
            return False
        if not self.held:
            if deadline is None or not self.behind(deadline, now):
                return False
            self._deadline = deadline
        if self._deadline is None or event.t < self._deadline:
            return False   # before the deadline (a recognizer's answer about an older change): in order as it is
        self.insert(event)
        return True

    def insert(self, event: Event) -> None:
        bisect.insort_right(self.held, event, key=lambda e: e.t)

    def release(self, now: float) -> list[Event]:
        """The held events, in time order, once the scale has caught up (or the wait is over);
        else nothing."""
        if not self.held or self.behind(self._deadline, now):
            return []
        return self.take_all()

    def take_all(self) -> list[Event]:
        """Every held event, in time order, and hold nothing more (the cart is stopping)."""
        held, self.held, self._deadline = self.held, [], None
        return held
