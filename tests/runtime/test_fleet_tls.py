"""mqtts with per-cart client certificates and the pattern ACL of docs/fleet.md, on a real
Mosquitto: a cart connects with its own identity and can write only its own topics."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from dashcart.config import FleetSection
from dashcart.runtime.fleet import FleetLink, make_client, parse_broker_url
from tests.runtime.mosquitto_broker import Mosquitto, mosquitto_binary

REPO = Path(__file__).resolve().parents[2]
STORE = "store-0117"   # the store of the documented ACL

pytestmark = [
    pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto is not installed (apt-get install mosquitto)"),
    pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is needed to make the test certificates"),
]


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _identities(folder: Path, names: list[str]) -> None:
    """A store CA, the broker's certificate for 127.0.0.1, and one client certificate per name (CN)."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=store-ca", "-days", "2", cwd=folder)
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    for name, extra in [("broker", ["-extfile", "san.ext"])] + [(n, []) for n in names]:
        _openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=folder)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                 "-out", f"{name}.pem", "-days", "2", *extra, cwd=folder)


def _documented_acl() -> str:
    text = (REPO / "docs" / "fleet.md").read_text(encoding="utf-8")
    block = re.search(r"```\n(# /etc/mosquitto/dashcart\.acl\n.*?)```", text, re.S)
    assert block, "docs/fleet.md has no ACL block"
    return block.group(1)


class Client:
    def __init__(self, url: str, folder: Path, name: str) -> None:
        self.seen: list[tuple[str, Any]] = []
        self.ready = threading.Event()
        self.client = make_client(f"test-{name}", clean_session=True, address=parse_broker_url(url),
                                  ca_file=str(folder / "ca.pem"), cert_file=str(folder / f"{name}.pem"),
                                  key_file=str(folder / f"{name}.key"))
        self.client.on_connect = lambda c, u, f, r, p: (c.subscribe(f"dashcart/v1/{STORE}/#", qos=1), self.ready.set())
        self.client.on_message = lambda c, u, m: self.seen.append((m.topic, json.loads(m.payload or b"null")))
        address = parse_broker_url(url)
        self.client.connect(address.host, address.port, keepalive=5)
        self.client.loop_start()
        assert self.ready.wait(10)

    def publish(self, topic: str, body: Any) -> None:
        self.client.publish(topic, json.dumps(body), qos=1, retain=True).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_a_cart_with_its_certificate_is_confined_to_its_own_topics(tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    certs.mkdir()
    _identities(certs, ["cart-1", "cart-2", "fleet-operator"])
    (tmp_path / "dashcart.acl").write_text(_documented_acl())
    broker = Mosquitto(tmp_path / "broker", extra=(
        f"cafile {certs}/ca.pem\ncertfile {certs}/broker.pem\nkeyfile {certs}/broker.key\n"
        "require_certificate true\nuse_identity_as_username true\n"
        f"acl_file {tmp_path}/dashcart.acl\n"))
    broker.start()
    url = f"mqtts://127.0.0.1:{broker.port}"
    operator = rogue = None
    link = FleetLink(FleetSection(broker_url=url, store_id=STORE, ca_file=str(certs / "ca.pem"),
                                  cert_file=str(certs / "cart-1.pem"), key_file=str(certs / "cart-1.key"),
                                  reconnect_max_s=1.0), "cart-1", tmp_path / "cart", capture_logs=False)
    try:
        operator = Client(url, certs, "fleet-operator")
        link.start()
        assert link.connected_event.wait(10), "the cart did not connect over mqtts with its certificate"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(t == f"dashcart/v1/{STORE}/cart-1/status" for t, _ in operator.seen):
            time.sleep(0.05)
        status = [b for t, b in operator.seen if t == f"dashcart/v1/{STORE}/cart-1/status"]
        assert status and status[-1]["state"] == "online"
        # Another cart's identity: its own status goes through, cart-1's topics do not.
        rogue = Client(url, certs, "cart-2")
        rogue.publish(f"dashcart/v1/{STORE}/cart-2/status", {"state": "online", "session": 1})
        rogue.publish(f"dashcart/v1/{STORE}/cart-1/status", {"state": "offline", "session": 999})
        rogue.publish(f"dashcart/v1/{STORE}/cart-1/config/desired", {"version": 99, "doc": {}, "sig": "00"})
        rogue.publish(f"dashcart/v1/{STORE}/_all/config/desired", {"version": 99, "doc": {}, "sig": "00"})
        time.sleep(1.0)
        topics = [t for t, _ in operator.seen]
        assert f"dashcart/v1/{STORE}/cart-2/status" in topics
        assert {"state": "offline", "session": 999} not in [b for _, b in operator.seen]
        assert not any(t.endswith("config/desired") for t in topics)
        # Nor does it hear cart-1's traffic (it subscribed to the whole store).
        assert not any("/cart-1/" in t for t, _ in rogue.seen)
    finally:
        link.stop()
        for client in (operator, rogue):
            if client is not None:
                client.close()
        broker.stop()


def test_a_cart_without_a_valid_certificate_never_connects_and_keeps_running(tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    certs.mkdir()
    _identities(certs, ["cart-1"])
    broker = Mosquitto(tmp_path / "broker", extra=(
        f"cafile {certs}/ca.pem\ncertfile {certs}/broker.pem\nkeyfile {certs}/broker.key\nrequire_certificate true\n"))
    broker.start()
    other = tmp_path / "other"
    other.mkdir()
    _identities(other, ["cart-1"])   # signed by a CA the broker does not know
    link = FleetLink(FleetSection(broker_url=f"mqtts://127.0.0.1:{broker.port}", store_id=STORE,
                                  ca_file=str(certs / "ca.pem"), cert_file=str(other / "cart-1.pem"),
                                  key_file=str(other / "cart-1.key"), reconnect_max_s=0.5),
                     "cart-1", tmp_path / "cart", capture_logs=False)
    link.start()
    try:
        t0 = time.perf_counter()
        for i in range(1000):
            assert link.telemetry("tick", {"i": i})
        assert time.perf_counter() - t0 < 0.5
        time.sleep(3)
        assert not link.connected_event.is_set() and link.counters.connect_failures >= 2
    finally:
        link.stop()
        broker.stop()
