"""Taps on each control reach the right shopper action (or open the right screen)."""

import dataclasses
import json

import pytest

from dashcart.config import parse_config
from dashcart.events import ShopperAction
from dashcart.snapshot import CheckoutView, DeviceView, SessionState, Snapshot
from dashcart.ui.i18n import format_money
from tests.ui.ui_helpers import Harness, demo_scenes, long_basket

SCENES = demo_scenes()
SHOP = SCENES["shopping"].snapshot
QUESTION = SCENES["question"].snapshot
QID = QUESTION.questions[0].id


@pytest.mark.parametrize("touch", [False, True], ids=["mouse", "finger"])
def test_candidate_tap_chooses_it_once(touch):
    h = Harness(QUESTION)
    assert h.app.screen == "question"
    code = QUESTION.questions[0].candidates[2].code
    h.tap(f"candidate:{code}", touch=touch)
    assert [(a.action, a.value, a.question_id) for a in h.actions] == [("choose", code, QID)]


def test_not_in_cart_answers_the_question():
    h = Harness(QUESTION)
    h.tap("not_in_cart")
    assert h.last() == ("not_in_cart", "", QID)


def test_none_fits_then_plu_answers_with_the_typed_code():
    h = Harness(QUESTION)
    h.tap("none_fits")
    assert h.app.screen == "none_fits"
    h.tap("enter_plu")
    assert h.app.screen == "question_plu"
    for key in "40119":
        h.tap(f"plu:{key}")
    h.tap("plu:clear")
    assert h.find("plu_display").text == "4011"
    h.tap("plu:ok")
    assert h.last() == ("plu", "4011", QID)


def test_short_plu_is_not_sent():
    h = Harness(QUESTION)
    h.tap("none_fits")
    h.tap("enter_plu")
    h.tap("plu:4")
    h.tap("plu:ok")
    assert h.actions == []
    assert h.app.screen == "question_plu"


def test_none_fits_call_staff():
    h = Harness(QUESTION)
    h.tap("none_fits")
    h.tap("call_staff")
    assert h.last() == ("call_staff", f"question:{QID}", None)
    assert h.find("note").text == "Staff are on their way"


def test_release_outside_the_pressed_button_does_nothing():
    h = Harness(QUESTION)
    start = h.find("not_in_cart").rect.center
    h.tap_at(start, end=(start[0], 5))
    assert h.actions == []


def test_shopping_buttons_open_produce_and_remove():
    h = Harness(SHOP)
    h.tap("produce")
    assert h.app.screen == "produce"
    h.tap("back")
    assert h.app.screen == "shopping"
    h.tap("remove")
    assert h.app.screen == "remove"


def test_nearby_loose_item_starts_a_produce_entry():
    fruit = SCENES["shopping_empty"].snapshot    # in the fruit aisle
    h = Harness(fruit)
    banana = fruit.nearby[0]        # loose fruit, sold by weight
    h.tap(f"nearby:{banana.code}")
    assert h.last() == ("produce", banana.code, None)


def test_language_button_switches_the_words_and_tells_the_controller():
    h = Harness(SHOP)
    assert h.find("produce").label == "Fruit & veg"
    h.tap("language")
    assert h.last() == ("language", "ko", None)
    assert h.find("produce").label == "\uacfc\uc77c\u00b7\ucc44\uc18c"


def test_produce_search_by_keyboard_then_pick():
    h = Harness(SHOP)
    h.tap("produce")
    for key in "granny":
        h.tap(f"kb:{key}")
    assert h.find("query").text.startswith("granny")
    tiles = sorted(w.id for w in h.app.widgets if w.id.startswith("produce:"))
    assert tiles == ["produce:4017"]  # Granny Smith
    h.tap("kb:delete")
    h.tap("kb:delete")
    assert h.app.ui.query == "gran"
    h.tap("kb:clear")
    assert h.app.ui.query == ""
    for key in "banana":
        h.tap(f"kb:{key}")
    h.tap("produce:4011")
    assert h.last() == ("produce", "4011", None)


