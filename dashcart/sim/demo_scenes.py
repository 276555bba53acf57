"""Every screen of the UI, from snapshots the real controller published while it played the
demo's trip: what ``dashcart screenshots``, ``ui-demo``, the README's pictures and the screen
tests draw. Nothing here makes up a snapshot: the controller is fed the events the demo's
devices send (the shopper's taps, the scale's live and settled weights, the barcode and
recognizer reads, the zone and lane beacons, the checkout's answer) and each scene is the
controller's own snapshot at that moment, with only the overlay the shopper opened on top.

The trip is :data:`dashcart.sim.demo_cart.TRIP` (sign in, bananas by PLU and weight, milk by
barcode, soyghurt in and out, a carton of milk with its barcode hidden among look-alikes of its
weight: a question), then the
situations a screen exists for: a thing nobody can name, taking out something that looks like
two products, reaching the lane with a question open, checking out. It runs on the event
clock, so it takes milliseconds and gives the same snapshots every time.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dashcart.config import Config, parse_config
from dashcart.core.basket import Basket
from dashcart.core.catalogue import Catalogue, widen_to_gtin13
from dashcart.core.controller import Controller
from dashcart.errors import Misconfigured
from dashcart.events import (
    BarcodeSeen,
    ItemRecognized,
    LaneDetected,
    LaneEntered,
    LaneLeft,
    OrderAcknowledged,
    OrderDelayed,
    OrderRejected,
    ShopperAction,
    Tick,
    WeightLive,
    WeightSettled,
    ZoneChanged,
)
from dashcart.sim.demo_cart import CAMERA, DEMO_TOKEN, TRIP, Put, Take
from dashcart.snapshot import DeviceView, Snapshot
from dashcart.ui.scenes import Scene

#: A third milk carton of about the others' weight (1583 g against 1578 and 1584 g): a removal the
#: scale alone can't tell.
LOOKALIKE = "2430000001437"
#: The shopper's own bag, in the basket at the sign-in (never billed: up to cart.signin_max_load_g).
OWN_BAG_G = 120.0
#: Promoted in the demo store: mangos "3 for $4.50" (by the piece), onions "30c off per kg".
MANGO = "4051"
ONION = "4093"
#: What the store's answer says about the receipt when a store is configured.
RECEIPT_TO = "k***@example.com"
#: The late order of the paid scenes: it reached the store 3 h 10 min after the checkout, when
#: the milk cost 30c more.
REPRICED_AFTER_S = 3 * 3600.0 + 600.0
REPRICED_BY_CENTS = 30


def demo_catalogue(data_dir: Path | None = None) -> Catalogue:
    """The demo store's catalogue with its product photos (bundled with the package, or ``data_dir``)."""
    from dashcart.runtime.cart_runtime import find_data_dir
    data = find_data_dir(str(data_dir) if data_dir else None)
    csv = data / "catalogue" / "demo_store.csv" if data else None
    if data is None or csv is None or not csv.is_file():
        raise Misconfigured(f"no demo catalogue: {csv or 'the bundled demo store is missing'}")
    # The store's promotions: beside the catalogue CSV, or at the top of the data folder.
    promotions = next((p for p in (csv.with_name("promotions.csv"), data / "promotions.csv") if p.is_file()), None)
    return Catalogue.from_csv(csv, data / "grocery-store", promotions=promotions)


class _Player:
    """Feeds a controller the demo devices' events on a virtual clock and keeps named snapshots."""

    def __init__(self, controller: Controller, checkout: Any, published: list[Snapshot] | None = None) -> None:
        self.c = controller
        if published is not None:
            controller.subscribe(published.append)   # every snapshot it publishes, not only the scenes
        self.checkout = checkout
        self.t = 10.0
        self.load_g = 0.0
        self.scenes: list[Scene] = []

    def at(self, dt: float, event_type: type, *args: Any, **kw: Any) -> None:
        self.t = round(self.t + dt, 3)
        self.c.handle(event_type(self.t, *args, **kw))

    def tap(self, action: str, value: str = "", question_id: int | None = None, dt: float = 1.0) -> None:
        self.at(dt, ShopperAction, action, value, question_id)

    def settle(self, delta_g: float, *, moving: bool = True) -> None:
        """The scale: the load moves, then settles ``delta_g`` away; the evidence window passes."""
        start = self.t + 0.2
        if moving:
            self.at(0.2, WeightLive, self.load_g + delta_g / 2, False)
        self.load_g = round(self.load_g + delta_g, 1)
        # in the scale reader's order: the change, then "at rest"
        self.at(0.6, WeightSettled, delta_g, self.load_g, started_t=start)
        self.at(0.0, WeightLive, self.load_g, True)
        self.at(self.c.settings.evidence_after_s + 0.05, Tick)

    def shot(self, name: str, **overlay: Any) -> Snapshot:
        snap = self.c.snapshot()
        self.scenes.append(Scene(name, snap, **overlay))
        return snap

    def question(self) -> Any:
        return self.c.snapshot().questions[0] if self.c.snapshot().questions else None

    def expect_question(self, kind: str) -> Any:
        """The question the trip is there to show; its absence means the cart's behaviour moved."""
        q = self.question()
        if q is None or q.kind != kind:
            raise RuntimeError(f"the demo's trip expected a {kind!r} question at t={self.t}, the cart has "
                               f"{[x.kind for x in self.c.snapshot().questions]}")
        return q

    def deliver(self) -> None:
        """The checkout sender's turn: what the outbox delivers now comes back as events."""
        for event in self.checkout.deliver_due(self.t):
            self.c.handle(dataclasses.replace(event, t=self.t))


