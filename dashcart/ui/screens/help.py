"""Help, the staff PIN and the staff override menu."""

from __future__ import annotations

from functools import partial

from dashcart.events import STAFF_OVERRIDES
from dashcart.snapshot import SessionState
from dashcart.ui import theme
from dashcart.ui.screens.common import header
from dashcart.ui.screens.question import build_plu
from dashcart.ui.view import View
from dashcart.ui.widgets import Button, Text, Widget


def build(v: View) -> list[Widget]:
    lay, tr = v.layout, v.tr
    r = lay.help()
    how = "\n".join(f"\u2022 {tr(f'help.how{i}')}" for i in range(1, 5))
    other = "ko" if tr.language == "en" else "en"
    signed_in = v.snap.state != SessionState.IDLE

    def sign_out() -> None:
        v.post("signout")
        v.open(None)
    return header(v, tr("help.title"), show_help=False) + [
        Text(r["title"], id="help_title", text=tr("help.title"), size=lay.font("title"), bold=True),
        Text(r["text"], id="help_text", text=how, size=lay.font("large"), wrap=True, valign="top"),
        Button(r["call"], id="call_staff", label=tr("help.call"), size=lay.font("large"),
               on_tap=lambda: v.post("call_staff", "help")),
        Button(r["language"], id="help_language", label=tr("help.language"), size=lay.font("large"),
               style="secondary", on_tap=lambda: v.post("language", other)),
        Button(r["status"], id="help_status", label=tr("help.status"), size=lay.font("large"), style="secondary",
               on_tap=lambda: v.open("trouble")),
        Button(r["staff"], id="help_staff", label=tr("help.staff"), size=lay.font("large"), style="secondary",
               enabled=v.staff_enabled, on_tap=lambda: v.open("staff_pin")),
        Button(r["signout"], id="signout", label=tr("help.signout"), size=lay.font("large"), style="secondary",
               enabled=signed_in, on_tap=sign_out),
        Button(r["close"], id="close", label=tr("close"), size=lay.font("large"), style="secondary",
               on_tap=lambda: v.open(None)),
    ]


def build_pin(v: View) -> list[Widget]:
    widgets = build_plu(v, v.tr("staff.title"), pad="pin")
    for w in widgets:
        if not isinstance(w, Text):
            continue
        if w.id == "plu_title":
            w.text = v.tr("staff.title")
        elif w.id == "pin_display":
            w.text = "\u25cf" * len(v.ui.digits) or "\u2013"
        elif w.id == "plu_hint":
            w.text = ""
    return widgets


def build_menu(v: View) -> list[Widget]:
    lay, tr = v.layout, v.tr
    r = lay.staff_menu()
    widgets = header(v, tr("staff.menu"), show_help=False) + [
        Text(r["title"], id="staff_title", text=tr("staff.menu"), size=lay.font("title"), bold=True),
        Text(r["status"], id="staff_status",
             text=tr("staff.status", q=len(v.snap.questions), n=len(v.snap.lines), total=tr.money(v.snap.total_cents)),
             size=lay.font("body"), color=theme.MUTED),
    ]
    for name in STAFF_OVERRIDES:
        widgets.append(Button(r[name], id=f"staff:{name}", label=tr(f"staff.{name}"), size=lay.font("large"),
                              style="danger" if name == "end_session" else "primary",
                              on_tap=partial(v.press, "staff", name)))
    widgets.append(Button(r["close"], id="close", label=tr("close"), size=lay.font("large"), style="secondary",
                          on_tap=lambda: v.open(None)))
    return widgets
