"""Layout rectangles at the three resolutions, long names, and a 99-item basket."""

import dataclasses
import itertools

import pygame
import pytest

from dashcart.snapshot import BasketLine, CheckoutView, SessionState, Snapshot
from dashcart.ui.layout import MIN_TARGET, RESOLUTIONS, Layout
from dashcart.ui.widgets import ELLIPSIS
from tests.ui.ui_helpers import Harness, long_basket

SIZES = pytest.mark.parametrize("size", RESOLUTIONS, ids=lambda s: f"{s[0]}x{s[1]}")


def assert_disjoint_inside(rects: dict, screen: pygame.Rect):
    for name, r in rects.items():
        assert screen.contains(r), f"{name} {r} leaves the screen {screen}"
        assert r.w > 0 and r.h > 0, f"{name} {r} is empty"
    for (a, ra), (b, rb) in itertools.combinations(rects.items(), 2):
        assert not ra.colliderect(rb), f"{a} {ra} overlaps {b} {rb}"


@SIZES
def test_shopping_regions_are_disjoint(size):
    lay = Layout(*size)
    parts = lay.shopping()
    leaves = {k: v for k, v in parts.items() if k not in ("basket", "totals")}  # those two are containers
    assert_disjoint_inside(leaves, lay.body)
    assert parts["basket"].contains(parts["list"]) and parts["totals"].contains(parts["total"])
    assert lay.shopping()["list"].h // lay.row_h >= 4, "at least four basket lines show at once"
    for name in ("scroll_up", "scroll_down", "produce", "remove"):
        assert min(parts[name].size) >= MIN_TARGET


@SIZES
def test_header_parts(size):
    lay = Layout(*size)
    parts = dict(lay.header_parts())
    status, side = parts.pop("status"), parts.pop("side")
    assert side.contains(status)   # the trouble button takes the right end of the badge's side
    if lay.portrait:               # a row of its own: the title (a message) has the whole width
        assert parts["title"].w > 0.9 * lay.width and not side.colliderect(parts["title"])
        parts["side"] = side
    else:                          # the title's right end
        assert side == parts["title"]
    assert_disjoint_inside(parts, lay.header)
    assert min(parts["help"].size) >= MIN_TARGET and min(parts["language"].size) >= MIN_TARGET


@SIZES
@pytest.mark.parametrize("screen", ["question", "checkout", "help", "staff_menu", "welcome", "weigh", "plu_entry"])
def test_screen_regions_are_disjoint(size, screen):
    lay = Layout(*size)
    rects = getattr(lay, screen)()
    assert_disjoint_inside(rects, lay.body)


@SIZES
def test_keyboard_and_keypad_keys_are_finger_sized(size):
    lay = Layout(*size)
    keys = lay.keyboard(lay.produce()["keyboard"])
    assert len(keys) == 26 + 3
    assert_disjoint_inside(keys, lay.produce()["keyboard"])
    assert all(min(r.size) >= MIN_TARGET for r in keys.values()), {k: r.size for k, r in keys.items()}
    pad = lay.plu_entry()
    assert all(min(r.size) >= MIN_TARGET for k, r in pad.items() if k.startswith("key:"))


@SIZES
def test_99_item_basket_scrolls_to_every_line(size):
    snap = long_basket(99)
    h = Harness(snap, size=size)
    def shown():
        return [w.id.split(":", 1)[1] for w in h.app.widgets if w.id.startswith("line_name:")]
    first = shown()
    # The last change (the 99th line) is scrolled into view.
    assert snap.lines[-1].code in first
    seen = set(first)
    while h.find("scroll_up").enabled:
        h.tap("scroll_up")
        seen |= set(shown())
    assert seen == {line.code for line in snap.lines}
    assert shown()[0] == snap.lines[0].code and not h.find("scroll_up").enabled
    # A finger dragging up the list moves it down.
    list_rect = h.app.layout.shopping()["list"]
    h.tap_at((list_rect.centerx, list_rect.bottom - 10), touch=True, end=(list_rect.centerx, list_rect.top + 10))
    assert shown()[0] != snap.lines[0].code
    assert h.actions == []   # scrolling and dragging post nothing


@SIZES
def test_long_names_are_cut_to_their_box(size):
    name = "Extra Virgin Cold Pressed Organic Olive Oil from the Hills of Southern Andalucia, 750 ml glass bottle"
    line = BasketLine(code="2000000000001", name=name, qty=12, price_cents=1234567, unit_price_cents=102881)
    snap = Snapshot(t=1.0, state=SessionState.SHOPPING, lines=(line,), total_cents=123456789, savings_cents=9876543)
    h = Harness(snap, size=size)
    text = h.find(f"line_name:{line.code}")
    assert text.rect.contains(text.drawn)
    lines, _ = h.app.ctx.fit(text.text, text.size, text.bold, text.rect.w, text.rect.h, text.wrap)
    assert lines[0].endswith(ELLIPSIS)
    for wid in ("total", "savings", f"line_price:{line.code}"):
        w = h.find(wid)
        assert w.rect.contains(w.drawn), wid


def test_checkout_summary_of_99_items_scrolls():
    snap = dataclasses.replace(long_basket(99), state=SessionState.CHECKOUT,
                               checkout=CheckoutView("summary", cancellable=True, seconds_left=5))
    h = Harness(snap)
    h.app.ui.scroll = 0
    h.render()
    def names():
        return [w.id for w in h.app.widgets if w.id.startswith("checkout_name:")]
    first = names()
    h.tap("scroll_down")
    assert names() and names() != first
    assert h.actions == []


def test_ui_config_is_validated():
    from dashcart.config import parse_config
    from dashcart.errors import Misconfigured
    with pytest.raises(Misconfigured, match=r"dashcart.toml: ui.resolution: '640x480' is not one of"):
        parse_config('[ui]\nresolution = "640x480"\n', "dashcart.toml")
    with pytest.raises(Misconfigured, match="ui.fps: 500 is above the maximum 60"):
        parse_config("[ui]\nfps = 500\n")
    ui = parse_config('[ui]\nresolution = "720x1280"\nsound = false\nstaff_pin_sha256 = "' + "ab" * 32 + '"\n').ui
    assert (ui.resolution, ui.sound, ui.fullscreen) == ("720x1280", False, True)
