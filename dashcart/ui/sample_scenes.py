"""Snapshots of a demo trip for screenshots, the benchmark and tests (until the controller
publishes real ones): the demo store's products with their Grocery Store Dataset pictures.

The products come from the demo store bundled with the package (or a data folder named with
``--data``); without one they come from a short built-in list with no pictures (placeholders
are drawn), so `dashcart screenshots` works anywhere.
"""

from __future__ import annotations

import csv
import dataclasses
from dataclasses import dataclass
from pathlib import Path

from dashcart.snapshot import (BasketLine, Candidate, CheckoutView, DeviceView, NearbyProduct, Question,
                           SessionState, Snapshot)

# The demo store bundled with the package (dashcart/sim/demo_store, laid out like the shared
# data); `--data DIR` names the full dataset instead.
DEFAULT_DATA_DIR = Path(__file__).resolve().parents[1] / "sim" / "demo_store"
ICONIC = Path("grocery-store") / "iconic-images-and-descriptions"
CATALOGUE = Path("catalogue") / "demo_store.csv"

# Korean screenshots show won: a rough rate, rounded to 10 won.
KRW_PER_CENT = 13


@dataclass(frozen=True)
class DemoProduct:
    code: str
    name: str
    sold_by: str
    price_cents: int
    unit_weight_g: float
    zone: str
    image: str | None


_BUILTIN = (
    ("4011", "Banana", "weight", 129, 120, "produce-fruit"),
    ("4020", "Golden Delicious", "weight", 329, 190, "produce-fruit"),
    ("4017", "Granny Smith", "weight", 349, 200, "produce-fruit"),
    ("4225", "Avocado", "unit", 149, 170, "produce-fruit"),
    ("4053", "Lemon", "unit", 79, 110, "produce-fruit"),
    ("4012", "Orange", "weight", 299, 200, "produce-fruit"),
    ("4562", "Carrots", "weight", 149, 80, "produce-veg"),
    ("4593", "Cucumber", "unit", 99, 350, "produce-veg"),
    ("2450000001459", "Oatly Oat Milk", "unit", 279, 1050, "dairy-alternatives"),
    ("2410000001415", "Arla Standard Milk", "unit", 199, 1040, "dairy"),
    ("2280000001285", "Bravo Apple Juice", "unit", 299, 1062, "chilled-juice"),
    ("2550000001555", "Arla Natural Yoghurt", "unit", 249, 1030, "dairy"),
)


def load_products(data_dir: Path | None) -> list[DemoProduct]:
    """The demo store's catalogue with picture paths; the built-in list if the data is absent."""
    csv_path = data_dir / CATALOGUE if data_dir else None
    if csv_path is None or not csv_path.is_file():
        return [DemoProduct(c, n, s, p, w, z, None) for c, n, s, p, w, z in _BUILTIN]
    pictures = {p.name[: -len("_Iconic.jpg")]: str(p) for p in (data_dir / ICONIC).rglob("*_Iconic.jpg")}
    with open(csv_path, newline="", encoding="utf-8") as handle:
        return [DemoProduct(row["code"], row["name"], row["sold_by"], int(row["price_cents"]),
                            float(row["unit_weight_g"]), row["zone"], pictures.get(row["gsd_class"]))
                for row in csv.DictReader(handle)]


def _by_name(products: list[DemoProduct]) -> dict[str, DemoProduct]:
    return {p.name: p for p in products}


def basket_line(p: DemoProduct, qty: int = 1, weight_g: float | None = None, savings: int = 0) -> BasketLine:
    if p.sold_by == "weight":
        grams = weight_g if weight_g is not None else p.unit_weight_g * qty
        return BasketLine(code=p.code, name=p.name, qty=1, price_cents=round(p.price_cents * grams / 1000) - savings,
                          unit_price_cents=p.price_cents, sold_by="weight", weight_g=grams, savings_cents=savings,
                          image=p.image)
    return BasketLine(code=p.code, name=p.name, qty=qty, price_cents=p.price_cents * qty - savings,
                      unit_price_cents=p.price_cents, savings_cents=savings, image=p.image)


