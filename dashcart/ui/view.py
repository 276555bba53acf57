"""Everything a screen builder needs for one frame, and the verbs its buttons call."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dashcart.snapshot import Snapshot
from dashcart.ui.i18n import Strings
from dashcart.ui.layout import Layout
from dashcart.ui.state import UiState


@dataclass
class View:
    snap: Snapshot
    layout: Layout
    tr: Strings
    ui: UiState
    now: float                                     # the UI's clock (for its own notes)
    post: Callable[..., None]                      # post(action, value="", question_id=None)
    open: Callable[[str | None], None]             # open an overlay (None: back to the session)
    press: Callable[[str, str], None]              # press(pad, key): keypad/keyboard input
    scroll: Callable[[int], None]                  # scroll the basket by n lines
    # fit(text, size, bold, w, h, wrap) -> (lines, size): how a Text would be drawn in that box
    # (DrawContext.fit), so a screen can give words the lines they need before it places them
    fit: Callable[[str, int, bool, int, int, bool], tuple[list[str], int]]
    staff_enabled: bool = False
    tap_signin: bool = False                       # no camera to read a QR code, nothing charged: tap to start
