"""The paid screen says what the store charged, from the store's own answer: a cart, its
checkout sender and the reference store on loopback HTTP, the answer fed to the real
controller, its snapshot drawn. The store prices an order at its arrival, and at the cart's
``placed_at`` only within ``PRICE_GRACE_S``: an order that waited in the outbox longer (the cart
was offline) is charged the store's prices then, and the shopper reads that on the cart."""

from __future__ import annotations

import pytest

from dashcart.config import parse_config
from dashcart.core.basket import Basket
from dashcart.core.catalogue import Catalogue
from dashcart.core.controller import Controller
from dashcart.core.pricing import Promotion
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
from dashcart.runtime.checkout_sender import CheckoutService
from dashcart.sim.reference_store import PRICE_GRACE_S, ReferenceStore, StoreServer
from dashcart.ui.i18n import Strings
from dashcart.ui.widgets import ELLIPSIS
from tests.ui.ui_helpers import Harness

CART_KEY = "11" * 16
TOKEN = "dcs1:AAAAaaaa0123456789"
MILK = "2410000001415"                 # 1.99, 25 % off for the week: 1.49
ENDS = 1_767_830_400.0                 # 2026-01-08T00:00:00Z: the week's last second is before it
WALL_AT_0 = ENDS - 600.0               # the cart's Unix time at event time 0: ten minutes before the end


class Trip:
    """One shopper, one milk, through the lane at event time 10 s; ``wall[0]`` is the Unix time
    of both clocks (cart and store, NTP-synchronised), set by the test as time passes."""

    def __init__(self, tmp_path, catalogue) -> None:
        shop = Catalogue(catalogue, promotions=[Promotion("milk-25", MILK, "percent", 25, starts_at=ENDS - 7 * 86400,
                                                          ends_at=ENDS, label="25% off")])
        self.wall = [WALL_AT_0]
        self.server = StoreServer(ReferenceStore(tmp_path / "store.sqlite", {"cart-0001": bytes.fromhex(CART_KEY)},
                                                 {TOKEN: "kim@example.com"}, catalogue=shop,
                                                 clock=lambda: self.wall[0])).start()
        config = parse_config(f'[cart]\nid = "cart-0001"\nstate_dir = "{tmp_path / "cart"}"\n'
                              f'[checkout]\nstore_url = "{self.server.url}"\ncart_key = "{CART_KEY}"\n')
        self.service = CheckoutService(config, wall_clock=lambda: self.wall[0])
        self.c = Controller.from_config(config, shop, Basket.open(tmp_path / "basket.db"), checkout=self.service)

    def close(self) -> None:
        self.c.basket.journal.close()
        self.service.close()
        self.server.stop()

    def at(self, t: float) -> float:
        self.wall[0] = WALL_AT_0 + t
        return t

    def check_out(self) -> int:
        """Shop and go through the lane; returns the total the cart showed at the checkout."""
        c = self.c
        c.handle(ShopperAction(self.at(1.0), "signin", TOKEN))
        # a beacon heard with the wall clock: the cart prices the week's promotion
        c.handle(BeaconSighting(self.at(1.5), "ibeacon", "e2c56db5-dffb-48d2-b060-d0f5a71096e0:1:1", -60.0,
                                wall_t=self.wall[0]))
        c.handle(BarcodeSeen(self.at(2.0), camera="top", gtin13=MILK, format="EAN-13"))
        c.handle(WeightSettled(self.at(3.0), delta_g=1584.0, total_g=1584.0, started_t=2.2))
        c.handle(Tick(self.at(4.0)))
        shown = c.snapshot().total_cents
        c.handle(LaneDetected(self.at(10.0), lane="lane-1"))
        c.handle(Tick(self.at(14.0)))                      # the cancel window ran: the order is placed
        assert [o.total_cents for o in self.service.pending()] == [shown]
        return shown

    def deliver(self, t: float) -> list:
        """The sender's turn at ``t``; each answer goes to the controller as the live queue would."""
        events = self.service.deliver_due(self.at(t))
        for event in events:
            self.c.handle(event)
        return events


@pytest.fixture
def trip(tmp_path, catalogue):
    trip = Trip(tmp_path, catalogue)
    yield trip
    trip.close()


def paid_text(snap, language, size) -> str:
    """What the paid screen says, read in full (nothing cut off with an ellipsis)."""
    h = Harness(snap, size=size, language=language)
    assert h.app.screen == "checkout"
    w = h.find("paid_text")
    lines, _ = h.app.ctx.fit(w.text, w.size, w.bold, w.rect.w, w.rect.h, w.wrap)
    assert not any(line.endswith(ELLIPSIS) for line in lines), (size, language, lines)
    return w.text


