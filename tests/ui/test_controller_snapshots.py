"""What the screens show is what the controller computed: every snapshot field a screen reads
is filled by the real controller somewhere on the demo's trip, and the numbers on the screens
are the controller's (per-kg prices, the weight just placed, savings, honest payment status)."""

import ast
import dataclasses
from pathlib import Path

import pytest

import dashcart.ui
from dashcart.core.basket import Basket
from dashcart.core.controller import Controller, ControllerSettings
from dashcart.events import ShopperAction, Tick, WeightLive, WeightSettled
from dashcart.snapshot import BasketLine, Candidate, CheckoutView, NearbyProduct, Question, Snapshot
from dashcart.ui.i18n import Strings
from tests.ui.ui_helpers import Harness, demo_scenes

SNAPSHOT_TYPES = (Snapshot, BasketLine, Candidate, Question, NearbyProduct, CheckoutView)

#: Fields a screen reads that the controller rightly leaves at their default on this trip, and why.
NOT_THE_CONTROLLERS = {
    "Snapshot.devices": "the runtime adds the devices' health to the controller's snapshot",
    "Snapshot.currency": "the cart's currency from [cart]; USD, the default, is the demo store's",
}


def fields_the_ui_reads() -> set[str]:
    """Every attribute name any module of dashcart/ui reads (a superset: by name, any object)."""
    names = set()
    for path in Path(dashcart.ui.__file__).parent.rglob("*.py"):
        names |= {n.attr for n in ast.walk(ast.parse(path.read_text(encoding="utf-8"))) if isinstance(n, ast.Attribute)}
    return names


def walk(obj, found):
    """Every snapshot-type object inside ``obj`` (snapshots, their lines, questions, candidates...)."""
    if isinstance(obj, SNAPSHOT_TYPES):
        found.setdefault(type(obj), []).append(obj)
        for f in dataclasses.fields(obj):
            walk(getattr(obj, f.name), found)
    elif isinstance(obj, (tuple, list)):
        for item in obj:
            walk(item, found)


@pytest.fixture(scope="module")
def published():
    from dashcart.sim.demo_scenes import all_scenes
    snapshots = []
    all_scenes(published=snapshots)
    return snapshots


def test_every_field_a_screen_reads_is_set_by_the_controller(published):
    found = {}
    walk(published, found)
    read = fields_the_ui_reads()
    never = []
    for kind in SNAPSHOT_TYPES:
        objects = found.get(kind, [])
        assert objects, f"the trip never published a {kind.__name__}"
        for f in dataclasses.fields(kind):
            name = f"{kind.__name__}.{f.name}"
            if f.name not in read or name in NOT_THE_CONTROLLERS:
                continue
            if f.default is not dataclasses.MISSING:
                default = f.default
            elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
                default = f.default_factory()  # type: ignore[misc]
            else:
                continue      # a required field: always given (code, name, stage...)
            if all(getattr(o, f.name) == default for o in objects):
                never.append(name)
    assert not never, f"a screen reads these, but the controller never sets them: {never}"


def test_the_check_catches_a_field_the_controller_forgets(published, monkeypatch):
    """The test above can fail: a snapshot with savings never filled is caught."""
    found = {}
    walk([dataclasses.replace(s, savings_cents=0) for s in published], found)
    assert all(s.savings_cents == 0 for s in found[Snapshot]) and "savings_cents" in fields_the_ui_reads()


