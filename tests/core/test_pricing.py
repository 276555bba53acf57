"""Pricing: the one function both the cart and the reference store price a basket with."""

from __future__ import annotations

from pathlib import Path

import pytest

import dashcart
from dashcart.core.catalogue import Catalogue, CatalogueInvalid, Product, import_catalogue, parse_promotions_csv
from dashcart.core.pricing import BasketItem, PricingError, Promotion, price_basket, quantize_weight_g, weight_price_cents

DEMO_PROMOTIONS = Path(dashcart.__file__).parent / "sim" / "demo_store" / "catalogue" / "promotions.csv"
NEW_YEAR = 1767225600.0  # 2026-01-01T00:00:00Z


def _catalogue(*promotions: Promotion) -> Catalogue:
    products = [Product("4011", "plu", "Banana", "weight", 129, 180.0, 20.0),
                Product("2450000001459", "ean13", "Oat Milk", "unit", 279, 1050.0, 10.0)]
    return Catalogue(products, promotions=promotions)


def test_weight_rounding_is_half_up_on_decigrams():
    # 100 cents/kg x 5 g = 0.5 cent: half up -> 1 (Python's round() would give 0).
    assert weight_price_cents(100, 5.0) == 1
    assert weight_price_cents(100, 4.9) == 0
    assert weight_price_cents(129, 1234.56) == 159          # 1234.6 g x 1.29 = 159.26
    assert quantize_weight_g(1234.56) == 1234.6 and quantize_weight_g(quantize_weight_g(1234.56)) == 1234.6


def test_each_promotion_kind():
    catalogue = _catalogue(Promotion("m", "2450000001459", "multibuy", 500, qty=2),
                           Promotion("k", "4011", "per_kg", 30))
    priced = price_basket([BasketItem("2450000001459", 5), BasketItem("4011", weight_g=1000.0)], catalogue, NEW_YEAR,
                          catalogue.promotions)
    milk, banana = priced.lines
    assert (milk.gross_cents, milk.savings_cents, milk.price_cents) == (1395, 2 * (558 - 500), 1395 - 116)
    assert (banana.gross_cents, banana.savings_cents) == (129, 30)
    assert priced.total_cents == priced.subtotal_cents - priced.savings_cents == 1279 + 99
    percent = _catalogue(Promotion("p", "2450000001459", "percent", 25))
    assert price_basket([BasketItem("2450000001459", 1)], percent, None, percent.promotions).savings_cents == 70
    amount = _catalogue(Promotion("a", "2450000001459", "amount", 500))
    line = price_basket([BasketItem("2450000001459", 2)], amount, None, amount.promotions).lines[0]
    assert line.price_cents == 0 and line.savings_cents == 558   # never below zero


def test_an_amount_off_a_weighed_product_is_taken_once_however_it_was_weighed():
    # 2 kg of bananas as one lot or five: the same 50 cents off (not 50 a lot: weighing fruit
    # piece by piece must not pay)
    catalogue = _catalogue(Promotion("a", "4011", "amount", 50), Promotion("k", "4011", "per_kg", 5))
    one = price_basket([BasketItem("4011", weight_g=2000.0)], catalogue, None, catalogue.promotions)
    five = price_basket([BasketItem("4011", weight_g=400.0)] * 5, catalogue, None, catalogue.promotions)
    assert one.total_cents == 258 - 50
    assert [line.promotion for line in five.lines] == ["a", "k", "k", "k", "k"]   # then the next best
    assert five.total_cents == 5 * 52 - 50 - 4 * 2
    # $2 off: one small banana weighed first must not lose the rest of it (lot by lot until used up)
    big = _catalogue(Promotion("a", "4011", "amount", 200))
    small_first = price_basket([BasketItem("4011", weight_g=180.0), BasketItem("4011", weight_g=2000.0)], big, None,
                               big.promotions)
    together = price_basket([BasketItem("4011", weight_g=2180.0)], big, None, big.promotions)
    assert small_first.savings_cents == together.savings_cents == 200
    assert [line.savings_cents for line in small_first.lines] == [23, 177]


def test_best_single_promotion_and_validity_window():
    catalogue = _catalogue(Promotion("a", "2450000001459", "amount", 10),
                           Promotion("b", "2450000001459", "percent", 50, starts_at=NEW_YEAR, ends_at=NEW_YEAR + 86400))
    item = [BasketItem("2450000001459", 1)]
    assert price_basket(item, catalogue, NEW_YEAR + 10, catalogue.promotions).lines[0].promotion == "b"
    assert price_basket(item, catalogue, NEW_YEAR + 86400, catalogue.promotions).lines[0].promotion == "a"
    assert price_basket(item, catalogue, NEW_YEAR - 1, catalogue.promotions).savings_cents == 10
    assert price_basket(item, catalogue, None, catalogue.promotions).lines[0].promotion == "a"


@pytest.mark.parametrize("item, message", [
    (BasketItem("9999"), "no such product"),
    (BasketItem("2450000001459", 0), "qty must be"),
    (BasketItem("2450000001459", 1000), "qty must be"),
    (BasketItem("2450000001459", -3), "qty must be"),
    (BasketItem("4011", 1, None), "weight_g"),
    (BasketItem("4011", 1, -50.0), "weight_g"),
    (BasketItem("4011", 2, 100.0), "qty must be 1"),
])
def test_bad_lines_name_the_line(item, message):
    with pytest.raises(PricingError, match=message) as info:
        price_basket([BasketItem("2450000001459"), item], _catalogue(), None)
    assert str(info.value).startswith("line 2 (")


def test_demo_promotions_load_and_import(shared_data, tmp_path):
    csv = shared_data / "catalogue" / "demo_store.csv"
    catalogue = Catalogue.from_csv(csv, promotions=DEMO_PROMOTIONS)
    assert {p.kind for p in catalogue.promotions} == {"percent", "amount", "multibuy", "per_kg"}
    assert any(p.ends_at for p in catalogue.promotions)
    db = tmp_path / "catalogue.sqlite"
    import_catalogue(csv, db, promotions=DEMO_PROMOTIONS)
    assert Catalogue.open(db).promotions == catalogue.promotions


def test_promotions_file_problems_each_with_its_line(shared_data, tmp_path):
    bad = tmp_path / "promotions.csv"
    bad.write_text("id,code,kind,value,qty,starts,ends,label\n"
                   "a,4011,multibuy,500,2,,,by weight\n"
                   "b,0000,percent,10,1,,,\n"
                   "c,4225,percent,150,1,,,\n"
                   "d,4225,amount,10,1,2026-01-02,,no zone\n"
                   "a,4225,amount,10,1,,,\n")
    products = list(Catalogue.from_csv(shared_data / "catalogue" / "demo_store.csv"))
    with pytest.raises(CatalogueInvalid) as info:
        parse_promotions_csv(bad, products)
    assert [line.split(": ", 1)[0].rsplit(":", 1)[1] for line in info.value.lines()] == ["2", "3", "4", "5", "6"]
