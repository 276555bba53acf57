"""Pictures of every screen at every size and language, drawn with the real renderer."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pygame

from dashcart.config import Config
from dashcart.ui.app import App
from dashcart.ui.sample_scenes import Scene, load_products, scenes, to_won
from dashcart.ui.fonts import Fonts
from dashcart.ui.i18n import LANGUAGES
from dashcart.ui.layout import RESOLUTIONS

log = logging.getLogger("dashcart.ui.screenshots")


def scene_app(scene: Scene, size: tuple[int, int], language: str, config: Config,
              fonts: Fonts | None = None, actions: list | None = None) -> tuple[App, object]:
    """An App set up to show ``scene`` (mode, typed text) and the snapshot to give it."""
    currency = "KRW" if language == "ko" else config.cart.currency
    config = dataclasses.replace(config, cart=dataclasses.replace(config.cart, language=language, currency=currency))
    snap = to_won(scene.snapshot) if currency == "KRW" else scene.snapshot
    snap = dataclasses.replace(snap, language=language)
    sink = actions.append if actions is not None else (lambda action: None)
    app = App(config, sink, clock=lambda: snap.t, size=size, fonts=fonts)
    app.build(snap)  # first frame: the app learns the session before the overlay opens
    app.ui.open(scene.mode)
    app.ui.query, app.ui.digits, app.ui.produce_tab = scene.query, scene.digits, scene.produce_tab
    if scene.pending_remove:
        app.ui.pending_remove = scene.pending_remove
        app.ui.pending_remove_qty = next((l.qty for l in snap.lines if l.code == scene.pending_remove), 0)
    return app, snap


def write_screenshots(out: Path, config: Config, data_dir: Path | None,
                      sizes: tuple[tuple[int, int], ...] = RESOLUTIONS,
                      languages: tuple[str, ...] = LANGUAGES) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    pygame.font.init()
    fonts = Fonts(config.ui.font, config.ui.font_bold)
    products = load_products(data_dir)
    written = []
    for scene in scenes(products):
        for size in sizes:
            for language in languages:
                app, snap = scene_app(scene, size, language, config, fonts)
                surface = pygame.Surface(size)
                app.render(snap, surface, full=True)
                path = out / f"{scene.name}-{size[0]}x{size[1]}-{language}.png"
                pygame.image.save(surface, str(path))
                written.append(path)
    return written
