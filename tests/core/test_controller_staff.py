"""Staff overrides from the screen's staff menu (``staff <override>`` after the PIN): each one
changes the journaled basket or the scale as its button says, or says why it cannot."""

from dashcart.core.basket import Basket, Journal
from dashcart.core.controller import Controller, ControllerSettings
from dashcart.events import BarcodeSeen, LaneDetected, ShopperAction, Tick, WeightLive, WeightSettled
from dashcart.snapshot import SessionState
from tests.core.test_controller import JUICE, FakeStore, place

MILK = "2410000001415"


class FakeScale:
    def __init__(self):
        self.zero_requests = 0

    def request_zero(self):
        self.zero_requests += 1


def make(catalogue, path=":memory:", store=None, scale=None):
    return Controller(catalogue, Basket(Journal(path)), checkout=store or FakeStore(), scale=scale,
                      settings=ControllerSettings(summary_s=5.0))


def staff(c, t, override):
    c.handle(ShopperAction(t, "staff", override))
    return c.snapshot()


def test_clear_questions_closes_every_question_and_releases_a_blocked_checkout(catalogue):
    store = FakeStore()
    c = make(catalogue, store=store)
    c.handle(ShopperAction(0.0, "signin", "tok"))
    place(c, 2.0, 1062.0, JUICE)
    place(c, 5.0, 170.0)                                  # nothing named it: a question
    place(c, 8.0, 400.0)                                  # and another
    assert len(c.snapshot().questions) == 2
    c.handle(LaneDetected(10.0, lane="lane-1"))
    c.handle(Tick(20.0))
    assert c.snapshot().checkout.stage == "blocked" and not store.orders
    snap = staff(c, 21.0, "clear_questions")
    assert snap.questions == () and snap.checkout.stage == "summary"
    assert [(line.code, line.qty) for line in snap.lines] == [(JUICE, 1)]   # what nobody named is not charged
    assert c.log[-2]["type"] == "staff" and c.log[-2]["questions"] == 2
    c.handle(Tick(27.0))
    assert len(store.orders) == 1 and store.orders[0].total_cents == 299
    # a restart keeps it: the journal has the answers
    assert c.basket.session.questions == {}


def test_unblock_releases_only_a_blocked_checkout(catalogue):
    c = make(catalogue)
    c.handle(ShopperAction(0.0, "signin", "tok"))
    place(c, 3.0, 170.0)
    snap = staff(c, 4.0, "unblock")                       # shopping: nothing is blocked
    assert snap.message_key == "message.staff_nothing" and len(snap.questions) == 1
    c.handle(LaneDetected(6.0, lane="lane-1"))
    c.handle(Tick(12.0))
    assert c.snapshot().checkout.stage == "blocked"
    snap = staff(c, 13.0, "unblock")
    assert snap.checkout.stage == "summary" and snap.questions == () and snap.message == "done"   # the override is answered


def test_void_last_takes_the_newest_placement_off_the_bill(catalogue):
    c = make(catalogue)
    assert staff(c, 0.5, "void_last").message_key == "message.staff_nothing"   # no session
    c.handle(ShopperAction(1.0, "signin", "tok"))
    place(c, 2.0, 1062.0, JUICE)
    place(c, 5.0, 1584.0, MILK)
    place(c, 8.0, 1062.0, JUICE)                          # a second juice: its own placement
    assert c.snapshot().total_cents == 299 * 2 + 199
    snap = staff(c, 10.0, "void_last")
    assert [(line.code, line.qty) for line in snap.lines] == [(JUICE, 1), (MILK, 1)]
    assert c.log[-1] == {"t": 10.0, "type": "staff", "action": "void_last", "code": JUICE, "qty": 1,
                         "weight_g": 1062.0}
    snap = staff(c, 11.0, "void_last")
    assert [(line.code, line.qty) for line in snap.lines] == [(JUICE, 1)]


