"""Checkout: lane detected -> summary -> paying -> paid (receipt sent, if any); or why it is held."""

from __future__ import annotations

import math

from dashcart.snapshot import CheckoutStage, CheckoutView, SessionState, Snapshot
from dashcart.ui import theme
from dashcart.ui.layout import split_rows
from dashcart.ui.screens.common import basket_list, choice, header, lines_needed
from dashcart.ui.view import View
from dashcart.ui.widgets import Button, Panel, Text, Widget


def build(v: View) -> list[Widget]:
    lay, tr, snap = v.layout, v.tr, v.snap
    co = snap.checkout or CheckoutView(stage=CheckoutStage.PAID if snap.state == SessionState.DONE
                                       else CheckoutStage.LANE)
    if co.stage == CheckoutStage.PAID:
        return _done(v, co)
    if co.stage in (CheckoutStage.FAILED, CheckoutStage.BLOCKED):
        title = tr("checkout.failed") if co.stage == CheckoutStage.FAILED else tr("checkout.blocked")
        text = tr.message(co.reason_key, (), co.reason) or (tr("checkout.answer_first") if snap.questions else "")
        buttons = [("call_staff", tr("question.call_staff"), "primary", lambda: v.post("call_staff", "checkout"))]
        if co.cancellable:
            buttons.append(("checkout_cancel", tr("cancel"), "secondary", lambda: v.post("cancel", "checkout")))
        return header(v, tr("checkout.lane")) + choice(v, title, f"{text}\n{tr('checkout.what_now')}".strip(),
                                                        buttons)
    if co.stage == CheckoutStage.LANE:
        title, status = tr("checkout.lane"), tr("checkout.lane_detail")
    else:
        # A practice cart charges nothing: it must not promise a card payment either.
        practice = "practice_" if v.snap.practice else ""
        if co.stage == CheckoutStage.PAYING:
            title, status = tr("checkout.summary"), tr(f"checkout.{practice}paying")
        elif co.countdown:
            title, status = tr("checkout.summary"), tr(f"checkout.{practice}pay_in",
                                                       s=math.ceil(max(0.0, co.seconds_left)))
        else:
            # Still in the lane: the order goes when the cart passes the exit beacon, not on a clock.
            title, status = tr("checkout.summary"), tr(f"checkout.{practice}pay_at_exit")
    # What happens next is said in full ("...when you leave the lane (nothing is charged)"): it
    # wraps, and the list of lines (which scrolls) gives up the height.
    size = lay.font("large")
    r = lay.checkout(lines_needed(v, status, size, True, lay.checkout()["status"].w, lay.px(40), 3))
    widgets = header(v, tr("checkout.lane")) + [
        Text(r["title"], id="checkout_title", text=title, size=lay.font("title"), bold=True),
        Text(r["status"], id="checkout_status", text=status, size=size, color=theme.PRIMARY, bold=True, wrap=True),
    ]
    widgets += basket_list(v, r["list"], r["scroll_up"], r["scroll_down"], id_prefix="checkout")
    totals = r["totals"]
    total_r, save_r = split_rows(totals.inflate(-2 * lay.pad, -2 * lay.pad), [None, None], lay.pad)
    widgets += [Panel(totals, id="checkout_totals_bg", color=theme.HEADER_BG),
                Text(total_r, id="checkout_total", text=f"{tr('total')}  {tr.money(snap.total_cents)}",
                     size=lay.font("huge"), bold=True, color=theme.HEADER_INK, align="center")]
    if snap.savings_cents:
        widgets.append(Text(save_r, id="checkout_savings", text=f"{tr('savings')} {tr.money(snap.savings_cents)}",
                            size=lay.font("large"), color=(150, 240, 170), align="center"))
    widgets.append(Button(r["cancel"], id="checkout_cancel", label=tr("cancel"), size=lay.font("large"),
                          style="secondary", enabled=co.cancellable, on_tap=lambda: v.post("cancel", "checkout")))
    if co.stage == CheckoutStage.SUMMARY and co.payable:
        # only past the lane's exit: before it the order waits for the exit anyway
        widgets.append(Button(r["pay"], id="checkout_pay", label=tr("checkout.pay_now"), size=lay.font("large"),
                              on_tap=lambda: v.post("confirm", "checkout")))
    return widgets


def done_words(snap: Snapshot, co: CheckoutView) -> tuple[str, str]:
    """The title and first line once the cart is through the lane: "Paid" only when the store
    took the order (the card is charged); a practice cart says nothing was charged."""
    if co.status == "empty":
        return "checkout.nothing_to_pay", ""
    if co.status == "local" or (snap.practice and co.status != "accepted"):
        return "checkout.thanks", "checkout.not_charged"
    if co.status == "queued":
        return "checkout.thanks", "checkout.queued"
    if co.status == "accepted":
        return "checkout.paid", "checkout.receipt_sent" if co.receipt_to else ""
    return "checkout.thanks", ""


def _done(v: View, co: CheckoutView) -> list[Widget]:
    lay, tr, snap = v.layout, v.tr, v.snap
    rects = lay.choice_screen(1)
    title, first = done_words(snap, co)
    lines = [tr(first) if first else ""]
    if first == "checkout.receipt_sent":
        lines = [tr("checkout.receipt_to", to=co.receipt_to)]
    # What the shopper saw: the order's total as sent (the basket may have been priced anew since).
    shown = co.ordered_cents if co.ordered_cents is not None else snap.total_cents
    # What the store charged (its own prices), once it answered; the order's total until then.
    paid = co.charged_cents if co.charged_cents is not None else shown
    if co.priced_late_s > 0:
        # The order reached the store past its grace (the cart was offline) and was charged the
        # store's prices on arrival: the total charged, then when and by how much that differs.
        lines.append(f"{tr('total')} {tr.money(paid)}")
        key = "more" if paid > shown else "less" if paid < shown else "same"
        lines.append(tr(f"checkout.repriced_{key}", late=tr.duration(co.priced_late_s),
                        diff=tr.money(abs(paid - shown)), shown=tr.money(shown)))
    elif paid != shown:
        # the store priced it otherwise (a promotion over, a price changed): said, not slipped in
        lines.append(tr("checkout.store_charged", charged=tr.money(paid), shown=tr.money(shown)))
    else:
        lines.append(f"{tr('total')} {tr.money(paid)}")
    if co.order_id:
        lines.append(tr("checkout.order", id=co.order_id))
    lines.append(tr("checkout.return_cart"))
    return header(v, tr("checkout.lane")) + [
        Text(rects["title"], id="paid_title", text=tr(title), size=lay.font("huge"), bold=True,
             color=theme.OK, align="center"),
        Text(rects["text"], id="paid_text", text="\n".join(ln for ln in lines if ln), size=lay.font("large"),
             align="center", wrap=True),
        Button(rects["button0"], id="signout", label=tr("help.signout"), size=lay.font("large"), style="secondary",
               on_tap=lambda: v.post("signout")),
    ]
