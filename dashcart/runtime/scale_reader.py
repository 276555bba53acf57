"""The scale's side of the controller's event queue: driver -> engine -> events.

:class:`ScaleEventSource` reads the scale driver, runs the weighing engine and puts
:class:`~dashcart.events.WeightSettled`, :class:`~dashcart.events.WeightLive` and
:class:`~dashcart.events.DeviceStatus` events on the controller's queue. Its :meth:`loop` has the
worker shape the supervisor runs (``loop(heartbeat, stop)``, see ``dashcart.runtime.watchdog``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from dashcart.core.weighing import WeighingEngine, feed_decoded
from dashcart.drivers.scale import ScaleDriver
from dashcart.events import DeviceStatus, Event, WeightLive


class _Beat(Protocol):
    def beat(self) -> None: ...


class ScaleEventSource:
    """Turns one scale into events. ``live_interval_s`` limits WeightLive to the screen's needs."""

    def __init__(self, driver: ScaleDriver, engine: WeighingEngine, put: Callable[[Event], None],
                 live_interval_s: float = 0.1) -> None:
        self.driver = driver
        self.engine = engine
        self.put = put
        self.live_interval_s = live_interval_s
        self._last_live: tuple[float, float, bool] | None = None   # (t, grams, stable) last sent
        self._was_state: str | None = None

    def poll(self, timeout: float = 0.5) -> None:
        """One round: read what arrived (waiting up to ``timeout``), put the resulting events."""
        items = self.driver.read(timeout=timeout)
        self._health(items[0].t if items else None)
        for change in feed_decoded(self.engine, items):
            self.put(change.to_event())
        if items:
            self._live(items[-1].t)

    def loop(self, heartbeat: _Beat, stop: threading.Event) -> None:
        """The supervisor's worker body: poll until ``stop``, beating every round."""
        while not stop.is_set():
            self.poll(timeout=0.5)
            heartbeat.beat()

    def _live(self, t: float) -> None:
        grams, stable = round(self.engine.live_g, 1), self.engine.stable
        last = self._last_live
        if last is not None and t - last[0] < self.live_interval_s and last[2] == stable:
            return
        # the screen needs a new number only when the shown one would change
        if last is not None and last[1] == grams and last[2] == stable:
            return
        self._last_live = (t, grams, stable)
        self.put(WeightLive(t=t, grams=grams, stable=stable))

    def _health(self, t: float | None) -> None:
        """A DeviceStatus when the scale's state changes: connected or not, and while connected
        whether it really talks (a mute scale, a flood of corrupt lines; see
        :class:`dashcart.drivers.scale.decoder.Liveness`)."""
        connected = self.driver.connected
        health = getattr(self.driver, "health", None)
        state = "down" if not connected else (health.state if health is not None else "ok")
        if state == self._was_state:
            return
        self._was_state = state
        when = t if t is not None else (self._last_live[0] if self._last_live else 0.0)
        counters = self.driver.counters.as_dict()
        if not connected:
            reason = getattr(self.driver, "last_error", "") or "not connected"
            self.put(DeviceStatus(when, "scale", "down", f"{self.driver.describe()}: {reason}; "
                                  "weighing resumes when it is back", counters))
        elif state == "ok":
            self.put(DeviceStatus(when, "scale", "ok", self.driver.describe(), counters))
        else:
            why = health.message if health is not None else state
            self.put(DeviceStatus(when, "scale", state, f"{self.driver.describe()}: {why}", counters))
