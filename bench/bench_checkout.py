"""Checkout benchmarks: lane to receipt, network failures, forged lane beacons, pass-by carts.

    python bench/bench_checkout.py [--quick]

Everything real except the radio: the reference store on loopback HTTP, the SQLite outbox with
fsync, the parser on raw HCI bytes, the EID verifier and lane detector. The radio is the
log-distance model of ``dashcart/sim/lane_radio.py`` (3.5 dB noise, 3 % multipath spikes of +8 dB).
Prints one table: measured value next to the target.
"""

from __future__ import annotations

import argparse
import logging
import os
import queue
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dashcart.core.checkout.order import session_id_for  # noqa: E402
from dashcart.runtime.checkout_sender import CheckoutService  # noqa: E402
from dashcart.sim.reference_store import ReferenceStore, StoreServer  # noqa: E402
from dashcart.config import LocationSection, parse_config  # noqa: E402
from dashcart.events import BeaconSighting, LaneDetected, OrderAcknowledged, OrderDelayed  # noqa: E402
from dashcart.core.lane_auth import EidVerifier, current_eid  # noqa: E402
from dashcart.core.location import Locator, Site  # noqa: E402
from dashcart.snapshot import BasketLine  # noqa: E402
from dashcart.drivers.beacon.advertisement import beacon_from_advertisement, parse_hci_event  # noqa: E402
from dashcart.sim.lane_radio import PlacedBeacon, Radio, hear, straight  # noqa: E402

CART_KEY = "2b7e151628aed2a6abf7158809cf4f3c"
LANE_KEY = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
TOKEN = "dcs1:BenchShopper0123456789"
EPOCH = 1_767_225_600.0
PERIOD = 64
LANE_BEACONS = [PlacedBeacon("eddystone-eid", "entry", 0.0, 0.5), PlacedBeacon("eddystone-eid", "exit", 3.0, 0.5)]
SITE = Site(lane=("eddystone-eid:entry", "eddystone-eid:exit"))
SETTINGS = LocationSection()
LINES = [BasketLine("4020", "Golden Delicious", 1, 63, 329, "weight", 190.0),
         BasketLine("7310865004703", "Milk 1 l", 2, 398, 199),
         BasketLine("4011", "Banana", 1, 84, 219, "weight", 384.0)]


def locator() -> Locator:
    return Locator(SITE, SETTINGS, EidVerifier(LANE_KEY, ["entry", "exit"], PERIOD))


def service(state: Path, url: str, timeout_s: float = 2.0) -> CheckoutService:
    return CheckoutService(parse_config(
        f'[cart]\nstate_dir = "{state}"\n[checkout]\nstore_url = "{url}"\ncart_key = "{CART_KEY}"\n'
        f'timeout_s = {timeout_s}\nretry_initial_s = 0.05\nretry_max_s = 0.5\n'))


def new_store(workdir: Path, **kw: float) -> StoreServer:
    return StoreServer(ReferenceStore(workdir / "store.sqlite", {"cart-0001": bytes.fromhex(CART_KEY)},
                                      {TOKEN: "kim@example.com"}), **kw).start()


def bench_lane_to_receipt(workdir: Path, trips: int) -> tuple[list[float], list[float]]:
    """(event-time seconds from passing the exit beacon to LaneDetected, wall seconds from
    LaneDetected to the receipt event reaching the controller's queue), per trip."""
    store = new_store(workdir)
    checkout = service(workdir / "cart", store.url)
    events: queue.Queue = queue.Queue()
    checkout.start(events.put)
    radio = Radio(lane_key=LANE_KEY, epoch=EPOCH)
    latencies, detection = [], []
    try:
        for trip in range(trips):
            path, duration = straight((-4.0, 0.1), (7.0, 0.1), 1.0)
            loc = locator()
            for sighting in hear(LANE_BEACONS, path, duration, radio, seed=trip, t0=trip * 100.0):
                if any(isinstance(e, LaneDetected) for e in loc.on_sighting(sighting)):
                    start = time.perf_counter()
                    detection.append(sighting.t - (trip * 100.0 + 7.0))  # at x = 3 m (the exit) at 1 m/s
                    sid = session_id_for("cart-0001", trip * 100.0, EPOCH + trip * 100.0)
                    checkout.place_order(LINES, shopper_token=TOKEN, session_id=sid, t=sighting.t)
                    event = events.get(timeout=10)
                    assert isinstance(event, OrderAcknowledged) and event.receipt_to, event
                    latencies.append(time.perf_counter() - start)
                    break
    finally:
        checkout.close()
        store.stop()
    return detection, latencies


FAULTS = ("none", "500", "503", "garbage", "drop-before-commit", "drop-after-commit", "wrong-order", "slow")


