"""Shopping: the basket, the total and savings, and what is near the cart."""

from __future__ import annotations

from dashcart.ui import theme
from dashcart.ui.screens.common import basket_list, header, product_tile, tile_name_height
from dashcart.ui.screens.produce import is_loose
from dashcart.ui.view import View
from dashcart.ui.widgets import Button, Panel, Text, Widget


def build(v: View) -> list[Widget]:
    lay, tr, snap = v.layout, v.tr, v.snap
    r = lay.shopping()
    count = sum(line.qty if line.sold_by == "unit" else 1 for line in snap.lines)
    widgets = header(v, f"{tr('basket')} \u00b7 {tr.plural('items', count)}")
    widgets += basket_list(v, r["list"], r["scroll_up"], r["scroll_down"])
    widgets += [
        Panel(r["totals"], id="totals_bg", color=theme.HEADER_BG),
        Text(r["total"].inflate(-2 * lay.pad, 0), id="total", text=f"{tr('total')}  {tr.money(snap.total_cents)}",
             size=lay.font("huge"), bold=True, color=theme.HEADER_INK),
    ]
    if snap.savings_cents:
        widgets.append(Text(r["savings"].inflate(-2 * lay.pad, 0), id="savings",
                            text=f"{tr('savings')} {tr.money(snap.savings_cents)}", size=lay.font("large"),
                            bold=True, color=(150, 240, 170), align="right"))
    zone = tr.zone(snap.zone) if snap.zone else ""
    widgets.append(Text(r["nearby_title"], id="nearby_title",
                        text=f"{tr('nearby')}" + (f" \u00b7 {zone}" if zone else ""),
                        size=lay.font("large"), bold=True))
    shown = snap.nearby[:lay.nearby_max]
    if not shown:
        widgets.append(Text(r["nearby"], id="nearby_none", text=tr("nearby.none"), size=lay.font("body"),
                            color=theme.MUTED, align="center"))
    cells = lay.nearby_tiles(len(shown))
    deals = [tr.deal(product.deal_terms, product.deal) for product in shown]
    name_h = tile_name_height(v, [(rect, p.name, deal) for rect, p, deal in zip(cells, shown, deals)]) \
        if lay.portrait else 0
    for rect, product, deal in zip(cells, shown, deals):
        tap = (lambda code=product.code: v.post("produce", code)) if is_loose(product) else None
        widgets += product_tile(v, rect, product.code, product.name, product.image,
                                tr.unit_price(product.price_cents, product.sold_by), deal,
                                on_tap=tap, id_prefix="nearby", vertical=lay.portrait, name_h=name_h)
    widgets += [
        Button(r["produce"], id="produce", label=tr("produce"), size=lay.font("large"),
               on_tap=lambda: v.open("produce")),
        Button(r["remove"], id="remove", label=tr("remove"), size=lay.font("large"), style="secondary",
               enabled=bool(snap.lines), on_tap=lambda: v.open("remove")),
    ]
    return widgets