def test_produce_shows_the_per_kg_price_and_the_weight_just_placed():
    weigh = demo_scenes()["weigh"].snapshot
    assert weigh.produce_entry.sold_by == "weight" and weigh.produce_entry.code == "4011"
    assert weigh.produce_weight_g == 640.0                 # what was placed, not the basket's weight
    for language in ("en", "ko"):
        h = Harness(weigh, language=language)
        assert h.find("weigh_unit").text == "$1.29/kg" and h.find("weigh_weight").text == "640 g"
        assert h.find("weigh_price").text == "$0.83"
    # Onions, 30c off per kg: the promoted price per kg, and the price of what was placed.
    onions = Harness(demo_scenes()["weigh_promoted"].snapshot)
    assert onions.find("weigh_unit").text == "$1.49/kg" and onions.find("weigh_weight").text == "510 g"
    assert onions.find("weigh_price").text == "$0.76"
    # The mangos: three taps, three pieces, priced by the multibuy.
    pieces = demo_scenes()["weigh_pieces"].snapshot
    assert pieces.produce_entry.qty == 3 and pieces.produce_entry.price_cents == 450
    for language in ("en", "ko"):
        h = Harness(pieces, language=language)
        assert h.find("weigh_price").text == "$4.50"                # the three, not three times the three
        assert h.find("weigh_unit").text == "3 \u00d7 $1.79"


def test_the_shopping_screen_shows_the_controllers_savings():
    snap = demo_scenes()["shopping"].snapshot
    lines = {line.code: line for line in snap.lines}
    assert lines["4051"].savings_cents == 87 and lines["4093"].savings_cents == 15
    assert lines["4011"].savings_cents == 0 and lines["4011"].price_cents == 83     # no promotion on bananas
    assert snap.savings_cents == sum(line.savings_cents for line in snap.lines) == 102
    assert snap.total_cents == sum(line.price_cents for line in snap.lines)
    h = Harness(snap)
    assert h.find("savings").text == "You save $1.02"
    assert h.find("line_save:4051").text == "-$0.87"
    assert "3 for $4.50" in h.find("line_detail:4051").text
    assert h.find("title").text == "Your basket \u00b7 7 items"
    # The aisle's deals come first in "Near you".
    assert snap.nearby[0].code == "4051" and snap.nearby[0].deal == "3 for $4.50"


def test_a_practice_cart_says_so_from_the_first_screen_and_never_says_paid():
    scenes = demo_scenes()
    for name in ("welcome", "shopping", "checkout_summary", "checkout_practice"):
        for language in ("en", "ko"):
            h = Harness(scenes[name].snapshot, language=language)
            assert "practice" in h.ids(), (name, language)
    done = Harness(scenes["checkout_practice"].snapshot)
    assert scenes["checkout_practice"].snapshot.checkout.status == "local"
    assert done.find("paid_title").text == "Thank you!"
    assert "Practice cart: nothing was charged" in done.find("paid_text").text
    assert "Paid" not in done.find("paid_title").text
    # With a store, and only once it accepted the order: "Paid".
    paid = Harness(scenes["checkout_receipt"].snapshot)
    assert "practice" not in paid.ids() and paid.find("paid_title").text == "Paid. Thank you!"
    # what the store charged, as its answer says (one milk), never a made-up $0.00
    assert scenes["checkout_receipt"].snapshot.checkout.charged_cents == 199
    assert "Total $1.99" in paid.find("paid_text").text


def test_no_raw_zone_ids_or_english_reasons_in_korean():
    scenes = demo_scenes()
    h = Harness(scenes["shopping_empty"].snapshot, language="ko")
    assert h.find("nearby_title").text == "\uc8fc\ubcc0 \uc0c1\ud488 \u00b7 \uacfc\uc77c"
    h = Harness(scenes["shopping_message"].snapshot, language="ko")
    assert h.find("note").text == "\ucf54\ub4dc 99999\uc5d0 \ud574\ub2f9\ud558\ub294 \uc0c1\ud488\uc774 \uc5c6\uc2b5\ub2c8\ub2e4"
    assert Harness(scenes["shopping_message"].snapshot).find("note").text == "No product with code 99999"


#: Latin words a Korean screen rightly shows: the language button, the brand, units and codes.
LATIN_IN_KOREAN = {"English", "dashcart", "kg", "PLU", "PIN"}