def test_produce_plu_keypad_starts_an_entry_by_code():
    h = Harness(SHOP)
    h.tap("produce")
    h.tap("tab_plu")
    for key in "4011":
        h.tap(f"plu:{key}")
    h.tap("plu:ok")
    assert h.last() == ("plu", "4011", None)


def test_weigh_screen_shows_live_price_and_confirms():
    snap = SCENES["weigh"].snapshot
    h = Harness(snap)
    assert h.app.screen == "weigh"
    # The bananas just placed (640 g, not the basket's weight), at their price per kg.
    assert h.find("weigh_weight").text == "640 g"
    per_kg = snap.produce_entry.price_cents
    # $1.29/kg: what the basket then charges for them.
    assert h.find("weigh_unit").text == format_money(per_kg, "USD") + "/kg" == "$1.29/kg"
    charged = next(line for line in SCENES["shopping"].snapshot.lines if line.code == snap.produce_entry.code)
    assert h.find("weigh_price").text == format_money(charged.price_cents, "USD") == "$0.83"
    assert charged.weight_g == 640.0
    h.render(dataclasses.replace(snap, produce_weight_g=1250.0))
    assert h.find("weigh_weight").text == "1.250 kg"
    assert h.find("weigh_price").text == format_money(round(per_kg * 1.25), "USD")
    h.tap("weigh_add")
    assert h.last() == ("confirm", snap.produce_entry.code, None)
    h.tap("weigh_cancel")
    assert h.last() == ("cancel", snap.produce_entry.code, None)


def test_weigh_add_is_disabled_while_the_scale_moves():
    snap = dataclasses.replace(SCENES["weigh"].snapshot, weight_stable=False)
    h = Harness(snap)
    h.tap("weigh_add")
    assert h.actions == []


def test_remove_by_touch_then_the_scale_confirms():
    h = Harness(SHOP)
    h.tap("remove")
    line = SHOP.lines[0]
    h.tap(f"remove_tap:{line.code}")
    assert h.last() == ("remove", line.code, None)
    assert h.app.screen == "remove_pending"
    h.render(dataclasses.replace(SHOP, t=SHOP.t + 1))
    assert h.app.screen == "remove_pending"          # nothing came out yet
    fewer = dataclasses.replace(line, qty=line.qty - 1)
    h.render(dataclasses.replace(SHOP, lines=(fewer,) + SHOP.lines[1:]))
    assert h.app.screen == "shopping"


def test_remove_keep_it_cancels():
    h = Harness(SHOP)
    h.tap("remove")
    code = SHOP.lines[1].code
    h.tap(f"remove_tap:{code}")
    h.tap("keep")
    assert h.last() == ("cancel", code, None)
    assert h.app.screen == "shopping"


def test_checkout_summary_pay_and_cancel():
    h = Harness(SCENES["checkout_summary"].snapshot)
    # In the lane (entry beacon only): no clock runs, so no "in 0 s"; a practice cart (the demo's)
    # promises no card payment.
    assert h.find("checkout_status").text == "Finishing when you leave the lane (nothing is charged)"
    countdown = Harness(SCENES["checkout_countdown"].snapshot)   # a cart with a store
    assert countdown.find("checkout_status").text == "Paying with your card in 3 s"
    store = Harness(dataclasses.replace(SCENES["checkout_summary"].snapshot, practice=False))
    assert store.find("checkout_status").text == "Paying when you leave the lane"
    # before the exit the order waits for it: no "Pay now" (paid at the entry, a cart could
    # turn back into the store with its session done)
    assert not [w for w in h.app.widgets if w.id == "checkout_pay"]
    h.tap("checkout_cancel")
    assert h.last() == ("cancel", "checkout", None)
    countdown.tap("checkout_pay")
    assert countdown.last() == ("confirm", "checkout", None)