def _product(catalogue: Catalogue, code: str) -> Any:
    product = catalogue.get(code)
    if product is None:
        raise Misconfigured(f"the demo catalogue has no product {code}: the demo's trip needs it")
    return product


def _order_id(snap: Snapshot) -> str:
    return snap.checkout.order_id if snap.checkout is not None else ""


def _recognized(codes: list[tuple[str, float]], direction: str = "added") -> tuple[type, tuple, dict]:
    return ItemRecognized, (CAMERA, direction, tuple(codes)), {"box": (200, 150, 360, 330)}


@contextmanager
def _controller(catalogue: Catalogue, config: Config, state: Path) -> Iterator[tuple[Controller, Any]]:
    from dashcart.runtime.checkout_sender import CheckoutService
    service = CheckoutService(config, state_dir=state)
    basket = Basket.open(state / "basket.db")
    try:
        checkout: Any = service   # CheckoutService is the controller's CheckoutPort
        yield Controller.from_config(config, catalogue, basket, checkout=checkout), service
    finally:
        basket.journal.close()
        service.close()


def demo_scenes(catalogue: Catalogue | None = None, config: Config | None = None,
                published: list[Snapshot] | None = None) -> list[Scene]:
    """Every screen, from the controller playing the demo's trip (see the module's doc);
    ``published`` collects every snapshot the controller published on the way."""
    catalogue = catalogue or demo_catalogue()
    config = config or parse_config("")
    with tempfile.TemporaryDirectory(prefix="dashcart-scenes-") as tmp:
        with _controller(catalogue, config, Path(tmp)) as (controller, service):
            return _play(_Player(controller, service, published), catalogue)