def bench_network_failures(workdir: Path, orders: int, failures: int, seed: int = 7) -> dict[str, int]:
    """``orders`` orders meet at least ``failures`` failed deliveries (faults injected in the store,
    the store down, the cart restarting half way); counts orders lost and charged twice."""
    rng = random.Random(seed)
    store = new_store(workdir, slow_s=0.4)
    port = store.server_address[1]
    checkout = service(workdir / "cart", store.url, timeout_s=0.2)
    placed = set()
    for n in range(orders):
        sid = session_id_for("cart-0001", float(n), EPOCH + n)
        placed.add(checkout.place_order(LINES[: 1 + n % 3], shopper_token=TOKEN, session_id=sid, t=0.0).order_id)
    failed = 0
    restarted = False
    t = 0.0
    while checkout.pending():
        t += 1000.0  # virtual time: every pending order is due
        down = failed < failures and rng.random() < 0.1
        if down:
            store.stop()  # connection refused for everything this round
        elif failed < failures:
            store.inject(*(rng.choice(FAULTS) for _ in checkout.pending()))
        for event in checkout.deliver_due(t):
            failed += isinstance(event, OrderDelayed)
        if down:
            store = StoreServer(store.store, port=port, slow_s=0.4).start()
        if not restarted and failed >= failures // 2:
            checkout.close()  # the cart loses power with orders in the outbox
            checkout = service(workdir / "cart", store.url, timeout_s=0.2)
            restarted = True
        store.clear_faults()
    charged_ids = [order_id for _, order_id, _ in store.store.charges()]
    accepted = {r.order_id for r in checkout.outbox.all() if r.status == "accepted"}
    checkout.close()
    store.stop()
    return {"orders": orders, "failed deliveries": failed,
            "lost": len(placed - set(charged_ids)), "charged twice": len(charged_ids) - len(set(charged_ids)),
            "not accepted on cart": len(placed - accepted)}


def _eid_report(eid_hex: str, rssi: int) -> bytes:
    """The HCI LE Advertising Report a forger's radio would produce: a real Eddystone-EID frame."""
    frame = bytes([0x30, 0xF0]) + bytes.fromhex(eid_hex)
    service = b"\xaa\xfe" + frame
    data = b"\x02\x01\x06\x03\x03\xaa\xfe" + bytes([len(service) + 1, 0x16]) + service
    report = bytes([0x00, 0x01]) + bytes.fromhex("c0ffee000001") + bytes([len(data)]) + data + bytes([rssi & 0xFF])
    params = bytes([0x02, 0x01]) + report
    return bytes([0x04, 0x3E, len(params)]) + params


def bench_forged(count: int, seed: int = 11) -> dict[str, int]:
    """``count`` forged or replayed lane advertisements, loud and in lane order (entry, then exit),
    each from raw HCI bytes through the parser, the verifier and the lane detector."""
    rng = random.Random(seed)
    now = EPOCH + 86_400 * 30
    kinds = ("random", "wrong key", "recorded 1 h ago", "recorded 1 day ago", "previous period after current")
    loc = locator()
    checkouts = 0
    per_kind = count // len(kinds)
    sent = 0
    for k, kind in enumerate(kinds):
        for i in range(per_kind):
            t = k * 1000.0 + i * 0.1
            wall = now + t
            beacon = "entry" if i < per_kind // 2 else "exit"
            if kind == "random":
                eid = rng.randbytes(8).hex()
            elif kind == "wrong key":
                eid = current_eid(rng.randbytes(16), beacon, wall, PERIOD)
            elif kind == "recorded 1 h ago":
                eid = current_eid(LANE_KEY, beacon, wall - 3600, PERIOD)
            elif kind == "recorded 1 day ago":
                eid = current_eid(LANE_KEY, beacon, wall - 86_400, PERIOD)
            else:
                # The real beacon was heard this period (not counted: it is genuine), then a
                # recording from the period before is played, loud.
                if i == 0:
                    loc.on_sighting(BeaconSighting(t, "eddystone-eid", current_eid(LANE_KEY, "entry", wall, PERIOD),
                                                   -95, wall_t=wall))
                    loc.on_sighting(BeaconSighting(t, "eddystone-eid", current_eid(LANE_KEY, "exit", wall, PERIOD),
                                                   -95, wall_t=wall))
                eid = current_eid(LANE_KEY, beacon, wall - PERIOD, PERIOD)
            (ad,) = parse_hci_event(_eid_report(eid, -45))
            found = beacon_from_advertisement(ad)
            sighting = BeaconSighting(t, found.kind, found.id, float(ad.rssi), wall_t=wall)
            checkouts += sum(isinstance(e, LaneDetected) for e in loc.on_sighting(sighting))
            sent += 1
    # Control: the same pattern with the genuine current identifiers does check out.
    control = locator()
    control_checkouts = 0
    for i in range(60):
        t, wall = 50_000.0 + i * 0.1, now + 50_000.0 + i * 0.1
        eid = current_eid(LANE_KEY, "entry" if i < 30 else "exit", wall, PERIOD)
        control_checkouts += sum(isinstance(e, LaneDetected)
                                 for e in control.on_sighting(BeaconSighting(t, "eddystone-eid", eid, -45, wall_t=wall)))
    return {"advertisements": sent, "checkouts": checkouts, "control (genuine) checkouts": control_checkouts}


