"""Trouble: which device is down and what the shopper should do meanwhile."""

from __future__ import annotations

from dashcart.snapshot import DeviceFault
from dashcart.ui.screens.common import choice, header, troubled_devices
from dashcart.ui.view import View
from dashcart.ui.widgets import Widget


def advice(v: View) -> str:
    tr = v.tr
    lines = []
    for d in troubled_devices(v):
        kind = d.device.split(":")[0]
        if kind == "storage":
            # The cart cannot save (full disk, read-only) or set a damaged journal aside: the
            # shopper's words, then the runtime's message (file, error, changes not saved) for staff.
            what = "trouble.storage" if d.message.startswith("cannot save") or not d.message else \
                "trouble.storage_damaged"
            lines.append(f"{tr(what)}. {tr('trouble.storage_do')}.")
            if d.message:
                lines.append(d.message)
        elif kind == "scale" and d.fault == DeviceFault.TOO_HEAVY:
            # the scale works: the load is past what the basket is built to weigh, which the
            # shopper can put right (a saturated bridge is staff's: "not working", below)
            lines.append(f"{tr('trouble.too_heavy')}. {tr('trouble.too_heavy_do')}.")
        elif kind in ("scale", "camera", "network", "bluetooth"):
            lines.append(f"{tr(f'trouble.{kind}')}. {tr(f'trouble.{kind}_do')}.")
        else:
            lines.append(f"{tr('trouble.other', device=d.device)}. {tr('trouble.other_do')}.")
    return "\n".join(lines)


def build(v: View) -> list[Widget]:
    tr = v.tr
    troubled = troubled_devices(v)
    title = tr("trouble.title") if troubled else tr("trouble.ok")
    return header(v, tr("help.status"), show_help=False) + choice(v, title, advice(v), [
        ("call_staff", tr("help.call"), "primary", lambda: v.post("call_staff", "trouble")),
        ("close", tr("close"), "secondary", lambda: v.open(None)),
    ])