def test_zero_the_scale_only_with_an_empty_basket(catalogue):
    scale = FakeScale()
    c = make(catalogue, scale=scale)
    assert staff(c, 0.5, "tare").message_key == "message.staff_zeroing"   # idle, empty: zero
    assert scale.zero_requests == 1 and c.log[-1]["action"] == "tare"
    c.handle(ShopperAction(1.0, "signin", "tok"))
    place(c, 2.0, 1062.0, JUICE)
    snap = staff(c, 4.0, "tare")
    assert snap.message_key == "message.staff_empty_first" and scale.zero_requests == 1
    c.handle(WeightSettled(5.0, -1062.0, 0.0, started_t=4.5))
    c.handle(BarcodeSeen(4.6, "top", JUICE, "EAN-13"))
    c.handle(Tick(6.0))
    assert c.basket.items == []
    c.handle(WeightSettled(7.0, 300.0, 300.0, started_t=6.5))   # something going in, not yet decided
    assert staff(c, 7.1, "tare").message_key == "message.staff_empty_first" and scale.zero_requests == 1
    c.handle(Tick(9.0))
    c.handle(ShopperAction(9.5, "not_in_cart"))
    c.handle(WeightSettled(10.0, -300.0, 0.0, started_t=9.6))
    c.handle(Tick(12.0))
    assert c.basket.items == [] and c.snapshot().questions == ()
    c.handle(WeightLive(12.5, 4.0, True))
    assert staff(c, 13.0, "tare").message_key == "message.staff_zeroing" and scale.zero_requests == 2
    # a cart with no scale port (a replay) says so and asks nothing
    bare = make(catalogue)
    assert staff(bare, 1.0, "tare").message_key == "message.staff_no_scale"


def test_end_session_ends_it_but_not_under_an_order_with_the_store(catalogue):
    store = FakeStore()
    c = make(catalogue, store=store)
    c.handle(ShopperAction(0.0, "signin", "tok"))
    c.handle(ShopperAction(0.5, "language", "ko"))
    place(c, 2.0, 1062.0, JUICE)
    place(c, 5.0, 170.0)
    staff(c, 6.0, "end_session")
    assert c.state is SessionState.IDLE and c.snapshot().language == "en"
    assert c.log[-2] == {"t": 6.0, "type": "staff", "action": "end_session", "items": 1, "total_cents": 299}
    assert not store.orders
    c.handle(ShopperAction(7.0, "signin", "tok-2"))       # the next shopper starts empty
    assert c.snapshot().lines == () and c.snapshot().questions == ()
    place(c, 9.0, 1062.0, JUICE)
    c.handle(LaneDetected(10.0, lane="lane-1"))
    c.handle(Tick(16.0))
    assert c.snapshot().checkout.stage == "paying"
    snap = staff(c, 17.0, "end_session")
    assert snap.message_key == "message.staff_wait_store" and c.state is SessionState.CHECKOUT


def test_an_unknown_override_changes_nothing(catalogue):
    c = make(catalogue)
    c.handle(ShopperAction(0.0, "signin", "tok"))
    place(c, 2.0, 1062.0, JUICE)
    staff(c, 3.0, "open_the_till")
    assert c.log[-1] == {"t": 3.0, "type": "rejected", "action": "staff", "value": "open_the_till"}
    assert [(i.code, i.qty) for i in c.basket.items] == [(JUICE, 1)]


def test_zeroing_in_a_session_makes_the_empty_basket_what_a_restart_expects(catalogue):
    """A drifted cell reads 120 g with the basket empty; the shopper signs in (the journal
    keeps 120 g) and staff zero it: after a restart the scale reads 0 g, so that is what the
    journal must expect, or the restart asks about a 120 g removal. Not while an open
    question's item is in the basket: that is no empty basket."""
    scale = FakeScale()
    moved = make(catalogue, scale=FakeScale())
    moved.handle(WeightLive(0.5, 20.0, False))
    moved.handle(ShopperAction(1.0, "signin", "tok"))      # signed in while it moved: no load known
    staff(moved, 2.0, "tare")
    assert moved.expected_load_g == 0.0
    moved.handle(WeightLive(2.1, 20.0, True))              # the reader's "at rest" before it zeroes
    assert moved.expected_load_g == 0.0
    c = make(catalogue, scale=scale)
    c.handle(WeightLive(0.5, 120.0, True))
    c.handle(ShopperAction(1.0, "signin", "tok"))
    assert c.expected_load_g == 120.0
    assert staff(c, 2.0, "tare").message_key == "message.staff_zeroing" and scale.zero_requests == 1
    assert c.expected_load_g == 0.0
    place(c, 5.0, 170.0, total=170.0)                     # nothing named it: a question
    assert c.snapshot().questions and not c.basket.items
    assert staff(c, 7.0, "tare").message_key == "message.staff_empty_first" and scale.zero_requests == 1


def test_the_expected_load_follows_creep_at_rest_but_never_an_item(catalogue):
    c = make(catalogue)
    c.handle(WeightLive(0.5, 40.0, True))
    c.handle(ShopperAction(1.0, "signin", "tok"))
    for t, grams in ((60.0, 41.2), (120.0, 42.5), (180.0, 43.9)):   # creep, about 1 g a minute
        c.handle(WeightLive(t, grams, True))
    assert c.expected_load_g == 43.9
    c.handle(WeightLive(200.0, 40.0, False))
    c.handle(WeightLive(201.0, 48.0, True))               # 4 g more at rest: too much for creep
    assert c.expected_load_g == 43.9
