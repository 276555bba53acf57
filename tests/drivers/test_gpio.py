import importlib.util
import logging
import time

import pytest

from dashcart.config import GpioSection
from dashcart.drivers.gpio import NoStatusLight, Signal, StatusLight, open_status_light


def rgb(light):
    return tuple(light.led.pin_factory.pin(n).state for n in (17, 27, 22))


def wait_until(predicate, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def test_signals_set_the_pins():
    light = open_status_light(GpioSection(pin_factory="mock"))
    assert isinstance(light, StatusLight)
    try:
        light.show(Signal.READY)
        assert rgb(light) == (False, True, False)
        light.show(Signal.CHECKOUT)
        assert rgb(light) == (False, False, True)
        light.show(Signal.ATTENTION)
        buzzer = light.led.pin_factory.pin(23)
        assert wait_until(lambda: sum(1 for _, s in buzzer.states if s) >= 2)  # a double beep
        light.show(Signal.ITEM_ADDED)
        assert wait_until(lambda: rgb(light) == (False, True, False))  # back to ready after the blink
        light.show(Signal.OFF)
        assert rgb(light) == (False, False, False)
    finally:
        light.close()


def test_common_anode_inverts_the_pins():
    light = open_status_light(GpioSection(pin_factory="mock", active_high=False, buzzer_pin=-1))
    try:
        light.show(Signal.READY)
        assert rgb(light) == (True, False, True)
        assert light.buzzer is None
    finally:
        light.close()


@pytest.mark.skipif(importlib.util.find_spec("lgpio") is not None, reason="this machine has lgpio")
def test_no_gpio_logs_one_line_and_carries_on(caplog):
    with caplog.at_level(logging.WARNING):
        light = open_status_light(GpioSection(pin_factory="lgpio"))
    assert isinstance(light, NoStatusLight)
    light.show(Signal.ATTENTION)
    (record,) = [r for r in caplog.records if r.name == "dashcart.drivers.gpio"]
    assert "carries on" in record.getMessage() and "\n" not in record.getMessage()
    assert isinstance(open_status_light(GpioSection(pin_factory="none")), NoStatusLight)


# -- following the cart's state ---------------------------------------------------------------

def test_the_light_follows_the_controllers_snapshots():
    """Played over the demo trip's own snapshots: green while shopping, a blink and a chirp per
    item added, amber with a double beep for a question, blue in the lane."""
    import dataclasses

    from dashcart.drivers.gpio import LightFollower
    from dashcart.sim.demo_scenes import all_scenes
    from dashcart.snapshot import DeviceView, SessionState

    published = []
    all_scenes(published=published)
    light = open_status_light(GpioSection(pin_factory="mock"))
    shown = []
    real_show = light.show
    light.show = lambda signal: (shown.append(signal), real_show(signal))
    follow = LightFollower(light)
    try:
        for snap in published:
            follow(snap)
        assert shown[0] is Signal.READY
        adds = sum(1 for a, b in zip(published, published[1:]) if b.last_change_t != a.last_change_t
                   and sum(ln.qty for ln in b.lines) > sum(ln.qty for ln in a.lines))
        assert shown.count(Signal.ITEM_ADDED) == adds > 3
        assert Signal.ATTENTION in shown and Signal.CHECKOUT in shown
        # no repeats: each show is a change the shopper can see (or one more item)
        assert all(a is not b or a is Signal.ITEM_ADDED for a, b in zip(shown, shown[1:]))
        # a device down is attention too, on the pins
        follow(dataclasses.replace(published[-1], state=SessionState.SHOPPING, checkout=None,
                                   devices=(DeviceView("scale", "down"),)))
        assert light.signal is Signal.ATTENTION
        follow(dataclasses.replace(published[-1], state=SessionState.CHECKOUT, checkout=None))
        assert light.signal is Signal.CHECKOUT and rgb(light) == (False, False, True)
    finally:
        light.close()


def test_the_runtime_starts_the_light_and_closes_it(tmp_path):
    from dashcart.config import parse_config
    from dashcart.runtime.cart_runtime import CartRuntime

    config = parse_config(f'[cart]\nstate_dir = "{tmp_path}"\n[gpio]\npin_factory = "mock"\n')
    runtime = CartRuntime(config)
    runtime.start()
    try:
        assert isinstance(runtime.status_light, StatusLight)
        assert wait_until(lambda: runtime.status_light.signal is Signal.READY)
        assert rgb(runtime.status_light) == (False, True, False)
        runtime.action("signin", "dcs1:practice-cart-guest")
        runtime.action("plu", "99999")
        assert wait_until(lambda: runtime.snapshot().message != "")
        assert runtime.status_light.signal is Signal.READY
    finally:
        runtime.stop()
    assert runtime.status_light.led.closed


def test_two_callers_at_once_never_break_the_light():
    """The controller's snapshots and the fleet's `locate` drive the light from two threads;
    gpiozero's blink thread alone raised "cannot join thread before it is started" thousands of
    times in this loop."""
    import threading
    light = StatusLight(GpioSection(pin_factory="mock"))
    errors: list[str] = []

    def hammer(signals):
        for i in range(500):
            try:
                light.show(signals[i % len(signals)])
            except Exception as exc:   # what the controller's loop would have caught and logged
                errors.append(repr(exc))

    callers = [threading.Thread(target=hammer, args=([Signal.ATTENTION, Signal.READY],)),
               threading.Thread(target=hammer, args=([Signal.ITEM_ADDED, Signal.ATTENTION, Signal.CHECKOUT],))]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()
    light.close()
    assert errors == []


def test_a_snapshot_that_says_the_same_leaves_the_fleets_locate_alone():
    from dashcart.drivers.gpio import LightFollower
    from dashcart.snapshot import SessionState, Snapshot
    light = StatusLight(GpioSection(pin_factory="mock"))
    follow = LightFollower(light)
    try:
        follow(Snapshot(state=SessionState.IDLE))
        assert light.signal is Signal.READY
        light.show(Signal.ATTENTION)                        # the fleet's `locate` blinks the light
        for _ in range(5):                                  # live weights: the cart still says "ready"
            follow(Snapshot(state=SessionState.IDLE))
        assert light.signal is Signal.ATTENTION
        follow(Snapshot(state=SessionState.CHECKOUT))       # the cart's state changed: it takes the light
        assert light.signal is Signal.CHECKOUT
    finally:
        light.close()
