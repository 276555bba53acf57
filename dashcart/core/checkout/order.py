"""The order a cart sends to the store: what is in it, its deterministic ids, and its signature.

The body is canonical JSON (sorted keys, no spaces, UTF-8) built once and stored in the outbox;
every retry sends the same bytes, so the signature and the store's duplicate check see the
same order. Ids derive from the cart, the session and a sequence number, never from a random
source or the wall clock: a recorded trip replays to the same order id.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dashcart.core.canonical import canonical_json
from dashcart.core.pricing import quantize_weight_g
from dashcart.snapshot import BasketLine

ORDER_FORMAT = "dashcart-order/1"
SIGNATURE_SCHEME = "hmac-sha256"


def session_id_for(cart_id: str, start_t: float, start_wall_t: float | None = None) -> str:
    """A short id for a shopping session from when it began.

    ``start_t`` alone repeats after a reboot (the event clock is monotonic), so the live cart
    passes the wall time at sign-in too; a replay passes the trip's epoch + t, or nothing.
    """
    wall = "" if start_wall_t is None else f"{start_wall_t:.3f}"
    digest = hashlib.sha256(f"{cart_id}\0{start_t:.6f}\0{wall}".encode()).hexdigest()
    return digest[:12]


def order_ids(cart_id: str, session_id: str, seq: int) -> tuple[str, str]:
    """(order id, idempotency key) for order ``seq`` of a session."""
    order_id = f"{cart_id}-{session_id}-{seq}"
    key = hashlib.sha256(f"{ORDER_FORMAT}\0{cart_id}\0{session_id}\0{seq}".encode()).hexdigest()[:32]
    return order_id, key


def _line(line: BasketLine) -> dict[str, Any]:
    return {"code": line.code, "name": line.name, "qty": line.qty, "sold_by": line.sold_by,
            # The 0.1 g the store prices too (dashcart.core.pricing), so both sides get the same cents.
            "weight_g": None if line.weight_g is None else quantize_weight_g(float(line.weight_g)),
            "unit_price_cents": line.unit_price_cents, "price_cents": line.price_cents,
            "savings_cents": line.savings_cents}


@dataclass(frozen=True)
class Order:
    order_id: str
    idempotency_key: str
    cart_id: str
    body: bytes           # canonical JSON, exactly what is sent
    signature: str        # "hmac-sha256=<hex>" over body, or "" when the cart has no key (demo)
    total_cents: int

    def document(self) -> dict[str, Any]:
        return json.loads(self.body)


def sign(body: bytes, key: bytes) -> str:
    return f"{SIGNATURE_SCHEME}={hmac.new(key, body, hashlib.sha256).hexdigest()}"


def signature_valid(body: bytes, signature: str, key: bytes) -> bool:
    return hmac.compare_digest(sign(body, key), signature)


def build_order(lines: Sequence[BasketLine], *, cart_id: str, session_id: str, seq: int, shopper_token: str,
                currency: str, t: float, cart_key: bytes | None, placed_at: float | None = None) -> Order:
    """Sign an order of priced lines. Raises ValueError for a basket that cannot be charged.

    ``placed_at``: the wall clock (Unix seconds) when the order was placed, if the cart knows
    it; the store prices at that time when the order reaches it within 2 minutes (a delivery
    through a network blip is charged what the shopper saw), else at its arrival (the cart's
    key signs any time, so a late ``placed_at`` is no evidence: docs/checkout.md).
    """
    if not lines:
        raise ValueError("the basket is empty")
    for line in lines:
        if line.qty < 1 or line.price_cents < 0 or line.savings_cents < 0 or line.unit_price_cents < 1:
            raise ValueError(f"line {line.code}: quantity and prices must be positive")
    order_id, key = order_ids(cart_id, session_id, seq)
    total = sum(line.price_cents for line in lines)
    savings = sum(line.savings_cents for line in lines)
    document = {
        "format": ORDER_FORMAT, "order_id": order_id, "idempotency_key": key, "cart_id": cart_id,
        "session_id": session_id, "seq": seq, "shopper_token": shopper_token, "currency": currency,
        "lines": [_line(line) for line in lines],
        "subtotal_cents": total + savings, "savings_cents": savings, "total_cents": total,
        "placed_t": round(t, 3),
    }
    if placed_at is not None:
        document["placed_at"] = round(placed_at, 3)
    body = canonical_json(document)
    return Order(order_id, key, cart_id, body, sign(body, cart_key) if cart_key else "", total)


def mask_email(address: str) -> str:
    """``kim@example.com`` -> ``k***@example.com``: enough for the shopper to recognise, not to harvest."""
    local, at, domain = address.strip().partition("@")
    if not at or not local or not domain:
        return "***" if address else ""
    return f"{local[0]}***@{domain}"