def test_korean_screens_have_no_english_but_product_names():
    """Every screen of the demo's trip in Korean: the controller's messages, zones, deals
    ("3 for $4.50" is "3\uac1c $4.50") in Korean; only the catalogue's product names, the order
    id, the receipt address and what the shopper typed stay as they are."""
    import re

    import pygame

    from dashcart.config import parse_config
    from dashcart.sim.demo_scenes import demo_catalogue
    from dashcart.ui.screenshots import scene_app
    names = sorted({p.name for p in demo_catalogue()}, key=len, reverse=True)
    english = {}
    for name, scene in demo_scenes().items():
        app, snap = scene_app(scene, (800, 480), "ko", parse_config(""))
        app.render(snap, pygame.Surface((800, 480)), full=True)
        kept = names + [scene.query] + ([snap.checkout.order_id, snap.checkout.receipt_to] if snap.checkout else [])
        for widget in app.widgets:
            text = getattr(widget, "text", "") or getattr(widget, "label", "") or ""
            for keep in filter(None, kept):
                text = text.replace(keep, "")
            words = set(re.findall(r"[A-Za-z]{2,}", text)) - LATIN_IN_KOREAN
            if words:
                english.setdefault(name, set()).update(words)
    assert not english, f"English on Korean screens: {english}"
    shopping = Harness(demo_scenes()["shopping"].snapshot, language="ko")
    assert "3\uac1c $4.50" in shopping.find("line_detail:4051").text
    assert "kg\ub2f9 $0.30 \ud560\uc778" in shopping.find("line_detail:4093").text
    assert shopping.find("nearby_deal:4051").text == "3\uac1c $4.50"


def test_one_item_is_one_item():
    scenes = demo_scenes()
    one = Harness(scenes["checkout_receipt"].snapshot)   # the paid trip: one milk
    snap = dataclasses.replace(scenes["checkout_receipt"].snapshot, state=scenes["shopping"].snapshot.state,
                               checkout=None)
    assert Harness(snap).find("title").text == "Your basket \u00b7 1 item"
    assert one.app.screen == "checkout"


# -- the controller on its own ---------------------------------------------------------------

@pytest.fixture
def catalogue():
    """The demo store bundled with the package (no shared data needed)."""
    from dashcart.sim.demo_scenes import demo_catalogue
    return demo_catalogue()


def controller(catalogue, tmp_path, **settings):
    return Controller(catalogue, Basket.open(tmp_path / "basket.db"), settings=ControllerSettings(**settings))


def test_confirm_while_weighing_adds_the_placement_now(catalogue, tmp_path):
    c = controller(catalogue, tmp_path, evidence_after_s=2.0)
    c.handle(ShopperAction(1.0, "signin", "dcs1:someone-000000001"))
    c.handle(WeightLive(1.5, 100.0, True))
    c.handle(ShopperAction(2.0, "plu", "4011"))
    c.handle(ShopperAction(2.5, "confirm", "4011"))          # nothing placed yet
    assert c.snapshot().message_key == "message.place_first" and c.snapshot().produce_entry is not None
    c.handle(WeightLive(3.0, 600.0, True))
    assert c.snapshot().produce_weight_g == 500.0            # since the entry began, not the basket's 600
    c.handle(WeightSettled(3.2, 500.0, 600.0, started_t=2.8))
    assert not c.snapshot().lines                            # waiting 2 s for the cameras...
    c.handle(ShopperAction(3.4, "confirm", "4011"))          # ...the shopper says: add it
    [line] = c.snapshot().lines
    assert (line.code, line.weight_g) == ("4011", 500.0) and c.snapshot().produce_entry is None
    assert c.snapshot().message == ""


def test_language_follows_the_shopper_and_resets_for_the_next(catalogue, tmp_path):
    c = controller(catalogue, tmp_path)
    c.handle(ShopperAction(1.0, "signin", "dcs1:someone-000000001"))
    c.handle(ShopperAction(2.0, "language", "ko"))
    assert c.snapshot().language == "ko"
    c.handle(ShopperAction(3.0, "signout"))
    assert c.snapshot().language == "en"


