"""Pricing: what a basket costs, from the catalogue and its promotions, at a given time.

One pure function, :func:`price_basket`, used by the cart (the order it sends, the savings on
screen) and by the reference store (what it charges): both sides compute the same cents from
the same catalogue, so a cart cannot name its own prices and a store never charges a surprise.

Rules (the only ones; docs/checkout.md repeats them for store engineers):

* Money is integer minor units (cents). Quantities are whole units, 1..``MAX_QTY``.
* Weights are quantized to 0.1 g (``quantize_weight_g``) before pricing; an order carries the
  quantized weight, so the store prices exactly what the cart priced.
* Sold by weight: ``price_per_kg x weight``, rounded to the nearest cent, halves up, in integer
  arithmetic: ``(price_per_kg * decigrams + 5000) // 10000``. That is the one rounding rule;
  promotions that scale a price (percent off, per-kg off) use it too (halves up).
* Promotions (``Promotion``), at most one per line, the one that saves the most (ties: the
  lowest id); never more than the line costs, never negative:
    - ``percent``: ``value`` % off the line (1..100).
    - ``amount``: ``value`` cents off each unit (sold by unit), or, sold by weight, ``value``
      cents once per basket off the product's weighed lots together, lot by lot in order until
      it is used up (the cart keeps a line per weighing: a discount per line would pay shoppers
      to weigh fruit one piece at a time, and one that stopped at the first lot would charge
      more for the same fruit weighed small lot first).
    - ``multibuy``: every ``qty`` units cost ``value`` cents together ("2 for $5": qty 2,
      value 500); the remaining units pay the unit price. Units sold by unit only.
    - ``per_kg``: ``value`` cents off the price per kg. Sold by weight only.
  A promotion applies when ``starts_at <= at < ends_at`` (Unix seconds; a missing end is open).
  With ``at`` None (a replay without a wall clock) only promotions without a window apply.
* A line per item as given: ``multibuy`` counts the units of one line (the basket keeps one
  line per product code sold by unit).

Example::

    priced = price_basket([BasketItem("4011", weight_g=1234.5), BasketItem("7310865004703", qty=3)],
                          catalogue, at=1796000000.0)
    priced.total_cents, priced.savings_cents, priced.lines[0].price_cents

Raises :class:`PricingError` (a ``ValueError``) naming the line (0-based ``index``) and the
problem: an unknown code, a quantity out of bounds, a missing or out-of-range weight.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

MAX_QTY = 999                  # one line; more is a typo or an attack, never a shopping trip
MAX_WEIGHT_G = 50_000.0        # 50 kg on one line: beyond what the cart's scale carries
PROMOTION_KINDS = ("percent", "amount", "multibuy", "per_kg")


class PricingError(ValueError):
    """A basket line that cannot be priced; ``index`` is the line (0-based), ``code`` its product."""

    def __init__(self, index: int, code: str, message: str) -> None:
        super().__init__(f"line {index + 1} ({code}): {message}")
        self.index = index
        self.code = code


class PricedProduct(Protocol):
    """What pricing needs of a catalogue product (``dashcart.core.catalogue.Product`` has it)."""

    @property
    def code(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def sold_by(self) -> str: ...   # unit | weight

    @property
    def price_cents(self) -> int: ...   # per unit, or per kg


class ProductSource(Protocol):
    def get(self, code: str) -> PricedProduct | None: ...


@dataclass(frozen=True)
class Promotion:
    id: str
    code: str                       # the product it applies to
    kind: str                       # percent | amount | multibuy | per_kg
    value: int                      # percent, cents off, cents for `qty` units, or cents off per kg
    qty: int = 1                    # multibuy: how many units `value` buys
    starts_at: float | None = None  # Unix seconds, inclusive
    ends_at: float | None = None    # Unix seconds, exclusive
    label: str = ""                 # what the shopper reads, e.g. "2 for $5"

    def active(self, at: float | None) -> bool:
        if at is None:
            return self.starts_at is None and self.ends_at is None
        if self.starts_at is not None and at < self.starts_at:
            return False
        return self.ends_at is None or at < self.ends_at


@dataclass(frozen=True)
class BasketItem:
    code: str
    qty: int = 1
    weight_g: float | None = None   # what was weighed; required for products sold by weight


@dataclass(frozen=True)
class PricedLine:
    code: str
    name: str
    qty: int
    sold_by: str                    # unit | weight
    weight_g: float | None          # quantized to 0.1 g, for products sold by weight
    unit_price_cents: int           # per unit, or per kg
    gross_cents: int                # before savings
    savings_cents: int
    price_cents: int                # gross - savings: what the line costs
    promotion: str = ""             # the id of the promotion applied, if any
    label: str = ""                 # its label


@dataclass(frozen=True)
class PricedBasket:
    lines: tuple[PricedLine, ...]
    subtotal_cents: int             # the sum of gross prices
    savings_cents: int
    total_cents: int                # subtotal - savings: what to charge


def quantize_weight_g(weight_g: float) -> float:
    """A weight to 0.1 g, the resolution an order carries (idempotent)."""
    return _decigrams(weight_g) / 10.0


def _decigrams(weight_g: float) -> int:
    return math.floor(weight_g * 10.0 + 0.5)


def _scale_half_up(cents_per_kg: int, decigrams: int) -> int:
    """cents_per_kg x weight, to the nearest cent, halves up (10,000 decigrams in a kg)."""
    return (cents_per_kg * decigrams + 5000) // 10000


def weight_price_cents(price_per_kg_cents: int, weight_g: float) -> int:
    """The price of ``weight_g`` at ``price_per_kg_cents``: THE rounding rule (see the module doc)."""
    return _scale_half_up(price_per_kg_cents, _decigrams(weight_g))


def _savings(promotion: Promotion, sold_by: str, unit_price: int, qty: int, decigrams: int, gross: int) -> int:
    if promotion.kind == "percent":
        saved = (gross * promotion.value + 50) // 100
    elif promotion.kind == "amount":
        saved = promotion.value * qty if sold_by == "unit" else promotion.value
    elif promotion.kind == "multibuy":
        if sold_by != "unit" or promotion.qty < 2:
            return 0
        saved = (qty // promotion.qty) * (promotion.qty * unit_price - promotion.value)
    elif promotion.kind == "per_kg":
        if sold_by != "weight":
            return 0
        saved = gross - _scale_half_up(max(0, unit_price - promotion.value), decigrams)
    else:
        return 0
    return max(0, min(gross, saved))


def promotions_by_code(promotions: Iterable[Promotion]) -> dict[str, tuple[Promotion, ...]]:
    grouped: dict[str, list[Promotion]] = {}
    for promotion in promotions:
        grouped.setdefault(promotion.code, []).append(promotion)
    return {code: tuple(sorted(items, key=lambda p: p.id)) for code, items in grouped.items()}


def price_line(index: int, item: BasketItem, product: PricedProduct | None,
               promotions: Sequence[Promotion], at: float | None, *,
               amount_left: Mapping[str, int] | None = None) -> PricedLine:
    """One line; see :func:`price_basket`. ``amount_left``: for a weighed product, what earlier
    lots left of each ``amount`` promotion (by id; absent: all of it)."""
    if product is None:
        raise PricingError(index, item.code, "no such product in the catalogue")
    if isinstance(item.qty, bool) or not isinstance(item.qty, int) or not 1 <= item.qty <= MAX_QTY:
        raise PricingError(index, item.code, f"qty must be a whole number from 1 to {MAX_QTY}")
    unit_price = int(product.price_cents)
    weight: float | None = None
    decigrams = 0
    if product.sold_by == "weight":
        if item.qty != 1:
            raise PricingError(index, item.code, "sold by weight: qty must be 1")
        if item.weight_g is None or not (0.0 < float(item.weight_g) <= MAX_WEIGHT_G):
            raise PricingError(index, item.code, f"sold by weight: weight_g must be above 0 and at most "
                                                 f"{MAX_WEIGHT_G:g}")
        decigrams = _decigrams(float(item.weight_g))
        if decigrams < 1:
            raise PricingError(index, item.code, "sold by weight: weight_g must be at least 0.1")
        weight = decigrams / 10.0
        gross = _scale_half_up(unit_price, decigrams)
    else:
        if item.weight_g is not None and not (0.0 <= float(item.weight_g) <= MAX_WEIGHT_G):
            raise PricingError(index, item.code, f"weight_g must be from 0 to {MAX_WEIGHT_G:g}")
        gross = unit_price * item.qty
    best: Promotion | None = None
    best_saved = 0
    for promotion in promotions:
        if promotion.code != product.code or not promotion.active(at):
            continue
        saved = _savings(promotion, product.sold_by, unit_price, item.qty, decigrams, gross)
        if promotion.kind == "amount" and product.sold_by == "weight" and amount_left is not None:
            saved = min(saved, amount_left.get(promotion.id, promotion.value))
        if saved > best_saved:
            best, best_saved = promotion, saved
    return PricedLine(code=product.code, name=product.name, qty=item.qty, sold_by=product.sold_by,
                      weight_g=weight, unit_price_cents=unit_price, gross_cents=gross,
                      savings_cents=best_saved, price_cents=gross - best_saved,
                      promotion=best.id if best else "", label=best.label if best else "")


def price_basket(items: Sequence[BasketItem], products: ProductSource, at: float | None,
                 promotions: Iterable[Promotion] | Mapping[str, Sequence[Promotion]] = ()) -> PricedBasket:
    """Price ``items`` from ``products`` (anything with ``get(code)``, e.g. a ``Catalogue``) at
    Unix time ``at``, applying ``promotions`` (a list, or ``promotions_by_code``'s mapping).

    Returns every line with its gross price, savings and price, and the basket's subtotal,
    savings and total. Pure: the same inputs always give the same cents.
    """
    by_code = promotions if isinstance(promotions, Mapping) else promotions_by_code(promotions)
    priced: list[PricedLine] = []
    amount_left: dict[str, int] = {}   # promotion id -> cents of a weighed product's amount not yet used
    for i, item in enumerate(items):
        line = price_line(i, item, products.get(item.code), by_code.get(item.code, ()), at, amount_left=amount_left)
        chosen = next((p for p in by_code.get(item.code, ()) if p.id == line.promotion), None)
        if line.sold_by == "weight" and line.promotion and chosen is not None and chosen.kind == "amount":
            amount_left[chosen.id] = amount_left.get(chosen.id, chosen.value) - line.savings_cents
        priced.append(line)
    lines = tuple(priced)
    subtotal = sum(line.gross_cents for line in lines)
    savings = sum(line.savings_cents for line in lines)
    return PricedBasket(lines, subtotal, savings, subtotal - savings)
