"""Finding a font that can write Hangul, and handing out sizes of it.

The package ships one (Dashcart Gothic, ``fontfiles/``), so no system font is needed;
``ui.font`` may name another. Only if the shipped file is gone (and no system Hangul font
is installed) does the UI say so in the log and fall back to pygame's own font: English
reads fine, Korean shows as boxes.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pygame

from dashcart.ui.font_paths import BUNDLED_FONT, INSTALL_HINT, KNOWN_FONTS

log = logging.getLogger("dashcart.ui.fonts")


def has_hangul(font: pygame.font.Font) -> bool:
    """Whether ``font`` draws Hangul rather than its missing-glyph box."""
    # A font without Hangul draws the same .notdef box for every syllable; with Hangul, two
    # different syllables look different.
    try:
        han = pygame.image.tobytes(font.render("\ud55c", False, (255, 255, 255)), "RGBA")
        geul = pygame.image.tobytes(font.render("\uae00", False, (255, 255, 255)), "RGBA")
    except pygame.error:
        return False
    return han != geul


class Fonts:
    """Fonts by (size, bold), loaded once. ``hangul`` says whether Korean will be readable."""

    def __init__(self, regular: str = "", bold: str = "") -> None:
        if not pygame.font.get_init():
            pygame.font.init()
        self._cache: dict[tuple[int, bool], pygame.font.Font] = {}
        self.regular, self.bold = self._choose(regular, bold)
        probe = self.get(20)
        self.hangul = has_hangul(probe)
        if not self.hangul:
            log.warning("font %s has no Hangul: Korean text will show as boxes; %s",
                        self.regular or "pygame default", INSTALL_HINT)

    @staticmethod
    def _choose(regular: str, bold: str) -> tuple[str | None, str | None]:
        if regular:
            if _loads(regular):
                return regular, bold if bold and _loads(bold) else _sibling_bold(regular)
            log.warning("ui.font %s cannot be loaded; using the shipped font", regular)
        for reg, bld in (BUNDLED_FONT,) + KNOWN_FONTS:
            if Path(reg).is_file() and _loads(reg):
                return reg, bld if Path(bld).is_file() else reg
        log.warning("no Hangul font found (looked in %s); using pygame's default font; %s",
                    ", ".join(r for r, _ in KNOWN_FONTS), INSTALL_HINT)
        return None, None

    def get(self, size: int, bold: bool = False) -> pygame.font.Font:
        key = (size, bold)
        font = self._cache.get(key)
        if font is None:
            path = self.bold if bold else self.regular
            font = pygame.font.Font(path, size)
            if bold and path == self.regular:
                font.bold = True  # synthesized when there is no bold face
            self._cache[key] = font
        return font


def _loads(path: str) -> bool:
    # SDL_ttf opens some broken files and fails only when drawing: draw something to be sure.
    try:
        return pygame.font.Font(path, 12).render("Ag", True, (0, 0, 0)).get_width() > 0
    except (OSError, pygame.error):
        return False


def _sibling_bold(path: str) -> str:
    p = Path(path)
    for name in (p.stem + "Bold" + p.suffix, p.stem.replace("Regular", "Bold") + p.suffix):
        candidate = p.with_name(name)
        if candidate != p and candidate.is_file() and _loads(str(candidate)):
            return str(candidate)
    return path
