"""The shopper's words and money in English and Korean."""

import pygame
import pytest

from dashcart.ui.fonts import Fonts
from dashcart.ui.i18n import STRINGS, Strings, format_money, format_weight


@pytest.mark.parametrize("cents, currency, language, text", [
    (123456, "USD", "en", "$1,234.56"),
    (5, "USD", "en", "$0.05"),
    (-50, "USD", "en", "-$0.50"),
    (1299, "EUR", "en", "\u20ac12.99"),
    (123456, "SEK", "en", "1 234,56 kr"),
    (29090, "KRW", "ko", "29,090\uc6d0"),      # won has no minor unit: "cents" are won
    (29090, "KRW", "en", "\u20a929,090"),
    (1500, "JPY", "en", "\u00a51,500"),
    (999, "GBP", "ko", "\u00a39.99"),
])
def test_money(cents, currency, language, text):
    assert format_money(cents, currency, language) == text


def test_weight():
    assert format_weight(742) == "742 g"
    assert format_weight(1184) == "1.184 kg"


def test_both_languages_have_the_same_keys_and_placeholders():
    import string
    assert STRINGS["en"].keys() == STRINGS["ko"].keys()
    fields = lambda s: {f for _, f, _, _ in string.Formatter().parse(s) if f}
    for key in STRINGS["en"]:
        assert fields(STRINGS["en"][key]) == fields(STRINGS["ko"][key]), key


def test_lookup_formats_and_falls_back_to_english():
    tr = Strings("ko", "KRW")
    assert tr("items", n=3) == "3\uac1c"
    assert tr.unit_price(1680, "weight") == "1,680\uc6d0/kg"
    assert Strings("fr", "EUR")("total") == "Total"


def test_every_string_has_glyphs_in_the_font():
    fonts = Fonts()
    if not fonts.hangul:
        pytest.skip("no Hangul font installed (apt-get install fonts-nanum)")
    font = fonts.get(24)
    # SDL_ttf draws a missing glyph as the font's .notdef box: compare each character with
    # one that no font has.
    notdef = pygame.image.tobytes(font.render("\U0010fffd", False, (255, 255, 255)), "RGBA")
    used = set("".join(STRINGS["en"].values()) + "".join(STRINGS["ko"].values()) + "\u25b2\u25bc\u2190\u25cf\u2013"
               "$\u20ac\u00a3\u20a9\u00a5\u00d7\u00b7\u2026|\u2022")
    missing = [c for c in sorted(used) if not c.isspace() and
               pygame.image.tobytes(font.render(c, False, (255, 255, 255)), "RGBA") == notdef]
    assert not missing, f"characters the font cannot draw: {missing}"
