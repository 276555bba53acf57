"""Every screen renders at every size and language, and its layout holds: text stays in its
box and reads in full (no "…" cutting it), nothing overlaps, touch targets are finger-sized."""

import dataclasses
import itertools

import pygame
import pytest

from dashcart.config import parse_config
from dashcart.ui.layout import MIN_TARGET, RESOLUTIONS
from dashcart.ui.screenshots import scene_app
from dashcart.ui.widgets import ELLIPSIS, Button, Light, Picture, Text
from tests.ui.ui_helpers import demo_scenes, fonts_for

SCENES = demo_scenes()


def check_layout(app, size):
    screen = pygame.Rect((0, 0), size)
    widgets = app.widgets
    for w in widgets:
        assert screen.contains(w.rect), f"{w.id} {w.rect} leaves the screen"
        if isinstance(w, (Text, Button)) and w.drawn is not None:
            assert w.rect.contains(w.drawn), f"{w.id}: text {getattr(w, 'text', getattr(w, 'label', ''))!r} " \
                                             f"{w.drawn} runs out of {w.rect}"
    targets = [w for w in widgets if w.on_tap is not None]
    for w in targets:
        assert w.rect.w >= MIN_TARGET and w.rect.h >= MIN_TARGET, f"{w.id} {w.rect} is smaller than a finger"
    for a, b in itertools.combinations(targets, 2):
        assert not a.rect.colliderect(b.rect), f"touch targets {a.id} and {b.id} overlap"
    content = [w for w in widgets if isinstance(w, (Text, Button, Picture, Light)) and w.rect.w and w.rect.h]
    for a, b in itertools.combinations(content, 2):
        assert not a.rect.colliderect(b.rect), f"{a.id} {a.rect} and {b.id} {b.rect} overlap"


def cut_off(app) -> list[str]:
    """Every text and button label drawn cut off: its lines end in "…" where the text does not,
    or they leave some of it out (wrapping drops only the spaces it breaks at)."""
    cut = []
    for w in app.widgets:
        text = w.text if isinstance(w, Text) else w.label if isinstance(w, Button) else ""
        if not text or w.lines is None:
            continue
        ends_cut = any(line.endswith(ELLIPSIS) for line in w.lines) and not text.endswith(ELLIPSIS)
        if ends_cut or "".join(text.split()) != "".join("".join(w.lines).split()):
            cut.append(f"{w.id}: {text!r} drawn as {w.lines} in {w.rect}")
    return cut


