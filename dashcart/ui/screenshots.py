"""Pictures of every screen at every size and language, drawn with the real renderer from
scenes the caller gives (``dashcart.sim.demo_scenes``: the controller's own snapshots)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from pathlib import Path

import pygame

from dashcart.config import Config
from dashcart.snapshot import Snapshot
from dashcart.ui.app import App
from dashcart.ui.fonts import Fonts
from dashcart.ui.i18n import LANGUAGES
from dashcart.ui.layout import RESOLUTIONS
from dashcart.ui.scenes import Scene

log = logging.getLogger("dashcart.ui.screenshots")


def scene_app(scene: Scene, size: tuple[int, int], language: str, config: Config,
              fonts: Fonts | None = None, actions: list | None = None) -> tuple[App, Snapshot]:
    """An App set up to show ``scene`` (mode, typed text) in ``language`` and the snapshot to
    give it. The money stays in the cart's currency: switching language changes the words only."""
    config = dataclasses.replace(config, cart=dataclasses.replace(config.cart, language=language,
                                                                  currency=scene.snapshot.currency))
    snap = dataclasses.replace(scene.snapshot, language=language)
    sink = actions.append if actions is not None else (lambda action: None)
    app = App(config, sink, clock=lambda: snap.t, size=size, fonts=fonts)
    app.build(snap)  # first frame: the app learns the session before the overlay opens
    app.ui.open(scene.mode)
    app.ui.query, app.ui.digits, app.ui.produce_tab = scene.query, scene.digits, scene.produce_tab
    if scene.pending_remove:
        app.ui.pending_remove = scene.pending_remove
        app.ui.pending_remove_qty = next((ln.qty for ln in snap.lines if ln.code == scene.pending_remove), 0)
    return app, snap


def write_screenshots(out: Path, config: Config, scenes: Sequence[Scene],
                      sizes: tuple[tuple[int, int], ...] = RESOLUTIONS,
                      languages: tuple[str, ...] = LANGUAGES) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    pygame.font.init()
    fonts = Fonts(config.ui.font, config.ui.font_bold)
    written = []
    for scene in scenes:
        for size in sizes:
            for language in languages:
                app, snap = scene_app(scene, size, language, config, fonts)
                surface = pygame.Surface(size)
                app.render(snap, surface, full=True)
                path = out / f"{scene.name}-{size[0]}x{size[1]}-{language}.png"
                pygame.image.save(surface, str(path))
                written.append(path)
    return written
