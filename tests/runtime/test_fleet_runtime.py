"""A running cart with a [fleet] section: its health, fault telemetry, the locate and
recalibrate_zero commands and a clean offline on stop, through a real Mosquitto; and a cart
without one that never touches the fleet."""

from __future__ import annotations

import dataclasses
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dashcart.config import Config, FleetSection
from dashcart.core.catalogue import Catalogue
from dashcart.events import DeviceStatus
from dashcart.runtime.cart_runtime import CartRuntime
from tests.runtime.mosquitto_broker import Mosquitto, mosquitto_binary
from tests.runtime.test_fleet import Observer, _sign

pytestmark = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto is not installed (apt-get install mosquitto)")

BASE = "dashcart/v1/store-1/cart-0042"
SIGNING_SEED = bytes(range(32))


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    mosquitto = Mosquitto(tmp_path / "broker")
    mosquitto.start()
    yield mosquitto
    mosquitto.stop()


def _config(tmp_path: Path, broker_url: str) -> Config:
    config = Config()
    return dataclasses.replace(
        config, cart=dataclasses.replace(config.cart, id="cart-0042", state_dir=str(tmp_path / "state")),
        fleet=FleetSection(broker_url=broker_url, store_id="store-1", health_period_s=1.0, reconnect_max_s=1.0))


def test_a_cart_reports_health_faults_and_runs_commands(broker: Mosquitto, tmp_path: Path, catalogue: Catalogue) -> None:
    observer = Observer(broker.url)
    runtime = CartRuntime(_config(tmp_path, broker.url), catalogue=catalogue)
    runtime.start()
    runtime._fleet.counters_every_s = 1.0
    try:
        health = observer.wait(lambda: [h for h in observer.on(f"{BASE}/health")
                                        if h.get("scale", {}).get("state") == "stable"], timeout=20)[-1]
        for key in ("software", "model", "catalogue", "scale", "cameras", "beacons", "outbox_depth",
                    "questions_per_event", "disk_free_mb", "zone"):
            assert key in health, key
        assert health["catalogue"]["products"] == len(catalogue)
        assert health["outbox_depth"] == 0 and health["disk_free_mb"] > 0
        assert {"zero_offset_g", "drift_g", "last_calibration"} <= set(health["scale"])
        counters = observer.wait(lambda: [m for m in observer.on(f"{BASE}/telemetry") if m.get("kind") == "counters"])[-1]
        assert counters["weighing"]["samples"] > 0 and "connects" in counters["link"]
        # locate: the cart's own light blinks amber (and beeps), then says what the cart says again.
        from dashcart.drivers.gpio import Signal
        light = runtime.status_light
        assert light.signal is Signal.READY
        observer.publish(f"{BASE}/cmd/locate/l-1", {"state": "init", "seconds": 1.5})
        observer.wait(lambda: light.signal is Signal.ATTENTION)
        located = observer.wait(lambda: [m for m in observer.on(f"{BASE}/cmd/locate/l-1")
                                         if m.get("state") in ("successful", "failed")])[-1]
        assert located == {"state": "successful", "result": "status light and buzzer for 1.5 s"}
        assert light.signal is Signal.READY and light.led.value == (0, 1, 0)
        # A device fault reaches the fleet as telemetry marked as a fault.
        runtime.post(DeviceStatus(runtime.clock(), "camera:top", "down", "unplugged"))
        fault = observer.wait(lambda: [m for m in observer.on(f"{BASE}/telemetry")
                                       if m.get("kind") == "device" and m.get("device") == "camera:top"])[-1]
        assert fault["fault"] is True and fault["state"] == "down" and fault["seq"] >= 1
        observer.wait(lambda: observer.on(f"{BASE}/health")[-1]["cameras"].get("top", {}).get("ok") is False)
        # Commands, executed on the cart's own threads.
        observer.publish(f"{BASE}/cmd/recalibrate_zero/z-1", {"state": "init"})
        zero = observer.wait(lambda: [m for m in observer.on(f"{BASE}/cmd/recalibrate_zero/z-1")
                                      if m.get("state") in ("successful", "failed")])[-1]
        assert zero["state"] == "successful" and zero["result"].startswith("zero set")
    finally:
        runtime.stop()
    status = observer.wait(lambda: observer.on(f"{BASE}/status")[-1].get("state") == "offline")
    assert status
    observer.close()


