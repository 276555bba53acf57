"""Welcome: sign in by showing the app's QR code to the basket camera."""

from __future__ import annotations

import pygame

from dashcart.ui import theme
from dashcart.ui.layout import split_rows
from dashcart.ui.screens.common import header
from dashcart.ui.view import View
from dashcart.ui.widgets import Button, Text, Widget

#: The shopper token of a tap sign-in: a practice cart (no store) charges nobody, so no account.
PRACTICE_TOKEN = "dcs1:practice-cart-guest"


def start(v: View) -> None:
    """Sign in without a QR code (a cart with no camera and no store: see App.tap_signin)."""
    v.post("signin", PRACTICE_TOKEN)


class QrArt(Widget):
    """A phone showing a QR-like pattern: tells at a glance what to hold up."""

    def draw(self, surface, ctx):
        r = self.rect
        side = min(r.w, r.h)
        phone = pygame.Rect(0, 0, int(side * 0.62), int(side * 0.95)).move(0, 0)
        phone.center = r.center
        pygame.draw.rect(surface, theme.HEADER_BG, phone, border_radius=side // 12)
        screen = phone.inflate(-side // 10, -side // 5)
        pygame.draw.rect(surface, (255, 255, 255), screen)
        cells = 11
        cell = min(screen.w, screen.h) // cells
        origin = (screen.centerx - cell * cells // 2, screen.centery - cell * cells // 2)
        for y in range(cells):
            for x in range(cells):
                finder = any(0 <= x - fx < 3 and 0 <= y - fy < 3 for fx, fy in ((0, 0), (8, 0), (0, 8)))
                if finder or (x * 7 + y * 13 + x * y) % 5 < 2:
                    pygame.draw.rect(surface, theme.INK, (origin[0] + x * cell, origin[1] + y * cell, cell, cell))


def build(v: View) -> list[Widget]:
    lay, tr = v.layout, v.tr
    r = lay.welcome()
    if v.tap_signin:
        words = r["scan"].union(r["hint"]).union(r["no_app"])
        scan, button = split_rows(words, [None, lay.button_h], lay.pad)
        return header(v, "dashcart") + [
            Text(r["title"], id="welcome_title", text=tr("welcome.title"), size=lay.font("huge"), bold=True,
                 align="center"),
            QrArt(r["art"], id="qr_art"),
            Text(scan, id="welcome_scan", text=tr("welcome.no_camera"), size=lay.font("title"), bold=True,
                 align="center", wrap=True),
            Button(button, id="start", label=tr("welcome.start"), size=lay.font("large"), on_tap=lambda: start(v)),
        ]
    return header(v, "dashcart") + [
        Text(r["title"], id="welcome_title", text=tr("welcome.title"), size=lay.font("huge"), bold=True,
             align="center"),
        QrArt(r["art"], id="qr_art"),
        Text(r["scan"], id="welcome_scan", text=tr("welcome.scan"), size=lay.font("title"), bold=True,
             align="center", wrap=True),
        Text(r["hint"], id="welcome_hint", text=tr("welcome.hint"), size=lay.font("body"), color=theme.MUTED,
             align="center"),
        Text(r["no_app"], id="welcome_no_app", text=tr("welcome.no_app"), size=lay.font("body"),
             color=theme.MUTED, align="center"),
    ]
