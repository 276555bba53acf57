"""Receipts (text and HTML): the local one when no store is configured (the demo cart, nothing
charged), and the store's when it accepted an order: what the STORE charged, at its prices,
line by line (the store prices the order; the cart's own prices are only what it asked)."""

from __future__ import annotations

import html
import os
import tempfile
from pathlib import Path
from typing import Any

from dashcart.core.checkout.order import mask_email


def _money(cents: int, currency: str) -> str:
    if currency in ("KRW", "JPY"):  # no minor unit in use
        return f"{cents:,} {currency}"
    return f"{cents // 100:,}.{cents % 100:02d} {currency}"


def _line_text(line: dict[str, Any], currency: str) -> tuple[str, str]:
    if line["sold_by"] == "weight" and line.get("weight_g") is not None:
        what = f"{line['name']} {line['weight_g'] / 1000:.3f} kg @ {_money(line['unit_price_cents'], currency)}/kg"
    else:
        what = f"{line['qty']} x {line['name']}"
    return what, _money(line["price_cents"], currency)


def receipt_text(order: dict[str, Any]) -> str:
    currency = order["currency"]
    rows = [_line_text(line, currency) for line in order["lines"]]
    width = max([len(w) for w, _ in rows] + [20])
    out = ["dashcart receipt", f"order {order['order_id']}  cart {order['cart_id']}", ""]
    out += [f"{what:<{width}}  {price:>14}" for what, price in rows]
    out.append("")
    if order["savings_cents"]:
        out.append(f"{'savings':<{width}}  {_money(-order['savings_cents'], currency):>14}")
    out.append(f"{'TOTAL':<{width}}  {_money(order['total_cents'], currency):>14}")
    out.append("")
    out.append("Not charged: this cart has no store connection (demo).")
    return "\n".join(out) + "\n"


def receipt_html(order: dict[str, Any]) -> str:
    currency = order["currency"]
    esc = html.escape
    rows = "".join(f"<tr><td>{esc(w)}</td><td class=p>{esc(p)}</td></tr>"
                   for w, p in (_line_text(line, currency) for line in order["lines"]))
    return (f"<!doctype html><html><head><meta charset=utf-8><title>Receipt {esc(order['order_id'])}</title>"
            "<style>body{font-family:sans-serif;max-width:30em}td.p{text-align:right}</style></head><body>"
            f"<h1>Receipt</h1><p>Order {esc(order['order_id'])}, cart {esc(order['cart_id'])}</p>"
            f"<table>{rows}<tr><th>Total</th><th class=p>{esc(_money(order['total_cents'], currency))}</th></tr>"
            "</table><p>Not charged: this cart has no store connection (demo).</p></body></html>\n")


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def safe_name(order_id: str) -> str:
    """An order id as a file name."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in order_id)


def write_local_receipt(directory: Path, order: dict[str, Any]) -> Path:
    """Write ``<order_id>.txt`` and ``.html`` under ``directory``; returns the text file's path."""
    directory.mkdir(parents=True, exist_ok=True)
    safe = safe_name(order["order_id"])
    text_path = directory / f"{safe}.txt"
    _write_atomic(text_path, receipt_text(order))
    _write_atomic(directory / f"{safe}.html", receipt_html(order))
    return text_path


def charged_order(order: dict[str, Any], reply: dict[str, Any]) -> dict[str, Any]:
    """The order as the store charged it: its lines' prices and savings, its totals."""
    charged = dict(order)
    lines = reply.get("lines")
    if isinstance(lines, list) and len(lines) == len(order["lines"]):
        charged["lines"] = [{**mine, **{k: theirs[k] for k in ("unit_price_cents", "savings_cents", "price_cents",
                                                                 "weight_g") if k in theirs}}
                            for mine, theirs in zip(order["lines"], lines)]
    for key in ("total_cents", "savings_cents", "subtotal_cents", "currency"):
        if key in reply:
            charged[key] = reply[key]
    return charged


def priced_late_s(order: dict[str, Any], reply: dict[str, Any]) -> float:
    """How long after the order's ``placed_at`` the store priced an order it repriced (its
    ``priced_at``); 0 when it did not reprice, priced at the checkout, or either time is missing.
    The receipt and the paid screen say it."""
    if not reply.get("repriced"):
        return 0.0
    placed, priced = order.get("placed_at"), reply.get("priced_at")
    if (not isinstance(placed, (int, float)) or not isinstance(priced, (int, float))
            or isinstance(placed, bool) or isinstance(priced, bool)):
        return 0.0
    late = float(priced) - float(placed)
    return late if late >= 1.0 else 0.0


def _duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 1:
        return f"{int(seconds)} s"
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def store_receipt_text(order: dict[str, Any], reply: dict[str, Any]) -> str:
    """The receipt of an accepted order: what the store charged."""
    text = receipt_text(charged_order(order, reply))
    note = "Charged by the store"
    if reply.get("repriced"):
        note += " at its own prices"
        late = priced_late_s(order, reply)
        if late:
            # a delayed order is priced when it reaches the store, not at the checkout (the
            # store cannot tell a late order from a backdated one): say so, or the shopper is
            # left wondering why the promotion they saw is not on the receipt
            note += f" when the order reached it, {_duration(late)} after checkout"
        note += f" (the cart had {_money(order['total_cents'], order['currency'])})"
    to = (reply.get("receipt") or {}).get("to", "") if isinstance(reply.get("receipt"), dict) else ""
    if to:
        note += f"; receipt sent to {mask_email(to)}"
    return text.replace("Not charged: this cart has no store connection (demo).", note + ".")


def write_store_receipt(directory: Path, order: dict[str, Any], reply: dict[str, Any]) -> Path:
    """Write ``<order_id>.txt`` (what the store charged) under ``directory``; returns its path."""
    directory.mkdir(parents=True, exist_ok=True)
    text_path = directory / f"{safe_name(order['order_id'])}.txt"
    _write_atomic(text_path, store_receipt_text(order, reply))
    return text_path
