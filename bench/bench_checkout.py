"""Checkout benchmarks: lane to receipt, network faults, stuck deliveries, attacks on the store.

    python -m bench.bench_checkout [--quick]

Everything real except the radio: the reference store on loopback HTTP (pricing from the demo
store's catalogue and promotions), the SQLite outbox with fsync, the cart's sender, the parser on
raw HCI bytes, the EID verifier and the lane detector. The radio is the log-distance model of
``dashcart/sim/lane_radio.py``; the lane (two-sided gates) is the one of ``bench/bench_lane.py``,
which measures who checks out. Prints one table: measured value next to the target.
"""

from __future__ import annotations

import argparse
import dataclasses
import http.client
import json
import logging
import os
import queue
import random
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from dashcart.config import CheckoutSection, LocationSection, parse_config
from dashcart.core.basket import Basket, Journal
from dashcart.core.canonical import canonical_json
from dashcart.core.catalogue import Catalogue
from dashcart.core.checkout.order import order_ids, session_id_for, sign
from dashcart.core.controller import Controller, ControllerSettings
from dashcart.core.lane_auth import EidVerifier, current_eid
from dashcart.core.location import Locator, Site
from dashcart.core.pricing import BasketItem, price_basket
from dashcart.drivers.beacon.advertisement import beacon_from_advertisement, parse_hci_event
from dashcart.events import (
    BarcodeSeen,
    BeaconSighting,
    LaneDetected,
    OrderAcknowledged,
    OrderDelayed,
    ShopperAction,
    Tick,
    WeightSettled,
)
from dashcart.runtime.checkout_sender import CheckoutService, PendingOrder
from dashcart.sim.lane_radio import PlacedBeacon, Radio, hear, straight
from dashcart.sim.reference_store import PRICE_GRACE_S, ReferenceStore, StoreServer
from dashcart.snapshot import BasketLine

REPO = Path(__file__).resolve().parent.parent
CARTS = {"cart-0001": "2b7e151628aed2a6abf7158809cf4f3c", "cart-0002": "3c8f262739bfe3b7bcf8269910da5f4d"}
LANE_KEY = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
EPOCH = 1_767_225_600.0
PERIOD = 2
NAMES = ("in-l", "in-r", "out-l", "out-r")
LANE_BEACONS = [PlacedBeacon("eddystone-eid", "in-l", 0.0, 0.5), PlacedBeacon("eddystone-eid", "in-r", 0.0, -0.5),
                PlacedBeacon("eddystone-eid", "out-l", 3.0, 0.5), PlacedBeacon("eddystone-eid", "out-r", 3.0, -0.5)]
SITE = Site(lane=("eddystone-eid:in-l+eddystone-eid:in-r", "eddystone-eid:out-l+eddystone-eid:out-r"))
SETTINGS = LocationSection()
# A basket from the demo store (one with a promotion), priced as the cart prices it.
BASKET = [BasketItem("4020", weight_g=190.0), BasketItem("2410000001415", qty=2), BasketItem("4011", weight_g=384.0),
          BasketItem("2510000001511", qty=3)]


def demo_catalogue() -> Catalogue:
    for data in (REPO.parent / "shared" / "data", REPO / "tests" / "data"):
        csv = data / "catalogue" / "demo_store.csv"
        if csv.is_file():
            return Catalogue.from_csv(csv, promotions=REPO / "dashcart" / "sim" / "demo_store" / "catalogue" / "promotions.csv")
    raise SystemExit("bench_checkout: no demo catalogue (../shared/data or tests/data)")


CATALOGUE = demo_catalogue()


def basket_lines(n: int = len(BASKET)) -> list[BasketLine]:
    priced = price_basket(BASKET[:n], CATALOGUE, EPOCH, CATALOGUE.promotions)
    return [BasketLine(p.code, p.name, p.qty, p.price_cents, p.unit_price_cents, p.sold_by, p.weight_g,
                       p.savings_cents) for p in priced.lines]


def token(n: int) -> str:
    return f"dcs1:BenchShopper{n:012d}"


def locator() -> Locator:
    return Locator(SITE, SETTINGS, EidVerifier(LANE_KEY, NAMES, PERIOD))