def test_checkout_cancel_disabled_once_not_cancellable():
    snap = SCENES["checkout_summary"].snapshot
    h = Harness(dataclasses.replace(snap, checkout=CheckoutView("paying")))
    h.tap("checkout_cancel")
    assert h.actions == []
    assert h.find("checkout_status").text == "Finishing\u2026"   # the demo is a practice cart


def test_lane_with_a_question_open_asks_it_first():
    h = Harness(SCENES["checkout_blocked"].snapshot)
    assert h.app.screen == "question"
    assert h.find("title").text == "Answer to check out"   # not only asked: paying waits
    assert SCENES["checkout_blocked"].snapshot.checkout.stage == "blocked"


def test_failed_checkout_says_why_and_calls_staff():
    h = Harness(SCENES["checkout_failed"].snapshot)
    assert h.find("choice_title").text == "Payment did not go through"
    assert h.find("choice_text").text.startswith("The store refused the order. Nothing was charged")
    ko = Harness(SCENES["checkout_failed"].snapshot, language="ko")
    assert "card declined" not in ko.find("choice_text").text      # no English reason in Korean
    assert ko.find("choice_text").text.startswith("\ub9e4\uc7a5\uc774 \uc8fc\ubb38\uc744")
    h.tap("call_staff")
    assert h.last() == ("call_staff", "checkout", None)
    h.tap("checkout_cancel")
    assert h.last() == ("cancel", "checkout", None)


def test_receipt_screen_signs_out():
    h = Harness(SCENES["checkout_receipt"].snapshot)
    assert "k***@example.com" in h.find("paid_text").text
    assert h.find("paid_title").text == "Paid. Thank you!"
    h.tap("signout")
    assert h.last() == ("signout", "", None)


def test_help_buttons():
    h = Harness(SHOP)
    h.tap("help")
    assert h.app.screen == "help"
    h.tap("call_staff")
    assert h.last() == ("call_staff", "help", None)
    h.tap("help_staff")                     # no PIN configured: staff mode is off
    assert h.app.screen == "help"
    h.tap("help_status")
    assert h.app.screen == "trouble"
    h.tap("close")
    h.tap("help")
    h.tap("signout")
    assert h.last() == ("signout", "", None)


def test_staff_pin_override_is_audited(tmp_path):
    import hashlib
    config = parse_config(f'[ui]\nstaff_pin_sha256 = "{hashlib.sha256(b"2468").hexdigest()}"\n')
    h = Harness(SHOP, config=config, tmp=tmp_path)
    h.tap("help")
    h.tap("help_staff")
    assert h.app.screen == "staff_pin"
    for key in "1111":
        h.tap(f"pin:{key}")
    assert h.find("pin_display").text == "\u25cf" * 4   # the PIN is never shown
    h.tap("pin:ok")
    assert h.app.screen == "staff_pin"
    assert h.find("note").text == "Wrong PIN"
    for key in "2468":
        h.tap(f"pin:{key}")
    h.tap("pin:ok")
    assert h.app.screen == "staff_menu"
    h.tap("staff:clear_questions")
    assert h.last() == ("staff", "clear_questions", None)
    assert all("2468" not in a.value and "1111" not in a.value for a in h.actions)
    records = [json.loads(line) for line in (tmp_path / "staff-audit.log").read_text().splitlines()]
    assert [r["event"] for r in records] == ["pin_wrong", "pin_ok", "override"]
    assert records[-1]["action"] == "clear_questions" and records[-1]["cart"] == "cart-0001"


def test_staff_override_refused_when_the_audit_log_cannot_be_written(tmp_path):
    blocker = tmp_path / "state"
    blocker.write_text("a file where the state directory should be")
    h = Harness(SHOP, config=parse_config('[ui]\nstaff_pin = "1234"\n'), tmp=blocker)
    h.app.ui.open("staff_menu")
    h.render()
    h.tap("staff:unblock")
    assert h.actions == []


