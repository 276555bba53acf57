"""A running cart with a [fleet] section: its health, fault telemetry, the locate and
recalibrate_zero commands and a clean offline on stop, through a real Mosquitto; and a cart
without one that never touches the fleet."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dashcart.config import Config, FleetSection
from dashcart.core.catalogue import Catalogue
from dashcart.events import DeviceStatus
from dashcart.runtime.cart_runtime import CartRuntime
from tests.runtime.mosquitto_broker import Mosquitto, mosquitto_binary
from tests.runtime.test_fleet import Observer

pytestmark = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto is not installed (apt-get install mosquitto)")

BASE = "dashcart/v1/store-1/cart-0042"


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


def test_a_cart_with_its_broker_gone_starts_and_stops_promptly(tmp_path: Path, catalogue: Catalogue) -> None:
    from tests.runtime.mosquitto_broker import free_port
    runtime = CartRuntime(_config(tmp_path, f"mqtt://127.0.0.1:{free_port()}"), catalogue=catalogue)
    t0 = time.monotonic()
    runtime.start()
    try:
        runtime.post(DeviceStatus(runtime.clock(), "camera:top", "down", "unplugged"))
        time.sleep(1.5)
        assert runtime._fleet.link.counters.connect_failures >= 1
    finally:
        runtime.stop()
    assert time.monotonic() - t0 < 10
    import sqlite3
    with sqlite3.connect(tmp_path / "state" / "fleet" / "outbox.sqlite") as db:
        kinds = [k for (k,) in db.execute("SELECT json_extract(payload, '$.kind') FROM telemetry")]
    assert "device" in kinds   # kept on disk for when the broker is back