def service(state: Path, url: str, cart: str = "cart-0001", timeout_s: float = 2.0) -> CheckoutService:
    return CheckoutService(parse_config(
        f'[cart]\nid = "{cart}"\nstate_dir = "{state}"\n[checkout]\nstore_url = "{url}"\ncart_key = "{CARTS[cart]}"\n'
        f'timeout_s = {timeout_s}\nretry_initial_s = 0.05\nretry_max_s = 0.5\n'), wall_clock=lambda: EPOCH)


def new_store(workdir: Path, shoppers: int = 0, clock: Callable[[], float] = lambda: EPOCH,
              **kw: float) -> StoreServer:
    store = ReferenceStore(workdir / "store.sqlite", {c: bytes.fromhex(k) for c, k in CARTS.items()},
                           {token(n): f"shopper{n}@example.com" for n in range(shoppers)}, catalogue=CATALOGUE,
                           clock=clock)
    return StoreServer(store, **kw).start()


class _TimedPort:
    """The controller's checkout port: the real service, noting when each order is placed."""

    def __init__(self, service: CheckoutService) -> None:
        self.service = service
        self.placed: list[tuple[float, float]] = []    # (event time, perf_counter)

    def place_order(self, lines: Sequence[BasketLine], *, shopper_token: str, session_id: str, t: float,
                    seq: int = 1) -> PendingOrder:
        self.placed.append((t, time.perf_counter()))
        return self.service.place_order(lines, shopper_token=shopper_token, session_id=session_id, t=t, seq=seq)


def bench_lane_to_receipt(workdir: Path, trips: int, seed: int = 3) -> dict[str, list[float]]:
    """Carts (0.3-1.5 m/s) through the lane, each with a shopper and a juice in the basket, the
    whole way through the cart's code: radio -> locator -> controller (its cancel window) ->
    outbox -> store on loopback -> the answer on the controller's queue -> the paid screen.
    Per trip: event seconds from "Checking out..." (LaneEntered) to the order being placed, from
    crossing the exit gate to the order being placed, and wall seconds from placing it to the
    paid screen with what the store charged."""
    rng = random.Random(seed)
    store = new_store(workdir, shoppers=trips)
    config = parse_config(f'[cart]\nid = "cart-0001"\nstate_dir = "{workdir / "cart"}"\n[checkout]\n'
                          f'store_url = "{store.url}"\ncart_key = "{CARTS["cart-0001"]}"\n')
    checkout = CheckoutService(config, wall_clock=lambda: EPOCH)
    events: queue.Queue = queue.Queue()
    checkout.start(events.put)
    radio = Radio(lane_key=LANE_KEY, epoch=EPOCH, eid_period_s=PERIOD, rate_hz=20.0)
    out: dict[str, list[float]] = {"window": [], "exit to placed": [], "placed to paid": []}
    try:
        for trip in range(trips):
            t0, speed = trip * 100.0, rng.uniform(0.3, 1.5)
            port = _TimedPort(checkout)
            c = Controller(CATALOGUE, Basket(Journal(":memory:")), checkout=port, location=locator(),
                           settings=ControllerSettings.from_config(config))
            c.handle(ShopperAction(t0, "signin", token(trip)))
            c.handle(BarcodeSeen(t0 + 1.0, camera="top", gtin13="2280000001285", format="EAN-13"))
            c.handle(WeightSettled(t0 + 2.0, delta_g=1062.0, total_g=1062.0, started_t=t0 + 1.2))
            c.handle(Tick(t0 + 3.0))
            path, duration = straight((-4.0, rng.uniform(-0.2, 0.2)), (7.0, 0.0), speed)
            entered = None
            for sighting in hear(LANE_BEACONS, path, duration, radio, seed=trip, t0=t0 + 5.0):
                c.advance_to(sighting.t)
                c.handle(sighting)
                if entered is None and c.snapshot().checkout is not None:
                    entered = sighting.t
            c.advance_to(t0 + 5.0 + duration + 10.0)
            assert entered is not None and len(port.placed) == 1, f"trip {trip}: no checkout"
            placed_t, placed_wall = port.placed[0]
            event = events.get(timeout=10)
            assert isinstance(event, OrderAcknowledged) and event.receipt_to, event
            c.handle(dataclasses.replace(event, t=placed_t + 0.01))
            view = c.snapshot().checkout
            assert view is not None and view.stage == "paid" and view.charged_cents == event.total_cents, view
            out["placed to paid"].append(time.perf_counter() - placed_wall)
            out["window"].append(placed_t - entered)
            out["exit to placed"].append(placed_t - (t0 + 5.0 + (4.0 + 3.0) / speed))  # x = 3 m: the exit
    finally:
        checkout.close()
        store.stop()
    return out