def test_wrong_pins_lock_the_pad(tmp_path):
    h = Harness(SHOP, config=parse_config('[ui]\nstaff_pin = "1234"\n'), tmp=tmp_path)
    h.app.ui.open("staff_pin")
    h.render()
    for _ in range(5):
        for key in "0000":
            h.tap(f"pin:{key}")
        h.tap("pin:ok")
    for key in "1234":
        h.tap(f"pin:{key}")
    h.tap("pin:ok")
    assert h.app.screen == "staff_pin"     # locked, even with the right PIN
    h.now += 61
    for key in "1234":
        h.tap(f"pin:{key}")
    h.tap("pin:ok")
    assert h.app.screen == "staff_menu"


def test_scale_down_opens_the_trouble_screen_once():
    h = Harness(SHOP)
    down = dataclasses.replace(SHOP, devices=(DeviceView("scale", "down"),))
    h.render(down)
    assert h.app.screen == "trouble"
    assert "scale" in h.find("choice_text").text
    assert h.find("light").color == (176, 0, 32)
    h.tap("close")
    h.render(down)
    assert h.app.screen == "shopping"        # dismissed: stays dismissed while the same device is down
    h.tap("status")
    assert h.app.screen == "trouble"


@pytest.mark.parametrize("language, cannot_save, damaged", [
    ("en", "Cannot save, see staff", "The cart's saved basket was damaged and set aside, see staff"),
    ("ko", "\uc800\uc7a5\ud560 \uc218 \uc5c6\uc2b5\ub2c8\ub2e4", "\uc190\uc0c1"),
])
def test_storage_trouble_in_the_shoppers_words_with_the_detail_for_staff(language, cannot_save, damaged):
    """A save fault and a journal set aside read in the shopper's language (never the runtime's
    English alone); the runtime's detail (file, error, changes not saved) follows for staff."""
    full = "cannot save, see staff: /var/lib/dashcart/basket.db: cannot save: database or disk is full " \
           "(2 changes not saved)"
    set_aside = "see staff: the basket journal was damaged (row 3 (add): missing field 'code'); kept as " \
                "basket.db.damaged-20261206T101010"
    for message, words in ((full, cannot_save), (set_aside, damaged)):
        h = Harness(SHOP, language=language)
        h.render(dataclasses.replace(SHOP, language=language, devices=(DeviceView("storage", "down", message),)))
        assert h.app.screen == "trouble"
        text = h.find("choice_text").text
        first, detail = text.split("\n")
        assert words in first and message not in first and detail == message
    assert cannot_save not in damaged and damaged not in cannot_save


def test_welcome_language_and_help():
    h = Harness(Snapshot(), config=parse_config('[[cameras.devices]]\nid = "top"\n'))
    assert h.app.screen == "welcome"
    h.tap("language")
    assert h.last() == ("language", "ko", None)
    assert h.find("welcome_scan").text.startswith("\uc571")
    h.tap("help")
    assert h.app.screen == "help"
    assert not h.find("signout").enabled


def test_session_end_resets_the_screen():
    h = Harness(SHOP)
    h.tap("produce")
    h.render(Snapshot(t=2000.0))
    assert h.app.screen == "welcome"
    h.render(SHOP)
    assert h.app.screen == "shopping"


def test_questions_come_first_even_at_checkout():
    snap = dataclasses.replace(QUESTION, state=SessionState.CHECKOUT,
                               checkout=CheckoutView("blocked", reason="open question"))
    h = Harness(snap)
    assert h.app.screen == "question"
    h.render(dataclasses.replace(snap, questions=()))
    assert h.app.screen == "checkout"
    assert h.find("choice_title").text == "Checkout is on hold"


def test_controller_message_shows_in_the_header():
    h = Harness(dataclasses.replace(SHOP, message="Put the bag in the hook, not the basket"))
    assert h.find("note").text == "Put the bag in the hook, not the basket"
    assert "title" not in h.ids()


