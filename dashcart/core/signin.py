"""Sign-in: the shopper shows the store app's QR code to a cart camera; its text is the token.

A shopper token is ``dcs1:`` followed by 16 to 128 URL-safe base64 characters (the store
issues it and checks it when the order arrives; the cart only checks its shape, so that a
product's QR code or a stray URL is not taken for a shopper). The token is sent in the
order and never shown in full.
"""

from __future__ import annotations

import re
from typing import Any

from dashcart.events import ShopperAction

TOKEN_PREFIX = "dcs1:"
_TOKEN = re.compile(r"dcs1:[A-Za-z0-9_-]{16,128}")


class InvalidToken(ValueError):
    """Not a shopper token; ``str()`` says why in one line."""


def parse_shopper_token(text: str) -> str:
    """The token in ``text`` (surrounding whitespace removed), or :class:`InvalidToken`."""
    token = text.strip()
    if not token.startswith(TOKEN_PREFIX):
        raise InvalidToken(f"does not start with {TOKEN_PREFIX!r}")
    if not _TOKEN.fullmatch(token):
        raise InvalidToken("must be dcs1: and 16 to 128 of A-Z a-z 0-9 _ -")
    return token


def mask_token(token: str) -> str:
    """For logs and the screen: ``dcs1:ab…yz``."""
    body = token[len(TOKEN_PREFIX):] if token.startswith(TOKEN_PREFIX) else token
    return f"{TOKEN_PREFIX}{body[:2]}…{body[-2:]}" if len(body) > 4 else "…"


class QrSignIn:
    """Reads QR codes in camera frames and turns a shopper token into a ``signin`` action.

    A QR code stays in view for many frames: the same token is reported once, then again only
    after ``repeat_s`` without it (so holding the phone up does not sign in over and over).
    Frames are looked at in memory and dropped.
    """

    def __init__(self, repeat_s: float = 5.0) -> None:
        self._repeat_s = repeat_s
        self._last: tuple[str, float] | None = None
        self.rejected = 0

    def reset(self) -> None:
        """Sign-out: the same shopper may sign in again straight away."""
        self._last = None

    def read_tokens(self, image: Any) -> list[str]:
        import zxingcpp

        tokens = []
        for barcode in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode):
            try:
                tokens.append(parse_shopper_token(barcode.text))
            except InvalidToken:
                self.rejected += 1
        return tokens

    def on_frame(self, t: float, image: Any) -> ShopperAction | None:
        tokens = self.read_tokens(image)
        if not tokens:
            return None
        token = tokens[0]
        if self._last is not None and self._last[0] == token and t - self._last[1] < self._repeat_s:
            self._last = (token, t)
            return None
        self._last = (token, t)
        return ShopperAction(t, "signin", token)