def _play(p: _Player, catalogue: Catalogue) -> list[Scene]:
    p.at(0.0, WeightLive, 0.0, True)   # the scale's first reading: the basket is empty
    p.shot("welcome")
    # the shopper's own bag (never billed) goes in the basket before the sign-in
    p.load_g = OWN_BAG_G
    p.at(0.5, WeightLive, p.load_g, True)
    p.tap("signin", DEMO_TOKEN)
    p.tap("language", "ko")        # the shopper tries Korean, and back
    p.tap("language", "en")
    p.at(0.5, ZoneChanged, "produce-fruit")
    p.shot("shopping_empty")
    p.tap("plu", "99999")          # a PLU the store does not sell: the cart says so
    p.shot("shopping_message")
    p.shot("produce", mode="produce")
    p.shot("produce_search", mode="produce", query="app")
    p.shot("produce_plu", mode="produce", produce_tab="plu", digits="40")
    grams: dict[str, list[float]] = {}
    for step in TRIP:
        if isinstance(step, Put):
            if step.zone:
                p.at(1.0, ZoneChanged, step.zone)
            if step.plu:
                p.tap("plu", step.code)
                p.at(0.8, WeightLive, p.load_g + step.grams * 0.6, False)
                p.at(0.6, WeightLive, p.load_g + step.grams, True)
                p.shot("weigh")
                p.settle(step.grams, moving=False)
            else:
                if step.barcode:
                    p.at(0.5, BarcodeSeen, CAMERA, widen_to_gtin13(step.code), "EAN-13")
                else:
                    # Barcode hidden: the recognizer cannot tell the cartons of that shelf apart.
                    event, args, kw = _recognized([(step.code, 0.62), ("2410000001415", 0.6),
                                                   ("2380000001381", 0.58)])
                    p.at(0.6, event, *args, **kw)
                p.settle(step.grams)
            grams.setdefault(step.code, []).append(step.grams)
            q = p.question()
            if q is not None:
                p.shot("question")
                p.shot("none_fits", mode="none_fits")
                p.shot("question_plu", mode="question_plu", digits="240")
                p.tap("choose", step.code, q.id)
            if step.code == "2410000001415":
                p.shot("remove", mode="remove")
                p.shot("remove_pending", mode="remove_pending", pending_remove=step.code)
        elif isinstance(step, Take):
            p.settle(-grams[step.code].pop())
    # Something nobody can name: no barcode, no look the recognizer knows.
    p.settle(310.0)
    p.expect_question("unidentified")
    p.shot("question_unidentified")
    # The lane with a question open: checkout waits.
    p.at(1.0, LaneEntered, "lane1")
    p.shot("checkout_blocked")
    p.at(1.0, LaneLeft, "lane1")
    p.tap("not_in_cart", "", p.question().id)
    p.expect_question("remove_unknown")
    p.shot("question_take_out")
    p.settle(-310.0)
    # Something light nobody can name, refused and taken out again: the scale cannot tell it from
    # something out of the shopper's own bag, and no camera saw which, so the cart asks; the
    # item cannot be answered by a tap then, so staff come and look.
    p.settle(95.0)
    p.tap("not_in_cart", "", p.expect_question("unidentified").id)
    p.settle(-95.0)
    removal = next(q for q in p.c.snapshot().questions if q.kind == "removed")
    p.shot("question_own_bag")
    p.tap("choose", next(c.code for c in removal.candidates if c.kind == "unnamed"), removal.id)
    p.shot("question_take_out_unseen")
    p.tap("staff", "clear_questions")
    # A third carton of about the two milks' weight goes in; one of the three comes out: which one?
    p.at(0.5, BarcodeSeen, CAMERA, widen_to_gtin13(LOOKALIKE), "EAN-13")
    p.settle(_product(catalogue, LOOKALIKE).unit_weight_g)
    p.settle(-1581.0)
    p.shot("question_removed")
    p.tap("choose", LOOKALIKE, p.expect_question("removed").id)
    # Three mangos, one tap per piece ("3 for $4.50"), then into the cart together.
    p.at(1.0, ZoneChanged, "produce-fruit")
    for _ in range(3):
        p.tap("plu", MANGO, dt=0.6)
    mango = _product(catalogue, MANGO)
    p.at(0.8, WeightLive, p.load_g + 3 * mango.unit_weight_g, True)
    p.shot("weigh_pieces")
    p.tap("confirm", MANGO)        # "Add" before the scale settled: the cart asks to put them in first
    p.settle(3 * mango.unit_weight_g, moving=False)
    # Onions by weight, 30c off per kg: the weighing screen shows the promoted price per kg.
    p.at(1.0, ZoneChanged, "produce-veg")
    p.tap("plu", ONION)
    p.at(0.8, WeightLive, p.load_g + 510.0, True)
    p.shot("weigh_promoted")
    p.settle(510.0, moving=False)
    p.at(1.0, ZoneChanged, "produce-fruit")
    p.shot("shopping")
    p.shot("help", mode="help")
    p.shot("staff_pin", mode="staff_pin", digits="12")
    p.shot("staff_menu", mode="staff_menu")
    # The devices' health is the runtime's part of the snapshot (it adds what the drivers report).
    p.scenes.append(Scene("trouble", dataclasses.replace(p.c.snapshot(), devices=(
        DeviceView("scale", "down", "no readings for 5 s"), DeviceView("network", "down", "store API unreachable"))),
        mode="trouble"))
    p.at(2.0, ZoneChanged, "")
    # The entry beacon: the summary stays up, cancellable, until the exit beacon.
    p.at(1.0, LaneEntered, "lane1")
    p.shot("checkout_summary")
    p.at(3.0, LaneDetected, "lane1")     # the exit, once the cancel window has run
    p.shot("checkout_paying")
    p.deliver()
    p.shot("checkout_practice")
    return p.scenes


