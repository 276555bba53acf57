"""The live cart's runtime: READY and a clean stop under a notify socket, a restart that resumes
the basket from the journal, and missing devices that degrade the cart instead of stopping it."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dashcart.config import CameraSpec, CartSection, Config
from dashcart.core.catalogue import Catalogue
from dashcart.events import BarcodeSeen, ShopperAction, WeightSettled
from dashcart.runtime.cart_runtime import CartRuntime, wait_for
from dashcart.snapshot import SessionState
from tests.notify_socket import NotifyReceiver

REPO = Path(__file__).resolve().parents[2]
MILK = "2410000001415"


def _config(state_dir: Path, **sections: object) -> Config:
    config = Config()
    # A serial scale that is not there: the cart must run on without it.
    scale = dataclasses.replace(config.scale, backend="serial", port=str(state_dir / "no-such-tty"))
    return dataclasses.replace(config, cart=dataclasses.replace(config.cart, state_dir=str(state_dir)),
                               scale=scale, **sections)


def _messages_until(receiver: NotifyReceiver, needle: str, timeout: float) -> list[str]:
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            text, _pid = receiver.receive(timeout=max(0.1, deadline - time.monotonic()))
        except TimeoutError:
            break
        seen.append(text)
        if needle in text.splitlines():
            return seen
    raise AssertionError(f"no {needle} within {timeout} s; got {seen}")


def test_run_headless_sends_ready_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    receiver = NotifyReceiver()
    env = dict(os.environ, NOTIFY_SOCKET=receiver.env_value, XDG_STATE_HOME=str(tmp_path / "state"))
    env.pop("WATCHDOG_USEC", None)
    child = subprocess.Popen([sys.executable, "-m", "dashcart", "run", "--headless"], cwd=REPO, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready = _messages_until(receiver, "READY=1", 60)
        assert any(line.startswith("STATUS=idle") for m in ready for line in m.splitlines())
        child.send_signal(signal.SIGTERM)
        _messages_until(receiver, "STOPPING=1", 20)
        assert child.wait(timeout=30) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    _out, err = child.communicate()
    assert "Traceback" not in err
    # The journal lives in the state dir, where the next start finds it.
    assert (tmp_path / "state" / "dashcart" / "basket.db").is_file()


def _add_milk(runtime: CartRuntime) -> None:
    t = runtime.clock()
    runtime.post(ShopperAction(t, "signin", "dcs1:test-shopper-00000001"))
    runtime.post(BarcodeSeen(t + 0.1, "top", MILK, "EAN-13"))
    runtime.post(WeightSettled(t + 0.5, 1584.0, 1584.0, started_t=t + 0.2))


def test_restart_resumes_the_basket_from_the_journal(tmp_path: Path, catalogue: Catalogue) -> None:
    config = _config(tmp_path)
    first = CartRuntime(config, catalogue=catalogue)
    first.start()
    try:
        _add_milk(first)
        snap = wait_for(first, lambda s: any(line.code == MILK for line in s.lines), 10)
        assert snap is not None, "the milk never reached the basket"
    finally:
        first.stop()

    second = CartRuntime(config, catalogue=catalogue)
    second.start()
    try:
        snap = second.snapshot()
        assert snap.state is SessionState.SHOPPING
        assert [(line.code, line.qty) for line in snap.lines] == [(MILK, 1)]
        assert snap.total_cents == catalogue.get(MILK).price_cents
    finally:
        second.stop()


def test_what_went_in_while_the_cart_was_down_is_asked_about_not_taken_as_zero(tmp_path: Path,
                                                                              catalogue: Catalogue) -> None:
    """The milk (1,584 g) is on the bill; the cart restarts (an update, the watchdog, a power
    cut) and meanwhile a 1 kg item goes in. The scale's first rest is 2,584 g: before, that was
    its new reference and the item was never billed; now it is a change the shopper is asked
    about. A restart with the load as the journal left it asks nothing."""
    from dashcart.sim.scale_bridge import LoadScript, SimulatedBridge
    config = _config(tmp_path)
    first = CartRuntime(config, catalogue=catalogue)
    first.start()
    try:
        _add_milk(first)
        assert wait_for(first, lambda s: any(line.code == MILK for line in s.lines), 10) is not None
    finally:
        first.stop()

    for load_g, asked in ((1584.0, False), (2584.0, True)):
        with SimulatedBridge(LoadScript(duration_s=60.0, initial_g=load_g), seed=3, offset=-84211,
                             counts_per_gram=420.0) as bridge:
            scale = dataclasses.replace(config.scale, port=bridge.port, offset=-84211, counts_per_gram=420.0)
            runtime = CartRuntime(dataclasses.replace(config, scale=scale), catalogue=catalogue)
            runtime.start()
            try:
                snap = wait_for(runtime, lambda s, load_g=load_g, asked=asked: s.weight_stable and bool(s.questions) == asked
                                and abs(s.live_weight_g - load_g) < 5.0, 20)   # at its first rest
                assert snap is not None, f"{load_g} g: {runtime.snapshot().questions}"
                time.sleep(1.0)    # past the decision's deadline: a question would be there by now
                snap = runtime.snapshot()
                assert [(line.code, line.qty) for line in snap.lines] == [(MILK, 1)]
                assert [round(q.delta_g, -1) for q in snap.questions] == ([1000.0] if asked else [])
            finally:
                runtime.stop()


def test_missing_scale_and_camera_degrade_and_the_cart_keeps_working(tmp_path: Path, catalogue: Catalogue) -> None:
    config = _config(tmp_path)
    cameras = dataclasses.replace(config.cameras, reconnect_s=0.2, devices=[
        CameraSpec(id="cam0", backend="recorded", source=str(tmp_path / "no-such-camera"))])
    config = dataclasses.replace(config, cameras=cameras, vision=dataclasses.replace(config.vision, enabled=False))
    runtime = CartRuntime(config, catalogue=catalogue)
    runtime.start()
    try:
        snap = wait_for(runtime, lambda s: {"scale", "camera:cam0"} <= {d.device for d in s.devices if d.state == "down"},
                        15)
        assert snap is not None, f"devices never reported down: {runtime.snapshot().devices}"
        # Weight and touch: the shopper can still sign in and the controller still decides.
        _add_milk(runtime)
        assert wait_for(runtime, lambda s: any(line.code == MILK for line in s.lines), 10) is not None
        assert runtime.supervisor.restarts("controller") == 0
    finally:
        runtime.stop()


def test_sim_camera_backend_films_the_simulated_basket() -> None:
    from dashcart.config import parse_config
    from dashcart.runtime.devices import open_camera
    from dashcart.sim.camera import SceneCamera

    config = parse_config('[[cameras.devices]]\nid = "top"\nbackend = "sim"\nwidth = 320\nheight = 240\n', "t.toml")
    source = open_camera(config.cameras.devices[0])
    assert isinstance(source, SceneCamera)
    with source:
        recorded_t, empty = source.read()
        source.view.place(empty[:96, :96].copy() * 0 + 40)   # a dark square lands on the floor
        _, after = source.read()
    assert recorded_t is None and empty.shape == (240, 320, 3)
    # The first free spot is the top-left one: it went dark there, and only there.
    spot, elsewhere = (slice(20, 90), slice(20, 90)), (slice(150, 220), slice(200, 300))
    assert after[spot].mean() < empty[spot].mean() - 15
    assert abs(after[elsewhere].mean() - empty[elsewhere].mean()) < 5


class StuckScale:
    """A scale whose reads hang (a wedged USB adapter): the first read returns, later ones block."""

    def __init__(self) -> None:
        import threading

        from dashcart.drivers.scale.decoder import ScaleCounters
        self.reads = 0
        self.connected = True
        self.counters = ScaleCounters()
        self._released = threading.Event()

    def describe(self) -> str:
        return "a stuck scale"

    def read(self, timeout: float | None = None) -> list:
        self.reads += 1
        if self.reads > 1:
            self._released.wait()
        return []

    def close(self) -> None:
        self._released.set()


def test_a_hung_scale_reader_is_restarted_while_the_cart_keeps_working(tmp_path: Path, catalogue: Catalogue) -> None:
    from dashcart.runtime.cart_runtime import Devices
    scale = StuckScale()
    runtime = CartRuntime(_config(tmp_path), catalogue=catalogue, devices=Devices(scale=scale), loop_deadline_s=1.5)
    runtime.start()
    try:
        deadline = time.monotonic() + 30
        while (runtime.supervisor.restarts("scale reader") == 0 or scale.reads < 3) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert runtime.supervisor.restarts("scale reader") >= 1
        assert scale.reads >= 3            # the replacement worker read again
        runtime.action("signin", "dcs1:test-shopper-00000001")
        assert wait_for(runtime, lambda s: s.state is SessionState.SHOPPING, 10) is not None
    finally:
        runtime.stop()


def test_staff_zero_the_scale_zeroes_the_running_scale(tmp_path: Path, catalogue: Catalogue, caplog) -> None:
    """"Zero the scale" in the staff menu reaches the scale reader's engine: a cell that reads
    120 g with the basket empty (its offset drifted) reads 0 g after it, and the log says so."""
    from dashcart.sim.scale_bridge import LoadScript, SimulatedBridge
    script = LoadScript(duration_s=60.0)
    with SimulatedBridge(script, seed=5, offset=-84211, counts_per_gram=420.0) as bridge:
        config = _config(tmp_path)
        drifted = -84211 - round(120 * 420.0)                 # the calibration is 120 g off now
        config = dataclasses.replace(config, scale=dataclasses.replace(config.scale, port=bridge.port, offset=drifted,
                                                                       counts_per_gram=420.0))
        runtime = CartRuntime(config, catalogue=catalogue)
        runtime.start()
        try:
            snap = wait_for(runtime, lambda s: s.weight_stable and abs(s.live_weight_g - 120.0) < 5.0, 20)
            assert snap is not None, f"the drifted scale never read 120 g: {runtime.snapshot().live_weight_g}"
            with caplog.at_level("INFO", logger="dashcart.run"):
                runtime.post(ShopperAction(runtime.clock(), "staff", "tare"))
                snap = wait_for(runtime, lambda s: abs(s.live_weight_g) < 5.0, 20)
            assert snap is not None, f"the scale was not zeroed: {runtime.snapshot().live_weight_g} g"
            assert runtime.scale_source is not None and abs(runtime.scale_source.engine.zero_g - 120.0) < 5.0
            assert any("staff zeroed it: zero set (+1" in r.getMessage() for r in caplog.records)
        finally:
            runtime.stop()
        # The zero is kept across a restart: the drift does not come back as load (which a
        # restart in a session would take for an item put in while the cart was down).
        again = CartRuntime(config, catalogue=catalogue)
        again.start()
        try:
            assert again.scale_source is not None and abs(again.scale_source.engine.zero_g - 120.0) < 5.0
            assert wait_for(again, lambda s: s.weight_stable and abs(s.live_weight_g) < 5.0, 20) is not None
        finally:
            again.stop()


def test_a_saved_zero_is_used_only_for_its_own_calibration(tmp_path: Path, caplog) -> None:
    from dashcart.runtime.scale_reader import SavedZero
    path = tmp_path / "scale_zero.json"
    assert SavedZero(path, -84211, 420.0).load() == 0.0               # none saved yet
    SavedZero(path, -84211, 420.0).save(118.456)
    assert SavedZero(path, -84211, 420.0).load() == 118.46
    assert SavedZero(path, -90000, 420.0).load() == 0.0               # recalibrated since
    with caplog.at_level("WARNING", logger="dashcart.scale"):
        for damaged in ("{not json", '{"offset": -84211, "counts_per_gram": 420.0, "zero_g": "x"}', "[]"):
            path.write_text(damaged)
            assert SavedZero(path, -84211, 420.0).load() == 0.0
    # (other carts' scale readers, still winding down from earlier tests, may log here too)
    assert len([r for r in caplog.records if r.levelname == "WARNING" and str(path) in r.getMessage()]) == 3


def test_a_second_cart_on_the_same_state_directory_is_refused_until_the_first_stops(tmp_path, catalogue):
    from dashcart.errors import RetryLater
    first = CartRuntime(_config(tmp_path), catalogue=catalogue)
    first.start()
    try:
        second = CartRuntime(_config(tmp_path), catalogue=catalogue)
        with pytest.raises(RetryLater, match=rf"another dashcart \(pid {os.getpid()}\) is using this state directory"):
            second.start()
    finally:
        first.stop()
    second = CartRuntime(_config(tmp_path), catalogue=catalogue)
    second.start()   # the first one's stop let go
    second.stop()


def test_a_state_dir_that_is_a_file_is_a_config_mistake(tmp_path, catalogue):
    from dashcart.errors import Misconfigured
    (tmp_path / "state").write_text("")
    config = dataclasses.replace(_config(tmp_path), cart=CartSection(state_dir=str(tmp_path / "state")))
    with pytest.raises(Misconfigured, match="not a directory"):
        CartRuntime(config, catalogue=catalogue).start()


def test_a_lock_file_this_user_cannot_write_still_locks(tmp_path, monkeypatch):
    # `sudo dashcart run` once leaves dashcart.lock owned by root: the service's user takes the
    # lock read-only, and a second cart beside it is still refused.
    from dashcart.errors import RetryLater
    from dashcart.runtime import state_lock
    (tmp_path / state_lock.LOCK_NAME).write_text("1\n")
    real_open = os.open

    def as_another_user(path, flags, *mode):
        if flags & os.O_RDWR:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *mode)

    monkeypatch.setattr(state_lock.os, "open", as_another_user)
    service = state_lock.StateDirLock(tmp_path)
    service.acquire()
    monkeypatch.setattr(state_lock.os, "open", real_open)
    try:
        with pytest.raises(RetryLater, match="another dashcart"):
            state_lock.StateDirLock(tmp_path).acquire()
    finally:
        service.release()
    again = state_lock.StateDirLock(tmp_path)
    again.acquire()   # once the service let go
    again.release()


def test_a_cart_with_a_store_never_sells_from_the_demo_catalogue(tmp_path):
    # no catalogue imported yet: with a store, the demo's prices would be charged to real cards
    from dashcart.runtime.cart_runtime import open_catalogue
    config = _config(tmp_path)
    catalogue, which = open_catalogue(config)
    assert len(catalogue) > 0 and which.startswith("demo catalogue")     # a practice cart: the demo
    store = dataclasses.replace(config, checkout=dataclasses.replace(config.checkout, store_url="https://s.example/api"))
    catalogue, which = open_catalogue(store)
    assert len(catalogue) == 0 and "not used with a store" in which