FAULTS = ("none", "500", "503", "garbage", "drop-before-commit", "drop-after-commit", "wrong-order", "slow",
          "html-404", "html-400", "drip", "drip-after-commit")


def bench_network_failures(workdir: Path, orders: int, failures: int, seed: int = 7) -> dict[str, int]:
    """``orders`` checkouts meet at least ``failures`` failed deliveries (faults injected in the
    store, proxies' HTML 4xx pages, dripped answers, the store down, the cart restarting half way).
    Counts orders lost, charged twice, and receipts that do not match what the store charged."""
    rng = random.Random(seed)
    store = new_store(workdir, shoppers=orders, slow_s=0.3, drip_s=0.05)
    port = store.server_address[1]
    checkout = service(workdir / "cart", store.url, timeout_s=0.25)
    placed = set()
    for n in range(orders):
        sid = session_id_for("cart-0001", float(n), EPOCH + n)
        placed.add(checkout.place_order(basket_lines(1 + n % len(BASKET)), shopper_token=token(n), session_id=sid,
                                        t=0.0).order_id)
    failed = 0
    restarted = False
    t = 0.0
    acknowledged: dict[str, OrderAcknowledged] = {}
    while checkout.pending():
        t += 1000.0  # virtual time: every pending order is due
        down = failed < failures and rng.random() < 0.1
        if down:
            store.stop()  # connection refused for everything this round
        elif failed < failures:
            store.inject(*(rng.choice(FAULTS) for _ in checkout.pending()))
        for event in checkout.deliver_due(t):
            failed += isinstance(event, OrderDelayed)
            if isinstance(event, OrderAcknowledged):
                acknowledged[event.order_id] = event
        if down:
            store = StoreServer(store.store, port=port, slow_s=0.3, drip_s=0.05).start()
        if not restarted and failed >= failures // 2:
            checkout.close()  # the cart loses power with orders in the outbox
            checkout = service(workdir / "cart", store.url, timeout_s=0.25)
            restarted = True
        store.clear_faults()
    charges = store.store.charges()
    charged_ids = [order_id for _, order_id, _ in charges]
    charged = {order_id: total for _, order_id, total in charges}
    records = {r.order_id: r for r in checkout.outbox.all()}
    wrong = 0
    for order_id, record in records.items():
        reply = json.loads(record.receipt) if record.status == "accepted" else {}
        event = acknowledged.get(order_id)
        if (record.status != "accepted" or reply.get("order_id") != order_id
                or reply.get("total_cents") != charged.get(order_id)
                or (event is not None and event.total_cents != charged.get(order_id))):
            wrong += 1
    checkout.close()
    store.stop()
    return {"orders": orders, "failed deliveries": failed, "restarted": int(restarted),
            "lost": len(placed - set(charged_ids)), "charged twice": len(charged_ids) - len(set(charged_ids)),
            "wrong receipts": wrong, "not accepted on cart": len(placed - {o for o, r in records.items()
                                                                         if r.status == "accepted"})}


