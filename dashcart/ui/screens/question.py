"""Questions: the cart will not guess, so the shopper picks what went in or out."""

from __future__ import annotations

import pygame

from dashcart.snapshot import Question
from dashcart.ui import theme
from dashcart.ui.layout import split_rows
from dashcart.ui.screens.common import choice, header, keypad, product_tile, tile_name_height
from dashcart.ui.view import View
from dashcart.ui.widgets import Button, Text, Widget

TITLES = {"added": "question.added", "removed": "question.removed", "unidentified": "question.unidentified",
          "produce": "question.produce", "remove_unknown": "question.remove_unknown"}


#: Removal answers that are no product (dashcart.snapshot.choice_kind): what the tile says.
NOT_PRODUCTS = {"own": ("question.own_things", "question.own_things_hint"),
                "unnamed": ("question.told_out_item", "question.told_out_item_hint")}


def current(v: View) -> Question:
    """The oldest question the shopper can answer by a tap: a "take it out" is answered by the
    scale, so a removal asked since (most likely that item coming out) comes before it."""
    return next((q for q in v.snap.questions if q.kind != "remove_unknown"), v.snap.questions[0])


def build(v: View) -> list[Widget]:
    lay, tr = v.layout, v.tr
    q = current(v)
    r = lay.question()
    sign = "+" if q.delta_g > 0 else "-"
    detail = tr("question.weight", w=sign + tr.weight(abs(q.delta_g)))
    if len(v.snap.questions) > 1:
        detail += f"  \u00b7  1 / {len(v.snap.questions)}"
    co = v.snap.checkout
    if co is not None and co.stage == "blocked":
        # in the lane: say that paying waits for this answer, not only ask
        widgets = header(v, tr("checkout.answer_to_pay"))
    else:
        widgets = header(v, f"{tr('total')}  {tr.money(v.snap.total_cents)}")
    if q.kind == "remove_unknown":
        # Nobody could name what went in, so it can't be sold: it must come out (the scale
        # closes the question) or staff must sort it out. Choosing or denying makes no sense.
        return widgets + choice(v, tr("question.remove_unknown"), f"{detail}. {tr('question.remove_unknown_hint')}", [
            ("call_staff", tr("question.call_staff"), "secondary",
             lambda: v.post("call_staff", f"question:{q.id}")),
        ])
    widgets += [
        Text(r["title"], id="question_title", text=tr(TITLES.get(q.kind, "question.added")),
             size=lay.font("title"), bold=True, align="center"),
        Text(r["detail"], id="question_detail", text=detail, size=lay.font("body"), color=theme.MUTED,
             align="center"),
    ]
    tiles = []
    for rect, cand in zip(lay.candidate_cells(len(q.candidates[:6])), q.candidates[:6]):
        # the price is for the quantity the weight says ("2 × juice"), or per kg
        price = tr.unit_price(cand.price_cents, cand.sold_by) if cand.price_cents else ""
        name = f"{cand.qty} \u00d7 {cand.name}" if cand.qty > 1 and cand.sold_by == "unit" else cand.name
        if cand.kind in NOT_PRODUCTS:
            # the shopper's own bag, or the item they were asked to take out: no product, no price
            name, price = (tr(key) for key in NOT_PRODUCTS[cand.kind])
        tiles.append((rect, cand, name, price))
    # Every name in full, however long: the end of a name is often all that tells two
    # look-alikes apart, and a wrong tap is a wrong bill.
    name_h = tile_name_height(v, [(rect, name, "") for rect, _, name, _ in tiles])
    for rect, cand, name, price in tiles:
        widgets += product_tile(v, rect, cand.code, name, cand.image, price, name_h=name_h,
                                on_tap=lambda code=cand.code: v.post("choose", code, q.id), id_prefix="candidate")
    if not q.candidates:
        area = r["candidates"]
        column = pygame.Rect(0, 0, min(area.w, lay.px(420)), 2 * lay.button_h + lay.pad)
        column.center = area.center
        plu_r, staff_r = split_rows(column, [None, None], lay.pad)
        widgets += [
            Button(plu_r, id="enter_plu", label=tr("question.enter_plu"), size=lay.font("large"),
                   on_tap=lambda: _enter_plu(v, q)),
            Button(staff_r, id="call_staff", label=tr("question.call_staff"), size=lay.font("large"),
                   style="secondary", on_tap=lambda: v.post("call_staff", f"question:{q.id}")),
        ]
    not_in = "question.nothing_removed" if q.kind == "removed" else "question.not_in_cart"
    widgets += [
        Button(r["not_in_cart"], id="not_in_cart", label=tr(not_in), size=lay.font("large"), style="secondary",
               on_tap=lambda: v.post("not_in_cart", "", q.id)),
        Button(r["none_fits"], id="none_fits", label=tr("question.none_fits"), size=lay.font("large"),
               on_tap=lambda: v.open("none_fits")),
    ]
    return widgets


def _enter_plu(v: View, q: Question) -> None:
    v.open("question_plu")
    v.ui.question_id = q.id


def build_none_fits(v: View) -> list[Widget]:
    tr = v.tr
    q = current(v)
    return header(v, tr("question.none_title")) + choice(v, tr("question.none_title"), tr("question.plu_hint"), [
        ("enter_plu", tr("question.enter_plu"), "primary", lambda: _enter_plu(v, q)),
        ("call_staff", tr("question.call_staff"), "secondary", lambda: v.post("call_staff", f"question:{q.id}")),
        ("back", tr("back"), "secondary", lambda: v.open(None)),
    ])


def build_plu(v: View, title: str, pad: str = "plu") -> list[Widget]:
    """A PLU keypad: for a question (answers it) or on the produce screen (starts weighing)."""
    lay, tr = v.layout, v.tr
    r = lay.plu_entry()
    widgets = header(v, title) + [
        Text(r["title"], id="plu_title", text=tr("question.enter_plu"), size=lay.font("large"), bold=True),
        Text(r["hint"], id="plu_hint", text=tr("question.plu_hint"), size=lay.font("body"), color=theme.MUTED,
             wrap=True, valign="top"),
        Button(r["back"], id="back", label=tr("back"), size=lay.font("large"), style="secondary",
               on_tap=lambda: v.open(None)),
    ]
    return widgets + keypad(v, r, pad, v.ui.digits or "\u2013")
