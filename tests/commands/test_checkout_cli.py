import json
import re
import subprocess
import sys
from pathlib import Path

from dashcart.cli import main
from dashcart.config import parse_config
from dashcart.core.checkout.order import build_order
from dashcart.core.lane_auth import current_eid
from dashcart.events import OrderAcknowledged
from dashcart.runtime.checkout_sender import CheckoutService
from dashcart.snapshot import BasketLine

REPO = Path(__file__).resolve().parents[2]
KEY = "00112233445566778899aabbccddeeff"


def test_lane_eid_prints_what_the_beacon_broadcasts(tmp_path, capsys):
    config = tmp_path / "dashcart.toml"
    config.write_text(f'[checkout]\nlane_key = "{KEY}"\n')
    assert main(["lane-eid", "--config", str(config), "--at", "1767225600", "--json", "entry"]) == 0
    line = json.loads(capsys.readouterr().out)
    assert line["eid"] == current_eid(bytes.fromhex(KEY), "entry", 1767225600, 2) and line["period_s"] == 2
    assert line["valid_until"] > 1767225600


def test_lane_eid_names_the_beacon_as_the_cart_authenticates_it(tmp_path, capsys):
    # written as in location.lane, the cart checks the name after the kind
    from dashcart.core.lane_auth import EidVerifier
    config = tmp_path / "dashcart.toml"
    config.write_text(f'[checkout]\nlane_key = "{KEY}"\n')
    assert main(["lane-eid", "--config", str(config), "--at", "1000", "eddystone-eid:in-l", "in-l"]) == 0
    lines = capsys.readouterr().out.splitlines()
    eids = [line.rpartition(": ")[2] for line in lines]
    assert eids[0] == eids[1]
    assert EidVerifier(bytes.fromhex(KEY), ["in-l"], 2).verify(eids[0], 1000.0) == "in-l"
    for bad in (["ibeacon:x:1:2"], ["--at", "nan", "a"], ["--at", "1e30", "a"]):
        assert main(["lane-eid", "--config", str(config), *bad]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err


def test_lane_eid_without_a_key_is_one_line(tmp_path, capsys):
    config = tmp_path / "dashcart.toml"
    config.write_text("")
    assert main(["lane-eid", "--config", str(config), "entry"]) == 2
    err = capsys.readouterr().err
    assert "checkout.lane_key: missing" in err and err.count("\n") == 1


def test_store_sim_serves_the_store_api(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "dashcart", "store-sim", "--port", "0", "--db", str(tmp_path / "s.db"),
                             "--cart", f"cart-0001={KEY}"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        url = re.search(r"(http://\S+)/v1/orders", proc.stdout.readline()).group(1)
        config = parse_config(f'[cart]\nstate_dir = "{tmp_path / "cart"}"\n'
                              f'[checkout]\nstore_url = "{url}"\ncart_key = "{KEY}"\n')
        service = CheckoutService(config)
        # The cart asks the list price of 384 g of onions (69 c); the demo store has 30 c/kg off
        # onions and charges its own price: 149 c/kg x 384 g = 57 c, and says so.
        pending = service.place_order([BasketLine("4093", "Yellow Onion", 1, 69, 179, "weight", 384.0)],
                                      shopper_token="dcs1:abcdefghijklmnop", session_id="0123456789ab", t=0.0)
        (event,) = service.deliver_due(0.0)
        assert isinstance(event, OrderAcknowledged) and event.status == "accepted"
        assert pending.total_cents == 69 and event.total_cents == 57 and "store's prices" in event.message
        service.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert proc.returncode == 0


def test_store_api_document_lists_every_field_the_cart_sends():
    text = (REPO / "docs" / "store-api.yaml").read_text()
    order = build_order([BasketLine("4011", "Banana", 1, 84, 219, "weight", 384.0)], cart_id="c", session_id="s",
                        seq=1, shopper_token="dcs1:abcdefghijklmnop", currency="USD", t=0.0, cart_key=None)
    document = order.document()
    required = re.search(r"Order:\n(?:.*\n)*?\s+required: \[([^\]]*)\]", text).group(1)
    assert {k.strip() for k in required.split(",")} == set(document)
    line_required = re.search(r"Line:\n(?:.*\n)*?\s+required: \[([^\]]*)\]", text).group(1)
    assert {k.strip() for k in line_required.split(",")} == set(document["lines"][0])


def test_beacons_parses_captured_reports(shared_data, capsys):
    assert main(["beacons", "--hci", str(shared_data / "ble" / "advertisements.jsonl"), "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 28
    assert rows[0]["kind"] == "ibeacon" and rows[0]["mac"] == "6A6BC9A23E43"
    assert sum(r["kind"] == "ibeacon" for r in rows) == 3   # two iBeacon captures and the Tilt


def test_beacons_reports_malformed_lines_and_carries_on(tmp_path, capsys):
    path = tmp_path / "capture.hex"
    path.write_text("zz\n043E2A0201\n043E2A02010001433EA2C96B6A1E02011A1AFF4C000215E2C56DB5DFFB48D2B060D0F5A71096E000640000C5B3\n")
    assert main(["beacons", "--hci", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith(":1: malformed: not hexadecimal")
    assert "parameter bytes" in out[1] and "ibeacon:e2c56db5" in out[2]


def test_beacons_listens_to_the_configured_scanner(tmp_path, capsys):
    script = tmp_path / "beacons.csv"
    script.write_text("t,kind,id,rssi\n0.0,eddystone-uid,00112233445566778899:aabbccddeeff,-70\n")
    config = tmp_path / "dashcart.toml"
    config.write_text(f'[location]\nbackend = "sim"\nscript = "{script}"\n')
    assert main(["beacons", "--config", str(config), "--seconds", "0.5", "--json"]) == 0
    (row,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert row["id"] == "00112233445566778899:aabbccddeeff" and row["rssi"] == -70


def test_outbox_lists_what_the_store_charged_and_keeps_no_token(tmp_path, capsys, catalogue):
    from dashcart.sim.reference_store import ReferenceStore, StoreServer
    store = StoreServer(ReferenceStore(tmp_path / "store.sqlite", {"cart-0001": bytes.fromhex(KEY)},
                                       catalogue=catalogue)).start()
    config_file = tmp_path / "dashcart.toml"
    config_file.write_text(f'[cart]\nstate_dir = "{tmp_path / "cart"}"\n'
                           f'[checkout]\nstore_url = "{store.url}"\ncart_key = "{KEY}"\n')
    try:
        service = CheckoutService(parse_config(config_file.read_text()))
        # The cart asks 1 cent for two bottles of milk; the store charges its 199 each.
        pending = service.place_order([BasketLine("2410000001415", "Arla Standard Milk", 2, 1, 1)],
                                      shopper_token="dcs1:abcdefghijklmnop", session_id="0123456789ab", t=0.0)
        service.deliver_due(0.0)
        service.close()
    finally:
        store.stop()
    assert main(["outbox", "--config", str(config_file), "--json"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["order_id"] == pending.order_id and row["total_cents"] == 1 and row["charged_cents"] == 398
    assert b"abcdefghijklmnop" not in (tmp_path / "cart" / "outbox.sqlite").read_bytes()
