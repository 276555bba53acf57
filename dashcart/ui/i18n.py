"""The shopper's words in English and Korean, and money and weight as the shopper reads them.

The words are gettext catalogues, ``dashcart/ui/locale/<language>/LC_MESSAGES/dashcart.po``
(the translator's file) compiled to ``dashcart.mo`` (what is read here), with the plural forms
of each language. Message ids are symbolic keys ("checkout.paid"); the English catalogue
holds the English text, so a key missing in Korean falls back to English and a half-translated
build still shows something readable. Money is integer minor units (cents); KRW and JPY have
no minor unit, so their "cents" are whole won / yen.
"""

from __future__ import annotations

import gettext
from functools import cache
from pathlib import Path

LANGUAGES = ("en", "ko")
DOMAIN = "dashcart"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"

# Minor-unit digits per ISO 4217 currency the config allows.
MINOR_DIGITS = {"USD": 2, "EUR": 2, "GBP": 2, "SEK": 2, "KRW": 0, "JPY": 0}
_PREFIX = {"USD": "$", "EUR": "€", "GBP": "£", "KRW": "₩", "JPY": "¥"}


@cache
def translation(language: str) -> gettext.NullTranslations:
    """The compiled catalogue of ``language`` with English under it (read once per language)."""
    english = gettext.translation(DOMAIN, LOCALE_DIR, languages=["en"])
    if language == "en":
        return english
    words = gettext.translation(DOMAIN, LOCALE_DIR, languages=[language])
    words.add_fallback(english)
    return words


class Strings:
    """The words of one language."""

    def __init__(self, language: str, currency: str) -> None:
        self.language = language if language in LANGUAGES else "en"
        self.currency = currency
        self._words = translation(self.language)

    def __call__(self, key: str, **values: object) -> str:
        text = self._words.gettext(key)
        return text.format(**values) if values else text

    def plural(self, key: str, n: int, **values: object) -> str:
        """``key`` in the form for ``n`` ("1 item", "2 items"; Korean has one form)."""
        return self._words.ngettext(key, key + ".plural", n).format(n=n, **values)

    def has(self, key: str) -> bool:
        """Whether ``key`` has words in this language or English (zone names a store added may not)."""
        return self._words.gettext(key) != key

    def message(self, key: str, values: tuple[tuple[str, str], ...], fallback: str) -> str:
        """A controller's message id in the shopper's words; its English text if the id is unknown."""
        if key and self.has(key):
            return self(key, **dict(values))
        return fallback

    def zone(self, zone: str) -> str:
        """A catalogue zone as the shopper reads it: translated where the catalogue knows the zone,
        in English its id spelled out, otherwise nothing (no raw ids in a Korean screen)."""
        key = f"zone.{zone}"
        if self.has(key):
            return self(key)
        return zone.replace("-", " ").capitalize() if self.language == "en" else ""

    def money(self, cents: int) -> str:
        return format_money(cents, self.currency, self.language)

    def weight(self, grams: float) -> str:
        return format_weight(grams)

    def duration(self, seconds: float) -> str:
        """A span of time as the shopper reads it: "45 s", "12 min", "3 h 5 min" ("3시간 5분")."""
        whole = max(0, int(seconds))
        if whole < 60:
            return self("duration.seconds", s=whole)
        minutes = whole // 60
        if minutes < 60:
            return self("duration.minutes", m=minutes)
        return self("duration.hours", h=minutes // 60, m=minutes % 60)

    def unit_price(self, cents: int, sold_by: str) -> str:
        return self.money(cents) + (self("per_kg") if sold_by == "weight" else "")

    def deal(self, terms: tuple[str, int, int] | tuple[()], label: str = "") -> str:
        """A promotion in the shopper's words from its terms (kind, value, qty: "3 for $4.50",
        "3개 $4.50"); the store's own label only for a kind these words do not know."""
        if not terms or not self.has(f"deal.{terms[0]}"):
            return label
        kind, value, qty = terms
        return self(f"deal.{kind}", qty=qty, percent=value, money=self.money(value))


def format_money(cents: int, currency: str, language: str = "en") -> str:
    """``cents`` (minor units) as the shopper reads it: $1,234.56, 12,340원, 12,50 kr."""
    digits = MINOR_DIGITS.get(currency, 2)
    sign = "-" if cents < 0 else ""
    amount = abs(int(cents))
    if digits:
        whole, minor = divmod(amount, 10 ** digits)
        number = f"{whole:,}.{minor:0{digits}d}"
    else:
        number = f"{amount:,}"
    if currency == "SEK":
        return f"{sign}{number.replace(',', ' ').replace('.', ',')} kr"
    if currency == "KRW" and language == "ko":
        return f"{sign}{number}\uc6d0"
    if currency in _PREFIX:
        return f"{sign}{_PREFIX[currency]}{number}"
    return f"{sign}{number} {currency}"


def format_weight(grams: float) -> str:
    """Under a kilogram in grams, above in kilograms with three decimals (what a scale shows)."""
    if abs(grams) < 1000:
        return f"{grams:.0f} g"
    return f"{grams / 1000:.3f} kg"