def test_savings_need_the_wall_clock_for_dated_promotions(catalogue, tmp_path):
    """Pricing takes Unix time from the events (a beacon heard at wall_t); without one only
    undated promotions apply, as in a replay."""
    from dashcart.core.catalogue import Catalogue
    from dashcart.core.pricing import Promotion
    dated = Catalogue(list(catalogue), promotions=[Promotion("p", "2410000001415", "percent", 50, starts_at=1000.0,
                                                             ends_at=2000.0, label="half price")])
    c = Controller(dated, Basket.open(tmp_path / "b.db"))
    c.handle(ShopperAction(1.0, "signin", "dcs1:someone-000000001"))
    c.handle(ShopperAction(1.5, "choose", "2410000001415"))
    from dashcart.events import BarcodeSeen, BeaconSighting
    c.handle(BarcodeSeen(2.0, "top", "2410000001415", "EAN-13"))
    c.handle(WeightSettled(2.5, 1584.0, 1584.0, started_t=2.1))
    c.handle(Tick(4.0))
    assert c.snapshot().lines[0].savings_cents == 0           # no wall time known: no dated promotion
    c.handle(BeaconSighting(5.0, "ibeacon", "x:1:1", -60.0, wall_t=1500.0))
    assert c.snapshot().lines[0].savings_cents == 100 and c.snapshot().lines[0].deal == "half price"
    c.handle(Tick(600.0))                                     # 1500 + 595 s: the week is over
    assert c.snapshot().lines[0].savings_cents == 0


# -- the controller's answers, as the shopper reads them --------------------------------------

def _reads_in_full(h: Harness, widget_id: str) -> str:
    from dashcart.ui.widgets import ELLIPSIS
    text = h.find(widget_id)
    lines, _ = h.app.ctx.fit(text.text, text.size, text.bold, text.rect.w, text.rect.h, text.wrap)
    assert not any(line.endswith(ELLIPSIS) for line in lines), (widget_id, h.surface.get_size(), lines)
    return text.text


@pytest.mark.parametrize("size", [(800, 480), (720, 1280)], ids=["800x480", "720x1280"])
@pytest.mark.parametrize("language", ["en", "ko"])
def test_the_controllers_refusals_read_in_full_on_a_practice_cart(catalogue, tmp_path, size, language):
    """A practice cart with the load moving: the header holds the badge and "Weighing..." too.
    In portrait the message had a few dozen pixels beside them ("..." for the settling one)."""
    c = controller(catalogue, tmp_path)
    c.handle(WeightLive(0.5, 0.0, True))
    c.handle(ShopperAction(1.0, "signin", "dcs1:someone-000000001"))
    c.handle(WeightLive(1.5, 300.0, False))
    c.handle(ShopperAction(1.6, "signout"))                  # something is going in: not now
    settling = c.snapshot()
    assert settling.message_key == "message.settling" and settling.practice and not settling.weight_stable
    c.handle(WeightLive(2.5, 1062.0, True))
    c.handle(WeightSettled(2.6, 1062.0, 1062.0, started_t=1.5))
    c.handle(Tick(3.5))
    [gain] = c.snapshot().questions                          # no camera: which item went in?
    c.handle(ShopperAction(4.0, "choose", "2280000001285", gain.id))
    c.handle(WeightLive(9.0, 1037.0, True))
    c.handle(WeightSettled(9.1, -25.0, 1037.0, started_t=8.8))
    c.handle(Tick(10.0))
    [q] = c.snapshot().questions
    c.handle(ShopperAction(11.0, "choose", "2280000001285", q.id))   # a juice for the 25 g that left: refused
    weighs_more = c.snapshot()
    assert weighs_more.message_key == "message.weighs_more"
    c.handle(ShopperAction(12.0, "cancel", question_id=q.id))        # nothing came out
    c.handle(WeightLive(14.0, 1673.0, True))
    c.handle(WeightSettled(14.1, 636.0, 1673.0, started_t=13.5))     # two sour creams
    c.handle(Tick(15.0))
    [gain] = c.snapshot().questions
    c.handle(ShopperAction(16.0, "choose", "2450000001459", gain.id))  # named as a 1,050 g oat milk: refused
    weighs_more_in = c.snapshot()
    assert weighs_more_in.message_key == "message.weighs_more_in"
    # each refusal names the product and the way on: the question's own button
    # ("nothing came out" for a removal, "that's not in my cart" for a placement)
    said_for = {id(weighs_more): ("Bravo Apple Juice", "question.nothing_removed"),
                id(weighs_more_in): ("Oatly Oat Milk", "question.not_in_cart")}
    for snap in (settling, weighs_more, weighs_more_in):
        h = Harness(snap, size=size, language=language, tmp=tmp_path)
        assert "practice" in h.ids()
        said = _reads_in_full(h, "note")
        name, button = said_for.get(id(snap), ("", ""))
        assert (name in said) if name else "Juice" not in said
        assert (Strings(language, "EUR")(button) in said) if button else \
            Strings(language, "EUR")("question.nothing_removed") not in said


