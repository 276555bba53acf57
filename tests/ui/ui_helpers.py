"""Driving the touchscreen in tests: an App on an off-screen surface, taps as real pygame events."""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import pygame

from dashcart.config import Config, parse_config
from dashcart.events import ShopperAction
from dashcart.snapshot import Snapshot
from dashcart.ui.app import App
from dashcart.ui.fonts import Fonts
from dashcart.ui.scenes import Scene
from dashcart.ui.widgets import Widget

_FONTS: dict[tuple[str, str], Fonts] = {}


def fonts_for(config: Config) -> Fonts:
    key = (config.ui.font, config.ui.font_bold)
    if key not in _FONTS:
        _FONTS[key] = Fonts(*key)
    return _FONTS[key]


def forget_fonts() -> None:
    _FONTS.clear()


class Harness:
    def __init__(self, snap: Snapshot, size=(800, 480), config: Config | None = None, tmp: Path | None = None,
                 language: str = "en", beeper=None):
        pygame.font.init()
        config = config or parse_config("")
        config = dataclasses.replace(config, cart=dataclasses.replace(
            config.cart, language=language, state_dir=str(tmp) if tmp else config.cart.state_dir))
        self.config = config
        self.actions: list[ShopperAction] = []
        self.now = 0.0
        self.surface = pygame.Surface(size)
        self.app = App(config, self.actions.append, clock=lambda: self.now, size=size, fonts=fonts_for(config),
                       beeper=beeper)
        self.snap = snap
        self.render()

    def render(self, snap: Snapshot | None = None, full: bool = True) -> list[pygame.Rect]:
        if snap is not None:
            self.snap = snap
        return self.app.render(self.snap, self.surface, full=full)

    def find(self, widget_id: str) -> Widget:
        matches = [w for w in self.app.widgets if w.id == widget_id]
        assert matches, f"no widget {widget_id!r} on {self.app.screen}: {[w.id for w in self.app.widgets]}"
        return matches[-1]

    def ids(self) -> set[str]:
        return {w.id for w in self.app.widgets}

    def tap(self, widget_id: str, touch: bool = False) -> None:
        x, y = self.find(widget_id).rect.center
        self.tap_at((x, y), touch)

    def tap_at(self, pos: tuple[int, int], touch: bool = False, end: tuple[int, int] | None = None) -> None:
        end = end or pos
        w, h = self.surface.get_size()
        if touch:
            events = [pygame.event.Event(pygame.FINGERDOWN, x=pos[0] / w, y=pos[1] / h, finger_id=0, touch_id=1),
                      # SDL also synthesizes mouse events from a touch; they must not act twice.
                      pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=pos, button=1, touch=True),
                      pygame.event.Event(pygame.FINGERUP, x=end[0] / w, y=end[1] / h, finger_id=0, touch_id=1),
                      pygame.event.Event(pygame.MOUSEBUTTONUP, pos=end, button=1, touch=True)]
        else:
            events = [pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=pos, button=1, touch=False),
                      pygame.event.Event(pygame.MOUSEBUTTONUP, pos=end, button=1, touch=False)]
        for event in events:
            self.app.handle_event(event, (w, h))
        self.render()

    def last(self) -> tuple:
        a = self.actions[-1]
        return (a.action, a.value, a.question_id)


@functools.lru_cache(maxsize=1)
def demo_scenes() -> dict[str, Scene]:
    """Every screen, from the snapshots the real controller published playing the demo's trip."""
    from dashcart.sim.demo_scenes import all_scenes
    return {s.name: s for s in all_scenes()}


@functools.lru_cache(maxsize=4)
def long_basket(n: int) -> Snapshot:
    """The controller's snapshot after ``n`` cartons went in."""
    from dashcart.sim.demo_scenes import long_basket as build
    return build(n)