def test_without_a_fleet_section_the_cart_never_touches_the_fleet(tmp_path: Path, catalogue: Catalogue) -> None:
    config = Config()
    config = dataclasses.replace(config, cart=dataclasses.replace(config.cart, state_dir=str(tmp_path / "state")))
    runtime = CartRuntime(config, catalogue=catalogue)
    runtime.start()
    try:
        time.sleep(0.3)
        assert runtime._fleet is None
    finally:
        runtime.stop()
    assert not (tmp_path / "state" / "fleet").exists()
    # Nor loads it: in a process of its own, not even the fleet's modules (nor paho, nor PyNaCl).
    import subprocess
    import sys

    from tests.runtime.test_fleet import REPO
    script = ("import dataclasses, sys\nfrom dashcart.config import Config\n"
              "from dashcart.runtime.cart_runtime import CartRuntime\n"
              f"c = dataclasses.replace(Config(), cart=dataclasses.replace(Config().cart, state_dir={str(tmp_path / 'sub')!r}))\n"
              "r = CartRuntime(c)\nr.start()\nr.stop()\n"
              "print(sorted(m for m in sys.modules if m.split('.')[0] in ('paho', 'nacl') or 'fleet' in m))\n")
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.splitlines()[-1] == "[]", out.stdout + out.stderr[-2000:]


def test_a_cart_with_its_broker_gone_starts_and_stops_promptly(tmp_path: Path, catalogue: Catalogue, caplog) -> None:
    from tests.runtime.mosquitto_broker import free_port
    port = free_port()
    runtime = CartRuntime(_config(tmp_path, f"mqtt://127.0.0.1:{port}"), catalogue=catalogue)
    t0 = time.monotonic()
    runtime.start()
    try:
        runtime.post(DeviceStatus(runtime.clock(), "camera:top", "down", "unplugged"))
        time.sleep(1.5)
        assert runtime._fleet.link.counters.connect_failures >= 1
    finally:
        runtime.stop()
    # the operator hears of it at once, and once, not at every attempt
    said = [r.getMessage() for r in caplog.records if "cannot reach the broker" in r.getMessage()]
    assert len(said) == 1 and f"127.0.0.1:{port}" in said[0] and r"refused" in said[0].lower(), said
    assert time.monotonic() - t0 < 10
    import sqlite3
    with sqlite3.connect(tmp_path / "state" / "fleet" / "outbox.sqlite") as db:
        kinds = [k for (k,) in db.execute("SELECT json_extract(payload, '$.kind') FROM telemetry")]
    assert "device" in kinds   # kept on disk for when the broker is back


def _signed(version: int, doc: dict[str, object]) -> dict[str, object]:
    from nacl.signing import SigningKey
    return _sign(SigningKey(SIGNING_SEED), version, doc)


def _public_key() -> str:
    from nacl.signing import SigningKey
    return bytes(SigningKey(SIGNING_SEED).verify_key).hex()


def test_a_config_document_takes_effect_when_the_shopper_is_done_not_during_the_trip(
        broker: Mosquitto, tmp_path: Path, catalogue: Catalogue) -> None:
    from dashcart.events import ShopperAction
    from dashcart.runtime.cart_runtime import is_state, wait_for
    from dashcart.snapshot import SessionState

    config = _config(tmp_path, broker.url)
    config = dataclasses.replace(config, fleet=dataclasses.replace(config.fleet, config_public_key=_public_key()))
    observer = Observer(broker.url)
    runtime = CartRuntime(config, catalogue=catalogue)
    runtime.restartable = True   # as `dashcart run` makes it
    runtime.start()
    try:
        assert runtime._fleet is not None and runtime._fleet.link is not None
        assert runtime._fleet.link.connected_event.wait(10)
        runtime.post(ShopperAction(runtime.clock(), "signin", "dcs1:fleet-test-shopper-0001"))
        assert wait_for(runtime, is_state(SessionState.SHOPPING), 5)
        observer.publish(f"{BASE}/config/desired", _signed(3, {"ui": {"volume": 0.3}}))
        # Accepted and kept at once; run only once the trip is over.
        observer.wait(lambda: {"version": 3, "status": "ok"} in observer.on(f"{BASE}/config/reported"))
        pending = observer.wait(lambda: [h for h in observer.on(f"{BASE}/health")
                                         if h.get("config_pending_restart") == 3], timeout=10)[-1]
        assert pending["config_version"] == 0 and pending["session"] == "shopping"
        time.sleep(1.0)
        assert not runtime.stopped.is_set() and runtime.restart_requested == ""
        runtime.action("staff", "end_session")   # (the simulated scale may have put a question up)
        assert runtime.stopped.wait(5), "the idle cart did not start again with the new document"
        assert runtime.restart_requested == "fleet config version 3"
    finally:
        runtime.stop()
    # What `dashcart run` does next: the same cart, built from the document.
    again = CartRuntime(config, catalogue=catalogue)
    again.start()
    try:
        assert again.config.ui.volume == 0.3 and again.config.fleet == config.fleet
        health = observer.wait(lambda: [h for h in observer.on(f"{BASE}/health")
                                        if h.get("boot_id") != pending["boot_id"]], timeout=15)[-1]
        assert health["config_version"] == 3 and "config_pending_restart" not in health
    finally:
        again.stop()
        observer.close()


