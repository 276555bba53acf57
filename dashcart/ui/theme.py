"""Colours: high contrast (WCAG AA or better for every text/background pair used)."""

from __future__ import annotations

BG = (250, 250, 247)
PANEL = (255, 255, 255)
INK = (20, 20, 20)
MUTED = (70, 70, 70)           # 9.6:1 on white
LINE = (200, 200, 200)
HEADER_BG = (22, 44, 74)
HEADER_INK = (255, 255, 255)
PRIMARY = (0, 92, 170)         # buttons: white on this is 6.6:1
PRIMARY_INK = (255, 255, 255)
SECONDARY = (230, 234, 240)
SECONDARY_INK = (20, 20, 20)
DANGER = (176, 0, 32)
DANGER_INK = (255, 255, 255)
OK = (0, 120, 60)
WARN = (196, 120, 0)
HIGHLIGHT = (255, 236, 150)    # the line that just changed
DEAL = (176, 0, 32)
SAVINGS = (0, 110, 50)