def test_mouse_wheel_and_escape():
    import pygame
    h = Harness(long_basket(30))
    h.app.ui.scroll = 0
    h.app.handle_event(pygame.event.Event(pygame.MOUSEWHEEL, x=0, y=-2))
    assert h.app.ui.scroll == 2
    h.tap("produce")
    h.app.handle_event(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_ESCAPE))
    h.render()
    assert h.app.screen == "shopping"


def test_question_without_candidates_offers_plu_and_staff():
    # The controller always suggests products by weight; with an empty catalogue it has none.
    snap = SCENES["question_unidentified"].snapshot
    q = dataclasses.replace(snap.questions[0], candidates=())
    h = Harness(dataclasses.replace(snap, questions=(q,)))
    h.tap("call_staff")
    assert h.last() == ("call_staff", f"question:{q.id}", None)
    h.tap("enter_plu")
    for key in "4011":
        h.tap(f"plu:{key}")
    h.tap("plu:ok")
    assert h.last() == ("plu", "4011", q.id)


def test_removed_question_says_nothing_came_out():
    snap = SCENES["question_removed"].snapshot
    h = Harness(snap)
    assert h.find("not_in_cart").label == "Nothing came out"
    assert h.find("question_detail").text.startswith("Weight change: -")
    h.tap("not_in_cart")
    assert h.last() == ("not_in_cart", "", snap.questions[0].id)


def test_an_item_nobody_named_must_come_out_or_staff_is_called():
    snap = SCENES["question_take_out"].snapshot
    h = Harness(snap)
    assert h.find("choice_title").text == "Please take that item out again"
    assert "+310 g" in h.find("choice_text").text
    assert not {"not_in_cart", "none_fits", "enter_plu"} & h.ids()
    assert not any(i.startswith("candidate:") for i in h.ids())
    h.tap("call_staff")
    assert h.last() == ("call_staff", f"question:{snap.questions[0].id}", None)


def test_a_cart_with_no_camera_and_no_store_starts_by_a_tap_or_enter():
    import pygame

    from dashcart.ui.screens.welcome import PRACTICE_TOKEN
    welcome = SCENES["welcome"].snapshot
    h = Harness(welcome)                                 # the default config: no cameras, no store
    assert h.find("welcome_scan").text == "This cart has no camera: tap below to start"
    h.tap("start")
    assert h.last() == ("signin", PRACTICE_TOKEN, None)
    h.app.handle_event(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_RETURN))
    assert len(h.actions) == 2 and h.last() == ("signin", PRACTICE_TOKEN, None)


def test_a_cart_with_a_camera_signs_in_by_qr_code_only():
    import pygame
    config = parse_config('[[cameras.devices]]\nid = "top"\n')
    h = Harness(SCENES["welcome"].snapshot, config=config)
    assert "start" not in h.ids() and h.find("welcome_scan").text == "Show your app's QR code to the camera"
    h.app.handle_event(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_RETURN))
    assert h.actions == []


def test_the_demo_films_its_basket_so_its_welcome_asks_for_the_qr_code(tmp_path):
    """The demo's camera is its own (not in [cameras]): its screens must not say "no camera"."""
    import pygame

    from dashcart.sim.demo_cart import Screenshots
    shots = Screenshots(tmp_path, parse_config(""), lambda action: None)
    shots.shoot("welcome", SCENES["welcome"].snapshot)
    surface = pygame.Surface(shots.size)
    shots.app.render(SCENES["welcome"].snapshot, surface, full=True)
    texts = {w.id: getattr(w, "text", "") for w in shots.app.widgets}
    assert "start" not in texts and texts["welcome_scan"] == "Show your app's QR code to the camera"


