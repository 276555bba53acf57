"""Drawing only what changed, the beep, the fallbacks (font, picture, display, audio), the
main loop and the screenshots command."""

import dataclasses
import logging
import os

import numpy as np
import pygame
import pytest

from dashcart.cli import main
from dashcart.config import parse_config
from dashcart.ui.fonts import Fonts, has_hangul
from dashcart.ui.images import Images
from dashcart.ui.sound import Beeper, beep_samples
from tests.ui import ui_helpers
from tests.ui.ui_helpers import Harness, demo_scenes

SCENES = demo_scenes()
SHOP = SCENES["shopping"].snapshot


def pixels(surface):
    return pygame.image.tobytes(surface, "RGB")


def test_unchanged_frame_draws_nothing_and_a_change_redraws_only_its_area():
    h = Harness(SHOP)
    assert h.render(full=False) == []
    changed = dataclasses.replace(SHOP, total_cents=SHOP.total_cents + 100)
    dirty = h.render(changed, full=False)
    assert dirty and all(r.size != h.surface.get_size() for r in dirty)
    total = h.find("total").rect
    assert any(r.contains(total) for r in dirty)
    basket = h.app.layout.shopping()["list"]
    assert not any(r.colliderect(basket) for r in dirty)
    # The partial redraw gives exactly the picture a full redraw gives.
    incremental = pixels(h.surface)
    fresh = Harness(changed)
    assert incremental == pixels(fresh.surface)


def test_incremental_frames_match_full_frames_across_screens():
    h = Harness(SHOP)
    for name in ("question", "shopping", "checkout_summary", "weigh", "shopping"):
        snap = SCENES[name].snapshot
        h.render(snap, full=False)
        assert pixels(h.surface) == pixels(Harness(snap).surface), name


class CountingBeeper(Beeper):
    def __init__(self):
        super().__init__(enabled=False)
        self.beeps = 0

    def beep(self):
        self.beeps += 1


def test_beep_when_an_item_is_added_not_when_removed():
    beeper = CountingBeeper()
    h = Harness(SHOP, beeper=beeper)
    assert beeper.beeps == 0
    line = SHOP.lines[0]
    more = dataclasses.replace(line, qty=line.qty + 1)
    added = dataclasses.replace(SHOP, lines=(more,) + SHOP.lines[1:], last_change_code=line.code,
                                last_change_t=SHOP.t + 1, t=SHOP.t + 1)
    h.render(added)
    h.render(added)
    assert beeper.beeps == 1
    removed = dataclasses.replace(added, lines=(line,) + SHOP.lines[1:], last_change_t=SHOP.t + 2, t=SHOP.t + 2)
    h.render(removed)
    assert beeper.beeps == 1


def test_last_change_is_highlighted_then_fades():
    h = Harness(SHOP)
    code = SHOP.last_change_code
    assert h.find(f"line_bg:{code}").color == (255, 236, 150)
    h.render(dataclasses.replace(SHOP, t=SHOP.last_change_t + 30))
    assert h.find(f"line_bg:{code}").color != (255, 236, 150)


def test_beep_samples_are_a_short_faded_tone():
    samples = beep_samples(22050, 2, volume=0.5)
    assert samples.shape == (int(22050 * 0.09), 2) and samples.dtype == np.int16
    assert abs(int(samples[0, 0])) < 200 and abs(int(samples[-1, 0])) < 200   # fades: no click
    assert samples.max() > 0.4 * 32767


def test_no_audio_device_is_silent_not_a_crash(monkeypatch, caplog):
    def no_device(*args, **kwargs):
        raise pygame.error("ALSA: Couldn't open audio device")

    monkeypatch.setattr(pygame.mixer, "get_init", lambda: None)
    monkeypatch.setattr(pygame.mixer, "init", no_device)
    with caplog.at_level(logging.WARNING):
        beeper = Beeper(enabled=True)
    assert not beeper.audible
    beeper.beep()
    assert "no audio device" in caplog.text


def test_missing_picture_gets_a_placeholder_and_one_log_line(tmp_path, caplog):
    pygame.font.init()
    images = Images(Fonts())
    with caplog.at_level(logging.WARNING):
        a = images.get(str(tmp_path / "gone.jpg"), "Oat Milk", (64, 64))
        images.get(str(tmp_path / "gone.jpg"), "Oat Milk", (96, 96))
    assert a.get_size() == (64, 64)
    assert len([r for r in caplog.records if "gone.jpg" in r.getMessage()]) == 1
    assert pixels(a) == pixels(images.placeholder("Oat Milk", (64, 64)))
    assert pixels(a) != pixels(images.placeholder("Banana", (64, 64)))


def test_real_picture_is_loaded():
    from dashcart.sim.demo_scenes import demo_catalogue
    products = list(demo_catalogue())
    with_pictures = [p for p in products if p.image]
    assert len(with_pictures) == len(products) == 81
    images = Images(Fonts())
    pic = images.get(with_pictures[0].image, with_pictures[0].name, (80, 80))
    assert pixels(pic) != pixels(images.placeholder(with_pictures[0].name, (80, 80)))


