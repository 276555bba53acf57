"""Opening the touchscreen: KMSDRM on Pi OS Lite, X11/Wayland on a desktop, SDL's choice.

A display that will not open is not a crash: the UI logs one line saying what failed and
what to check, and draws off-screen (SDL's dummy driver) so the cart keeps running on
weight and the shopper's app.
"""

from __future__ import annotations

import logging
import os

import pygame

from cart.config import UiSection
from ui.layout import parse_resolution

log = logging.getLogger("dashcart.ui.display")


def open_display(ui: UiSection) -> pygame.Surface:
    size = parse_resolution(ui.resolution)
    if ui.video_driver:
        # SDL reads its driver from the environment; this is SDL's interface, set from config.
        os.environ["SDL_VIDEODRIVER"] = ui.video_driver
    attempts = [(ui.fullscreen, size)] + ([(False, size)] if ui.fullscreen else [])
    errors = []
    for fullscreen, wanted in attempts:
        try:
            pygame.display.init()
            flags = pygame.FULLSCREEN if fullscreen else 0
            surface = pygame.display.set_mode(wanted, flags)
            pygame.display.set_caption("dashcart")
            pygame.mouse.set_visible(ui.show_cursor)
            log.info("display %s %dx%d%s", pygame.display.get_driver(), *surface.get_size(),
                     " fullscreen" if fullscreen else "")
            return surface
        except pygame.error as exc:
            errors.append(str(exc))
            pygame.display.quit()
    log.error("display cannot open (%s); drawing off-screen instead. Check the touchscreen cable, "
              "that this user may use /dev/dri (group video) or $DISPLAY, and ui.video_driver",
              "; ".join(errors))
    os.environ["SDL_VIDEODRIVER"] = "dummy"
    pygame.display.init()
    return pygame.display.set_mode(size)
