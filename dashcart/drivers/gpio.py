"""The status light (an RGB LED) and the buzzer, through gpiozero.

Four things to say: ready (steady green), item added (a green blink and a chirp), attention
(blinking amber and a double beep: look at the screen), checkout (steady blue). The pin factory
comes from ``[gpio] pin_factory``: ``mock`` is gpiozero's MockFactory (tests, the simulated
cart), ``lgpio`` for a Pi 5, ``rpigpio`` for older Pis, ``auto`` lets gpiozero choose. Without
GPIO the cart logs one line and carries on with the screen alone.
"""

from __future__ import annotations

import enum
import logging
import threading
from typing import Any

from dashcart.config import GpioSection
from dashcart.snapshot import SessionState, Snapshot

log = logging.getLogger(__name__)

_COLOURS = {"ready": (0, 1, 0), "item_added": (0, 1, 0), "attention": (1, 1, 0), "checkout": (0, 0, 1)}


class Signal(enum.Enum):
    READY = "ready"
    ITEM_ADDED = "item_added"
    ATTENTION = "attention"
    CHECKOUT = "checkout"
    OFF = "off"


def _pin_factory(name: str) -> Any:
    if name == "mock":
        from gpiozero.pins.mock import MockFactory
        return MockFactory()
    if name == "lgpio":
        from gpiozero.pins.lgpio import LGPIOFactory
        return LGPIOFactory()
    if name == "rpigpio":
        from gpiozero.pins.rpigpio import RPiGPIOFactory
        return RPiGPIOFactory()
    if name == "native":
        from gpiozero.pins.native import NativeFactory
        return NativeFactory()
    return None  # auto: gpiozero's own search


class StatusLight:
    """``show(signal)`` sets the light (and sounds the buzzer for item added and attention)."""

    def __init__(self, section: GpioSection) -> None:
        from gpiozero import RGBLED, Buzzer

        factory = _pin_factory(section.pin_factory)
        self.led = RGBLED(section.red_pin, section.green_pin, section.blue_pin, active_high=section.active_high,
                          pwm=False, pin_factory=factory)
        self.buzzer = None
        if section.buzzer_pin >= 0:
            self.buzzer = Buzzer(section.buzzer_pin, pin_factory=self.led.pin_factory)
        self.signal = Signal.OFF
        # The controller's snapshots and the fleet's `locate` both drive the light: gpiozero's
        # blink thread is not safe against a second caller stopping it as it starts ("cannot
        # join thread before it is started"), so one caller at a time.
        self._lock = threading.Lock()

    def show(self, signal: Signal) -> None:
        with self._lock:
            self._show(signal)

    def _show(self, signal: Signal) -> None:
        self.signal = signal
        if signal is Signal.OFF:
            self.led.off()
            return
        colour = _COLOURS[signal.value]
        if signal is Signal.ATTENTION:
            self.led.blink(on_time=0.4, off_time=0.4, on_color=colour, off_color=(0, 0, 0))
            self._beep(times=2)
        elif signal is Signal.ITEM_ADDED:
            # One blink, then steady: the light ends up "ready", the shopper saw the change.
            self.led.blink(on_time=0.15, off_time=0.15, on_color=(0, 0, 0), off_color=colour, n=1)
            self._beep(times=1)
        else:
            self.led.color = colour

    def _beep(self, times: int) -> None:
        if self.buzzer is not None:
            self.buzzer.beep(on_time=0.08, off_time=0.08, n=times)

    def close(self) -> None:
        with self._lock:
            if self.buzzer is not None:
                self.buzzer.close()
            self.led.close()


class NoStatusLight:
    """No GPIO: every call is accepted and nothing happens."""

    signal = Signal.OFF

    def show(self, signal: Signal) -> None:
        self.signal = signal

    def close(self) -> None:
        pass


def open_status_light(section: GpioSection) -> StatusLight | NoStatusLight:
    if section.pin_factory == "none":
        return NoStatusLight()
    try:
        return StatusLight(section)
    except Exception as exc:  # no GPIO chip, no permission, library missing: the cart still works
        log.warning("gpio: no status light or buzzer (%s: %s); the cart carries on without them "
                    "(set [gpio] pin_factory = \"none\" to silence this)", section.pin_factory, exc)
        return NoStatusLight()


def signal_for(snap: Snapshot) -> Signal:
    """What the light says about the cart now: attention when the shopper must act (a question,
    a held or failed checkout, a device down), blue in the lane, green otherwise."""
    co = snap.checkout
    if snap.questions or any(d.state == "down" for d in snap.devices) or \
            (co is not None and co.stage in ("blocked", "failed")):
        return Signal.ATTENTION
    if snap.state is SessionState.CHECKOUT:
        return Signal.CHECKOUT
    return Signal.READY


class LightFollower:
    """Feeds every published snapshot to the light: it changes only when the cart's state does,
    and an item added (a basket line that grew) blinks and chirps once."""

    def __init__(self, light: StatusLight | NoStatusLight) -> None:
        self.light = light
        self._last: Snapshot | None = None
        self._signal: Signal | None = None     # what the cart's state said last

    def __call__(self, snap: Snapshot) -> None:
        last, self._last = self._last, snap
        signal, said = signal_for(snap), self._signal
        self._signal = signal
        if signal is Signal.READY and last is not None and _item_added(last, snap):
            self.light.show(Signal.ITEM_ADDED)
        elif signal is not said:
            # Only a change of the cart's state takes the light: a snapshot that says the same
            # (a live weight) leaves what someone else showed meanwhile (the fleet's `locate`).
            self.light.show(signal)


def _item_added(old: Snapshot, new: Snapshot) -> bool:
    change = (new.last_change_code, new.last_change_t)
    if new.last_change_code is None or change == (old.last_change_code, old.last_change_t):
        return False
    before = sum(line.qty for line in old.lines if line.code == new.last_change_code)
    after = sum(line.qty for line in new.lines if line.code == new.last_change_code)
    lots = sum(1 for line in new.lines if line.code == new.last_change_code) > sum(1 for line in old.lines
                                                                            if line.code == new.last_change_code)
    return after > before or lots
