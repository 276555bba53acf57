"""The few things a screen is made of: panels, text that fits its box, buttons, pictures.

Screens are rebuilt from the snapshot every frame as a list of widgets; each widget has a
``key`` (everything that affects its pixels) so the renderer redraws only what changed.
Buttons act on release inside them, from a finger or a mouse alike; nothing needs hover.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import pygame

from dashcart.ui import theme
from dashcart.ui.fonts import Fonts
from dashcart.ui.images import Images

ELLIPSIS = "\u2026"
_KEY = (255, 0, 254)  # colour key for rounded corners: a colour no theme uses


class DrawContext:
    """What drawing needs: fonts, pictures and a cache of rendered text and shapes."""

    def __init__(self, fonts: Fonts, images: Images, text_cache_size: int = 2048) -> None:
        self.fonts = fonts
        self.images = images
        self._text: OrderedDict[tuple, pygame.Surface] = OrderedDict()
        self._fits: dict[tuple, tuple[list[str], int]] = {}
        self._limit = text_cache_size

    def _cached(self, key: tuple, make) -> pygame.Surface:
        surface = self._text.get(key)
        if surface is None:
            surface = self._text[key] = make()
            if len(self._text) > self._limit:
                self._text.popitem(last=False)
        else:
            self._text.move_to_end(key)
        return surface

    def shape(self, size: tuple[int, int], color, border, radius: int) -> pygame.Surface:
        """A rounded box, drawn once per (size, colours) and blitted after (rounded
        ``draw.rect`` is the slowest thing on a frame). Corners are transparent by colour key."""
        def make() -> pygame.Surface:
            surface = pygame.Surface(size)
            surface.fill(_KEY)
            rect = surface.get_rect()
            pygame.draw.rect(surface, color, rect, border_radius=radius)
            if border:
                pygame.draw.rect(surface, border, rect, 2, border_radius=radius)
            surface = _for_display(surface, alpha=False)
            surface.set_colorkey(_KEY, pygame.RLEACCEL)
            return surface

        return self._cached(("shape", size, color, border, radius), make)

    def render(self, text: str, size: int, bold: bool, color: tuple[int, int, int]) -> pygame.Surface:
        return self._cached((text, size, bold, color), lambda: _for_display(
            self.fonts.get(size, bold).render(text, True, color), alpha=True))

    def fit(self, text: str, size: int, bold: bool, w: int, h: int, wrap: bool) -> tuple[list[str], int]:
        """Lines and font size that fit ``w`` x ``h``: shrink to 75 %, then wrap/ellipsize."""
        key = (text, size, bold, w, h, wrap)
        cached = self._fits.get(key)
        if cached is None:
            cached = self._fit(text, size, bold, w, h, wrap)
            if len(self._fits) > 4 * self._limit:
                self._fits.clear()
            self._fits[key] = cached
        return cached

    def _fit(self, text, size, bold, w, h, wrap):
        smallest = max(10, int(size * 0.75))
        for s in range(size, smallest - 1, -max(1, size // 12)):
            font = self.fonts.get(s, bold)
            if font.get_linesize() > h:
                continue
            lines = _wrap(font, text, w) if wrap else [text]
            if all(font.size(line)[0] <= w for line in lines) and len(lines) * font.get_linesize() <= h:
                return lines, s
        # Still too big: the box's height is a hard limit, then cut what does not fit.
        while smallest > 8 and self.fonts.get(smallest, bold).get_linesize() > h:
            smallest -= 1
        font = self.fonts.get(smallest, bold)
        max_lines = max(1, h // font.get_linesize())
        lines = _wrap(font, text, w) if wrap else [text]
        if len(lines) > max_lines:
            lines = lines[:max_lines]
            lines[-1] = lines[-1] + ELLIPSIS
        return [_ellipsize(font, line, w) for line in lines], smallest


def reads_in_full(text: str, lines: list[str]) -> bool:
    """Whether ``lines`` (from ``DrawContext.fit``) say all of ``text``: wrapping only drops the
    spaces it breaks at, so anything else missing was cut (a "Finishing…" cut to "Fini…" too)."""
    return "".join(text.split()) == "".join("".join(lines).split())


def _for_display(surface: pygame.Surface, alpha: bool) -> pygame.Surface:
    """In the display's pixel format when there is a display: blits then take SDL's fast path."""
    if pygame.display.get_surface() is None:
        return surface
    return surface.convert_alpha() if alpha else surface.convert()


def _wrap(font: pygame.font.Font, text: str, w: int) -> list[str]:
    lines: list[str] = []
    for paragraph in text.split("\n"):
        current = ""
        for word in paragraph.split(" "):
            trial = f"{current} {word}" if current else word
            if font.size(trial)[0] <= w or not current:
                current = trial
            else:
                lines.append(current)
                current = word
        lines.append(current)
    return lines


def _ellipsize(font: pygame.font.Font, text: str, w: int) -> str:
    if font.size(text)[0] <= w:
        return text
    lo, hi = 0, len(text)
    while lo < hi:  # longest prefix that fits with the ellipsis
        mid = (lo + hi + 1) // 2
        if font.size(text[:mid].rstrip() + ELLIPSIS)[0] <= w:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo].rstrip() + ELLIPSIS


@dataclass(eq=False)
class Widget:
    rect: pygame.Rect
    id: str = ""
    on_tap: Callable[[], None] | None = field(default=None, repr=False)

    def key(self) -> tuple:
        return (type(self).__name__, tuple(self.rect))

    def draw(self, surface: pygame.Surface, ctx: DrawContext) -> None:
        pass


@dataclass(eq=False)
class Panel(Widget):
    color: tuple[int, int, int] = theme.PANEL
    border: tuple[int, int, int] | None = None
    radius: int = 8

    def key(self) -> tuple:
        return super().key() + (self.color, self.border, self.radius)

    def draw(self, surface, ctx):
        if self.radius:
            surface.blit(ctx.shape(self.rect.size, self.color, self.border, self.radius), self.rect)
            return
        surface.fill(self.color, self.rect)
        if self.border:
            pygame.draw.rect(surface, self.border, self.rect, 2)


@dataclass(eq=False)
class Text(Widget):
    text: str = ""
    size: int = 20
    color: tuple[int, int, int] = theme.INK
    bold: bool = False
    align: str = "left"      # left | center | right
    valign: str = "center"   # top | center
    wrap: bool = False
    drawn: pygame.Rect | None = field(default=None, repr=False)  # where the glyphs went (tests)
    lines: list[str] | None = field(default=None, repr=False)    # what they said (tests: cut off?)

    def key(self) -> tuple:
        return super().key() + (self.text, self.size, self.color, self.bold, self.align, self.valign, self.wrap)

    def draw(self, surface, ctx):
        lines, size = ctx.fit(self.text, self.size, self.bold, self.rect.w, self.rect.h, self.wrap)
        line_h = ctx.fonts.get(size, self.bold).get_linesize()
        y = self.rect.y if self.valign == "top" else self.rect.y + (self.rect.h - line_h * len(lines)) // 2
        drawn = None
        for line in lines:
            image = ctx.render(line, size, self.bold, self.color)
            r = image.get_rect(top=y)
            if self.align == "center":
                r.centerx = self.rect.centerx
            elif self.align == "right":
                r.right = self.rect.right
            else:
                r.left = self.rect.left
            surface.blit(image, r)
            drawn = r if drawn is None else drawn.union(r)
            y += line_h
        self.drawn, self.lines = drawn, lines


@dataclass(eq=False)
class Button(Widget):
    label: str = ""
    size: int = 22
    style: str = "primary"   # primary | secondary | danger | key
    enabled: bool = True
    selected: bool = False
    icon: str = ""           # up | down | back: an arrow drawn as a shape (no font has to have the glyph)
    drawn: pygame.Rect | None = field(default=None, repr=False)
    lines: list[str] | None = field(default=None, repr=False)

    _STYLES = {
        "primary": (theme.PRIMARY, theme.PRIMARY_INK),
        "secondary": (theme.SECONDARY, theme.SECONDARY_INK),
        "danger": (theme.DANGER, theme.DANGER_INK),
        "key": (theme.PANEL, theme.INK),
    }

    def key(self) -> tuple:
        return super().key() + (self.label, self.size, self.style, self.enabled, self.selected, self.icon)

    def draw(self, surface, ctx):
        bg, ink = self._STYLES[self.style]
        if self.selected:
            bg, ink = theme.HEADER_BG, theme.HEADER_INK
        if not self.enabled:
            bg, ink = (225, 225, 225), (95, 95, 95)
        border = theme.MUTED if self.style in ("key", "secondary") else None
        surface.blit(ctx.shape(self.rect.size, bg, border, 10), self.rect)
        if self.icon:
            self.drawn = draw_arrow(surface, self.rect, self.icon, ink, self.size)
            return
        inner = self.rect.inflate(-16, -8)
        label = Text(inner, text=self.label, size=self.size, color=ink, bold=True, align="center", wrap=True)
        label.draw(surface, ctx)
        self.drawn, self.lines = label.drawn, label.lines


def draw_arrow(surface: pygame.Surface, rect: pygame.Rect, direction: str, color: tuple[int, int, int],
               size: int) -> pygame.Rect:
    """A filled triangle (up, down) or a backspace arrow (back), ``size`` pixels tall, centred."""
    h = min(size, rect.h - 8, rect.w - 8)
    w = h * 6 // 5
    cx, cy = rect.center
    box = pygame.Rect(0, 0, w, h)
    box.center = (cx, cy)
    if direction == "up":
        points = [(box.left, box.bottom), (box.right, box.bottom), (cx, box.top)]
    elif direction == "down":
        points = [(box.left, box.top), (box.right, box.top), (cx, box.bottom)]
    else:  # back: a shaft with a head pointing left
        shaft = max(2, h // 6)
        head = h // 2
        points = [(box.left, cy), (box.left + head, box.top), (box.left + head, cy - shaft),
                  (box.right, cy - shaft), (box.right, cy + shaft), (box.left + head, cy + shaft),
                  (box.left + head, box.bottom)]
    return pygame.draw.polygon(surface, color, points)


@dataclass(eq=False)
class Picture(Widget):
    path: str | None = None
    name: str = ""

    def key(self) -> tuple:
        return super().key() + (self.path, self.name)

    def draw(self, surface, ctx):
        surface.blit(ctx.images.get(self.path, self.name, self.rect.size), self.rect)


@dataclass(eq=False)
class Tap(Widget):
    """An invisible touch target over a group (a product tile, a basket line)."""


@dataclass(eq=False)
class Light(Widget):
    """The status light: green all is well, amber weighing, red the shopper must act."""

    color: tuple[int, int, int] = theme.OK

    def key(self) -> tuple:
        return super().key() + (self.color,)

    def draw(self, surface, ctx):
        pygame.draw.circle(surface, self.color, self.rect.center, self.rect.w // 2)
        pygame.draw.circle(surface, (255, 255, 255), self.rect.center, self.rect.w // 2, 2)


