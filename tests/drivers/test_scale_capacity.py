"""A load past the basket's rated capacity (``scale.capacity_g``), end to end: the simulated
bridge on a pseudo-terminal, the real serial driver and decoder, the weighing engine as the cart
runtime builds it, and the controller's snapshot the screen draws; and the same in replay,
which takes the capacity from the config as the live cart does. An HX711 does not saturate at
the load cells' capacity (with cells of ~100 counts/g not before ~84 kg): without the capacity
the cart weighed a 20 kg sack in a 15 kg basket and asked the shopper about it."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from dashcart.cli import main
from dashcart.config import Config
from dashcart.core.catalogue import Catalogue
from dashcart.core.weighing import ScaleState
from dashcart.events import ShopperAction
from dashcart.runtime.cart_runtime import CartRuntime, wait_for
from dashcart.sim.load_script import Lift, Place, format_scale_log, render_scale_log
from dashcart.sim.scale_bridge import LoadScript, SimulatedBridge
from dashcart.snapshot import DeviceFault, SessionState

OFFSET = 5000
CPG = 100.0
WAIT_S = 20.0
# A basket built for 15 kg (not the default 20 kg, so that the configured capacity is seen to
# reach the engine) and a 20 kg sack: over it by far more than 9 divisions.
CAPACITY_G = 15000.0
SACK_G = 20000.0


def started_cart(state_dir: Path, bridge: SimulatedBridge, catalogue: Catalogue) -> CartRuntime:
    """A running cart on ``bridge``'s pseudo-terminal, its basket built for CAPACITY_G."""
    config = Config()
    config = dataclasses.replace(
        config, cart=dataclasses.replace(config.cart, state_dir=str(state_dir)),
        scale=dataclasses.replace(config.scale, backend="serial", port=bridge.port, offset=OFFSET,
                                  counts_per_gram=CPG, capacity_g=CAPACITY_G))
    runtime = CartRuntime(config, catalogue=catalogue)
    runtime.start()
    return runtime


def test_a_load_past_capacity_is_an_overload_on_the_cart_and_weighing_resumes_below_it(
        tmp_path: Path, catalogue: Catalogue) -> None:
    with SimulatedBridge(LoadScript(duration_s=120.0), seed=3, offset=OFFSET, counts_per_gram=CPG) as bridge:
        runtime = started_cart(tmp_path, bridge, catalogue)
        try:
            assert wait_for(runtime, lambda s: s.weight_stable and abs(s.live_weight_g) < 5.0, WAIT_S) is not None
            runtime.post(ShopperAction(runtime.clock(), "signin", "dcs1:test-shopper-00000001"))
            assert wait_for(runtime, lambda s: s.state is SessionState.SHOPPING, WAIT_S) is not None
            source = runtime.scale_source
            assert source is not None and source.engine.capacity_g == CAPACITY_G   # from scale.capacity_g

            bridge.place(SACK_G)     # a sack too heavy for the basket
            assert wait_for(runtime, lambda s: not s.weight_stable, WAIT_S) is not None
            deadline = bridge.now() + 3.0
            while bridge.now() < deadline:   # long past the rest a weight would have come to
                snap = runtime.snapshot()
                # the screen says "Weighing…" (not at rest); nothing to decide, nothing asked
                assert not snap.weight_stable and snap.questions == () and snap.lines == (), snap.questions
                wait_for(runtime, lambda s: False, 0.2)
            assert source.engine.state is ScaleState.OVERLOAD
            assert source.engine.counters.over_capacity > 0 and source.engine.counters.overloads == 1
            # a scale fault, as a mute scale is, that the screen words for the shopper (tests/ui/test_overload_screen.py)
            assert [(d.state, d.fault) for d in runtime.snapshot().devices if d.device == "scale"] == \
                [("down", DeviceFault.TOO_HEAVY)]

            bridge.lift(SACK_G)      # taken out: at rest at 0 g again, and nothing happened
            assert wait_for(runtime, lambda s: s.weight_stable and abs(s.live_weight_g) < 5.0, WAIT_S) is not None
            wait_for(runtime, lambda s: False, 1.0)
            assert runtime.snapshot().questions == ()

            bridge.place(1062.0)     # the next real change is weighed and decided as ever
            snap = wait_for(runtime, lambda s: bool(s.questions), WAIT_S)
            assert snap is not None, "the change after the overload was never decided"
            assert [round(q.delta_g, -1) for q in snap.questions] == [1060.0]
        finally:
            runtime.stop()


@pytest.fixture
def sack_trip(tmp_path: Path) -> Path:
    """A recorded trip of the same story: signed in, the sack in at 3 s and out at 8 s, a juice
    (1062 g, nothing scanned) in at 13 s."""
    trip = tmp_path / "trip"
    trip.mkdir()
    meta = {"format": "dashcart-trip/1", "scale": {"protocol": "hx711-bridge", "offset": OFFSET,
                                                   "counts_per_gram": CPG}, "cameras": []}
    (trip / "trip.json").write_text(json.dumps(meta))
    script = LoadScript(duration_s=18.0, events=(Place(3.0, SACK_G), Lift(8.0, SACK_G), Place(13.0, 1062.0)))
    (trip / "scale.log").write_text(format_scale_log(render_scale_log(script, seed=6, offset=OFFSET,
                                                                      counts_per_gram=CPG)))
    (trip / "shopper.csv").write_text("t,action,value\n0.5,signin,dcs1:ReplayShopper0123456\n")
    return trip


def _config_file(tmp_path: Path, capacity_g: float | None) -> str:
    path = tmp_path / "c.toml"
    path.write_text(f"[scale]\ncapacity_g = {capacity_g}\n" if capacity_g is not None else "")
    return str(path)


@pytest.mark.parametrize("capacity_g,weighed", [(CAPACITY_G, [1062]), (None, [SACK_G, -SACK_G, 1062])])
def test_weigh_replay_takes_the_capacity_from_the_config(sack_trip, tmp_path, capsys, capacity_g, weighed):
    # the default basket (20 kg, + 9 g) weighs a 20 kg sack; one built for 15 kg does not
    assert main(["weigh", "--config", _config_file(tmp_path, capacity_g), "--replay", str(sack_trip), "--json"]) == 0
    changes = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [c["delta_g"] for c in changes] == pytest.approx(weighed, abs=3)


def test_a_replayed_trip_takes_the_capacity_from_the_config(sack_trip, tmp_path, shared_data, capsys):
    catalogue = str(shared_data / "catalogue" / "demo_store.csv")

    def questions(capacity_g: float | None) -> list[dict]:
        code = main(["replay", str(sack_trip), "--json", "--no-vision", "--catalogue", catalogue,
                     "--config", _config_file(tmp_path, capacity_g)])
        out = capsys.readouterr().out
        assert code == 0, out
        return [e for e in json.loads(out)["events"] if e["type"] == "question"]

    # as on the live cart: the sack is no change, the juice is asked about
    [asked] = questions(CAPACITY_G)
    assert asked["t"] > 13.0
    assert len(questions(None)) > 1    # a 20 kg basket weighs the sack: asked about it too
