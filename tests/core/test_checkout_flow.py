"""A recorded trip through the lane, replayed twice: the same checkout, to the byte."""

import json

from dashcart.config import parse_config, parse_hex_key
from dashcart.core.checkout.order import session_id_for
from dashcart.core.lane_auth import EidVerifier
from dashcart.core.location import Locator, Site
from dashcart.events import LaneDetected, OrderAcknowledged
from dashcart.runtime.checkout_sender import CheckoutService
from dashcart.sim.lane_radio import PlacedBeacon, Radio, hear, straight
from dashcart.sim.scripted_beacons import trip_epoch, trip_sightings, write_beacons_csv
from dashcart.snapshot import BasketLine

LANE_KEY = "000102030405060708090a0b0c0d0e0f"
EPOCH = 1_767_225_600.0
TRIP = {"format": "dashcart-trip/1", "epoch": EPOCH,
        "site": {"zones": {"ibeacon:e2c56db5-dffb-48d2-b060-d0f5a71096e0:1:1": "produce-fruit"},
                 "lane": ["eddystone-eid:entry", "eddystone-eid:exit"]}}


def record_trip(trip_dir):
    radio = Radio(lane_key=bytes.fromhex(LANE_KEY), epoch=EPOCH)
    beacons = [PlacedBeacon("ibeacon", "e2c56db5-dffb-48d2-b060-d0f5a71096e0:1:1", -10.0, 1.0),
               PlacedBeacon("eddystone-eid", "entry", 0.0, 0.5), PlacedBeacon("eddystone-eid", "exit", 3.0, 0.5)]
    path, duration = straight((-12.0, 0.1), (7.0, 0.1), 1.0)
    trip_dir.mkdir()
    write_beacons_csv(trip_dir / "beacons.csv", hear(beacons, path, duration, radio, seed=5))
    (trip_dir / "trip.json").write_text(json.dumps(TRIP))


def replay(trip_dir, state_dir):
    trip = json.loads((trip_dir / "trip.json").read_text())
    config = parse_config(f'[cart]\nstate_dir = "{state_dir}"\n[checkout]\nlane_key = "{LANE_KEY}"\n')
    site = Site.from_dict(trip["site"], "trip.json: site")
    locator = Locator(site, config.location, EidVerifier(parse_hex_key(config.checkout.lane_key, "lane_key"),
                                                        ["entry", "exit"], config.checkout.eid_period_s))
    checkout = CheckoutService(config)
    session = session_id_for(config.cart.id, 0.0, trip_epoch(trip, "trip.json"))
    zones, result = [], None
    for sighting in trip_sightings(trip_dir, trip):
        for event in locator.on_sighting(sighting):
            if type(event).__name__ == "ZoneChanged":
                zones.append(event.zone)
            if isinstance(event, LaneDetected):
                checkout.place_order([BasketLine("4011", "Banana", 1, 84, 219, "weight", 384.0)],
                                     shopper_token="dcs1:abcdefghijklmnop", session_id=session, t=event.t)
                (ack,) = checkout.deliver_due(event.t)
                assert isinstance(ack, OrderAcknowledged)
                result = {"t": ack.t, "status": ack.status, "order_id": ack.order_id}
    checkout.close()
    return zones, result


def test_replayed_trip_checks_out_identically(tmp_path):
    record_trip(tmp_path / "trip")
    first = replay(tmp_path / "trip", tmp_path / "a")
    second = replay(tmp_path / "trip", tmp_path / "b")
    assert first == second
    zones, checkout = first
    assert zones[0] == "produce-fruit"
    assert checkout["status"] == "local" and checkout["order_id"].startswith("cart-0001-")
    assert (tmp_path / "a" / "receipts" / f"{checkout['order_id']}.txt").read_text() == \
        (tmp_path / "b" / "receipts" / f"{checkout['order_id']}.txt").read_text()


def test_replay_without_the_epoch_cannot_pass_an_authenticated_lane(tmp_path):
    record_trip(tmp_path / "trip")
    trip = dict(TRIP)
    del trip["epoch"]
    (tmp_path / "trip" / "trip.json").write_text(json.dumps(trip))
    zones, checkout = replay(tmp_path / "trip", tmp_path / "a")
    assert checkout is None


def test_the_cart_shows_what_the_store_charged(catalogue):
    """The store prices the order; the paid screen shows its total, not the cart's."""
    from types import SimpleNamespace

    from dashcart.core.basket import Basket, Journal
    from dashcart.core.controller import Controller, ControllerSettings
    from dashcart.events import BarcodeSeen, ShopperAction, Tick, WeightSettled

    class Port:
        def place_order(self, lines, *, shopper_token, session_id, t, seq=1):
            return SimpleNamespace(order_id="order-1")

    c = Controller(catalogue, Basket(Journal(":memory:")), checkout=Port(), settings=ControllerSettings(summary_s=1.0))
    c.handle(ShopperAction(1.0, "signin", "dcs1:Shopper0123456789ab"))
    c.handle(BarcodeSeen(4.0, camera="top", gtin13="2280000001285", format="EAN-13"))
    c.handle(WeightSettled(5.0, delta_g=1062.0, total_g=1062.0, started_t=4.2))
    c.handle(Tick(6.0))
    assert c.snapshot().total_cents == 299
    c.handle(LaneDetected(10.0, lane="lane"))
    c.handle(Tick(11.5))
    c.handle(OrderAcknowledged(12.0, order_id="order-1", status="accepted", total_cents=239))
    view = c.snapshot().checkout
    assert view.stage == "paid" and view.charged_cents == 239