@pytest.mark.parametrize("language", ["en", "ko"])
@pytest.mark.parametrize("size", RESOLUTIONS, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("name", list(SCENES))
def test_every_screen_renders_and_fits(name, size, language):
    config = parse_config("")
    app, snap = scene_app(SCENES[name], size, language, config, fonts_for(config))
    surface = pygame.Surface(size)
    app.render(snap, surface, full=True)
    texts = [w for w in app.widgets if isinstance(w, (Text, Button))]
    assert texts and all(w.drawn is not None or not (getattr(w, "text", "") or getattr(w, "label", ""))
                         for w in texts)
    check_layout(app, size)
    # Words a shopper must read are never cut off (a look-alike's name, an instruction, a price).
    assert not cut_off(app), f"cut off on {name} at {size} ({language}): {cut_off(app)}"
    # Something was drawn: the frame is not one flat colour.
    assert len({surface.get_at((x, y))[:3] for x in range(0, size[0], 37) for y in range(0, size[1], 29)}) > 3


def test_scenes_reach_their_screens():
    config = parse_config("")
    expected = {"welcome": "welcome", "shopping": "shopping", "question": "question", "none_fits": "none_fits",
                "question_plu": "question_plu", "produce": "produce", "weigh": "weigh", "remove": "remove",
                "remove_pending": "remove_pending", "checkout_summary": "checkout", "checkout_receipt": "checkout",
                "checkout_repriced": "checkout",
                "help": "help", "staff_pin": "staff_pin", "staff_menu": "staff_menu", "trouble": "trouble"}
    for name, screen in expected.items():
        app, snap = scene_app(SCENES[name], (800, 480), "en", config, fonts_for(config))
        app.build(snap)
        assert app.screen == screen, name


def test_no_glyph_box_on_any_screen_with_no_system_font(monkeypatch):
    """Every character any screen draws, in both languages, is in the shipped font: a machine
    with no font installed shows no box (arrows are shapes, not glyphs)."""
    from dashcart.ui.fonts import Fonts
    monkeypatch.setattr("dashcart.ui.fonts.KNOWN_FONTS", ())
    fonts = Fonts()
    font = fonts.get(24)
    notdef = pygame.image.tobytes(font.render("\U0010fffd", False, (255, 255, 255)), "RGBA")
    config = parse_config("")
    drawn = set()
    for scene in SCENES.values():
        for language in ("en", "ko"):
            app, snap = scene_app(scene, (800, 480), language, config, fonts)
            app.render(snap, pygame.Surface((800, 480)), full=True)
            for w in app.widgets:
                drawn |= set(getattr(w, "text", "") or "") | set(getattr(w, "label", "") or "")
    assert any("\uac00" <= c <= "\ud7a3" for c in drawn)          # Korean was drawn
    boxes = sorted(c for c in drawn if not c.isspace() and
                   pygame.image.tobytes(font.render(c, False, (255, 255, 255)), "RGBA") == notdef)
    assert not boxes, f"drawn as boxes: {boxes}"
    arrows = [w for s in ("shopping",) for w in scene_app(SCENES[s], (800, 480), "en", config, fonts)[0].build(
        SCENES[s].snapshot) if w.id in ("scroll_up", "scroll_down")]
    assert arrows and all(w.icon and not w.label for w in arrows)


# Longer than any name in the demo catalogue (60 characters); two look-alikes that differ only at
# the end, which is all that tells them apart.
LONG = "Garant Ekologisk Laktosfri Mellanmjolk Extra Filtrerad 1,5 %"
LOOKALIKE = LONG[:-5] + "3,0 %"


def _long_named(scene_name, rename):
    scene = SCENES[scene_name]
    return dataclasses.replace(scene, snapshot=rename(scene.snapshot))


def _render(scene, size, language):
    config = parse_config("")
    app, snap = scene_app(scene, size, language, config, fonts_for(config))
    app.render(snap, pygame.Surface(size), full=True)
    check_layout(app, size)
    return app


@pytest.mark.parametrize("language", ["en", "ko"])
@pytest.mark.parametrize("size", RESOLUTIONS, ids=lambda s: f"{s[0]}x{s[1]}")
def test_a_questions_long_lookalike_names_read_in_full(size, language):
    """A question's candidates: a cut name can make the shopper tap the wrong one (a wrong bill),
    so a name of any length the tile can hold reads in full, the picture giving up the room."""
    def rename(snap):
        q = snap.questions[0]
        cands = (dataclasses.replace(q.candidates[0], name=LONG),
                 dataclasses.replace(q.candidates[1], name=LOOKALIKE)) + q.candidates[2:]
        return dataclasses.replace(snap, questions=(dataclasses.replace(q, candidates=cands),) + snap.questions[1:])

    assert len(LONG) == len(LOOKALIKE) == 60
    app = _render(_long_named("question", rename), size, language)
    assert app.screen == "question"
    names = [w for w in app.widgets if w.id.startswith("candidate_name:")]
    assert {w.text for w in names} >= {LONG, LOOKALIKE} and len(names) >= 5
    assert not cut_off(app), cut_off(app)


@pytest.mark.parametrize("language", ["en", "ko"])
@pytest.mark.parametrize("size", RESOLUTIONS, ids=lambda s: f"{s[0]}x{s[1]}")
def test_instructions_naming_a_long_product_read_in_full(size, language):
    """"Now take the ... out of the cart" and "Put the ... in the cart" are instructions: the
    title wraps and the rest of the screen gives up the height."""
    def rename_line(snap):
        code = SCENES["remove_pending"].pending_remove
        return dataclasses.replace(snap, lines=tuple(dataclasses.replace(ln, name=LONG) if ln.code == code else ln
                                                     for ln in snap.lines))

    def rename_produce(snap):
        return dataclasses.replace(snap, produce_entry=dataclasses.replace(snap.produce_entry, name=LONG))

    for scene, rename, title in (("remove_pending", rename_line, "choice_title"),
                                 ("weigh", rename_produce, "weigh_title")):
        app = _render(_long_named(scene, rename), size, language)
        assert any(w.id == title and LONG in w.text for w in app.widgets), scene
        assert not cut_off(app), cut_off(app)
