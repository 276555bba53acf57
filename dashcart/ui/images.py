"""Product pictures from the paths in the snapshot, scaled once and kept.

A missing or unreadable file, or a product without a picture, gets a drawn placeholder
(a tinted tile with the product's initials) and one log line per path, never a crash.
"""

from __future__ import annotations

import logging
import zlib
from collections import OrderedDict

import pygame

from dashcart.ui.fonts import Fonts

log = logging.getLogger("dashcart.ui.images")


class Images:
    """Pictures by (path, size); the oldest are dropped past ``limit`` entries."""

    def __init__(self, fonts: Fonts, limit: int = 256) -> None:
        self._fonts = fonts
        self._originals: OrderedDict[str, pygame.Surface] = OrderedDict()  # bounded: pictures may be big
        self._broken: set[str] = set()  # logged once, then always the placeholder
        self._scaled: OrderedDict[tuple[str | None, str, int, int], pygame.Surface] = OrderedDict()
        self._limit = limit

    def get(self, path: str | None, name: str, size: tuple[int, int]) -> pygame.Surface:
        key = (path, name, size[0], size[1])
        surface = self._scaled.get(key)
        if surface is not None:
            self._scaled.move_to_end(key)
            return surface
        original = self._load(path) if path else None
        surface = _fit(original, size) if original is not None else self.placeholder(name, size)
        self._scaled[key] = surface
        if len(self._scaled) > self._limit:
            self._scaled.popitem(last=False)
        return surface

    def _load(self, path: str) -> pygame.Surface | None:
        if path in self._broken:
            return None
        original = self._originals.get(path)
        if original is None:
            try:
                original = pygame.image.load(path)
            except (OSError, pygame.error) as exc:
                log.warning("product picture %s cannot be loaded (%s); drawing a placeholder", path, exc)
                self._broken.add(path)
                return None
            self._originals[path] = original
            if len(self._originals) > self._limit // 4:
                self._originals.popitem(last=False)
        return original

    def placeholder(self, name: str, size: tuple[int, int]) -> pygame.Surface:
        """A tile in a colour derived from the name, with its initials: the same product looks the same."""
        w, h = size
        hue = zlib.crc32(name.encode("utf-8")) % 360
        color = pygame.Color(0)
        color.hsva = (hue, 35, 85, 100)
        surface = pygame.Surface(size)
        surface.fill(color)
        initials = "".join(word[0] for word in name.split()[:2]).upper() or "?"
        font = self._fonts.get(max(12, min(w, h) // 3), bold=True)
        text = font.render(initials, True, (30, 30, 30))
        surface.blit(text, text.get_rect(center=(w // 2, h // 2)))
        pygame.draw.rect(surface, (90, 90, 90), surface.get_rect(), 2)
        return surface


def _fit(image: pygame.Surface, size: tuple[int, int]) -> pygame.Surface:
    """Scale to fit inside ``size``, centred on white (product shots are on white)."""
    w, h = size
    iw, ih = image.get_size()
    scale = min(w / iw, h / ih)
    scaled = pygame.transform.smoothscale(image.convert() if pygame.display.get_surface() else image,
                                          (max(1, int(iw * scale)), max(1, int(ih * scale))))
    tile = pygame.Surface(size)
    tile.fill((255, 255, 255))
    tile.blit(scaled, scaled.get_rect(center=(w // 2, h // 2)))
    return tile
