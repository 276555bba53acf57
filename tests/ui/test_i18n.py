"""The shopper's words (gettext catalogues) and money in English and Korean, and a font that
draws every one of them without a system font."""

import gettext
import io
import string

import pygame
import pytest

from dashcart.ui.font_paths import BUNDLED_FONT
from dashcart.ui.fonts import Fonts
from dashcart.ui.i18n import DOMAIN, LANGUAGES, LOCALE_DIR, Strings, format_money, format_weight

babel_pofile = pytest.importorskip("babel.messages.pofile")
babel_mofile = pytest.importorskip("babel.messages.mofile")


def read_po(language):
    with open(LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po", "rb") as handle:
        return babel_pofile.read_po(handle, locale=language)


def messages(language):
    """msgid -> the translation (a tuple of forms for plurals), from the translator's .po file."""
    return {m.id if isinstance(m.id, str) else m.id[0]: m.string for m in read_po(language) if m.id}


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


def test_both_languages_have_the_same_messages_and_placeholders():
    en, ko = messages("en"), messages("ko")
    assert en.keys() == ko.keys()
    def fields(s):
        return {f for _, f, _, _ in string.Formatter().parse(s) if f}
    for key in en:
        forms_en = en[key] if isinstance(en[key], tuple) else (en[key],)
        forms_ko = ko[key] if isinstance(ko[key], tuple) else (ko[key],)
        assert all(forms_en) and all(forms_ko), f"{key}: untranslated"
        assert {frozenset(fields(f)) for f in forms_en} == {frozenset(fields(f)) for f in forms_ko}, key


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_shipped_mo_is_the_compiled_po(language):
    """The .mo the cart reads says what the translator's .po says (recompile after editing:
    ``pybabel compile -d dashcart/ui/locale -D dashcart``)."""
    compiled = io.BytesIO()
    babel_mofile.write_mo(compiled, read_po(language))
    compiled.seek(0)
    fresh = gettext.GNUTranslations(compiled)
    with open(LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.mo", "rb") as handle:
        shipped = gettext.GNUTranslations(handle)
    assert shipped._catalog == fresh._catalog   # noqa: SLF001 (the messages, plural forms included)
    assert shipped.plural(1) == fresh.plural(1) and shipped.plural(2) == fresh.plural(2)


def test_lookup_formats_plurals_and_falls_back_to_english():
    tr = Strings("ko", "KRW")
    assert tr.plural("items", 3) == "3\uac1c" and tr.plural("items", 1) == "1\uac1c"
    en = Strings("en", "USD")
    assert en.plural("items", 1) == "1 item" and en.plural("items", 2) == "2 items"
    assert en.plural("items", 0) == "0 items"
    assert tr.unit_price(1680, "weight") == "1,680\uc6d0/kg"
    assert Strings("fr", "EUR")("total") == "Total"


def test_messages_and_zones_in_the_shoppers_words():
    ko = Strings("ko", "USD")
    assert ko.message("message.no_product", (("code", "9999"),), "no product with code 9999") == \
        "\ucf54\ub4dc 9999\uc5d0 \ud574\ub2f9\ud558\ub294 \uc0c1\ud488\uc774 \uc5c6\uc2b5\ub2c8\ub2e4"
    assert ko.message("", (), "plain") == "plain"
    assert ko.zone("produce-fruit") == "\uacfc\uc77c"
    assert ko.zone("bakery") == ""                      # never a raw id in a Korean screen
    assert Strings("en", "USD").zone("bakery") == "Bakery"


def every_character():
    text = "".join(str(v) for language in LANGUAGES for m in read_po(language) if m.id
                   for v in (m.string if isinstance(m.string, tuple) else (m.string,)))
    return set(text + "$\u20ac\u00a3\u20a9\u00a5\u00d7\u00b7\u2026|\u2022\u25cf\u2013-0123456789")


def test_the_shipped_font_draws_every_character_with_no_system_font(monkeypatch):
    monkeypatch.setattr("dashcart.ui.fonts.KNOWN_FONTS", ())   # a machine with no fonts at all
    fonts = Fonts()
    assert fonts.regular == BUNDLED_FONT[0] and fonts.bold == BUNDLED_FONT[1] and fonts.hangul
    for bold in (False, True):
        font = fonts.get(24, bold)
        # SDL_ttf draws a missing glyph as the font's .notdef box: compare each character with
        # one that no font has.
        notdef = pygame.image.tobytes(font.render("\U0010fffd", False, (255, 255, 255)), "RGBA")
        missing = [c for c in sorted(every_character()) if not c.isspace() and
                   pygame.image.tobytes(font.render(c, False, (255, 255, 255)), "RGBA") == notdef]
        assert not missing, f"characters the font cannot draw: {missing}"
