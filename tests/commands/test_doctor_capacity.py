"""``dashcart doctor`` names a load above the scale's capacity: the line is clean and talks, but
the cart takes every reading for an overload and weighs nothing (docs/scale.md, Overload)."""

from __future__ import annotations

import dataclasses
import threading

import pytest

from dashcart.commands import doctor
from dashcart.config import load_config
from dashcart.drivers.scale.protocol import encode_hx711
from tests.commands.test_doctor import _pty_scale

OFFSET = 8421
CPG = 100.0     # cells of ~100 counts/g: the HX711 saturates near 84 kg, so 25 kg reads as a number


def scale_line(load_g: float, capacity_g: float = 20000.0) -> doctor.Finding:
    raw = int(OFFSET + load_g * CPG)
    stop = threading.Event()
    try:
        port = _pty_scale([encode_hx711(i, raw + (i % 3) - 1) for i in range(200)], stop)
        config = load_config(None)
        scale = dataclasses.replace(config.scale, backend="serial", port=port, offset=OFFSET, counts_per_gram=CPG,
                                    capacity_g=capacity_g)
        [line] = doctor._scale_line(dataclasses.replace(config, scale=scale), seconds=1.5)
    finally:
        stop.set()
    return line


def test_a_25_kg_load_on_a_20_kg_basket_is_a_problem_with_its_reason():
    line = scale_line(25000.0)
    assert not line.ok, line
    assert line.detail.startswith("the load is above the scale's capacity: it reads up to 25,000 g"), line.detail
    assert "scale.capacity_g 20,000 g + 9 divisions (20,009 g)" in line.detail and "\n" not in line.detail
    assert "dashcart calibrate" in line.fix


@pytest.mark.parametrize("load_g, capacity_g", [(19000.0, 20000.0), (25000.0, 30000.0)])
def test_a_load_within_capacity_is_a_clean_line(load_g, capacity_g):
    line = scale_line(load_g, capacity_g)
    assert line.ok and "readings" in line.detail, line