def bench_stuck_delivery(workdir: Path) -> dict[str, float]:
    """Cart 2's delivery is dripped a byte every 0.5 s (held to its 3 s deadline); meanwhile cart 1
    and cart 2's next order check out. Returns how long those waited, wall seconds."""
    store = new_store(workdir, shoppers=3, drip_s=0.5)
    one = service(workdir / "one", store.url, "cart-0001", timeout_s=3.0)
    two = service(workdir / "two", store.url, "cart-0002", timeout_s=3.0)
    events: queue.Queue = queue.Queue()
    one.start(events.put)
    two.start(events.put)
    try:
        store.inject("drip")
        stuck = two.place_order(basket_lines(2), shopper_token=token(0), session_id="00000000000a", t=0.0)
        time.sleep(0.3)   # the dripping has begun
        start = time.perf_counter()
        other_cart = one.place_order(basket_lines(2), shopper_token=token(1), session_id="00000000000b", t=0.0)
        same_cart = two.place_order(basket_lines(2), shopper_token=token(2), session_id="00000000000c", t=0.0)
        waited: dict[str, float] = {}
        while len(waited) < 2:
            event = events.get(timeout=10)
            if isinstance(event, OrderAcknowledged) and event.order_id in (other_cart.order_id, same_cart.order_id):
                waited[event.order_id] = time.perf_counter() - start
        stuck_done = None
        deadline = time.perf_counter() + 10
        while stuck_done is None and time.perf_counter() < deadline:
            event = events.get(timeout=10)
            if event.order_id == stuck.order_id and isinstance(event, OrderAcknowledged):
                stuck_done = time.perf_counter() - start
    finally:
        one.close()
        two.close()
        store.stop()
    return {"other cart": waited[other_cart.order_id], "same cart, next order": waited[same_cart.order_id],
            "stuck order settled after": stuck_done if stuck_done is not None else float("nan")}


# --- attacks on the store: a cart key from one SD card, and nothing else ---------------------


def _post(store: StoreServer, doc: dict, cart: str = "cart-0001", key: str | None = None,
          body: bytes | None = None) -> tuple[int, dict]:
    body = body if body is not None else canonical_json(doc)
    conn = http.client.HTTPConnection(*store.server_address[:2], timeout=5)
    try:
        conn.request("POST", "/v1/orders", body=body, headers={
            "Content-Type": "application/json", "Idempotency-Key": key or doc["idempotency_key"],
            "X-Dashcart-Cart": cart, "X-Dashcart-Signature": sign(body, bytes.fromhex(CARTS[cart]))})
        response = conn.getresponse()
        data = response.read()
    finally:
        conn.close()
    try:
        return response.status, json.loads(data)
    except ValueError:
        return response.status, {}


def _order(n: int, cart: str = "cart-0001", **changes: object) -> dict:
    session = f"{n:012x}"
    order_id, key = order_ids(cart, session, 1)
    lines = [{"code": line.code, "name": line.name, "qty": line.qty, "sold_by": line.sold_by,
              "weight_g": line.weight_g, "unit_price_cents": line.unit_price_cents, "price_cents": line.price_cents,
              "savings_cents": line.savings_cents} for line in basket_lines(2)]
    total = sum(line["price_cents"] for line in lines)
    savings = sum(line["savings_cents"] for line in lines)
    doc = {"format": "dashcart-order/1", "order_id": order_id, "idempotency_key": key, "cart_id": cart,
           "session_id": session, "seq": 1, "shopper_token": token(n), "currency": "USD", "lines": lines,
           "subtotal_cents": total + savings, "savings_cents": savings, "total_cents": total, "placed_t": 1.0}
    doc.update(changes)
    return doc


def _raw(store: StoreServer, request: bytes) -> tuple[int, bytes]:
    with socket.create_connection(store.server_address[:2], timeout=5) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return (int(head.split()[1]) if head else 0), body


def _json_answer(status: int, body: bytes) -> bool:
    try:
        return status > 0 and "error" in json.loads(body)
    except ValueError:
        return False