def test_unloadable_font_falls_back_with_a_log_line(tmp_path, caplog):
    bad = tmp_path / "broken.ttf"
    bad.write_bytes(b"not a font")
    with caplog.at_level(logging.WARNING):
        fonts = Fonts(str(bad))
    assert str(bad) in caplog.text
    assert fonts.regular != str(bad)
    h = Harness(SHOP, config=parse_config(f'[ui]\nfont = "{bad}"\n'))
    assert h.find("total").drawn is not None


def test_no_hangul_font_logs_how_to_install(monkeypatch, caplog, tmp_path):
    # The shipped font deleted (a broken install) and no system font: say how to fix it, draw anyway.
    monkeypatch.setattr("dashcart.ui.fonts.KNOWN_FONTS", ())
    monkeypatch.setattr("dashcart.ui.fonts.BUNDLED_FONT", (str(tmp_path / "gone.ttf"), str(tmp_path / "gone.ttf")))
    with caplog.at_level(logging.WARNING):
        fonts = Fonts()
    assert fonts.regular is None and not fonts.hangul
    assert "reinstall dashcart" in caplog.text
    h = Harness(SHOP, language="ko")
    assert h.find("total").drawn is not None   # still draws (boxes for Hangul), never crashes


def test_installed_font_has_hangul():
    fonts = Fonts()
    if fonts.regular is None:
        pytest.skip("no Hangul font installed (apt-get install fonts-nanum)")
    assert fonts.hangul and has_hangul(fonts.get(24, bold=True))
    assert not has_hangul(pygame.font.Font(None, 24))


def test_display_that_cannot_open_falls_back(caplog):
    from dashcart.ui.display import open_display
    pygame.init()   # as run_ui does first: SDL's own driver is up before the config's is asked for
    saved = os.environ.get("SDL_VIDEODRIVER")
    try:
        with caplog.at_level(logging.ERROR):
            surface = open_display(parse_config('[ui]\nvideo_driver = "no-such-driver"\n').ui)
        assert surface.get_size() == (800, 480)
        assert "display cannot open" in caplog.text
    finally:
        pygame.display.quit()
        os.environ["SDL_VIDEODRIVER"] = saved or "dummy"


def test_run_ui_draws_frames_and_posts_taps():
    from dashcart.ui.run import run_ui
    question = SCENES["question"].snapshot
    actions = []
    frames = {"n": 0}
    code = question.questions[0].candidates[0].code

    def get_snapshot():
        frames["n"] += 1
        if frames["n"] == 2:
            # Queue a real tap on the first candidate for the loop to read.
            from dashcart.ui.layout import Layout
            cell = Layout(800, 480).candidate_cells(len(question.questions[0].candidates))[0]
            pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=cell.center, button=1, touch=False))
            pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONUP, pos=cell.center, button=1, touch=False))
        return question

    config = parse_config('[ui]\nfullscreen = false\nfps = 60\nsound = false\n')
    try:
        drawn = run_ui(get_snapshot, actions.append, config, clock=lambda: 42.0, max_frames=4)
    finally:
        ui_helpers.forget_fonts()  # run_ui quits pygame, which invalidates every loaded font
    assert drawn == 4
    assert [(a.action, a.value, a.question_id, a.t) for a in actions] == [("choose", code, question.questions[0].id,
                                                                          42.0)]


def test_screenshots_command_writes_every_screen(tmp_path, shared_data):
    out = tmp_path / "shots"
    assert main(["screenshots", str(out), "--size", "800x480", "--language", "ko",
                 "--data", str(shared_data)]) == 0
    files = sorted(out.glob("*.png"))
    assert len(files) == len(SCENES)
    assert pygame.image.load(str(files[0])).get_size() == (800, 480)


def test_screenshots_command_rejects_a_bad_size(tmp_path, capsys):
    assert main(["screenshots", str(tmp_path), "--size", "big"]) == 2
    assert "ui.resolution: 'big' is not WIDTHxHEIGHT" in capsys.readouterr().err


def test_ui_demo_command_runs_and_rejects_unknown_scenes(capsys):
    try:
        assert main(["ui-demo", "--scene", "checkout_summary", "--seconds", "0.2", "--windowed"]) == 0
    finally:
        ui_helpers.forget_fonts()
    assert main(["ui-demo", "--scene", "nope"]) == 2
    assert "--scene 'nope': not a demo scene" in capsys.readouterr().err


def test_doctor_reports_the_hangul_font(tmp_path):
    from dashcart.commands.doctor import _hangul_font
    from dashcart.ui.font_paths import BUNDLED_FONT
    font = tmp_path / "Hangul.ttf"
    font.write_bytes(b"x")
    [f] = _hangul_font(parse_config(f'[ui]\nfont = "{font}"\n'))
    assert f.ok and f.detail == str(font)
    [f] = _hangul_font(parse_config(f'[ui]\nfont = "{tmp_path / "nope.ttf"}"\n'))
    assert not f.ok and "nope.ttf does not exist" in f.detail and "set ui.font" in f.fix
    [f] = _hangul_font(parse_config(""))
    assert f.ok and f.detail == BUNDLED_FONT[0]    # the shipped font: no system font needed


def test_beeper_plays_on_sdl_dummy_audio():
    beeper = Beeper(enabled=True, volume=0.3)
    try:
        assert beeper.audible
        beeper.beep()
    finally:
        pygame.mixer.quit()
    assert not Beeper(enabled=False).audible