def test_run_says_at_start_what_a_person_at_the_simulated_cart_must_know():
    from dashcart.commands.run import start_notes
    notes = " | ".join(start_notes(parse_config(""), headless=False))
    assert "practice cart" in notes and "nothing is charged" in notes
    assert "tap (or Enter)" in notes and "simulated: scale, beacons" in notes and "demo --interactive" in notes
    real = parse_config('[scale]\nbackend = "serial"\nport = "/dev/ttyACM0"\n[checkout]\nstore_url = "https://s.example/api"\n'
                        'cart_key = "' + "ab" * 16 + '"\n[location]\nbackend = "bleak"\n[[cameras.devices]]\nid = "top"\n')
    assert start_notes(real, headless=False) == []


def test_taking_out_one_of_two_weighed_lots_of_a_product_closes_the_screen(catalogue):
    # Two lots of bananas are two lines of one code, as the real controller builds them.
    from tests.core.test_controller import make, place
    c = make(catalogue)
    c.handle(ShopperAction(0.0, "signin", "tok"))
    for t, grams, total in ((2.0, 640.0, 640.0), (6.0, 410.0, 1050.0)):
        c.handle(ShopperAction(t - 1.5, "plu", "4011"))
        place(c, t, grams, total=total)
    two = c.snapshot()
    assert [(ln.code, ln.weight_g) for ln in two.lines] == [("4011", 640.0), ("4011", 410.0)]
    h = Harness(two)
    h.tap("remove")
    h.tap("remove_tap:4011")
    assert h.app.screen == "remove_pending"
    c.handle(ShopperAction(9.0, "remove", "4011"))
    place(c, 11.0, -410.0, total=640.0)
    h.render(c.snapshot())
    assert [ln.weight_g for ln in c.snapshot().lines] == [640.0] and h.app.screen == "shopping"


def test_a_staff_override_the_controller_refuses_shows_the_refusal(catalogue, tmp_path):
    # Zero the scale with an item in the basket: the real controller refuses and says why; the
    # screen's own "Logged: ..." must not hide it. And a wrong PIN before is not left on the menu.
    from tests.core.test_controller import make, place
    c = make(catalogue)
    c.handle(ShopperAction(0.0, "signin", "tok"))
    place(c, 3.0, 1584.0, code="2410000001415", total=1584.0)
    h = Harness(c.snapshot(), config=parse_config('[ui]\nstaff_pin = "1234"\n'), tmp=tmp_path)
    h.app.ui.open("staff_pin")
    h.render()
    for pin in ("0000", "1234"):
        for key in pin:
            h.tap(f"pin:{key}")
        h.tap("pin:ok")
    assert h.app.screen == "staff_menu" and "Wrong PIN" not in [w.text for w in h.app.widgets if w.id == "note"]
    for _ in range(2):   # and again: staff who tap twice must not read that it was done
        h.tap("staff:tare")
        c.handle(h.actions[-1])
        h.render(c.snapshot())
        assert h.find("note").text == "Take everything out of the basket, then zero the scale"
    c.handle(ShopperAction(20.0, "staff", "void_last"))   # one that is carried out says so
    h.render(c.snapshot())
    assert h.find("note").text == "Done"


def test_a_store_that_charged_another_total_is_said_on_the_paid_screen(catalogue):
    # The store prices the order itself: when its total differs, the shopper reads both.
    from dashcart.events import LaneDetected, OrderAcknowledged, Tick
    from tests.core.test_controller import FakeStore, make, place
    store = FakeStore()
    c = make(catalogue, store=store)
    c.handle(ShopperAction(0.0, "signin", "tok"))
    place(c, 3.0, 1584.0, code="2410000001415", total=1584.0)
    c.handle(LaneDetected(6.0, lane="lane-1"))
    c.handle(Tick(12.0))
    (placed,) = store.orders
    c.handle(OrderAcknowledged(12.5, "order-1", "accepted", total_cents=placed.total_cents + 30))
    snap = c.snapshot()
    h = Harness(snap)
    text = h.find("paid_text").text
    charged, shown = format_money(placed.total_cents + 30, "USD"), format_money(snap.total_cents, "USD")
    assert f"The store charged {charged} at its prices (the cart showed {shown})" in text
