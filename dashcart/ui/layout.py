"""Where everything goes, as rectangles computed from the screen size (tests check them).

Three sizes are supported: 800x480 (the official 7-inch display), 1280x800 and 720x1280
(portrait). Lengths scale with the short side so a button is the same physical size on a
bigger panel of the same density class, and never smaller than a finger (48 px).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import pygame

from dashcart.errors import Misconfigured
from dashcart.events import STAFF_OVERRIDES

MIN_TARGET = 48
RESOLUTIONS: tuple[tuple[int, int], ...] = ((800, 480), (1280, 800), (720, 1280))


def parse_resolution(text: str) -> tuple[int, int]:
    try:
        w, h = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise Misconfigured(f"ui.resolution: {text!r} is not WIDTHxHEIGHT") from None
    return w, h


def split_rows(rect: pygame.Rect, sizes: list[int | None], gap: int = 0) -> list[pygame.Rect]:
    """Cut ``rect`` top to bottom; ``None`` sizes share what is left equally."""
    return [pygame.Rect(rect.x, r.y, rect.w, r.h) for r in
            _split(rect.y, rect.h, sizes, gap, lambda pos, size: pygame.Rect(0, pos, 0, size))]


def split_cols(rect: pygame.Rect, sizes: list[int | None], gap: int = 0) -> list[pygame.Rect]:
    """Cut ``rect`` left to right; ``None`` sizes share what is left equally."""
    return [pygame.Rect(r.x, rect.y, r.w, rect.h) for r in
            _split(rect.x, rect.w, sizes, gap, lambda pos, size: pygame.Rect(pos, 0, size, 0))]


def _split(start, length, sizes, gap, make):
    fixed = sum(s for s in sizes if s is not None) + gap * (len(sizes) - 1)
    flexible = sum(1 for s in sizes if s is None)
    share = max(0, (length - fixed) // flexible) if flexible else 0
    out, pos = [], start
    for size in sizes:
        size = share if size is None else size
        out.append(make(pos, size))
        pos += size + gap
    return out


def grid(rect: pygame.Rect, cols: int, rows: int, gap: int) -> list[pygame.Rect]:
    """Cells row by row."""
    return [cell for row in split_rows(rect, [None] * rows, gap) for cell in split_cols(row, [None] * cols, gap)]


@dataclass(frozen=True)
class Layout:
    """Rectangles for a screen size. Methods are cached: treat the returned rects as read-only."""

    width: int
    height: int

    # ---- scale and type -------------------------------------------------------------
    @property
    def portrait(self) -> bool:
        return self.height > self.width

    @property
    def s(self) -> float:
        return min(self.width, self.height) / 480

    def px(self, n: float) -> int:
        return int(round(n * self.s))

    @property
    def pad(self) -> int:
        return self.px(8)

    @property
    def button_h(self) -> int:
        return max(MIN_TARGET, self.px(60))

    @property
    def row_h(self) -> int:
        return max(MIN_TARGET, self.px(60))

    def font(self, role: str) -> int:
        base = {"small": 17, "body": 21, "large": 27, "title": 32, "huge": 44}[role]
        return self.px(base)

    @property
    def screen(self) -> pygame.Rect:
        return pygame.Rect(0, 0, self.width, self.height)

    @property
    def header(self) -> pygame.Rect:
        # Portrait: two rows, the title (or the cart's message) alone on the first: beside the
        # practice badge and "Weighing..." a message had a few dozen pixels ("..."), unreadable.
        row = max(MIN_TARGET + 8, self.px(64))
        return pygame.Rect(0, 0, self.width, 2 * row - self.pad if self.portrait else row)

    @property
    def body(self) -> pygame.Rect:
        h = self.header
        return pygame.Rect(self.pad, h.bottom + self.pad, self.width - 2 * self.pad,
                           self.height - h.bottom - 2 * self.pad)

    @functools.lru_cache(maxsize=32)  # noqa: B019 (layouts are few and immutable)
    def header_parts(self) -> dict[str, pygame.Rect]:
        """Title, status light, language and help; ``side`` is where the practice badge and
        ``status`` (shown only when a device is in trouble or the load moves) go, from its right
        end: the title's own space in landscape, the second row's in portrait."""
        inner = self.header.inflate(-2 * self.pad, -2 * self.pad)
        title = inner
        if self.portrait:
            title, inner = split_rows(inner, [None, None], self.pad)
        side, light, lang, help_ = split_cols(inner, [None, self.px(28), self.px(88), self.px(100)], self.pad)
        title = title if self.portrait else side
        light = pygame.Rect(0, 0, light.w, light.w).move(light.x, light.centery - light.w // 2)
        status = pygame.Rect(side.right - self.px(90), side.y, self.px(90), side.h)
        return {"title": title, "side": side, "light": light, "status": status, "language": lang, "help": help_}

    # ---- screens ----------------------------------------------------------------------
    @functools.lru_cache(maxsize=32)  # noqa: B019 (layouts are few and immutable)
    def shopping(self) -> dict[str, pygame.Rect]:
        b, gap = self.body, self.pad
        totals_h = self.px(70)
        buttons_h = self.button_h
        if self.portrait:
            basket, totals, nearby_title, nearby, buttons = split_rows(
                b, [None, totals_h, self.px(34), self.px(210), buttons_h], gap)
        else:
            left, right = split_cols(b, [None, int(b.w * 0.36)], gap)
            basket, totals = split_rows(left, [None, totals_h], gap)
            nearby_title, nearby, buttons = split_rows(right, [self.px(34), None, 2 * buttons_h + gap], gap)
        parts = {"basket": basket, "totals": totals, "nearby_title": nearby_title, "nearby": nearby}
        if self.portrait:
            parts["produce"], parts["remove"] = split_cols(buttons, [None, None], gap)
        else:
            parts["produce"], parts["remove"] = split_rows(buttons, [None, None], gap)
        list_rect, scroll = split_cols(basket, [None, max(MIN_TARGET, self.px(56))], gap)
        parts["list"] = list_rect
        parts["scroll_up"], parts["scroll_down"] = split_rows(scroll, [None, None], gap)
        parts["total"], parts["savings"] = split_cols(totals, [None, int(totals.w * 0.42)], gap)
        return parts

    @functools.lru_cache(maxsize=32)  # noqa: B019 (layouts are few and immutable)
    def nearby_tiles(self, count: int) -> list[pygame.Rect]:
        area = self.shopping()["nearby"]
        if self.portrait:
            return split_cols(area, [None] * count, self.pad) if count else []
        return split_rows(area, [None] * count, self.pad) if count else []

    @property
    def nearby_max(self) -> int:
        area = self.shopping()["nearby"]
        if self.portrait:
            return max(1, min(4, area.w // self.px(160)))
        return max(1, min(4, area.h // max(MIN_TARGET + 8, self.px(96))))

    @functools.lru_cache(maxsize=32)  # noqa: B019 (layouts are few and immutable)
    def question(self) -> dict[str, pygame.Rect]:
        b, gap = self.body, self.pad
        title, detail, cands, buttons = split_rows(b, [self.px(40), self.px(28), None, self.button_h], gap)
        not_in_cart, none_fits = split_cols(buttons, [None, None], gap)
        return {"title": title, "detail": detail, "candidates": cands,
                "not_in_cart": not_in_cart, "none_fits": none_fits}

    @functools.lru_cache(maxsize=32)  # noqa: B019 (layouts are few and immutable)
    def candidate_cells(self, count: int) -> list[pygame.Rect]:
        area = self.question()["candidates"]
        cols, rows = (2, 3) if self.portrait else (3, 2) if count > 3 else (count or 1, 1)
        if self.portrait and count <= 4:
            rows = 2
        return grid(area, cols, rows, self.pad)[:count]

    @functools.lru_cache(maxsize=32)  # noqa: B019 (layouts are few and immutable)
    def choice_screen(self, n_buttons: int, title_lines: int = 1) -> dict[str, pygame.Rect]:
        """A title (``title_lines`` of it: one naming a product may need more), lines of
        explanation and a column of big buttons (none fits, trouble, blocked)."""
        b, gap = self.body, self.pad
        bh = self.button_h
        title, text, buttons = split_rows(
            b, [self.px(44) * title_lines, None, n_buttons * bh + (n_buttons - 1) * gap], gap)
        if not self.portrait:
            buttons = pygame.Rect(0, 0, int(b.w * 0.6), buttons.h).move(b.x + (b.w - int(b.w * 0.6)) // 2, buttons.y)
        rects = {"title": title, "text": text}
        for i, r in enumerate(split_rows(buttons, [bh] * n_buttons, gap)):
            rects[f"button{i}"] = r
        return rects

    def keypad(self, area: pygame.Rect) -> dict[str, pygame.Rect]:
        """Display line over a 4x3 pad: 1-9, clear, 0, OK."""
        display, pad = split_rows(area, [max(MIN_TARGET, self.px(56)), None], self.pad)
        cells = grid(pad, 3, 4, self.pad)
        keys = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "clear", "0", "ok"]
        rects = {"display": display}
        rects.update({f"key:{k}": c for k, c in zip(keys, cells)})
        return rects

    @functools.lru_cache(maxsize=32)  # noqa: B019 (layouts are few and immutable)
    def plu_entry(self) -> dict[str, pygame.Rect]:
        b, gap = self.body, self.pad
        top, rest = split_rows(b, [self.px(34), None], gap)
        if self.portrait:
            pad_area, bottom = split_rows(rest, [int(rest.h * 0.6), None], gap)
            hint, back = split_rows(bottom, [None, self.button_h], gap)
        else:
            pad_area, side = split_cols(rest, [min(rest.w // 2, self.px(420)), None], gap)
            hint, back = split_rows(side, [None, self.button_h], gap)
        rects = {"title": top, "hint": hint, "back": back}
        rects.update(self.keypad(pad_area))
        return rects

    @functools.lru_cache(maxsize=32)  # noqa: B019 (layouts are few and immutable)
    def produce(self) -> dict[str, pygame.Rect]:
        """Tabs (search / PLU / back), then the query and an on-screen keyboard beside (landscape)
        or under (portrait) the matching products."""
        b, gap = self.body, self.pad
        tabs, rest = split_rows(b, [self.button_h, None], gap)
        search_tab, plu_tab, back = split_cols(tabs, [None, None, self.px(120)], gap)
        query_h = max(MIN_TARGET, self.px(50))
        if self.portrait:
            kb_h = 4 * self.px(76) + 3 * self.key_gap
            query, results_title, results, keyboard = split_rows(rest, [query_h, self.px(30), None, kb_h], gap)
        else:
            kb_w = max(10 * MIN_TARGET + 9 * self.key_gap, int(rest.w * 0.62))
            left, right = split_cols(rest, [kb_w, None], gap)
            query, keyboard = split_rows(left, [query_h, None], gap)
            results_title, results = split_rows(right, [self.px(30), None], gap)
        return {"search_tab": search_tab, "plu_tab": plu_tab, "back": back, "query": query,
                "results_title": results_title, "results": results, "keyboard": keyboard, "rest": rest}

    @property
    def key_gap(self) -> int:
        return max(4, self.px(5))

    @functools.lru_cache(maxsize=32)  # noqa: B019 (layouts are few and immutable)
    def produce_cells(self, count: int) -> list[pygame.Rect]:
        """Tiles for matching products: a grid in portrait, a column of rows in landscape."""
        area = self.produce()["results"]
        if self.portrait:
            cols = max(1, area.w // self.px(150))
            rows = max(1, area.h // self.px(150))
        else:
            cols = 2 if area.w >= self.px(400) else 1
            rows = max(1, area.h // max(MIN_TARGET + 8, self.px(72)))
        return grid(area, cols, rows, self.pad)[:count]

    def keyboard(self, area: pygame.Rect) -> dict[str, pygame.Rect]:
        """QWERTY in three rows plus space / delete."""
        gap = self.key_gap
        rows = split_rows(area, [None] * 4, gap)
        keys: dict[str, pygame.Rect] = {}
        for row, letters in zip(rows, ("qwertyuiop", "asdfghjkl", "zxcvbnm")):
            cell = (area.w - 9 * gap) // 10
            total = len(letters) * cell + (len(letters) - 1) * gap
            start = pygame.Rect(area.x + (area.w - total) // 2, row.y, total, row.h)
            for letter, r in zip(letters, split_cols(start, [cell] * len(letters), gap)):
                keys[f"key:{letter}"] = r
        space, delete, clear = split_cols(rows[3], [None, self.px(100), self.px(100)], gap)
        keys.update({"key:space": space, "key:delete": delete, "key:clear": clear})
        return keys

    @functools.lru_cache(maxsize=32)  # noqa: B019 (layouts are few and immutable)
    def weigh(self, title_lines: int = 1) -> dict[str, pygame.Rect]:
        """``title_lines``: the title names the item, and a long name takes the picture's height."""
        b, gap = self.body, self.pad
        title_h = self.px(44) * title_lines
        if self.portrait:
            title, picture, figures, buttons = split_rows(
                b, [title_h, self.px(420) - title_h + self.px(44), None, self.button_h], gap)
        else:
            title, middle, buttons = split_rows(b, [title_h, None, self.button_h], gap)
            picture, figures = split_cols(middle, [middle.h, None], gap)
        weight, price, unit = split_rows(figures, [None, None, self.px(34)], gap)
        cancel, add = split_cols(buttons, [None, None], gap)
        return {"title": title, "picture": picture, "weight": weight, "price": price, "unit": unit,
                "cancel": cancel, "add": add}

    @functools.lru_cache(maxsize=32)  # noqa: B019 (layouts are few and immutable)
    def list_screen(self) -> dict[str, pygame.Rect]:
        """Title, a scrolling list with scroll buttons, a row of buttons (remove, summary)."""
        b, gap = self.body, self.pad
        title, body, buttons = split_rows(b, [self.px(40), None, self.button_h], gap)
        list_rect, scroll = split_cols(body, [None, max(MIN_TARGET, self.px(56))], gap)
        up, down = split_rows(scroll, [None, None], gap)
        return {"title": title, "list": list_rect, "scroll_up": up, "scroll_down": down, "buttons": buttons}

    @functools.lru_cache(maxsize=32)  # noqa: B019 (layouts are few and immutable)
    def checkout(self, status_lines: int = 1) -> dict[str, pygame.Rect]:
        """``status_lines``: what happens next is said in full, the list gives up the height."""
        b, gap = self.body, self.pad
        title, status, body, buttons = split_rows(
            b, [self.px(48), self.px(40) * status_lines, None, self.button_h], gap)
        if self.portrait:
            lines, totals = split_rows(body, [None, self.px(90)], gap)
        else:
            lines, totals = split_cols(body, [None, int(body.w * 0.38)], gap)
        cancel, pay = split_cols(buttons, [None, None], gap)
        list_rect, scroll = split_cols(lines, [None, max(MIN_TARGET, self.px(56))], gap)
        up, down = split_rows(scroll, [None, None], gap)
        return {"title": title, "status": status, "list": list_rect, "scroll_up": up, "scroll_down": down,
                "totals": totals, "cancel": cancel, "pay": pay}

    @functools.lru_cache(maxsize=32)  # noqa: B019 (layouts are few and immutable)
    def help(self) -> dict[str, pygame.Rect]:
        b, gap = self.body, self.pad
        bh = self.button_h
        if self.portrait:
            title, text, buttons = split_rows(b, [self.px(44), None, 3 * bh + 2 * gap], gap)
            cells = grid(buttons, 2, 3, gap)
        else:
            title, rest = split_rows(b, [self.px(44), None], gap)
            text, buttons = split_cols(rest, [None, int(rest.w * 0.38)], gap)
            cells = split_rows(buttons, [None] * 6, gap)
        names = ["call", "language", "status", "staff", "signout", "close"]
        rects = {"title": title, "text": text}
        rects.update(dict(zip(names, cells)))
        return rects

    def staff_pin(self) -> dict[str, pygame.Rect]:
        return self.plu_entry()

    @functools.lru_cache(maxsize=32)  # noqa: B019 (layouts are few and immutable)
    def staff_menu(self) -> dict[str, pygame.Rect]:
        b, gap = self.body, self.pad
        title, status, buttons = split_rows(b, [self.px(44), self.px(34), None], gap)
        names = [*STAFF_OVERRIDES, "close"]
        cells = grid(buttons, 2 if self.portrait else 3, 3 if self.portrait else 2, gap)
        rects = {"title": title, "status": status}
        rects.update(dict(zip(names, cells)))
        return rects

    @functools.lru_cache(maxsize=32)  # noqa: B019 (layouts are few and immutable)
    def welcome(self) -> dict[str, pygame.Rect]:
        b, gap = self.body, self.pad
        if self.portrait:
            title, art, scan, hint, no_app = split_rows(b, [self.px(70), None, self.px(110), self.px(40), self.px(40)], gap)
        else:
            title, rest = split_rows(b, [self.px(70), None], gap)
            art, words = split_cols(rest, [rest.h, None], gap)
            scan, hint, no_app = split_rows(words, [None, self.px(40), self.px(40)], gap)
        return {"title": title, "art": art, "scan": scan, "hint": hint, "no_app": no_app}
