"""The screen's brain: which screen to show, input from fingers and the mouse, and drawing
only what changed (dirty rectangles).

``App`` needs no display of its own: give it a surface and a snapshot per frame. The loop
that owns the display is :func:`dashcart.ui.run.run_ui`.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable

import pygame

from dashcart.config import Config
from dashcart.events import ShopperAction
from dashcart.snapshot import SessionState, Snapshot
from dashcart.ui import theme
from dashcart.ui.fonts import Fonts
from dashcart.ui.i18n import Strings
from dashcart.ui.images import Images
from dashcart.ui.layout import Layout
from dashcart.ui.screens import checkout, help, produce, question, remove, shopping, trouble, welcome
from dashcart.ui.sound import Beeper
from dashcart.ui.staff import AuditLog, PinGate, staff_enabled
from dashcart.ui.state import UiState
from dashcart.ui.view import View
from dashcart.ui.widgets import Button, DrawContext, Widget

log = logging.getLogger("dashcart.ui")

NOTE_SECONDS = 4.0
MAX_DIRTY_RECTS = 24   # past this many, one full redraw is cheaper than many small ones

SCREENS: dict[str, Callable[[View], list[Widget]]] = {
    "welcome": welcome.build,
    "shopping": shopping.build,
    "question": question.build,
    "none_fits": question.build_none_fits,
    "question_plu": lambda v: question.build_plu(v, v.tr("question.enter_plu")),
    "produce": produce.build,
    "weigh": produce.build_weigh,
    "remove": remove.build,
    "remove_pending": remove.build_pending,
    "checkout": checkout.build,
    "help": help.build,
    "staff_pin": help.build_pin,
    "staff_menu": help.build_menu,
    "trouble": trouble.build,
}


def route(snap: Snapshot, ui: UiState) -> str:
    """Which screen: overlays the shopper opened win, then what the session needs."""
    if ui.mode in ("help", "staff_pin", "staff_menu", "trouble"):
        return ui.mode
    if snap.state == SessionState.IDLE:
        return "welcome"
    if snap.questions and snap.state != SessionState.DONE:
        return ui.mode if ui.mode in ("none_fits", "question_plu") else "question"
    if snap.state in (SessionState.CHECKOUT, SessionState.DONE):
        return "checkout"
    if snap.produce_entry is not None:
        return "weigh"
    if ui.mode in ("produce", "remove", "remove_pending"):
        return ui.mode
    return "shopping"


class App:
    def __init__(self, config: Config, post_action: Callable[[ShopperAction], None],
                 clock: Callable[[], float], size: tuple[int, int], *, fonts: Fonts | None = None,
                 beeper: Beeper | None = None, audit: AuditLog | None = None,
                 has_camera: bool | None = None) -> None:
        self.config = config
        self._post_action = post_action
        self._clock = clock
        self.layout = Layout(*size)
        self.fonts = fonts or Fonts(config.ui.font, config.ui.font_bold)
        self.ctx = DrawContext(self.fonts, Images(self.fonts))
        self.beeper = beeper or Beeper(False)
        self.audit = audit or AuditLog(config.state_dir() / "staff-audit.log", config.cart.id)
        self.pins = PinGate(config.ui, self.audit)
        # A cart with no camera cannot read the app's QR code; with no store it charges nobody:
        # such a cart (the simulated one `dashcart run` starts by default) lets a person start
        # by a tap or the Enter key, so the whole flow can be tried. ``has_camera``: the caller
        # knows better than [cameras] (the demo films its basket with a camera of its own).
        cameras = bool(config.cameras.devices) if has_camera is None else has_camera
        self.tap_signin = not cameras and not config.checkout.store_url
        self.ui = UiState(language=config.cart.language)
        self.widgets: list[Widget] = []
        self.screen = ""
        self._drawn: Counter = Counter()
        self._drawn_rects: dict[tuple, pygame.Rect] = {}
        self._last: Snapshot | None = None
        self._press: tuple[Widget | None, tuple[int, int]] | None = None

    # ---- verbs the screens call -------------------------------------------------------
    def post(self, action: str, value: str = "", question_id: int | None = None) -> None:
        self._post_action(ShopperAction(t=self._clock(), action=action, value=value, question_id=question_id))
        if action == "language":
            self.ui.language = value
        elif action == "call_staff":
            self.note(self.tr("help.called"))
        if action in ("choose", "not_in_cart", "plu", "produce", "signout"):
            self.ui.open(None)

    def open(self, mode: str | None) -> None:
        if mode == "trouble" or (self.ui.mode == "trouble" and mode is None):
            self.ui.trouble_seen = frozenset(d.device for d in self._devices_down())
        self.ui.open(mode)

    def note(self, text: str) -> None:
        self.ui.note, self.ui.note_until = text, self._clock() + NOTE_SECONDS

    def scroll(self, lines: int) -> None:
        snap = self._last
        total = len(snap.lines) if snap else 0
        self.ui.scroll = max(0, min(self.ui.scroll + lines, max(0, total - 1)))

    def press(self, pad: str, key: str) -> None:
        ui = self.ui
        if pad == "kb":
            if key == "delete":
                ui.query = ui.query[:-1]
            elif key == "clear":
                ui.query = ""
            elif key == "space":
                ui.query = ui.query + " " if ui.query and not ui.query.endswith(" ") else ui.query
            elif len(ui.query) < 24:
                ui.query += key
        elif pad in ("plu", "pin"):
            limit = 5 if pad == "plu" else 8
            if key == "clear":
                ui.digits = ui.digits[:-1]
            elif key == "ok":
                self._enter(pad, ui.digits)
            elif len(ui.digits) < limit:
                ui.digits += key
        elif pad == "staff":
            self._override(key)

    def _enter(self, pad: str, digits: str) -> None:
        if pad == "plu":
            if len(digits) < 4:
                self.note(self.tr("question.plu_hint"))
                return
            qid = self.ui.question_id if self.ui.mode == "question_plu" else None
            self.post("plu", digits, qid)
            return
        now = self._clock()
        if self.pins.check(digits, now):
            self.ui.note_until = 0.0   # a "wrong PIN" from before must not stay on the menu
            self.ui.open("staff_menu")
        else:
            self.ui.digits = ""
            self.note(self.tr("staff.wrong"))

    def _override(self, name: str) -> None:
        snap = self._last
        if not self.audit.write("override", action=name, shopper=_mask(snap.shopper if snap else ""),
                                t=snap.t if snap else 0.0):
            self.note(self.tr("staff.wrong"))
            return
        # the controller answers it (done, or why not): a note of our own here would say
        # "done" over a refusal
        self.post("staff", name)
        if name == "end_session":
            self.ui.open(None)

    # ---- per frame ----------------------------------------------------------------------
    @property
    def tr(self) -> Strings:
        return Strings(self.ui.language, self.config.cart.currency)

    def _devices_down(self) -> list:
        return [d for d in (self._last.devices if self._last else ()) if d.state == "down"]

    def _follow(self, snap: Snapshot) -> None:
        """React to what changed in the session since the last frame."""
        last = self._last
        self._last = snap
        change = (snap.last_change_code, snap.last_change_t)
        if snap.last_change_code and (last is None or change != (last.last_change_code, last.last_change_t)):
            # The newest line of that code (weighed lots of one product are lines of their own).
            index = max((i for i, ln in enumerate(snap.lines) if ln.code == snap.last_change_code), default=None)
            if index is not None:
                if last is not None and _grew(last, snap.lines[index]):
                    self.beeper.beep()
                visible = max(1, self.layout.shopping()["list"].h // self.layout.row_h)
                if not self.ui.scroll <= index < self.ui.scroll + visible:
                    self.ui.scroll = max(0, index - visible + 1)
        if last is None:
            return
        if snap.message_key and (snap.message_key, snap.message) != (last.message_key, last.message):
            # The controller's answer to the last action (e.g. a staff zero refused while the
            # basket holds items) replaces a note of the screen's own (a wrong PIN, a PLU hint).
            self.ui.note_until = 0.0
        if snap.state == SessionState.IDLE and last.state != SessionState.IDLE:
            self.ui = UiState(language=self.config.cart.language)
        if snap.language != last.language:
            self.ui.language = snap.language
        if snap.produce_entry is not None and last.produce_entry is None and self.ui.mode == "produce":
            self.ui.open(None)
        if self.ui.mode == "remove_pending" and remove.removal_done(self._view(snap)):
            self.ui.open(None)
        if self.ui.mode in ("none_fits", "question_plu") and not snap.questions:
            self.ui.open(None)
        down = {d.device for d in snap.devices if d.state == "down"}
        if snap.state == SessionState.SHOPPING and self.ui.mode is None and down - self.ui.trouble_seen:
            self.ui.open("trouble")
        if not down:
            self.ui.trouble_seen = frozenset()

    def _view(self, snap: Snapshot) -> View:
        return View(snap=snap, layout=self.layout, tr=self.tr, ui=self.ui, now=self._clock(), post=self.post,
                    open=self.open, press=self.press, scroll=self.scroll, fit=self.ctx.fit,
                    staff_enabled=staff_enabled(self.config.ui), tap_signin=self.tap_signin)

    def build(self, snap: Snapshot) -> list[Widget]:
        self._follow(snap)
        self.screen = route(snap, self.ui)
        self.widgets = SCREENS[self.screen](self._view(snap))
        return self.widgets

    def render(self, snap: Snapshot, surface: pygame.Surface, full: bool = False) -> list[pygame.Rect]:
        """Draw the frame for ``snap``; returns the rectangles that changed (for display.update)."""
        widgets = self.build(snap)
        keys = Counter(w.key() for w in widgets)
        if full or not self._drawn:
            dirty = [surface.get_rect()]
        else:
            gone = self._drawn - keys
            new = keys - self._drawn
            dirty = [self._drawn_rects[k] for k in gone] + [pygame.Rect(k[1]) for k in new]
            if len(dirty) > MAX_DIRTY_RECTS:
                dirty = [surface.get_rect()]
        self._drawn = keys
        self._drawn_rects = {w.key(): w.rect for w in widgets}
        if not dirty:
            return []
        merged = _merge(dirty)
        for area in merged:
            surface.set_clip(area)
            surface.fill(theme.BG, area)
            for widget in widgets:
                if widget.rect.colliderect(area):
                    widget.draw(surface, self.ctx)
        surface.set_clip(None)
        return merged

    # ---- input ----------------------------------------------------------------------------
    def target(self, pos: tuple[int, int]) -> Widget | None:
        for widget in reversed(self.widgets):
            if widget.on_tap is not None and widget.rect.collidepoint(pos):
                return widget
        return None

    def handle_event(self, event: pygame.event.Event, surface_size: tuple[int, int] | None = None) -> bool:
        """Feed one pygame event; returns False when the app should quit."""
        if event.type == pygame.QUIT:
            return False
        size = surface_size or (self.layout.width, self.layout.height)
        if event.type == pygame.FINGERDOWN:
            self._down((int(event.x * size[0]), int(event.y * size[1])))
        elif event.type == pygame.FINGERUP:
            self._up((int(event.x * size[0]), int(event.y * size[1])))
        elif event.type == pygame.MOUSEBUTTONDOWN and event.button == 1 and not getattr(event, "touch", False):
            self._down(event.pos)
        elif event.type == pygame.MOUSEBUTTONUP and event.button == 1 and not getattr(event, "touch", False):
            self._up(event.pos)
        elif event.type == pygame.MOUSEWHEEL:
            self.scroll(-event.y)
        elif event.type == pygame.KEYDOWN and event.key == pygame.K_ESCAPE and self.ui.mode:
            self.open(None)
        elif event.type == pygame.KEYDOWN and event.key in (pygame.K_RETURN, pygame.K_KP_ENTER, pygame.K_SPACE) \
                and self.tap_signin and self.screen == "welcome":
            welcome.start(self._view(self._last or Snapshot()))
        return True

    def _down(self, pos: tuple[int, int]) -> None:
        self._press = (self.target(pos), pos)

    def _up(self, pos: tuple[int, int]) -> None:
        if self._press is None:
            return
        widget, start = self._press
        self._press = None
        dy = pos[1] - start[1]
        if abs(dy) > self.layout.px(24) and self.screen in ("shopping", "remove", "checkout"):
            self.scroll(-round(dy / self.layout.row_h))  # a drag: the list follows the finger
            return
        if widget is None or not widget.rect.collidepoint(pos):
            return  # released outside what was pressed: the shopper changed their mind
        if (isinstance(widget, Button) and not widget.enabled) or widget.on_tap is None:
            return
        widget.on_tap()


def _merge(rects: list[pygame.Rect]) -> list[pygame.Rect]:
    """Union rectangles that touch, so a widget drawn over two dirty areas is drawn once."""
    merged: list[pygame.Rect] = []
    for rect in rects:
        rect = pygame.Rect(rect)
        changed = True
        while changed:
            changed = False
            for other in merged:
                if other.colliderect(rect):
                    merged.remove(other)
                    rect = rect.union(other)
                    changed = True
                    break
        merged.append(rect)
    return merged


def _grew(before: Snapshot, line) -> bool:
    """The changed line is new or holds more than before: an item went in (a removal is silent)."""
    old = next((ln for ln in before.lines if ln.code == line.code), None)
    return old is None or line.qty > old.qty or (line.weight_g or 0) > (old.weight_g or 0)


def _mask(token: str) -> str:
    return token[:2] + "\u2026" if token else ""
