"""Pieces several screens share: the header bar, basket rows, the keypad and keyboard."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

import pygame

from dashcart.snapshot import BasketLine, SessionState
from dashcart.ui import theme
from dashcart.ui.layout import split_cols, split_rows
from dashcart.ui.view import View
from dashcart.ui.widgets import Button, Light, Panel, Picture, Tap, Text, Widget, reads_in_full

HIGHLIGHT_SECONDS = 5.0   # how long the last change stays highlighted (snapshot time)
SERIOUS = ("scale", "network")


def troubled_devices(v: View) -> list:
    return [d for d in v.snap.devices if d.state != "ok"]


def light_color(v: View) -> tuple[int, int, int]:
    if v.snap.questions or any(d.state == "down" for d in v.snap.devices):
        return theme.DANGER
    if not v.snap.weight_stable or troubled_devices(v):
        return theme.WARN
    return theme.OK


def cart_words(v: View, key: str) -> str:
    """The controller's message as this cart says it: a practice cart charges nothing, so it
    promises no payment; a cart with no camera starts with a tap, not a code shown to it."""
    if v.snap.practice and key == "checkout.pay_at_exit":
        return "checkout.practice_pay_at_exit"
    if v.tap_signin and key == "message.empty_first":
        return "message.empty_first_tap"
    return key


def header(v: View, title: str, show_help: bool = True) -> list[Widget]:
    lay, tr = v.layout, v.tr
    parts = lay.header_parts()
    widgets: list[Widget] = [Panel(lay.header, id="header", color=theme.HEADER_BG, radius=0)]
    note = v.ui.note if v.now < v.ui.note_until else ""
    message = note or tr.message(cart_words(v, v.snap.message_key), v.snap.message_values, v.snap.message)
    troubled = troubled_devices(v)
    weighing = not v.snap.weight_stable and v.snap.state == SessionState.SHOPPING
    side = parts["side"].copy()
    if troubled or weighing:
        side.w = parts["status"].x - lay.pad - side.x
    if v.snap.practice:
        # No store: said on every screen, from the first one, so nobody thinks they paid.
        badge = side.copy()
        badge.w = int(parts["side"].w * 0.42)
        badge.right = side.right
        side.w = badge.x - lay.pad - side.x
        widgets.append(Panel(badge, id="practice_bg", color=theme.WARN, radius=6))
        widgets.append(Text(badge.inflate(-8, -4), id="practice", text=tr("practice.banner"),
                            size=lay.font("small"), bold=True, wrap=True, align="center"))
    # Landscape: the badge and the status borrow the title's right end; portrait: a row of their own.
    title_rect = side if parts["side"] == parts["title"] else parts["title"]
    if message:
        widgets.append(Panel(title_rect, id="note_bg", color=theme.HIGHLIGHT, radius=6))
        widgets.append(Text(title_rect.inflate(-12, 0), id="note", text=message, size=lay.font("body"),
                            bold=True, wrap=True))
    else:
        widgets.append(Text(title_rect, id="title", text=title, size=lay.font("large" if lay.portrait else "title"),
                            bold=True, color=theme.HEADER_INK))
    widgets.append(Light(parts["light"], id="light", color=light_color(v)))
    if troubled:
        widgets.append(Button(parts["status"], id="status", label=tr("trouble.more"), size=lay.font("small"),
                              style="danger", on_tap=lambda: v.open("trouble")))
    elif weighing:
        widgets.append(Text(parts["status"], id="weighing", text=tr("weighing"), size=lay.font("small"),
                            color=theme.HEADER_INK))
    other = "ko" if tr.language == "en" else "en"
    widgets.append(Button(parts["language"], id="language", label=tr("help.language"), size=lay.font("small"),
                          style="secondary", on_tap=lambda: v.post("language", other)))
    if show_help:
        widgets.append(Button(parts["help"], id="help", label=tr("help"), size=lay.font("body"),
                              style="secondary", on_tap=lambda: v.open("help")))
    return widgets


def lines_needed(v: View, text: str, size: int, bold: bool, w: int, line_h: int, most: int) -> int:
    """The fewest rows of ``line_h`` in which ``text`` reads in full at ``w`` wide (wrapped,
    shrunk to 75 % at most), up to ``most`` (where it may still be cut). The box it is drawn in
    must be ``w`` wide, that many rows tall, with ``wrap=True``."""
    for n in range(1, most):
        if reads_in_full(text, v.fit(text, size, bold, w, n * line_h, True)[0]):
            return n
    return most


def line_detail(v: View, line: BasketLine) -> str:
    tr = v.tr
    if line.sold_by == "weight" and line.weight_g is not None:
        detail = f"{tr.weight(line.weight_g)} \u00d7 {tr.unit_price(line.unit_price_cents, 'weight')}"
    else:
        detail = f"{line.qty} \u00d7 {tr.money(line.unit_price_cents)}"
    deal = tr.deal(line.deal_terms, line.deal)
    return f"{detail} \u00b7 {deal}" if deal else detail


def basket_row(v: View, rect: pygame.Rect, line: BasketLine, index: int, highlighted: bool,
               on_tap=None, id_prefix: str = "line") -> list[Widget]:
    lay = v.layout
    bg = theme.HIGHLIGHT if highlighted else (theme.PANEL if index % 2 == 0 else (242, 242, 238))
    widgets: list[Widget] = [Panel(rect, id=f"{id_prefix}_bg:{line.code}", color=bg, radius=6)]
    inner = rect.inflate(-lay.pad, -lay.px(6))
    pic, words, price = split_cols(inner, [inner.h, None, lay.px(110)], lay.pad)
    name, detail = split_rows(words, [None, int(words.h * 0.42)])
    price_main, price_save = split_rows(price, [None, int(price.h * 0.42)] if line.savings_cents else [None, 0])
    if line.savings_cents:
        # The detail ("510 g x $1.79/kg . $0.30 off per kg") runs on under the price column up to
        # the savings, which are a few characters: in portrait the words column alone cut it.
        price_save = pygame.Rect(price.right - lay.px(80), price_save.y, lay.px(80), price_save.h)
        detail.w = price_save.x - lay.pad - detail.x
    # The name has one line: a name longer than any in the demo catalogue may end in "..." here
    # (docs/ui.md): the row's picture, price and detail still tell it apart, and tapping it on
    # the remove screen leads to "Now take the ... out", which names it in full. Questions and
    # instructions give a name the lines it needs instead.
    widgets += [
        Picture(pic, id=f"{id_prefix}_pic:{line.code}", path=line.image, name=line.name),
        Text(name, id=f"{id_prefix}_name:{line.code}", text=line.name, size=lay.font("body"), bold=True),
        Text(detail, id=f"{id_prefix}_detail:{line.code}", text=line_detail(v, line), size=lay.font("small"),
             color=theme.MUTED),
        Text(price_main, id=f"{id_prefix}_price:{line.code}", text=v.tr.money(line.price_cents),
             size=lay.font("body"), bold=True, align="right"),
    ]
    if line.savings_cents:
        widgets.append(Text(price_save, id=f"{id_prefix}_save:{line.code}",
                            text=v.tr.money(-line.savings_cents), size=lay.font("small"),
                            color=theme.SAVINGS, align="right"))
    if on_tap is not None:
        widgets.append(Tap(rect, id=f"{id_prefix}_tap:{line.code}", on_tap=on_tap))
    return widgets


def basket_list(v: View, list_rect: pygame.Rect, up: pygame.Rect, down: pygame.Rect,
                on_tap_line=None, id_prefix: str = "line") -> list[Widget]:
    """The basket as rows that scroll; the scroll buttons are enabled only when they can move."""
    lay, snap = v.layout, v.snap
    lines = snap.lines
    visible = max(1, list_rect.h // lay.row_h)
    first = max(0, min(v.ui.scroll, len(lines) - visible))
    widgets: list[Widget] = [Panel(list_rect, id=f"{id_prefix}_area", color=theme.PANEL, border=theme.LINE)]
    if not lines:
        widgets.append(Text(list_rect.inflate(-4 * lay.pad, -4 * lay.pad), id="basket_empty",
                            text=v.tr("basket.empty"), size=lay.font("large"), color=theme.MUTED,
                            align="center", wrap=True))
    fresh = (snap.last_change_t is not None and snap.t - snap.last_change_t <= HIGHLIGHT_SECONDS)
    row_h = list_rect.h // visible
    for i, line in enumerate(lines[first:first + visible]):
        rect = pygame.Rect(list_rect.x, list_rect.y + i * row_h, list_rect.w, row_h).inflate(-4, -4)
        tap = (lambda code=line.code: on_tap_line(code)) if on_tap_line else None
        widgets += basket_row(v, rect, line, first + i, fresh and line.code == snap.last_change_code, tap, id_prefix)
    widgets.append(Button(up, id="scroll_up", icon="up", size=lay.font("large"), style="secondary",
                          enabled=first > 0, on_tap=lambda: v.scroll(-visible)))
    widgets.append(Button(down, id="scroll_down", icon="down", size=lay.font("large"), style="secondary",
                          enabled=first + visible < len(lines), on_tap=lambda: v.scroll(visible)))
    return widgets


def keypad(v: View, rects: dict[str, pygame.Rect], pad: str, shown: str) -> list[Widget]:
    lay = v.layout
    widgets: list[Widget] = [Panel(rects["display"], id=f"{pad}_display_bg", border=theme.MUTED),
                             Text(rects["display"].inflate(-2 * lay.pad, 0), id=f"{pad}_display", text=shown,
                                  size=lay.font("title"), bold=True, align="center")]
    for name, rect in rects.items():
        if not name.startswith("key:"):
            continue
        key = name[4:]
        label = {"clear": "", "ok": v.tr("ok")}.get(key, key)
        style = "primary" if key == "ok" else "key"
        widgets.append(Button(rect, id=f"{pad}:{key}", label=label, size=lay.font("title"), style=style,
                              icon="back" if key == "clear" else "",
                              on_tap=partial(v.press, pad, key)))
    return widgets


def keyboard(v: View, area: pygame.Rect) -> list[Widget]:
    lay = v.layout
    widgets: list[Widget] = []
    for name, rect in lay.keyboard(area).items():
        key = name[4:]
        label = {"space": v.tr("space"), "delete": "", "clear": v.tr("clear")}.get(key, key.upper())
        size = lay.font("body") if key in ("space", "clear") else lay.font("large")
        widgets.append(Button(rect, id=f"kb:{key}", label=label, size=size, style="key",
                              icon="back" if key == "delete" else "",
                              on_tap=partial(v.press, "kb", key)))
    return widgets


def tile_name_height(v: View, tiles: Sequence[tuple[pygame.Rect, str, str]]) -> int:
    """The height of name that vertical ``product_tile``s (rect, name, deal) need so every name
    reads in full: the end of a name ("... Medium Fat Milk" / "... Standard Milk") is often what
    tells look-alikes apart. Whole lines of full-size type while the picture keeps ``px(64)``;
    past that the least height that reads in full (smaller type, down to 75 %), the picture
    giving up what it must. One height for all, so the pictures stay one size."""
    lay = v.layout
    body = lay.font("body")
    line, deal_h = int(body * 1.25), int(lay.font("small") * 1.25)
    need = line
    for rect, name, deal in tiles:
        inner = rect.inflate(-lay.pad, -lay.pad)
        room = max(line, inner.h - line - (deal_h if deal else 0))   # the price keeps its line
        lines = lines_needed(v, name, body, True, inner.w, line, max(1, room // line))
        if lines * line <= need or (lines * line <= room - lay.px(64)
                                    and reads_in_full(name, v.fit(name, body, True, inner.w, lines * line, True)[0])):
            need = max(need, lines * line)
            continue
        lo, hi = need, room
        while lo < hi:  # more height never cuts more: the least that reads in full, by bisection
            mid = (lo + hi) // 2
            if reads_in_full(name, v.fit(name, body, True, inner.w, mid, True)[0]):
                hi = mid
            else:
                lo = mid + 1
        need = lo
    return need


def product_tile(v: View, rect: pygame.Rect, code: str, name: str, image: str | None, price: str,
                 deal: str = "", on_tap=None, id_prefix: str = "tile", vertical: bool = True,
                 name_h: int = 0) -> list[Widget]:
    """Picture with name and price; ``vertical`` puts the words under the picture, the name in
    ``name_h`` (``tile_name_height``; 0: one line): the picture gives up the height."""
    lay = v.layout
    widgets: list[Widget] = [Panel(rect, id=f"{id_prefix}_bg:{code}", border=theme.LINE)]
    inner = rect.inflate(-lay.pad, -lay.pad)
    small, body = lay.font("small"), lay.font("body")
    if vertical:
        line = int(body * 1.25)
        pic, name_r, price_r, deal_r = split_rows(inner, [None, max(name_h, line), line,
                                                          int(small * 1.25) if deal else 0], 0)
        side = min(pic.w, pic.h)
        pic = pygame.Rect(0, 0, side, side).move(inner.x + (inner.w - side) // 2, inner.y)
    else:
        # Landscape's side-by-side tiles (nearby, produce results; never a question's): one line
        # of name, which a name longer than the demo catalogue's may still cut (docs/ui.md).
        side = inner.h
        pic, words = split_cols(inner, [side, None], lay.pad)
        name_r, price_r, deal_r = split_rows(words, [None, None, None if deal else 0], 0)
    if side >= lay.px(16):  # a long name may take all of a small tile: no sliver of a picture
        widgets.append(Picture(pic, id=f"{id_prefix}_pic:{code}", path=image, name=name))
    widgets += [Text(name_r, id=f"{id_prefix}_name:{code}", text=name, size=body, bold=True,
                     align="center" if vertical else "left", wrap=vertical),
                Text(price_r, id=f"{id_prefix}_price:{code}", text=price, size=body,
                     align="center" if vertical else "left")]
    if deal:
        widgets.append(Text(deal_r, id=f"{id_prefix}_deal:{code}", text=deal, size=small, bold=True,
                            color=theme.DEAL, align="center" if vertical else "left"))
    if on_tap is not None:
        widgets.append(Tap(rect, id=f"{id_prefix}:{code}", on_tap=on_tap))
    return widgets


def choice(v: View, title: str, text: str, buttons: Sequence[tuple[str, str, str, Callable[[], None]]]) -> list[Widget]:
    """A title, an explanation and big buttons: (id, label, style, on_tap)."""
    lay = v.layout
    # A title may name a product ("Now take the ... out of the cart"): it wraps, and the
    # explanation gives up the height.
    size = lay.font("title")
    lines = lines_needed(v, title, size, True, lay.choice_screen(len(buttons))["title"].w, lay.px(44), 3)
    rects = lay.choice_screen(len(buttons), lines)
    widgets: list[Widget] = [
        Text(rects["title"], id="choice_title", text=title, size=size, bold=True, align="center", wrap=True),
        Text(rects["text"], id="choice_text", text=text, size=lay.font("large"), align="center", wrap=True),
    ]
    for i, (bid, label, style, tap) in enumerate(buttons):
        widgets.append(Button(rects[f"button{i}"], id=bid, label=label, size=lay.font("large"), style=style,
                              on_tap=tap))
    return widgets