@pytest.mark.parametrize("size", [(800, 480), (720, 1280)], ids=["800x480", "720x1280"])
@pytest.mark.parametrize("language", ["en", "ko"])
def test_the_question_about_the_rest_of_a_placement_says_it_is_one(catalogue, tmp_path, size, language):
    """A juice and a sour cream in together, the juice named: the next question is about the
    317 g left, and the header says so (else it reads as the same question again)."""
    c = controller(catalogue, tmp_path)
    c.handle(WeightLive(0.5, 0.0, True))
    c.handle(ShopperAction(1.0, "signin", "dcs1:someone-000000001"))
    c.handle(WeightSettled(2.6, 1379.0, 1379.0, started_t=1.5))
    c.handle(WeightLive(2.6, 1379.0, True))
    c.handle(Tick(3.5))
    [q] = c.snapshot().questions
    c.handle(ShopperAction(4.0, "choose", "2280000001285", q.id))
    snap = c.snapshot()
    assert snap.message_key == "message.rest_unnamed" and len(snap.questions) == 1
    said = _reads_in_full(Harness(snap, size=size, language=language, tmp=tmp_path), "note")
    assert "317" in said and "Bravo Apple Juice" in said


@pytest.mark.parametrize("language", ["en", "ko"])
def test_a_refused_sign_in_says_what_this_cart_asks_for(catalogue, tmp_path, language):
    """Goods in the basket at the sign-in: a cart with a camera asks for the code again; one with
    no camera (signed in by a tap) must not: it has no code to show, only "Start shopping"."""
    c = controller(catalogue, tmp_path)
    c.handle(WeightLive(1.0, 1500.0, True))
    c.handle(ShopperAction(2.0, "signin", "dcs1:practice-cart-guest"))
    snap = c.snapshot()
    assert snap.message_key == "message.empty_first"
    h = Harness(snap, language=language, tmp=tmp_path)
    assert h.app.tap_signin and h.app.screen == "welcome"
    said = _reads_in_full(h, "note")
    start = h.find("start").label
    assert start in said, (said, start)
    h.app.tap_signin = False                                   # a cart with a camera
    h.render()
    assert start not in h.find("note").text


@pytest.mark.parametrize("language", ["en", "ko"])
def test_a_practice_cart_never_promises_a_payment_when_paying_waits_for_the_exit(catalogue, tmp_path, language):
    from dashcart.events import LaneEntered
    c = controller(catalogue, tmp_path)
    c.handle(WeightLive(0.5, 0.0, True))
    c.handle(ShopperAction(1.0, "signin", "dcs1:someone-000000001"))
    c.handle(ShopperAction(1.5, "plu", "4011"))
    c.handle(WeightLive(2.0, 500.0, True))
    c.handle(WeightSettled(2.1, 500.0, 500.0, started_t=1.8))
    c.handle(Tick(3.0))
    c.handle(LaneEntered(4.0, "lane1"))
    c.handle(ShopperAction(5.0, "confirm", "checkout"))        # a tap before the exit: refused
    snap = c.snapshot()
    assert snap.message_key == "checkout.pay_at_exit" and snap.practice
    h = Harness(snap, language=language, tmp=tmp_path)
    assert h.app.screen == "checkout"
    # the header says what the summary says: it finishes, nothing is charged
    assert h.find("note").text == h.find("checkout_status").text