@pytest.mark.parametrize("size", [(800, 480), (720, 1280)], ids=["800x480", "720x1280"])
@pytest.mark.parametrize("language", ["en", "ko"])
def test_a_late_order_priced_on_arrival_says_so_on_the_paid_screen(trip, language, size):
    shown = trip.check_out()
    assert shown == 149                                   # 1.99 at 25 % off
    trip.server.inject("503")                              # the store cannot be reached at the lane
    (delayed,) = trip.deliver(14.0)
    assert isinstance(delayed, OrderDelayed)
    # three hours later the cart is back online; the promotion ended meanwhile
    (ack,) = trip.deliver(14.0 + 3 * 3600.0)
    assert isinstance(ack, OrderAcknowledged) and ack.total_cents == 199 and ack.ordered_cents == 149
    assert ack.priced_late_s == 3 * 3600.0
    snap = trip.c.snapshot()
    view = snap.checkout
    assert view.stage == "paid" and view.status == "accepted"
    assert (view.charged_cents, view.ordered_cents, view.priced_late_s) == (199, 149, 3 * 3600.0)
    # The cart prices its basket at its own clock too: by now it also says 1.99, so comparing
    # the charge with the basket's total alone would say nothing at all.
    assert snap.total_cents == 199
    tr = Strings(language, "USD")
    text = paid_text(snap, language, size)
    assert f"{tr('total')} $1.99" in text
    assert tr("checkout.repriced_more", late=tr.duration(3 * 3600.0), diff="$0.50", shown="$1.49") in text
    assert {"en": "3 h 0 min after checkout: $0.50 more than the cart showed ($1.49)",
            "ko": "계산대 통과 3시간 0분 뒤"}[language] in text


@pytest.mark.parametrize("language", ["en", "ko"])
def test_an_order_priced_at_the_checkout_says_nothing_of_repricing(trip, language):
    """Delivered through a blip, within the store's grace: charged what the shopper saw."""
    shown = trip.check_out()
    trip.server.inject("503")
    (delayed,) = trip.deliver(14.0)
    assert isinstance(delayed, OrderDelayed)
    (ack,) = trip.deliver(14.0 + PRICE_GRACE_S - 30.0)     # past the promotion's end, within the grace
    assert isinstance(ack, OrderAcknowledged) and ack.total_cents == shown == 149 and ack.priced_late_s == 0.0
    snap = trip.c.snapshot()
    view = snap.checkout
    assert (view.charged_cents, view.ordered_cents, view.priced_late_s) == (149, 149, 0.0)
    tr = Strings(language, "USD")
    # the receipt, the total, the order, the cart: nothing about prices other than the shopper's
    assert paid_text(snap, language, (800, 480)).split("\n") == [
        tr("checkout.receipt_to", to=view.receipt_to), f"{tr('total')} $1.49", tr("checkout.order", id=view.order_id),
        tr("checkout.return_cart")]


def test_a_repriced_total_the_same_as_the_cart_s_says_when_it_was_priced(trip):
    """The store priced on arrival and came to the cart's total (one price up, one down): the
    shopper still reads that the order was priced then."""
    trip.check_out()
    ack = OrderAcknowledged(20.0, trip.c.snapshot().checkout.order_id, "accepted", total_cents=149,
                            ordered_cents=149, priced_late_s=400.0)
    trip.c.handle(ack)
    text = paid_text(trip.c.snapshot(), "en", (800, 480))
    assert "Priced when the order reached the store, 6 min after checkout: the same total the cart showed" in text


def test_while_the_order_waits_the_paid_screen_shows_its_total_not_the_basket_priced_anew(trip):
    """The store cannot be reached; the promotion ends while the order waits in the outbox. The
    screen still says the order's total (what was ordered), not the basket priced at the cart's
    clock now: that total was never ordered, and changing it silently reads as a charge."""
    shown = trip.check_out()
    trip.server.inject("503")
    (delayed,) = trip.deliver(14.0)
    assert isinstance(delayed, OrderDelayed)
    trip.c.handle(Tick(trip.at(14.0 + 3600.0)))          # an hour on, the promotion over
    snap = trip.c.snapshot()
    assert snap.checkout.stage == "paid" and snap.checkout.status == "queued"
    assert snap.total_cents == 199 and snap.checkout.ordered_cents == shown == 149
    text = paid_text(snap, "en", (800, 480))
    assert "Total $1.49" in text and "$1.99" not in text


