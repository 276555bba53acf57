"""The shopper's words in English and Korean, and money and weight as the shopper reads them.

Strings are looked up by key; a key missing in one language falls back to English so a
half-translated build still shows something readable. Money is integer minor units
(cents); KRW and JPY have no minor unit, so their "cents" are whole won / yen.
"""

from __future__ import annotations

LANGUAGES = ("en", "ko")

# Minor-unit digits per ISO 4217 currency the config allows.
MINOR_DIGITS = {"USD": 2, "EUR": 2, "GBP": 2, "SEK": 2, "KRW": 0, "JPY": 0}
_PREFIX = {"USD": "$", "EUR": "€", "GBP": "£", "KRW": "₩", "JPY": "¥"}

STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "welcome.title": "Welcome",
        "welcome.scan": "Show your app's QR code to the camera",
        "welcome.hint": "The code is in the store app under \u201cCart\u201d",
        "welcome.no_app": "No app? Ask staff for a guest code",
        "basket": "Your basket",
        "basket.empty": "Put items in the cart: they appear here",
        "total": "Total",
        "savings": "You save",
        "items": "{n} items",
        "nearby": "Near you",
        "nearby.none": "Nothing nearby",
        "produce": "Fruit & veg",
        "remove": "Remove item",
        "help": "Help",
        "close": "Close",
        "back": "Back",
        "cancel": "Cancel",
        "space": "Space",
        "clear": "Clear",
        "ok": "OK",
        "per_kg": "/kg",
        "each": "each",
        "question.added": "What did you put in?",
        "question.removed": "What did you take out?",
        "question.unidentified": "We could not tell what this is",
        "question.remove_unknown": "Please take that item out again",
        "question.remove_unknown_hint": "The cart can't charge for what it can't name. Take it out, or call staff.",
        "question.produce": "Which fruit or vegetable is this?",
        "question.weight": "Weight change: {w}",
        "question.not_in_cart": "That's not in my cart",
        "question.none_fits": "None of these",
        "question.nothing_removed": "Nothing came out",
        "question.none_title": "None of these pictures?",
        "question.enter_plu": "Enter PLU code",
        "question.call_staff": "Call staff",
        "question.plu_hint": "The PLU is the 4- or 5-digit number on the sticker",
        "produce.title": "Fruit & vegetables",
        "produce.search": "Search by name",
        "produce.keypad": "PLU code",
        "produce.in_zone": "Here in this aisle",
        "produce.results": "Matches",
        "produce.no_match": "No match: try the PLU code on the sticker",
        "produce.weigh": "Put the {name} in the cart",
        "produce.weight": "Weight",
        "produce.price": "Price",
        "produce.settling": "Weighing\u2026",
        "produce.add": "Add to basket",
        "remove.title": "Tap the item you want to take out",
        "remove.take_out": "Now take the {name} out of the cart",
        "remove.scale_confirms": "The scale will confirm it",
        "remove.keep": "Keep it",
        "checkout.lane": "Checkout lane",
        "checkout.lane_detail": "Stay in the lane: your summary is coming",
        "checkout.summary": "Your order",
        "checkout.pay_in": "Paying with your card in {s} s",
        "checkout.pay_now": "Pay now",
        "checkout.paying": "Paying\u2026",
        "checkout.paid": "Paid. Thank you!",
        "checkout.receipt_sent": "Receipt sent",
        "checkout.receipt_to": "Your receipt went to {to}",
        "checkout.return_cart": "Please return the cart when it is empty",
        "checkout.failed": "Payment did not go through",
        "checkout.blocked": "Checkout is on hold",
        "checkout.what_now": "Ask staff at the lane, or leave the lane to keep shopping",
        "checkout.answer_first": "Answer the open questions first",
        "checkout.order": "Order {id}",
        "help.title": "Help",
        "help.how1": "Put items in the cart: the camera and scale add them",
        "help.how2": "Take items out: they come off the bill",
        "help.how3": "Loose fruit & veg: tap \u201cFruit & veg\u201d, then weigh",
        "help.how4": "Roll through the checkout lane to pay",
        "help.call": "Call staff",
        "help.called": "Staff are on their way",
        "help.language": "\ud55c\uad6d\uc5b4",
        "help.staff": "Staff",
        "help.signout": "Sign out",
        "help.status": "Cart status",
        "staff.title": "Staff PIN",
        "staff.wrong": "Wrong PIN",
        "staff.off": "Staff mode is off on this cart (no PIN set)",
        "staff.menu": "Staff override",
        "staff.clear_questions": "Clear questions",
        "staff.unblock": "Release checkout",
        "staff.void_last": "Void last change",
        "staff.tare": "Zero the scale",
        "staff.end_session": "End session",
        "staff.done": "Logged: {what}",
        "staff.status": "{q} open questions \u00b7 {n} lines \u00b7 {total}",
        "trouble.title": "Something needs attention",
        "trouble.ok": "Everything is working",
        "trouble.scale": "The scale is not working",
        "trouble.scale_do": "Please don't add items now. Staff have been told",
        "trouble.camera": "A camera is not working",
        "trouble.camera_do": "Keep shopping: you may be asked to pick what you added",
        "trouble.network": "The cart is offline",
        "trouble.network_do": "Keep shopping: your order is sent once it is back",
        "trouble.bluetooth": "The cart can't find the lane",
        "trouble.bluetooth_do": "At the checkout lane, ask staff",
        "trouble.other": "{device} is not working",
        "trouble.other_do": "Ask staff if anything looks wrong",
        "trouble.more": "Status",
        "weighing": "Weighing\u2026",
    },
    "ko": {
        "welcome.title": "\uc5b4\uc11c \uc624\uc138\uc694",
        "welcome.scan": "\uc571\uc758 QR \ucf54\ub4dc\ub97c \uce74\uba54\ub77c\uc5d0 \ubcf4\uc5ec \uc8fc\uc138\uc694",
        "welcome.hint": "\ucf54\ub4dc\ub294 \ub9e4\uc7a5 \uc571\uc758 \u201c\uce74\ud2b8\u201d\uc5d0 \uc788\uc2b5\ub2c8\ub2e4",
        "welcome.no_app": "\uc571\uc774 \uc5c6\uc73c\uba74 \uc9c1\uc6d0\uc5d0\uac8c \uac8c\uc2a4\ud2b8 \ucf54\ub4dc\ub97c \uc694\uccad\ud558\uc138\uc694",
        "basket": "\uc7a5\ubc14\uad6c\ub2c8",
        "basket.empty": "\uce74\ud2b8\uc5d0 \ub123\uc740 \uc0c1\ud488\uc774 \uc5ec\uae30\uc5d0 \ud45c\uc2dc\ub429\ub2c8\ub2e4",
        "total": "\ud569\uacc4",
        "savings": "\ud560\uc778",
        "items": "{n}\uac1c",
        "nearby": "\uc8fc\ubcc0 \uc0c1\ud488",
        "nearby.none": "\uc8fc\ubcc0 \uc0c1\ud488 \uc5c6\uc74c",
        "produce": "\uacfc\uc77c\u00b7\ucc44\uc18c",
        "remove": "\uc0c1\ud488 \ube7c\uae30",
        "help": "\ub3c4\uc6c0\ub9d0",
        "close": "\ub2eb\uae30",
        "back": "\ub4a4\ub85c",
        "cancel": "\ucde8\uc18c",
        "space": "\ub744\uc5b4\uc4f0\uae30",
        "clear": "\uc9c0\uc6b0\uae30",
        "ok": "\ud655\uc778",
        "per_kg": "/kg",
        "each": "\uac1c\ub2f9",
        "question.added": "\ubb34\uc5c7\uc744 \ub123\uc73c\uc168\ub098\uc694?",
        "question.removed": "\ubb34\uc5c7\uc744 \ube7c\uc168\ub098\uc694?",
        "question.unidentified": "\uc5b4\ub5a4 \uc0c1\ud488\uc778\uc9c0 \uc54c \uc218 \uc5c6\uc2b5\ub2c8\ub2e4",
        "question.remove_unknown": "\uadf8 \uc0c1\ud488\uc744 \ub2e4\uc2dc \uaebc\ub0b4 \uc8fc\uc138\uc694",
        "question.remove_unknown_hint": "\ud655\uc778\ud560 \uc218 \uc5c6\ub294 \uc0c1\ud488\uc740 \uacc4\uc0b0\ud560 \uc218 \uc5c6\uc2b5\ub2c8\ub2e4. \uaebc\ub0b4\uac70\ub098 \uc9c1\uc6d0\uc744 \ubd88\ub7ec \uc8fc\uc138\uc694.",
        "question.produce": "\uc5b4\ub5a4 \uacfc\uc77c\u00b7\ucc44\uc18c\uc778\uac00\uc694?",
        "question.weight": "\ubb34\uac8c \ubcc0\ud654: {w}",
        "question.not_in_cart": "\uce74\ud2b8\uc5d0 \uc5c6\ub294 \uc0c1\ud488\uc785\ub2c8\ub2e4",
        "question.none_fits": "\ud574\ub2f9 \uc5c6\uc74c",
        "question.nothing_removed": "\uaebc\ub0b8 \uac83 \uc5c6\uc74c",
        "question.none_title": "\ub9de\ub294 \uc0ac\uc9c4\uc774 \uc5c6\ub098\uc694?",
        "question.enter_plu": "PLU \ucf54\ub4dc \uc785\ub825",
        "question.call_staff": "\uc9c1\uc6d0 \ud638\ucd9c",
        "question.plu_hint": "PLU\ub294 \uc2a4\ud2f0\ucee4\uc758 4~5\uc790\ub9ac \uc22b\uc790\uc785\ub2c8\ub2e4",
        "produce.title": "\uacfc\uc77c\u00b7\ucc44\uc18c",
        "produce.search": "\uc774\ub984\uc73c\ub85c \uac80\uc0c9",
        "produce.keypad": "PLU \ucf54\ub4dc",
        "produce.in_zone": "\uc774 \ucf54\ub108\uc758 \uc0c1\ud488",
        "produce.results": "\uac80\uc0c9 \uacb0\uacfc",
        "produce.no_match": "\uc5c6\uc2b5\ub2c8\ub2e4. \uc2a4\ud2f0\ucee4\uc758 PLU \ucf54\ub4dc\ub97c \uc785\ub825\ud558\uc138\uc694",
        "produce.weigh": "{name}\uc744(\ub97c) \uce74\ud2b8\uc5d0 \ub123\uc5b4 \uc8fc\uc138\uc694",
        "produce.weight": "\ubb34\uac8c",
        "produce.price": "\uac00\uaca9",
        "produce.settling": "\ubb34\uac8c \uce21\uc815 \uc911\u2026",
        "produce.add": "\uc7a5\ubc14\uad6c\ub2c8\uc5d0 \ucd94\uac00",
        "remove.title": "\ube7c\uc2e4 \uc0c1\ud488\uc744 \ub20c\ub7ec \uc8fc\uc138\uc694",
        "remove.take_out": "\uc774\uc81c {name}\uc744(\ub97c) \uce74\ud2b8\uc5d0\uc11c \uaebc\ub0b4 \uc8fc\uc138\uc694",
        "remove.scale_confirms": "\uc800\uc6b8\uc774 \ud655\uc778\ud569\ub2c8\ub2e4",
        "remove.keep": "\uadf8\ub300\ub85c \ub450\uae30",
        "checkout.lane": "\uacc4\uc0b0\ub300",
        "checkout.lane_detail": "\uacc4\uc0b0\ub300\uc5d0 \uba38\ubb3c\ub7ec \uc8fc\uc138\uc694. \uc8fc\ubb38 \ub0b4\uc5ed\uc774 \uace7 \ud45c\uc2dc\ub429\ub2c8\ub2e4",
        "checkout.summary": "\uc8fc\ubb38 \ub0b4\uc5ed",
        "checkout.pay_in": "{s}\ucd08 \ud6c4 \ub4f1\ub85d\ub41c \uce74\ub4dc\ub85c \uacb0\uc81c\ud569\ub2c8\ub2e4",
        "checkout.pay_now": "\uc9c0\uae08 \uacb0\uc81c",
        "checkout.paying": "\uacb0\uc81c \uc911\u2026",
        "checkout.paid": "\uacb0\uc81c \uc644\ub8cc. \uac10\uc0ac\ud569\ub2c8\ub2e4!",
        "checkout.receipt_sent": "\uc601\uc218\uc99d\uc744 \ubcf4\ub0c8\uc2b5\ub2c8\ub2e4",
        "checkout.receipt_to": "\uc601\uc218\uc99d: {to}",
        "checkout.return_cart": "\uce74\ud2b8\ub97c \ube44\uc6b4 \ub4a4 \ubc18\ub0a9\ud574 \uc8fc\uc138\uc694",
        "checkout.failed": "\uacb0\uc81c\uac00 \ub418\uc9c0 \uc54a\uc558\uc2b5\ub2c8\ub2e4",
        "checkout.blocked": "\uacb0\uc81c\uac00 \ubcf4\ub958\ub418\uc5c8\uc2b5\ub2c8\ub2e4",
        "checkout.what_now": "\uacc4\uc0b0\ub300 \uc9c1\uc6d0\uc5d0\uac8c \ubb38\uc758\ud558\uac70\ub098, \uacc4\uc0b0\ub300\ub97c \ub098\uac00 \uc1fc\ud551\uc744 \uacc4\uc18d\ud558\uc138\uc694",
        "checkout.answer_first": "\uba3c\uc800 \uc9c8\ubb38\uc5d0 \ub2f5\ud574 \uc8fc\uc138\uc694",
        "checkout.order": "\uc8fc\ubb38 {id}",
        "help.title": "\ub3c4\uc6c0\ub9d0",
        "help.how1": "\uc0c1\ud488\uc744 \uce74\ud2b8\uc5d0 \ub123\uc73c\uba74 \uce74\uba54\ub77c\uc640 \uc800\uc6b8\uc774 \ucd94\uac00\ud569\ub2c8\ub2e4",
        "help.how2": "\uc0c1\ud488\uc744 \uaebc\ub0b4\uba74 \uacc4\uc0b0\uc5d0\uc11c \ube60\uc9d1\ub2c8\ub2e4",
        "help.how3": "\ub0b1\uac1c \uacfc\uc77c\u00b7\ucc44\uc18c: \u201c\uacfc\uc77c\u00b7\ucc44\uc18c\u201d\ub97c \ub204\ub978 \ub4a4 \ubb34\uac8c\ub97c \uc7ac\uc138\uc694",
        "help.how4": "\uacc4\uc0b0\ub300\ub97c \uc9c0\ub098\uac00\uba74 \uacb0\uc81c\ub429\ub2c8\ub2e4",
        "help.call": "\uc9c1\uc6d0 \ud638\ucd9c",
        "help.called": "\uc9c1\uc6d0\uc774 \uc624\uace0 \uc788\uc2b5\ub2c8\ub2e4",
        "help.language": "English",
        "help.staff": "\uc9c1\uc6d0",
        "help.signout": "\ub85c\uadf8\uc544\uc6c3",
        "help.status": "\uce74\ud2b8 \uc0c1\ud0dc",
        "staff.title": "\uc9c1\uc6d0 PIN",
        "staff.wrong": "PIN\uc774 \ud2c0\ub838\uc2b5\ub2c8\ub2e4",
        "staff.off": "\uc774 \uce74\ud2b8\ub294 \uc9c1\uc6d0 \ubaa8\ub4dc\uac00 \uaebc\uc838 \uc788\uc2b5\ub2c8\ub2e4",
        "staff.menu": "\uc9c1\uc6d0 \uc870\uce58",
        "staff.clear_questions": "\uc9c8\ubb38 \uc9c0\uc6b0\uae30",
        "staff.unblock": "\uacb0\uc81c \ubcf4\ub958 \ud574\uc81c",
        "staff.void_last": "\ub9c8\uc9c0\ub9c9 \ubcc0\uacbd \ucde8\uc18c",
        "staff.tare": "\uc800\uc6b8 \uc601\uc810",
        "staff.end_session": "\uc138\uc158 \uc885\ub8cc",
        "staff.done": "\uae30\ub85d\ub428: {what}",
        "staff.status": "\uc9c8\ubb38 {q}\uac1c \u00b7 \ud488\ubaa9 {n}\uac1c \u00b7 {total}",
        "trouble.title": "\ud655\uc778\uc774 \ud544\uc694\ud569\ub2c8\ub2e4",
        "trouble.ok": "\ubaa8\ub450 \uc815\uc0c1\uc785\ub2c8\ub2e4",
        "trouble.scale": "\uc800\uc6b8\uc774 \uc791\ub3d9\ud558\uc9c0 \uc54a\uc2b5\ub2c8\ub2e4",
        "trouble.scale_do": "\uc9c0\uae08\uc740 \uc0c1\ud488\uc744 \ub123\uc9c0 \ub9c8\uc138\uc694. \uc9c1\uc6d0\uc5d0\uac8c \uc54c\ub838\uc2b5\ub2c8\ub2e4",
        "trouble.camera": "\uce74\uba54\ub77c\uac00 \uc791\ub3d9\ud558\uc9c0 \uc54a\uc2b5\ub2c8\ub2e4",
        "trouble.camera_do": "\uc1fc\ud551\uc744 \uacc4\uc18d\ud558\uc138\uc694. \ub123\uc740 \uc0c1\ud488\uc744 \uace0\ub974\ub77c\uace0 \ubb3c\uc744 \uc218 \uc788\uc2b5\ub2c8\ub2e4",
        "trouble.network": "\uce74\ud2b8\uac00 \uc624\ud504\ub77c\uc778\uc785\ub2c8\ub2e4",
        "trouble.network_do": "\uc1fc\ud551\uc744 \uacc4\uc18d\ud558\uc138\uc694. \uc5f0\uacb0\ub418\uba74 \uc8fc\ubb38\uc774 \uc804\uc1a1\ub429\ub2c8\ub2e4",
        "trouble.bluetooth": "\uacc4\uc0b0\ub300\ub97c \ucc3e\uc9c0 \ubabb\ud569\ub2c8\ub2e4",
        "trouble.bluetooth_do": "\uacc4\uc0b0\ub300\uc5d0\uc11c \uc9c1\uc6d0\uc5d0\uac8c \ubb38\uc758\ud558\uc138\uc694",
        "trouble.other": "{device} \uc791\ub3d9 \uc548 \ud568",
        "trouble.other_do": "\uc774\uc0c1\ud558\uba74 \uc9c1\uc6d0\uc5d0\uac8c \ubb38\uc758\ud558\uc138\uc694",
        "trouble.more": "\uc0c1\ud0dc",
        "weighing": "\ubb34\uac8c \uce21\uc815 \uc911\u2026",
    },
}


class Strings:
    """The words of one language."""

    def __init__(self, language: str, currency: str) -> None:
        self.language = language if language in STRINGS else "en"
        self.currency = currency

    def __call__(self, key: str, **values: object) -> str:
        text = STRINGS[self.language].get(key) or STRINGS["en"].get(key, key)
        return text.format(**values) if values else text

    def money(self, cents: int) -> str:
        return format_money(cents, self.currency, self.language)

    def weight(self, grams: float) -> str:
        return format_weight(grams)

    def unit_price(self, cents: int, sold_by: str) -> str:
        return self.money(cents) + (self("per_kg") if sold_by == "weight" else "")


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