def nearby(products: list[DemoProduct], zone: str, deals: dict[str, str] | None = None) -> tuple[NearbyProduct, ...]:
    deals = deals or {}
    return tuple(NearbyProduct(code=p.code, name=p.name, price_cents=p.price_cents, sold_by=p.sold_by,
                               image=p.image, deal=deals.get(p.name, ""))
                 for p in products if p.zone == zone)


def loose(products: list[DemoProduct]) -> tuple[NearbyProduct, ...]:
    return tuple(NearbyProduct(code=p.code, name=p.name, price_cents=p.price_cents, sold_by=p.sold_by, image=p.image)
                 for p in products if len(p.code) <= 5)


def basket_of(products: list[DemoProduct], n: int, t: float = 100.0) -> Snapshot:
    """A shopping snapshot with ``n`` lines (products repeat with growing quantities past the catalogue)."""
    lines = []
    for i in range(n):
        p = products[i % len(products)]
        lines.append(dataclasses.replace(basket_line(p, qty=1 + i // len(products)), code=f"{p.code}" if i < len(products)
                                         else f"{p.code}#{i}"))
    total = sum(line.price_cents for line in lines)
    last = lines[-1] if lines else None
    return Snapshot(t=t, state=SessionState.SHOPPING, shopper="demo-shopper", lines=tuple(lines), total_cents=total,
                    last_change_code=last.code if last else None, last_change_t=t - 1 if last else None,
                    zone="produce-fruit", nearby=nearby(products, "produce-fruit")[:4], produce=loose(products))


def to_won(snap: Snapshot) -> Snapshot:
    """The same snapshot with prices in won (for the Korean screenshots)."""
    def won(c: int) -> int:
        return round(c * KRW_PER_CENT, -1)

    def line(l: BasketLine) -> BasketLine:
        return dataclasses.replace(l, price_cents=won(l.price_cents), unit_price_cents=won(l.unit_price_cents),
                                   savings_cents=won(l.savings_cents))

    def cand(c: Candidate) -> Candidate:
        return dataclasses.replace(c, price_cents=won(c.price_cents))

    def near(p: NearbyProduct) -> NearbyProduct:
        return dataclasses.replace(p, price_cents=won(p.price_cents))

    return dataclasses.replace(
        snap, currency="KRW", lines=tuple(map(line, snap.lines)), total_cents=won(snap.total_cents),
        savings_cents=won(snap.savings_cents), nearby=tuple(map(near, snap.nearby)),
        produce=tuple(map(near, snap.produce)),
        produce_entry=cand(snap.produce_entry) if snap.produce_entry else None,
        questions=tuple(dataclasses.replace(q, candidates=tuple(map(cand, q.candidates))) for q in snap.questions))


@dataclass(frozen=True)
class Scene:
    """A named screen: the snapshot and the overlay the shopper has open (``mode``)."""

    name: str
    snapshot: Snapshot
    mode: str | None = None
    query: str = ""
    digits: str = ""
    produce_tab: str = "search"
    pending_remove: str = ""


def scenes(products: list[DemoProduct]) -> list[Scene]:
    """Every screen of the UI, filled as in a real trip."""
    by = _by_name(products)

    def get(name: str) -> DemoProduct:
        return by.get(name) or products[0]

    lines = (
        basket_line(get("Oatly Oat Milk"), 2),
        basket_line(get("Banana"), weight_g=742),
        basket_line(get("Arla Standard Milk"), 1),
        basket_line(get("Avocado"), 3, savings=50),
        basket_line(get("God Morgon Orange Red Grapefruit Juice"), 1),
        basket_line(get("Golden Delicious"), weight_g=1184),
        basket_line(get("Arla Natural Yoghurt"), 1),
    )
    total = sum(l.price_cents for l in lines)
    savings = sum(l.savings_cents for l in lines)
    deals = {"Mango": "2 for $3", "Pink Lady": "-20% today", "Pineapple": "Ripe now"}
    shopping = Snapshot(t=1000.0, state=SessionState.SHOPPING, shopper="app:8f3a", lines=lines, total_cents=total,
                        savings_cents=savings, last_change_code=lines[1].code, last_change_t=998.5,
                        zone="produce-fruit",
                        nearby=tuple(p for p in nearby(products, "produce-fruit", deals)
                                     if p.name in ("Mango", "Pink Lady", "Pineapple", "Banana"))
                        or nearby(products, "produce-fruit", deals)[:4],
                        produce=loose(products), live_weight_g=4210.0)
    apples = [get(n) for n in ("Golden Delicious", "Granny Smith", "Pink Lady", "Royal Gala", "Red Delicious",
                               "Orange")]
    question = dataclasses.replace(shopping, questions=(Question(
        id=7, t=999.0, kind="added", delta_g=192.0,
        candidates=tuple(Candidate(code=p.code, name=p.name, score=0.9 - 0.1 * i, price_cents=p.price_cents,
                                   image=p.image, sold_by=p.sold_by) for i, p in enumerate(apples))),))
    apple = get("Pink Lady")
    weigh = dataclasses.replace(shopping, produce_entry=Candidate(code=apple.code, name=apple.name,
                                                                  price_cents=apple.price_cents, image=apple.image,
                                                                  sold_by="weight"),
                                produce_weight_g=562.0, weight_stable=True)
    co = dataclasses.replace(shopping, state=SessionState.CHECKOUT, last_change_t=None)
    down = dataclasses.replace(shopping, devices=(
        DeviceView("scale", "down", "no readings for 5 s"), DeviceView("network", "down", "store API unreachable")))
    idle = Snapshot(t=10.0, zone="entrance")
    return [
        Scene("welcome", idle),
        Scene("shopping", shopping),
        Scene("shopping_empty", dataclasses.replace(shopping, lines=(), total_cents=0, savings_cents=0,
                                                    last_change_code=None, last_change_t=None)),
        Scene("question", question),
        Scene("question_removed", dataclasses.replace(question, questions=(Question(
            id=8, t=999.0, kind="removed", delta_g=-1062.0,
            candidates=tuple(Candidate(code=l.code, name=l.name, price_cents=l.unit_price_cents, image=l.image,
                                       sold_by=l.sold_by) for l in lines[:3])),))),
        Scene("question_unidentified", dataclasses.replace(question, questions=(Question(
            id=9, t=999.0, kind="unidentified", delta_g=310.0),))),
        Scene("question_take_out", dataclasses.replace(question, questions=(Question(
            id=10, t=999.0, kind="remove_unknown", delta_g=310.0),))),
        Scene("none_fits", question, mode="none_fits"),
        Scene("question_plu", question, mode="question_plu", digits="413"),
        Scene("produce", shopping, mode="produce"),
        Scene("produce_search", shopping, mode="produce", query="app"),
        Scene("produce_plu", shopping, mode="produce", produce_tab="plu", digits="40"),
        Scene("weigh", weigh),
        Scene("remove", shopping, mode="remove"),
        Scene("remove_pending", shopping, mode="remove_pending", pending_remove=lines[0].code),
        Scene("checkout_lane", dataclasses.replace(co, checkout=CheckoutView("lane", cancellable=True))),
        Scene("checkout_summary", dataclasses.replace(co, checkout=CheckoutView("summary", cancellable=True,
                                                                                seconds_left=7.2))),
        Scene("checkout_paying", dataclasses.replace(co, checkout=CheckoutView("paying"))),
        Scene("checkout_receipt", dataclasses.replace(co, state=SessionState.DONE, checkout=CheckoutView(
            "receipt_sent", order_id="C0001-0042", receipt_to="k***@example.com"))),
        Scene("checkout_blocked", dataclasses.replace(co, checkout=CheckoutView(
            "blocked", cancellable=True, reason="The scale saw 310 g more than the basket explains."))),
        Scene("help", shopping, mode="help"),
        Scene("staff_pin", shopping, mode="staff_pin", digits="12"),
        Scene("staff_menu", shopping, mode="staff_menu"),
        Scene("trouble", down, mode="trouble"),
    ]
