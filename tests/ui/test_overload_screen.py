"""An overloaded scale on the shopper's screen. Too heavy a load (above scale.capacity_g + 9
divisions) is the shopper's to put right: "take the heaviest item out"; readings at the
converter's limit (a loose wire, a failing bridge) are staff's: "the scale is not working".
End to end: the simulated bridge on a pseudo-terminal, the real driver, weighing engine, scale
reader, controller and runtime, and the real pygame screen drawn from what the runtime published.
And the words fit every screen size in both languages."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pygame
import pytest

from dashcart.config import parse_config
from dashcart.core.catalogue import Catalogue
from dashcart.events import ShopperAction
from dashcart.runtime.cart_runtime import wait_for
from dashcart.sim.scale_bridge import LoadScript, SimulatedBridge
from dashcart.snapshot import DeviceFault, DeviceView, SessionState, Snapshot
from dashcart.ui import theme
from dashcart.ui.i18n import Strings
from dashcart.ui.layout import RESOLUTIONS
from dashcart.ui.scenes import Scene
from dashcart.ui.screenshots import scene_app
from dashcart.ui.widgets import Button, Text
from tests.drivers.test_scale_capacity import CPG, OFFSET, started_cart
from tests.ui.test_screens import check_layout, cut_off
from tests.ui.ui_helpers import Harness, demo_scenes, fonts_for

SACK_G = 20000.0
WAIT_S = 20.0


def scale_of(snap: Snapshot) -> DeviceView | None:
    return next((d for d in snap.devices if d.device == "scale"), None)


def faulted(fault: DeviceFault):
    return lambda s: (v := scale_of(s)) is not None and v.fault == fault


def words(h: Harness) -> str:
    return " ".join(w.text if isinstance(w, Text) else w.label if isinstance(w, Button) else "" for w in h.app.widgets)


def test_too_heavy_a_load_asks_the_shopper_to_take_something_out_and_a_saturated_bridge_asks_for_staff(
        tmp_path: Path, catalogue: Catalogue) -> None:
    en = Strings("en", "USD")
    too_heavy, take_out = en("trouble.too_heavy"), en("trouble.too_heavy_do")
    with SimulatedBridge(LoadScript(duration_s=120.0), seed=3, offset=OFFSET, counts_per_gram=CPG) as bridge:
        runtime = started_cart(tmp_path / "state", bridge, catalogue)
        try:
            assert wait_for(runtime, lambda s: s.weight_stable and abs(s.live_weight_g) < 5.0, WAIT_S) is not None
            runtime.post(ShopperAction(runtime.clock(), "signin", "dcs1:test-shopper-00000001"))
            shopping = wait_for(runtime, lambda s: s.state is SessionState.SHOPPING, WAIT_S)
            assert shopping is not None
            h = Harness(shopping, tmp=tmp_path)
            assert h.app.screen == "shopping" and too_heavy not in words(h)

            bridge.place(SACK_G)            # a sack too heavy for the basket
            snap = wait_for(runtime, faulted(DeviceFault.TOO_HEAVY), WAIT_S)
            assert snap is not None, "the overload never reached the snapshot"
            scale = scale_of(snap)
            assert scale is not None and scale.state == "down" and "overloaded" in scale.message
            assert snap.questions == () and snap.lines == ()
            h.render(snap)
            # the trouble screen opens by itself and says what to do; the light is red
            assert h.app.screen == "trouble"
            said = h.find("choice_text").text
            assert too_heavy in said and take_out in said and en("trouble.scale") not in said
            assert h.find("light").color == theme.DANGER
            h.tap("close")                  # closed: the header still says something needs attention
            assert h.app.screen == "shopping" and "status" in h.ids() and "weighing" not in h.ids()

            bridge.lift(SACK_G)             # taken out: the fault clears, and nothing was billed
            snap = wait_for(runtime, lambda s: (v := scale_of(s)) is not None and v.state == "ok", WAIT_S)
            assert snap is not None, "the overload never cleared"
            assert scale_of(snap).fault == DeviceFault.NONE and snap.questions == () and snap.lines == ()
            h.render(snap)
            assert "status" not in h.ids() and too_heavy not in words(h)

            bridge.fault("saturation", count=4 * 80)    # 4 s of saturation codes: a load-cell wire
            snap = wait_for(runtime, faulted(DeviceFault.SATURATED), WAIT_S)
            assert snap is not None, "the saturated bridge never reached the snapshot"
            h.render(snap)
            assert h.app.screen == "trouble"
            said = h.find("choice_text").text
            assert en("trouble.scale") in said and en("trouble.scale_do") in said and too_heavy not in said
            assert wait_for(runtime, lambda s: (v := scale_of(s)) is not None and v.state == "ok", WAIT_S) is not None
        finally:
            runtime.stop()


@pytest.mark.parametrize("language", ["en", "ko"])
@pytest.mark.parametrize("size", RESOLUTIONS, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("others", [(), (DeviceView("network", "down", "store API unreachable"),)],
                         ids=["alone", "with_network_down"])
def test_too_heavy_reads_in_full_on_every_screen_size(size, language, others):
    base = demo_scenes()["shopping"].snapshot
    devices = (DeviceView("scale", "down", "overloaded", DeviceFault.TOO_HEAVY), *others)
    scene = Scene("too_heavy", dataclasses.replace(base, devices=devices), mode="trouble")
    config = parse_config("")
    app, snap = scene_app(scene, size, language, config, fonts_for(config))
    app.render(snap, pygame.Surface(size), full=True)
    assert app.screen == "trouble"
    text = next(w for w in app.widgets if w.id == "choice_text").text
    assert Strings(language, "USD")("trouble.too_heavy_do") in text
    check_layout(app, size)
    assert not cut_off(app), cut_off(app)
