"""The live cart's event loop: one queue, one consumer, the controller.

Driver threads (scale, cameras, beacons, the checkout sender) and the UI :meth:`post`
timestamped events; :meth:`run` takes them in order and hands each to the controller, and
sends a :class:`~cart.events.Tick` when nothing arrives by the controller's next deadline
(the evidence window after a weight change, the checkout countdown) or every ``tick_s``.
Everything the controller does is decided by the events' ``t``: the loop is the only part
that reads the clock, and only to stamp ticks.

``on_event`` hooks see every event after the controller: the vision pipeline's
``on_settled`` (recognition in its worker, results posted back here) and the like.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

from cart.controller import Controller
from cart.events import Event, Tick

log = logging.getLogger("dashcart.loop")


class EventLoop:
    def __init__(self, controller: Controller, *, clock: Callable[[], float] = time.monotonic,
                 tick_s: float = 0.1, on_event: list[Callable[[Event], None]] | None = None) -> None:
        self.controller = controller
        self.clock = clock
        self.tick_s = tick_s
        self.on_event = list(on_event or [])
        self._queue: queue.Queue[Event] = queue.Queue()
        self.handled = 0
        self.failed = 0

    def post(self, event: Event) -> None:
        """From any thread."""
        self._queue.put(event)

    def _wait_s(self) -> float:
        deadline = self.controller.next_deadline()
        wait = self.tick_s
        if deadline is not None:
            wait = min(wait, max(0.0, deadline - self.clock()))
        return wait

    def step(self, timeout: float | None = None) -> bool:
        """Handle one event (or a tick if none came within ``timeout``); False on a tick."""
        try:
            event = self._queue.get(timeout=self._wait_s() if timeout is None else timeout)
        except queue.Empty:
            event = Tick(self.clock())
        try:
            self.controller.handle(event)
            for hook in self.on_event:
                hook(event)
        except Exception:  # one bad event must not stop the cart; the journal has what was done
            self.failed += 1
            log.exception("handling %s failed", type(event).__name__)
        self.handled += 1
        return not isinstance(event, Tick)

    def run(self, stop: threading.Event) -> None:
        """Until ``stop`` is set."""
        while not stop.is_set():
            self.step()
