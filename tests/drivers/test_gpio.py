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
