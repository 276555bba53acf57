"""Opening the touchscreen: KMSDRM on Pi OS Lite, X11/Wayland on a desktop, SDL's choice.

A display that will not open is not a crash: the UI logs one line saying what failed and
what to check, and draws off-screen (SDL's dummy driver) so the cart keeps running on
weight and the shopper's app.
"""

from __future__ import annotations

import logging
import os

import pygame

from dashcart.config import UiSection
from dashcart.ui.layout import parse_resolution

log = logging.getLogger("dashcart.ui.display")


def open_display(ui: UiSection) -> pygame.Surface:
    size = parse_resolution(ui.resolution)
    # pygame.init() has brought up SDL's own choice of driver already: start again, so that
    # ui.video_driver (and a failure to open it) counts.
    pygame.display.quit()
    if ui.video_driver:
        # SDL reads its driver from the environment; this is SDL's interface, set from config.
        os.environ["SDL_VIDEODRIVER"] = ui.video_driver
    # Full screen is SCALED: the UI lays out at the configured size and SDL scales it to the
    # panel, so a panel of another size still shows the tested layout.
    attempts = [pygame.FULLSCREEN | pygame.SCALED, pygame.FULLSCREEN, 0] if ui.fullscreen else [0]
    errors = []
    for flags in attempts:
        try:
            pygame.display.init()
            surface = pygame.display.set_mode(size, flags)
            pygame.display.set_caption("dashcart")
            pygame.mouse.set_visible(ui.show_cursor)
            log.info("display %s %dx%d%s", pygame.display.get_driver(), *surface.get_size(),
                     " fullscreen" if flags else "")
            if surface.get_size() != size:
                log.warning("display is %dx%d, not ui.resolution %s: the layout follows the display",
                            *surface.get_size(), ui.resolution)
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
