"""The UI's main loop (SDL wants the main thread): read events, draw the latest snapshot."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import pygame

from dashcart.config import Config
from dashcart.events import ShopperAction
from dashcart.snapshot import Snapshot
from dashcart.ui.app import App
from dashcart.ui.display import open_display
from dashcart.ui.sound import Beeper

log = logging.getLogger("dashcart.ui")


def run_ui(get_snapshot: Callable[[], Snapshot], post_action: Callable[[ShopperAction], None],
           config: Config, clock: Callable[[], float] = time.monotonic,
           should_stop: Callable[[], bool] = lambda: False, max_frames: int | None = None) -> int:
    """Run until the window closes, ``should_stop()`` says so, or ``max_frames`` were drawn.

    ``get_snapshot`` is called once per frame and must be cheap (return the latest published
    snapshot); ``post_action`` must not block (put the action on the controller's queue);
    ``clock`` stamps the actions (the controller's event clock). Returns frames drawn.
    """
    pygame.init()
    try:
        surface = open_display(config.ui)
        app = App(config, post_action, clock, surface.get_size(), beeper=Beeper(config.ui.sound, config.ui.volume))
        ticker = pygame.time.Clock()
        frames = 0
        running = True
        while running and not should_stop() and (max_frames is None or frames < max_frames):
            for event in pygame.event.get():
                running = app.handle_event(event, surface.get_size()) and running
            dirty = app.render(get_snapshot(), surface)
            if dirty:
                pygame.display.update(dirty)
            frames += 1
            ticker.tick(config.ui.fps)
        return frames
    finally:
        pygame.quit()
