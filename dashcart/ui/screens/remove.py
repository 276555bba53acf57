"""Removing an item by touch: tap its line, then take it out; the scale confirms."""

from __future__ import annotations

from dashcart.ui.screens.common import basket_list, choice, header
from dashcart.ui.view import View
from dashcart.ui.widgets import Button, Text, Widget


def build(v: View) -> list[Widget]:
    lay, tr = v.layout, v.tr
    r = lay.list_screen()

    def pick(code: str) -> None:
        v.post("remove", code)
        v.open("remove_pending")
        v.ui.pending_remove = code
        v.ui.pending_remove_qty = _in_basket(v, code)

    widgets = header(v, tr("remove"))
    widgets.append(Text(r["title"], id="remove_title", text=tr("remove.title"), size=lay.font("large"), bold=True))
    widgets += basket_list(v, r["list"], r["scroll_up"], r["scroll_down"], on_tap_line=pick, id_prefix="remove")
    widgets.append(Button(r["buttons"], id="back", label=tr("back"), size=lay.font("large"), style="secondary",
                          on_tap=lambda: v.open(None)))
    return widgets


def build_pending(v: View) -> list[Widget]:
    tr = v.tr
    code = v.ui.pending_remove
    line = next((ln for ln in v.snap.lines if ln.code == code), None)
    name = line.name if line else code

    def keep() -> None:
        v.post("cancel", code)
        v.open(None)
    return header(v, tr("remove")) + choice(v, tr("remove.take_out", name=name), tr("remove.scale_confirms"), [
        ("keep", tr("remove.keep"), "secondary", keep),
    ])


def _in_basket(v: View, code: str) -> int:
    """Items of ``code`` in the basket, every line counted (two weighed lots of bananas are two
    lines of one code: taking either out must count)."""
    return sum(ln.qty for ln in v.snap.lines if ln.code == code)


def removal_done(v: View) -> bool:
    """The scale confirmed: fewer items of the product are in the basket than when it was tapped."""
    return _in_basket(v, v.ui.pending_remove) < v.ui.pending_remove_qty