def _told_out_then_150_g_out(c):
    """A 150 g bag at the sign-in, a 150 g item the shopper is told to take out ("not in my
    cart"), then 150 g out: (the "take it out" question, the removal question)."""
    c.handle(WeightLive(0.5, 150.0, True))
    c.handle(ShopperAction(1.0, "signin", "dcs1:someone-000000001"))
    c.handle(WeightSettled(2.6, 150.0, 300.0, started_t=1.5))
    c.handle(Tick(3.5))
    [q] = c.snapshot().questions
    c.handle(ShopperAction(4.0, "not_in_cart", question_id=q.id))
    c.handle(WeightSettled(6.6, -150.0, 150.0, started_t=5.5))
    c.handle(Tick(7.5))
    told, removal = c.snapshot().questions
    return told, removal


@pytest.mark.parametrize("size", [(800, 480), (720, 1280)], ids=["800x480", "720x1280"])
@pytest.mark.parametrize("language", ["en", "ko"])
def test_a_removal_after_a_take_it_out_comes_first_and_offers_the_item_and_the_bag(catalogue, tmp_path, size,
                                                                                  language):
    """A 150 g bag at the sign-in, a 150 g item the shopper was told to take out, and 150 g out:
    the screen kept showing "take that item out" (answered by the scale: only "Call staff"), the
    removal question behind it. The removal comes first, with the item and the bag as tiles
    that read in full; tapping one answers it with its code."""
    from dashcart.snapshot import OWN_THINGS, unnamed_choice
    c = controller(catalogue, tmp_path)
    told, removal = _told_out_then_150_g_out(c)
    assert (told.kind, removal.kind) == ("remove_unknown", "removed")
    h = Harness(c.snapshot(), size=size, language=language, tmp=tmp_path)
    tr = Strings(language, "EUR")
    assert h.find("question_title").text == tr("question.removed")
    for code, key in ((OWN_THINGS, "question.own_things"), (unnamed_choice(told.id), "question.told_out_item")):
        assert _reads_in_full(h, f"candidate_name:{code}") == tr(key)
        _reads_in_full(h, f"candidate_price:{code}")
        h.tap(f"candidate:{code}")
        assert (h.actions[-1].action, h.actions[-1].value, h.actions[-1].question_id) == ("choose", code, removal.id)


@pytest.mark.parametrize("size", [(800, 480), (720, 1280)], ids=["800x480", "720x1280"])
@pytest.mark.parametrize("language", ["en", "ko"])
def test_what_a_removal_answer_leads_to_reads_in_full(catalogue, tmp_path, size, language):
    """The answers a removal may get back: the item to take out, unseen (staff are coming), and
    a juice named for less than left (something went in as it came out: what?)."""
    from dashcart.snapshot import unnamed_choice
    c = controller(catalogue, tmp_path)
    told, removal = _told_out_then_150_g_out(c)
    c.handle(ShopperAction(8.0, "choose", unnamed_choice(told.id), removal.id))
    unseen = c.snapshot()
    assert unseen.message_key == "message.take_out_unseen"
    c.handle(ShopperAction(9.0, "staff", "clear_questions"))
    c.handle(WeightSettled(10.6, 1062.0, 1212.0, started_t=9.5))
    c.handle(Tick(11.5))
    [gain] = c.snapshot().questions
    c.handle(ShopperAction(12.0, "choose", "2280000001285", gain.id))
    c.handle(WeightSettled(14.6, -912.0, 300.0, started_t=13.5))
    c.handle(Tick(15.5))
    [out] = c.snapshot().questions
    c.handle(ShopperAction(16.0, "choose", "2280000001285", out.id))
    rest = c.snapshot()
    assert rest.message_key == "message.rest_in_for_out"
    tr = Strings(language, "EUR")
    assert _reads_in_full(Harness(unseen, size=size, language=language, tmp=tmp_path), "note") == \
        tr("message.take_out_unseen")
    said = _reads_in_full(Harness(rest, size=size, language=language, tmp=tmp_path), "note")
    assert "150" in said and "Bravo Apple Juice" in said