def test_dashcart_run_starts_again_in_the_same_process_with_a_new_document(broker: Mosquitto, tmp_path: Path) -> None:
    """The real service: SIGTERM-free, the same pid (systemd's main pid and its watchdog),
    RELOADING=1 to systemd instead of STOPPING=1, READY=1 again from the new start."""
    import os
    import subprocess
    import sys

    from tests.notify_socket import NotifyReceiver
    from tests.runtime.test_fleet import REPO

    toml = tmp_path / "cart.toml"
    toml.write_text(f'[cart]\nid = "cart-0042"\nstate_dir = "{tmp_path / "state"}"\n'
                    f'[fleet]\nbroker_url = "{broker.url}"\nstore_id = "store-1"\nconfig_public_key = "{_public_key()}"\n'
                    "reconnect_max_s = 1.0\nhealth_period_s = 1.0\n")
    observer = Observer(broker.url)
    notify = NotifyReceiver()
    log = tmp_path / "cart.log"
    cart = subprocess.Popen([sys.executable, "-m", "dashcart", "run", "--headless", "--config", str(toml)], cwd=REPO,
                            env=dict(os.environ, NOTIFY_SOCKET=notify.env_value), stderr=log.open("w"))
    try:
        first = observer.wait(lambda: [s for s in observer.on(f"{BASE}/status") if s.get("state") == "online"]
                              or cart.poll() is not None, timeout=30)
        assert cart.poll() is None, log.read_text()[-2000:]
        first = first[-1]
        sent = time.monotonic()
        observer.publish(f"{BASE}/config/desired", _signed(5, {"ui": {"volume": 0.25}}))
        health = observer.wait(lambda: [h for h in observer.on(f"{BASE}/health") if h.get("config_version") == 5
                                        and h.get("boot_id") != first["boot_id"]], timeout=30)[-1]
        took = time.monotonic() - sent
        assert "config_pending_restart" not in health and cart.poll() is None
        said: list[str] = []   # the first line of each datagram: READY=1, STATUS=..., RELOADING=1, ...
        while "RELOADING=1" not in said or "READY=1" not in said[said.index("RELOADING=1"):]:
            text, pid = notify.receive(timeout=10)
            assert pid == cart.pid
            said.append(text.splitlines()[0])
        assert "READY=1" in said[:said.index("RELOADING=1")] and "STOPPING=1" not in said
        # Valid against the schema, yet this cart cannot start with it (a serial scale needs a
        # port): refused, and the cart is back on version 5 rather than down for good.
        observer.publish(f"{BASE}/config/desired", _signed(6, {"scale": {"backend": "serial"}}))
        refused = observer.wait(lambda: [r for r in observer.on(f"{BASE}/config/reported")
                                         if r.get("rejected_version") == 6], timeout=30)[-1]
        assert refused["version"] == 5 and refused["status"] == "rejected"
        assert refused["reason"].startswith("the cart could not start with it: ") and "scale.port" in refused["reason"]
        back = observer.wait(lambda: [h for h in observer.on(f"{BASE}/health")
                                      if h.get("boot_id") not in (first["boot_id"], health["boot_id"])], timeout=30)[-1]
        assert back["config_version"] == 5 and cart.poll() is None
        cart.send_signal(signal.SIGTERM)
        assert cart.wait(20) == 0
    finally:
        cart.kill()
        cart.wait(10)
        notify.close()
        observer.close()
    stderr = log.read_text()
    assert "starting again: fleet config version 5" in stderr and "running config version 5" in stderr, stderr[-2000:]
    assert took < 10, took


def test_a_cart_that_cannot_save_says_so_to_the_fleet(broker: Mosquitto, tmp_path: Path, catalogue: Catalogue) -> None:
    """A journal write that fails reaches the fleet at once as a device fault ('storage', "cannot
    save") and stays in the health's devices_down, as it stays on the screen."""
    from dashcart.events import ShopperAction
    observer = Observer(broker.url)
    runtime = CartRuntime(_config(tmp_path, broker.url), catalogue=catalogue)
    runtime.start()
    try:
        observer.wait(lambda: observer.on(f"{BASE}/health"), timeout=20)
        runtime._basket.journal._conn.execute("PRAGMA query_only = ON")   # what a read-only remount does
        runtime.post(ShopperAction(runtime.clock(), "signin", "dcs1:" + "a" * 40))
        fault = observer.wait(lambda: [m for m in observer.on(f"{BASE}/telemetry")
                                       if m.get("kind") == "device" and m.get("device") == "storage"])[-1]
        assert fault["fault"] is True and fault["state"] == "down"
        assert fault["message"].startswith("cannot save, see staff")
        assert observer.wait(lambda: [h for h in observer.on(f"{BASE}/health")
                                      if "storage" in h.get("devices_down", ())], timeout=10)
    finally:
        runtime.stop()
    observer.close()
