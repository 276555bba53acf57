"""Produce: find loose fruit or veg by name (on-screen keyboard), PLU, or the zone's pictures,
then weigh it with the price updating live."""

from __future__ import annotations

from dashcart.snapshot import NearbyProduct
from dashcart.ui import theme
from dashcart.ui.screens.common import header, keyboard, keypad, lines_needed, product_tile, tile_name_height
from dashcart.ui.view import View
from dashcart.ui.widgets import Button, Panel, Picture, Text, Widget


def matches(v: View) -> list[NearbyProduct]:
    """The zone's loose items with no query; otherwise every produce item whose name or PLU matches."""
    snap = v.snap
    query = v.ui.query.strip().casefold()
    if not query:
        return [p for p in snap.nearby if is_loose(p)] or list(snap.produce[:12])
    pool = snap.produce or snap.nearby
    words = query.split()
    return [p for p in pool if all(w in p.name.casefold() or p.code.startswith(w) for w in words)]


def is_loose(product: NearbyProduct) -> bool:
    """Sold by weight or under a PLU (4-5 digits): picked on the produce screen, not scanned."""
    return product.sold_by == "weight" or len(product.code) <= 5


def build(v: View) -> list[Widget]:
    lay, tr, ui = v.layout, v.tr, v.ui
    r = lay.produce()
    widgets = header(v, tr("produce.title"))

    def tab(name: str) -> None:
        ui.produce_tab = name
        ui.digits = ""

    widgets += [
        Button(r["search_tab"], id="tab_search", label=tr("produce.search"), size=lay.font("body"),
               style="secondary", selected=ui.produce_tab == "search", on_tap=lambda: tab("search")),
        Button(r["plu_tab"], id="tab_plu", label=tr("produce.keypad"), size=lay.font("body"), style="secondary",
               selected=ui.produce_tab == "plu", on_tap=lambda: tab("plu")),
        Button(r["back"], id="back", label=tr("back"), size=lay.font("body"), style="secondary",
               on_tap=lambda: v.open(None)),
    ]
    if ui.produce_tab == "plu":
        rest = r["rest"]
        pad_w = min(rest.w, lay.px(420))
        area = rest.copy()
        area.w = pad_w
        area.centerx = rest.centerx
        return widgets + keypad(v, lay.keypad(area), "plu", ui.digits or "\u2013")
    found = matches(v)
    widgets += [
        Panel(r["query"], id="query_bg", border=theme.MUTED),
        Text(r["query"].inflate(-2 * lay.pad, 0), id="query", text=(ui.query + "|") if ui.query else
             tr("produce.search"), size=lay.font("large"), color=theme.INK if ui.query else theme.MUTED),
        Text(r["results_title"], id="results_title",
             text=tr("produce.results") if ui.query else tr("produce.in_zone"), size=lay.font("body"), bold=True),
    ]
    cells = lay.produce_cells(len(found))
    if not found:
        widgets.append(Text(r["results"], id="no_match", text=tr("produce.no_match"), size=lay.font("large"),
                            color=theme.MUTED, align="center", wrap=True))
    name_h = tile_name_height(v, [(rect, p.name, "") for rect, p in zip(cells, found)]) if lay.portrait else 0
    for rect, product in zip(cells, found):
        widgets += product_tile(v, rect, product.code, product.name, product.image,
                                tr.unit_price(product.price_cents, product.sold_by),
                                on_tap=lambda code=product.code: v.post("produce", code), id_prefix="produce",
                                vertical=lay.portrait, name_h=name_h)
    return widgets + keyboard(v, r["keyboard"])


def build_weigh(v: View) -> list[Widget]:
    """The shopper picked an item: the scale's weight and the price, live."""
    lay, tr, snap = v.layout, v.tr, v.snap
    item = snap.produce_entry
    assert item is not None
    title = tr("produce.weigh", name=item.name)
    # "Put the ... in the cart" names the item: the title wraps, the picture gives up the height
    r = lay.weigh(lines_needed(v, title, lay.font("title"), True, lay.weigh()["title"].w, lay.px(44), 3))
    grams = snap.produce_weight_g if snap.produce_weight_g is not None else snap.live_weight_g
    grams = max(0.0, grams)
    settled = snap.weight_stable and grams > 0
    if item.sold_by == "weight":
        # the controller's price per kg (promotions applied) for the weight just placed
        price, unit = round(item.price_cents * grams / 1000), tr.unit_price(item.price_cents, "weight")
    else:
        # pieces: the controller's price for all of them (a multibuy applied), and what one costs
        each = next((p.price_cents for p in snap.produce if p.code == item.code), None)
        price = item.price_cents
        unit = f"{item.qty} \u00d7 {tr.money(each)}" if each is not None else tr.plural("items", item.qty)
    return header(v, tr("produce.title")) + [
        Text(r["title"], id="weigh_title", text=title, size=lay.font("title"), bold=True, align="center",
             wrap=True),
        Picture(r["picture"].inflate(-lay.pad, -lay.pad), id="weigh_pic", path=item.image, name=item.name),
        Text(r["weight"], id="weigh_weight", text=tr.weight(grams) if grams or settled else tr("produce.settling"),
             size=lay.font("huge"), bold=True, align="center"),
        Text(r["price"], id="weigh_price", text=tr.money(price), size=lay.font("huge"), bold=True,
             color=theme.PRIMARY, align="center"),
        Text(r["unit"], id="weigh_unit",
             text=unit + ("" if snap.weight_stable else "  \u00b7  " + tr("produce.settling")),
             size=lay.font("body"), color=theme.MUTED, align="center"),
        Button(r["cancel"], id="weigh_cancel", label=tr("cancel"), size=lay.font("large"), style="secondary",
               on_tap=lambda: v.post("cancel", item.code)),
        Button(r["add"], id="weigh_add", label=tr("produce.add"), size=lay.font("large"), enabled=settled,
               on_tap=lambda: v.post("confirm", item.code)),
    ]