def test_a_restart_on_the_paid_screen_still_says_what_the_store_charged(trip, tmp_path, catalogue):
    trip.check_out()
    trip.server.inject("503")
    trip.deliver(14.0)
    (ack,) = trip.deliver(14.0 + 3 * 3600.0)
    assert isinstance(ack, OrderAcknowledged) and ack.priced_late_s > 0
    before = trip.c.snapshot().checkout
    trip.c.basket.journal.close()
    # the cart restarts: a new controller on the same journal
    config = parse_config(f'[cart]\nid = "cart-0001"\nstate_dir = "{tmp_path / "cart"}"\n')
    trip.c = Controller.from_config(config, trip.c.catalogue, Basket.open(tmp_path / "basket.db"))
    after = trip.c.snapshot().checkout
    assert after is not None and after.stage == "paid"
    assert (after.charged_cents, after.ordered_cents, after.priced_late_s) == \
        (before.charged_cents, before.ordered_cents, before.priced_late_s) == (199, 149, 3 * 3600.0)
    assert "$0.50 more than the cart showed ($1.49)" in paid_text(trip.c.snapshot(), "en", (800, 480))


def test_the_sender_retrying_while_the_paid_screen_waits_writes_nothing_new_to_the_journal(trip):
    """Offline, the sender says "delayed" at every try (every minute at most): the paid screen
    has nothing new to keep, so the journal (synchronous on the SD card) gets no row for it,
    however long the cart stands there. The store's answer, when it comes, is journaled."""
    trip.check_out()
    journal = trip.c.basket.journal

    def state_rows() -> list[dict]:
        return [data for _, _, kind, data in journal.rows(journal.last_session_start()) if kind == "state"]

    t = 14.0
    for attempt in range(5):
        trip.server.inject("503")
        (delayed,) = trip.deliver(t)
        assert isinstance(delayed, OrderDelayed) and delayed.attempts == attempt + 1
        if attempt == 0:
            journaled = state_rows()
            assert journaled[-1]["state"] == "done" and journaled[-1]["checkout"]["status"] == "queued"
        t += 120.0
    assert state_rows() == journaled
    (ack,) = trip.deliver(t)
    assert isinstance(ack, OrderAcknowledged)
    rows = state_rows()
    assert rows[:-1] == journaled and rows[-1]["checkout"]["status"] == "accepted"
    assert rows[-1]["checkout"]["charged_cents"] == ack.total_cents


def test_an_answer_lost_in_a_crash_is_read_back_from_the_outbox(trip, tmp_path):
    """The store charged the late order, the outbox recorded its reply, and the cart went down
    before the controller heard it. On the restart, the outbox's record settles the session
    (Controller.reconcile): the paid screen says what the store charged and when it priced it,
    as it would have, not the order's total or the basket priced anew."""
    trip.check_out()
    trip.server.inject("503")
    trip.deliver(14.0)
    events = trip.service.deliver_due(trip.at(14.0 + 3 * 3600.0))   # answered; the controller never hears it
    assert [type(e) for e in events] == [OrderAcknowledged]
    assert trip.c.snapshot().checkout.stage == "paid" and trip.c.snapshot().checkout.status == "queued"
    trip.c.basket.journal.close()
    config = parse_config(f'[cart]\nid = "cart-0001"\nstate_dir = "{tmp_path / "cart"}"\n')
    trip.c = Controller.from_config(config, trip.c.catalogue, Basket.open(tmp_path / "basket.db"))
    trip.c.reconcile(trip.at(14.0 + 3 * 3600.0 + 60.0), trip.service.on_record())
    view = trip.c.snapshot().checkout
    assert (view.charged_cents, view.ordered_cents, view.priced_late_s) == (199, 149, 3 * 3600.0)
    assert "$0.50 more than the cart showed ($1.49)" in paid_text(trip.c.snapshot(), "en", (800, 480))


def test_an_order_settled_while_the_journal_said_paying_keeps_its_figures(trip, tmp_path):
    """No answer reached the controller before the crash (not even "delayed"): the journal says
    paying, the outbox says accepted. The restart closes the session with the store's figures."""
    trip.check_out()
    trip.server.inject("503")
    trip.service.deliver_due(trip.at(14.0))
    trip.service.deliver_due(trip.at(14.0 + 3 * 3600.0))
    assert trip.c.snapshot().checkout.stage == "paying"
    trip.c.basket.journal.close()
    config = parse_config(f'[cart]\nid = "cart-0001"\nstate_dir = "{tmp_path / "cart"}"\n')
    trip.c = Controller.from_config(config, trip.c.catalogue, Basket.open(tmp_path / "basket.db"))
    trip.c.reconcile(trip.at(14.0 + 3 * 3600.0 + 60.0), trip.service.on_record())
    view = trip.c.snapshot().checkout
    assert view.stage == "paid" and (view.charged_cents, view.ordered_cents, view.priced_late_s) == (199, 149, 3 * 3600.0)
    # and once more after another restart: it was journaled
    trip.c.basket.journal.close()
    trip.c = Controller.from_config(config, trip.c.catalogue, Basket.open(tmp_path / "basket.db"))
    view = trip.c.snapshot().checkout
    assert (view.charged_cents, view.ordered_cents, view.priced_late_s) == (199, 149, 3 * 3600.0)