def bench_carts(carts: int, seed: int = 3) -> dict[str, int]:
    rng = random.Random(seed)
    radio = Radio(lane_key=LANE_KEY, epoch=EPOCH)

    def run(y: float, speed: float, reverse: bool, run_seed: int) -> int:
        start, end = (-4.0, y), (7.0, y)
        path, duration = straight(end, start, speed) if reverse else straight(start, end, speed)
        loc = locator()
        return sum(isinstance(e, LaneDetected) for s in hear(LANE_BEACONS, path, duration, radio, run_seed, t0=0.0)
                   for e in loc.on_sighting(s))

    through = sum(run(rng.uniform(-0.3, 0.3), rng.uniform(0.5, 1.4), False, i) == 1 for i in range(carts))
    # "within 2 m": 1.5 to 2.0 m from the lane beacons' line, and 2 to 3 m.
    near = sum(run(0.5 + rng.uniform(1.5, 2.0), rng.uniform(0.5, 1.4), False, 10_000 + i) for i in range(carts))
    far = sum(run(0.5 + rng.uniform(2.0, 3.0), rng.uniform(0.5, 1.4), False, 20_000 + i) for i in range(carts))
    wrong_way = sum(run(rng.uniform(-0.3, 0.3), rng.uniform(0.5, 1.4), True, 30_000 + i) for i in range(carts))
    return {"carts": carts, "through, checked out": through, "pass 1.5-2 m, checkouts": near,
            "pass 2-3 m, checkouts": far, "through the wrong way, checkouts": wrong_way}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer trips and carts (a smoke run)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # retries log warnings by design; the table is the output
    trips, orders, carts = (5, 20, 40) if args.quick else (30, 50, 300)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "lane").mkdir()
        detection, lat = bench_lane_to_receipt(Path(tmp) / "lane", trips)
        total = [d + w for d, w in zip(detection, lat)]
        rows.append(("exit beacon passed -> lane detected, max (s)", f"{max(detection):.3f}", ""))
        rows.append(("lane detected -> receipt on screen, p50 (s)", f"{statistics.median(lat):.3f}", "<= 2"))
        rows.append(("lane detected -> receipt on screen, max (s)", f"{max(lat):.3f}", "<= 2"))
        rows.append(("exit beacon passed -> receipt on screen, max (s)", f"{max(total):.3f}", "<= 2"))
        (Path(tmp) / "net").mkdir()
        net = bench_network_failures(Path(tmp) / "net", orders, 100)
    rows.append((f"failed deliveries injected ({net['orders']} orders, 1 cart restart)", str(net["failed deliveries"]),
                 ">= 100"))
    rows.append(("  orders lost", str(net["lost"]), "0"))
    rows.append(("  orders charged twice", str(net["charged twice"]), "0"))
    rows.append(("  orders not settled on the cart", str(net["not accepted on cart"]), "0"))
    forged = bench_forged(1000)
    rows.append((f"forged/replayed lane advertisements ({forged['advertisements']}), checkouts",
                 str(forged["checkouts"]), "0"))
    rows.append(("  control: genuine identifiers, checkouts", str(forged["control (genuine) checkouts"]), "1"))
    fleet = bench_carts(carts)
    rows.append((f"carts through the lane ({fleet['carts']}), checked out", str(fleet["through, checked out"]),
                 f"{fleet['carts']}"))
    rows.append((f"carts passing 1.5-2 m from the lane ({carts}), checkouts", str(fleet["pass 1.5-2 m, checkouts"]), "0"))
    rows.append((f"carts passing 2-3 m from the lane ({carts}), checkouts", str(fleet["pass 2-3 m, checkouts"]), "0"))
    rows.append((f"carts through the wrong way ({carts}), checkouts", str(fleet["through the wrong way, checkouts"]), "0"))
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'value':>8}  target")
    for name, value, target in rows:
        print(f"{name:<{width}}  {value:>8}  {target}")
    print(f"(python {sys.version.split()[0]}, {os.cpu_count()} cpus)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
