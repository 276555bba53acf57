"""The scale's side of the controller's event queue: driver -> engine -> events.

:class:`ScaleEventSource` reads the scale driver, runs the weighing engine and puts
:class:`~dashcart.events.WeightSettled`, :class:`~dashcart.events.WeightLive` and
:class:`~dashcart.events.DeviceStatus` events on the controller's queue. Its :meth:`loop` has the
worker shape the supervisor runs (``loop(heartbeat, stop)``, see ``dashcart.runtime.watchdog``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import queue
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Protocol

from dashcart.core.weighing import ScaleState, WeighingEngine, events_of, feed_decoded
from dashcart.drivers.scale import ScaleDriver
from dashcart.events import DeviceStatus, Event, WeightLive
from dashcart.snapshot import DeviceFault

#: How long a zero request waits for the scale to be at rest (a cart being pushed is not).
ZERO_WAIT_S = 5.0
#: The zero is saved when it has moved this far since it was last saved: zero tracking moves it
#: at most half a division per second, so the SD card sees a write every few seconds at most.
ZERO_SAVE_STEP_G = 1.0

log = logging.getLogger("dashcart.scale")


class SavedZero:
    """The scale's zero (``WeighingEngine.zero_g``) in a small JSON file in the state directory,
    kept for the calibration it was set on: a restart in the middle of a session compares the
    first rest with what the journal expects (``WeighingEngine.expect``), which is only right
    from the same zero. A file for another calibration, or one that cannot be read, is ignored
    with a warning; the cart then starts from the calibrated offset, as it did before."""

    def __init__(self, path: os.PathLike[str] | str, offset: int, counts_per_gram: float) -> None:
        self.path = os.fspath(path)
        self.calibration = {"offset": offset, "counts_per_gram": counts_per_gram}

    def load(self) -> float:
        try:
            with open(self.path, encoding="utf-8") as f:
                saved = json.load(f)
        except FileNotFoundError:
            return 0.0
        except (OSError, ValueError) as exc:
            log.warning("%s: cannot read the saved zero (%s); starting from the calibration", self.path, exc)
            return 0.0
        zero = saved.get("zero_g") if isinstance(saved, dict) else None
        if not isinstance(zero, (int, float)) or isinstance(zero, bool) or not math.isfinite(zero):
            log.warning("%s: no number in zero_g; starting from the calibration", self.path)
            return 0.0
        if {k: saved.get(k) for k in self.calibration} != self.calibration:
            log.info("%s: saved for another calibration; starting from this one", self.path)
            return 0.0
        return float(zero)

    def save(self, zero_g: float) -> None:
        """Replace the file atomically; a card that would not take it is logged."""
        # a temp file of its own: a scale reader the supervisor gave up on may still be saving
        fd, tmp = tempfile.mkstemp(prefix=".scale_zero.", dir=os.path.dirname(self.path) or ".")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({**self.calibration, "zero_g": round(zero_g, 2)}, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:   # a full or read-only card: the journal's fault shows it; weighing goes on
            log.warning("%s: cannot save the zero: %s", self.path, exc)
            with contextlib.suppress(OSError):
                os.unlink(tmp)


class _Beat(Protocol):
    def beat(self) -> None: ...


class ScaleEventSource:
    """Turns one scale into events. ``live_interval_s`` limits WeightLive to the screen's needs."""

    def __init__(self, driver: ScaleDriver, engine: WeighingEngine, put: Callable[[Event], None],
                 live_interval_s: float = 0.1, saved_zero: SavedZero | None = None) -> None:
        self.driver = driver
        self.engine = engine
        self.put = put
        self.live_interval_s = live_interval_s
        self.saved_zero = saved_zero
        self._zero_saved_g = engine.zero_g
        self._last_live: tuple[float, float, bool] | None = None   # (t, grams, stable) last sent
        self._through: float | None = None   # the newest reading whose events are posted
        self._was: tuple[str, DeviceFault] | None = None   # the scale's state and fault last posted
        # Zero requests from other threads (staff on the screen, the fleet): the engine is this
        # reader's alone, so they are carried out here, between polls.
        self._zero_requests: queue.Queue[Future[str]] = queue.Queue(16)
        self._zero_waiting: list[tuple[float, Future[str]]] = []

    def request_zero(self) -> Future[str]:
        """Zero the scale at its next rest within ``ZERO_WAIT_S`` (any thread; never blocks). The
        future says ``zero set (+1.2 g)``, or fails with what to do."""
        future: Future[str] = Future()
        try:
            self._zero_requests.put_nowait(future)
        except queue.Full:
            future.set_exception(RuntimeError("the scale reader is not taking requests"))
        return future

    def poll(self, timeout: float = 0.5) -> None:
        """One round: read what arrived (waiting up to ``timeout``), put the resulting events."""
        items = self.driver.read(timeout=timeout)
        self._health(items[0].t if items else None)
        for item in items:
            # One reading at a time, as a replay feeds them: the load starting or stopping to
            # move is stamped with the reading that made it so, not with the batch's last one,
            # which may be past a deadline (the order) that the movement came before.
            for event in events_of(self.engine, feed_decoded(self.engine, (item,))):
                self.put(event)
            if self._last_live is not None and self.engine.stable != self._last_live[2]:
                self._live(item.t)
            if self._was is not None and self._overload() is not self._was[1]:
                self._health(item.t)   # stamped with the reading that began or ended the overload
        if items:
            self._live(items[-1].t)
            self._through = items[-1].t   # after its events: whoever reads it finds them queued
        self._zero_when_at_rest()
        zero = self.engine.zero_g
        if self.saved_zero is not None and abs(zero - self._zero_saved_g) >= ZERO_SAVE_STEP_G:
            # a card that refuses it is tried again at the next step, not at every poll
            self._zero_saved_g = zero
            self.saved_zero.save(zero)

    def reported_through(self) -> float | None:
        """The time of the newest reading whose events are posted (any thread), or None while
        the scale is not talking (not connected, or no readings on its line): then nothing
        waits for it (:mod:`dashcart.runtime.scale_lag`)."""
        health = getattr(self.driver, "health", None)
        if not self.driver.connected or (health is not None and health.state == "down"):
            return None
        return self._through

    def loop(self, heartbeat: _Beat, stop: threading.Event) -> None:
        """The supervisor's worker body: poll until ``stop``, beating every round."""
        while not stop.is_set():
            self.poll(timeout=0.5)
            heartbeat.beat()

    def _zero_when_at_rest(self) -> None:
        now = time.monotonic()
        while True:
            try:
                future = self._zero_requests.get_nowait()
            except queue.Empty:
                break
            if future.set_running_or_notify_cancel():
                self._zero_waiting.append((now + ZERO_WAIT_S, future))
        waiting, self._zero_waiting = self._zero_waiting, []
        engine = self.engine
        for deadline, future in waiting:
            before = engine.zero_g
            if engine.zero():
                future.set_result(f"zero set ({engine.zero_g - before:+.1f} g)")
            elif now >= deadline:
                future.set_exception(RuntimeError(f"the scale stayed {engine.state.value} for {ZERO_WAIT_S:.0f} s, "
                                                  "never at rest: empty the basket, keep the cart still, try again"))
            else:
                self._zero_waiting.append((deadline, future))

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

    def _overload(self) -> DeviceFault:
        """Whether the engine is overloaded, and by what: a load above capacity + 9 d (the shopper
        can take something out), or readings at the converter's limit (staff)."""
        if self.engine.state is not ScaleState.OVERLOAD:
            return DeviceFault.NONE
        return DeviceFault.TOO_HEAVY if self.engine.too_heavy else DeviceFault.SATURATED

    def _health(self, t: float | None) -> None:
        """A DeviceStatus when the scale's state changes: connected or not, while connected
        whether it really talks (a mute scale, a flood of corrupt lines; see
        :class:`dashcart.drivers.scale.decoder.Liveness`), and while it talks whether it weighs
        (an overload weighs nothing, as a mute scale does: ``down``, with its fault)."""
        connected = self.driver.connected
        health = getattr(self.driver, "health", None)
        state = "down" if not connected else (health.state if health is not None else "ok")
        # a line that is down says more than an overload it may have left the engine in
        fault = self._overload() if state != "down" else DeviceFault.NONE
        if fault is not DeviceFault.NONE:
            state = "down"
        if (state, fault) == self._was:
            return
        self._was = (state, fault)
        when = t if t is not None else (self._last_live[0] if self._last_live else 0.0)
        counters = self.driver.counters.as_dict()
        if not connected:
            reason = getattr(self.driver, "last_error", "") or "not connected"
            self.put(DeviceStatus(when, "scale", "down", f"{self.driver.describe()}: {reason}; "
                                  "weighing resumes when it is back", counters))
        elif fault is DeviceFault.TOO_HEAVY:
            self.put(DeviceStatus(when, "scale", state, f"{self.driver.describe()}: overloaded: the load is above "
                                  f"scale.capacity_g + 9 divisions ({self.engine.overload_g:,.0f} g); nothing is "
                                  "weighed until something is taken out (the screen asks the shopper to)",
                                  counters, fault))
        elif fault is DeviceFault.SATURATED:
            self.put(DeviceStatus(when, "scale", state, f"{self.driver.describe()}: overloaded: the readings are at "
                                  "the scale's limit (saturation codes, S + or S -); nothing is weighed: check the "
                                  "load-cell wires and the bridge (or a load far past capacity)", counters, fault))
        elif state == "ok":
            self.put(DeviceStatus(when, "scale", "ok", self.driver.describe(), counters))
        else:
            why = health.message if health is not None else state
            self.put(DeviceStatus(when, "scale", state, f"{self.driver.describe()}: {why}", counters))