def paid_scenes(catalogue: Catalogue | None = None, config: Config | None = None,
                published: list[Snapshot] | None = None) -> list[Scene]:
    """A cart with a store: the countdown when only the exit beacon was heard, "Paid" once
    the store accepted the order (its answer is the event the checkout sender posts), and a
    late order the store charged at its prices on arrival."""
    catalogue = catalogue or demo_catalogue()
    config = config or parse_config("")
    config = dataclasses.replace(config, checkout=dataclasses.replace(
        config.checkout, store_url="http://127.0.0.1:9/v1", cart_key="00" * 16))
    with tempfile.TemporaryDirectory(prefix="dashcart-scenes-") as tmp:
        with _controller(catalogue, config, Path(tmp)) as (controller, service):
            p = _Player(controller, service, published)
            p.tap("signin", DEMO_TOKEN)
            p.at(0.5, ZoneChanged, "dairy")
            p.at(0.5, BarcodeSeen, CAMERA, widen_to_gtin13("2410000001415"), "EAN-13")
            p.settle(1584.0)
            p.at(2.0, ZoneChanged, "")
            p.at(1.0, LaneDetected, "lane1")
            p.at(0.5, Tick)
            p.shot("checkout_countdown")
            p.tap("confirm", "checkout", dt=0.5)
            # The store refuses the first order (say, the shopper's card was declined): staff help.
            p.at(0.8, OrderRejected, _order_id(p.c.snapshot()), "card declined")
            p.shot("checkout_failed")
            p.tap("confirm", "checkout", dt=20.0)   # staff sorted it out: try again
            # The store's answer as the checkout sender posts it: what it charged (at its prices,
            # the same as the cart's here) with the masked receipt address.
            order = p.checkout.status(_order_id(p.c.snapshot()))
            p.at(0.8, OrderAcknowledged, order.order_id, "accepted", receipt_to=RECEIPT_TO,
                 total_cents=order.total_cents, ordered_cents=order.total_cents)
            p.shot("checkout_receipt")
            # The next shopper checks out while the store is unreachable: the order waits in the
            # outbox, reaches the store hours later and is charged the store's prices then (its
            # grace for the checkout's prices is 2 minutes): the paid screen says so.
            p.tap("signout", dt=5.0)
            p.settle(-p.load_g)
            p.tap("signin", DEMO_TOKEN, dt=30.0)
            p.at(0.5, BarcodeSeen, CAMERA, widen_to_gtin13("2410000001415"), "EAN-13")
            p.settle(1584.0)
            p.at(1.0, LaneDetected, "lane1")
            p.at(0.5, Tick)
            p.tap("confirm", "checkout", dt=0.5)
            order = p.checkout.status(_order_id(p.c.snapshot()))
            p.at(0.8, OrderDelayed, order.order_id, 1, "cannot reach the store")
            p.at(REPRICED_AFTER_S, OrderAcknowledged, order.order_id, "accepted", receipt_to=RECEIPT_TO,
                 total_cents=order.total_cents + REPRICED_BY_CENTS, ordered_cents=order.total_cents,
                 message="charged at the store's prices", priced_late_s=REPRICED_AFTER_S)
            p.shot("checkout_repriced")
            return p.scenes


def all_scenes(data_dir: Path | None = None, config: Config | None = None,
               published: list[Snapshot] | None = None) -> list[Scene]:
    """The demo trip's scenes and the paid ones, on the demo catalogue."""
    catalogue = demo_catalogue(data_dir)
    return demo_scenes(catalogue, config, published) + paid_scenes(catalogue, config, published)


def long_basket(n: int, catalogue: Catalogue | None = None, config: Config | None = None) -> Snapshot:
    """The controller's snapshot with ``n`` basket lines (scrolling, the benchmark): each carton
    once by barcode, then produce by PLU and weight (each weighed lot is a line of its own)."""
    catalogue = catalogue or demo_catalogue()
    cartons = [p for p in catalogue if not p.by_weight and len(p.code) == 13]
    produce = [p for p in catalogue if p.by_weight]
    with tempfile.TemporaryDirectory(prefix="dashcart-scenes-") as tmp:
        with _controller(catalogue, config or parse_config(""), Path(tmp)) as (controller, service):
            p = _Player(controller, service)
            p.tap("signin", DEMO_TOKEN)
            p.at(0.5, ZoneChanged, "dairy")
            for i in range(n):
                if i < len(cartons):
                    product = cartons[i]
                    p.at(0.5, BarcodeSeen, CAMERA, widen_to_gtin13(product.code), "EAN-13")
                else:
                    product = produce[i % len(produce)]
                    p.tap("plu", product.code, dt=0.5)
                p.settle(product.unit_weight_g * (1 if i < len(cartons) else 3))
                q = p.question()
                if q is not None:   # the shopper knows what went in
                    p.tap("choose", product.code, q.id, dt=0.5)
            return controller.snapshot()