def bench_attacks(workdir: Path, tries: int, seed: int = 5) -> dict[str, tuple[int, int]]:
    """(accepted, tries) per attack. Accepted: the store charged what the attacker asked, or
    charged an order id twice, or answered without the store's JSON, or let a read through."""
    rng = random.Random(seed)
    store = new_store(workdir, shoppers=0)
    honest = basket_lines(2)
    list_total = sum(line.price_cents for line in honest)
    out: dict[str, tuple[int, int]] = {}
    n = 0

    def fresh() -> int:
        nonlocal n
        n += 1
        return n

    def charged_as_asked(doc: dict) -> bool:
        status, reply = _post(store, doc)
        return status in (200, 201) and reply.get("total_cents") == doc["total_cents"] != list_total

    hits = 0
    for _ in range(tries):   # a product at 1 cent (and the total to match)
        doc = _order(fresh())
        doc["lines"][0].update(unit_price_cents=1, price_cents=rng.randint(1, 5))
        doc["total_cents"] = sum(line["price_cents"] for line in doc["lines"])
        doc["subtotal_cents"] = doc["total_cents"] + doc["savings_cents"]
        hits += charged_as_asked(doc)
    out["forged prices"] = (hits, tries)
    hits = 0
    for _ in range(tries):   # a line of -50.00: a negative total, a refund
        doc = _order(fresh())
        doc["lines"][1].update(price_cents=-rng.randint(1000, 100_000))
        doc["total_cents"] = sum(line["price_cents"] for line in doc["lines"])
        doc["subtotal_cents"] = doc["total_cents"] + doc["savings_cents"]
        status, _ = _post(store, doc)
        hits += status in (200, 201)
    out["refunds (negative lines or totals)"] = (hits, tries)
    hits = 0
    for _ in range(tries):
        status, _ = _post(store, _order(fresh(), currency=rng.choice(["KRW", "EUR", "JPY", "usd", "XXX"])))
        hits += status in (200, 201)
    out["another currency"] = (hits, tries)
    hits = 0
    for _ in range(tries):   # cart 1 posts under the id and key cart 2 will use next
        m = fresh()
        victim_id, victim_key = order_ids("cart-0002", f"{m:012x}", 1)
        status, _ = _post(store, _order(m, order_id=victim_id, idempotency_key=victim_key))
        squatted = status in (200, 201)
        status, _ = _post(store, _order(m, cart="cart-0002"), cart="cart-0002")
        hits += squatted or status != 201
    out["key squatting (victim refused or squat accepted)"] = (hits, tries)
    hits = 0
    for _ in range(max(1, tries // 10)):   # one order id under 12 keys
        doc = _order(fresh())
        for k in range(12):
            key = doc["idempotency_key"] if k == 0 else f"{rng.getrandbits(128):032x}"
            _post(store, dict(doc, idempotency_key=key), key=key)
        hits += sum(1 for _, order_id, _ in store.store.charges() if order_id == doc["order_id"]) > 1
    out["one order id under 12 keys, charged twice"] = (hits, max(1, tries // 10))
    hits = 0
    charged = [order_id for _, order_id, _ in store.store.charges()][:tries]
    for order_id in charged:
        for target in (f"/v1/orders/{order_id}", f"/v1/orders/x/y/{order_id}"):
            status, body = _raw(store, f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            hits += status == 200 or b"@example.com" in body
    out["unauthenticated reads"] = (hits, 2 * len(charged))
    hits = 0
    for _ in range(tries):   # integers past 64 bits anywhere
        doc = _order(fresh())
        field = rng.choice(['"seq":1', '"qty":', '"total_cents":', '"unit_price_cents":'])
        body = canonical_json(doc)
        big = str(rng.randint(2 ** 64, 2 ** 200)).encode()
        body = body.replace(b'"seq":1', b'"seq":' + big) if field == '"seq":1' else body.replace(
            field.encode(), field.encode() + big, 1)
        status, reply = _post(store, doc, body=body)
        hits += status in (200, 201) or not reply
    out["oversized integers (accepted or no JSON answer)"] = (hits, tries)
    hits = 0
    methods = ("TRACE", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "CONNECT", "BREW")
    for i in range(tries):
        method = methods[i % len(methods)]
        target = rng.choice(["/v1/orders", "/v1/health", "/v1/orders/abc"])
        status, body = _raw(store, f"{method} {target} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".encode())
        hits += not (status == 405 and (method == "HEAD" or _json_answer(status, body)))
    out["undeclared methods (not a JSON 405)"] = (hits, tries)
    hits = 0
    for _ in range(tries):   # malformed framing
        request = rng.choice([b"POST /v1/orders HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
                              b"POST /v1/orders HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
                              b"POST /v1/orders HTTP/1.1\r\nHost: x\r\n\r\n",
                              b"POST /v1/orders HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n[]",
                              # digits str.isdigit() takes and int() refuses ('²', Arabic-Indic 3)
                              b"POST /v1/orders HTTP/1.1\r\nHost: x\r\nContent-Length: \xb2\r\n\r\n{}",
                              b"POST /v1/orders HTTP/1.1\r\nHost: x\r\nContent-Length: \xd9\xa3\r\n\r\n{}",
                              b"POST /v1/orders HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 7\r\n\r\n{}",
                              b"GET /v1/health\r\n",          # no HTTP version, no headers
                              b"\x00\x01\x02 \xff\r\n\r\n"])
        status, body = _raw(store, request)
        hits += not _json_answer(status, body)
    out["malformed requests without a JSON answer"] = (hits, tries)
    store.stop()
    out["dated into a promotion the store no longer offers (charged its price)"] = _dated_orders(workdir, tries, rng)
    return out


def _dated_orders(workdir: Path, tries: int, rng: random.Random) -> tuple[int, int]:
    """(accepted, tries): orders dated into the demo store's New Year week on vine tomatoes from
    outside it, backdated 2 minutes (past the store's grace) to 24 hours after the week ended or
    forward-dated up to 5 minutes before it began, priced as the cart would price them then."""
    week = next(p for p in CATALOGUE.promotions if p.starts_at is not None and p.ends_at is not None)
    assert week.starts_at is not None and week.ends_at is not None
    received = [0.0]
    (workdir / "dated").mkdir()
    store = new_store(workdir / "dated", clock=lambda: received[0])
    hits = 0
    for n in range(tries):
        if n % 2:
            received[0] = week.ends_at + rng.uniform(PRICE_GRACE_S + 1.0, 24 * 3600.0 - 1.0)
            placed_at = rng.uniform(max(week.starts_at, received[0] - 24 * 3600.0), week.ends_at - 0.001)
        else:
            received[0] = week.starts_at - rng.uniform(1.0, 299.0)
            placed_at = rng.uniform(week.starts_at, received[0] + 300.0)
        item = BasketItem(week.code, weight_g=round(rng.uniform(150.0, 1500.0), 1))
        line, = price_basket([item], CATALOGUE, placed_at, CATALOGUE.promotions).lines
        doc = _order(100_000 + n, lines=[{"code": line.code, "name": line.name, "qty": 1, "sold_by": "weight",
                                          "weight_g": line.weight_g, "unit_price_cents": line.unit_price_cents,
                                          "price_cents": line.price_cents, "savings_cents": line.savings_cents}],
                     subtotal_cents=line.gross_cents, savings_cents=line.savings_cents,
                     total_cents=line.price_cents, placed_at=round(placed_at, 3))
        status, reply = _post(store, doc)
        hits += status in (200, 201) and reply.get("total_cents") == line.price_cents < line.gross_cents
    store.stop()
    return hits, tries


_EID_TEMPLATE = bytes([0x02, 0x01, 0x06, 0x03, 0x03, 0xAA, 0xFE])


def _eid_report(eid_hex: str, rssi: int) -> bytes:
    """The HCI LE Advertising Report a forger's radio would produce: a real Eddystone-EID frame."""
    frame = bytes([0x30, 0xF0]) + bytes.fromhex(eid_hex)
    service_data = b"\xaa\xfe" + frame
    data = _EID_TEMPLATE + bytes([len(service_data) + 1, 0x16]) + service_data
    report = bytes([0x00, 0x01]) + bytes.fromhex("c0ffee000001") + bytes([len(data)]) + data + bytes([rssi & 0xFF])
    params = bytes([0x02, 0x01]) + report
    return bytes([0x04, 0x3E, len(params)]) + params


def bench_forged(count: int, seed: int = 11) -> dict[str, int]:
    """``count`` forged or replayed lane advertisements, loud and in lane order (entry gate, then
    exit gate, both sides), each from raw HCI bytes through the parser, verifier and detector."""
    rng = random.Random(seed)
    now = EPOCH + 86_400 * 30
    kinds = ("random", "wrong key", "recorded 5 s ago", "recorded 1 h ago", "previous period after current")
    loc = locator()
    checkouts = sent = 0
    per_kind = count // len(kinds)
    for k, kind in enumerate(kinds):
        for i in range(per_kind):
            t = k * 1000.0 + i * 0.05
            wall = now + t
            beacon = NAMES[(i % 2) + (0 if i < per_kind // 2 else 2)]
            if kind == "random":
                eid = rng.randbytes(8).hex()
            elif kind == "wrong key":
                eid = current_eid(rng.randbytes(16), beacon, wall, PERIOD)
            elif kind == "recorded 5 s ago":
                eid = current_eid(LANE_KEY, beacon, wall - 5.0, PERIOD)
            elif kind == "recorded 1 h ago":
                eid = current_eid(LANE_KEY, beacon, wall - 3600, PERIOD)
            else:
                if i == 0:  # the real beacons, heard faintly this period (genuine: not counted)
                    for name in NAMES:
                        loc.on_sighting(BeaconSighting(t, "eddystone-eid", current_eid(LANE_KEY, name, wall, PERIOD),
                                                       -95, wall_t=wall))
                eid = current_eid(LANE_KEY, beacon, wall - 2 * PERIOD, PERIOD)
            (ad,) = parse_hci_event(_eid_report(eid, -45))
            found = beacon_from_advertisement(ad)
            sighting = BeaconSighting(t, found.kind, found.id, float(ad.rssi), wall_t=wall)
            checkouts += sum(isinstance(e, LaneDetected) for e in loc.on_sighting(sighting))
            sent += 1
    control = locator()
    control_checkouts = 0
    for i in range(120):   # the same pattern with the genuine current identifiers
        t, wall = 50_000.0 + i * 0.05, now + 50_000.0 + i * 0.05
        eid = current_eid(LANE_KEY, NAMES[(i % 2) + (0 if i < 60 else 2)], wall, PERIOD)
        control_checkouts += sum(isinstance(e, LaneDetected)
                                 for e in control.on_sighting(BeaconSighting(t, "eddystone-eid", eid, -45, wall_t=wall)))
    return {"advertisements": sent, "checkouts": checkouts, "control (genuine) checkouts": control_checkouts}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer trips, orders and tries (a smoke run)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.CRITICAL)  # retries log warnings by design; the table is the output
    trips, orders, failures, tries = (5, 40, 40, 20) if args.quick else (30, 240, 300, 200)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name in ("lane", "net", "stuck", "attacks"):
            (root / name).mkdir()
        lane = bench_lane_to_receipt(root / "lane", trips)
        total = [a + b for a, b in zip(lane["exit to placed"], lane["placed to paid"])]
        window = CheckoutSection().cancel_window_s
        rows.append((f"carts through the lane ({trips}, 0.3-1.5 m/s): \"Checking out...\" -> order placed, min (s)",
                     f"{min(lane['window']):.2f}", f">= {window:g} (cancel window)"))
        rows.append(("  exit gate crossed -> order placed (detection, rest of the window), max (s)",
                     f"{max(lane['exit to placed']):.2f}", ""))
        rows.append(("  order placed -> paid screen with the store's total, p50 (s)",
                     f"{statistics.median(lane['placed to paid']):.3f}", ""))
        rows.append(("  order placed -> paid screen with the store's total, max (s)",
                     f"{max(lane['placed to paid']):.3f}", ""))
        rows.append(("  exit gate crossed -> paid screen, max (s)", f"{max(total):.2f}", "<= 2"))
        net = bench_network_failures(root / "net", orders, failures)
        rows.append((f"checkouts through faults ({net['orders']} orders, {net['restarted']} cart restart), "
                     "failed deliveries", str(net["failed deliveries"]), f">= {failures}"))
        for key in ("lost", "charged twice", "wrong receipts", "not accepted on cart"):
            rows.append((f"  orders {key}", str(net[key]), "0"))
        stuck = bench_stuck_delivery(root / "stuck")
        rows.append(("while a delivery is dripped (3 s deadline): another cart's order waited (s)",
                     f"{stuck['other cart']:.3f}", "< 1"))
        rows.append(("  the same cart's next order waited (s)", f"{stuck['same cart, next order']:.3f}", "< 1"))
        rows.append(("  the dripped order settled after (s)", f"{stuck['stuck order settled after']:.2f}", ""))
        for name, (hits, count) in bench_attacks(root / "attacks", tries).items():
            rows.append((f"attack: {name} ({count}), accepted", str(hits), "0"))
    forged = bench_forged(1000)
    rows.append((f"forged/replayed lane advertisements ({forged['advertisements']}), checkouts",
                 str(forged["checkouts"]), "0"))
    rows.append(("  control: genuine identifiers, checkouts", str(forged["control (genuine) checkouts"]), "1"))
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'value':>8}  target")
    for name, value, target in rows:
        print(f"{name:<{width}}  {value:>8}  {target}")
    print(f"(python {sys.version.split()[0]}, {os.cpu_count()} cpus; who checks out: bench/bench_lane.py)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
