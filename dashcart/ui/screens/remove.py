"""Removing an item by touch: tap its line, then take it out; the scale confirms."""

from __future__ import annotations

from dashcart.ui.screens.common import basket_list, choice, header
from dashcart.ui.view import View
from dashcart.ui.widgets import Button, Text, Widget


def build(v: View) -> list[Widget]:
    lay, tr = v.layout, v.tr
    r = lay.list_screen()

    def pick(code: str) -> None:
        line = next((ln for ln in v.snap.lines if ln.code == code), None)
        v.post("remove", code)
        v.open("remove_pending")
        v.ui.pending_remove = code
        v.ui.pending_remove_qty = line.qty if line else 0

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


def removal_done(v: View) -> bool:
    """The scale confirmed: the line is gone or has fewer items than when the shopper tapped it."""
    line = next((ln for ln in v.snap.lines if ln.code == v.ui.pending_remove), None)
    return line is None or line.qty < v.ui.pending_remove_qty
