"""The staff PIN check and the audit log of every staff override.

The PIN comes from the config (``ui.staff_pin_sha256``, or plain ``ui.staff_pin``). Every PIN
attempt and override is appended to ``<state dir>/staff-audit.log`` (JSON lines, fsynced);
an override whose audit line cannot be written is refused, so nothing happens unrecorded.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import time
from pathlib import Path

from dashcart.config import UiSection

log = logging.getLogger("dashcart.ui.staff")

MAX_WRONG = 5          # wrong PINs in a row before the pad locks
LOCK_SECONDS = 60.0


def staff_enabled(ui: UiSection) -> bool:
    return bool(ui.staff_pin or ui.staff_pin_sha256)


def pin_matches(pin: str, ui: UiSection) -> bool:
    if ui.staff_pin_sha256:
        digest = hashlib.sha256(pin.encode("utf-8")).hexdigest()
        return hmac.compare_digest(digest, ui.staff_pin_sha256.strip().lower())
    if ui.staff_pin:
        return hmac.compare_digest(pin.encode("utf-8"), ui.staff_pin.encode("utf-8"))
    return False


class AuditLog:
    """Append-only JSON lines: when (wall clock, for people), which cart, what."""

    def __init__(self, path: Path, cart_id: str) -> None:
        self.path = Path(path)
        self.cart_id = cart_id

    def write(self, event: str, **fields: object) -> bool:
        record = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "cart": self.cart_id, "event": event, **fields}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            return True
        except OSError as exc:
            log.error("staff audit log %s cannot be written (%s): override refused", self.path, exc)
            return False


class PinGate:
    """Counts wrong PINs and locks the pad for a while after too many."""

    def __init__(self, ui: UiSection, audit: AuditLog) -> None:
        self._ui = ui
        self._audit = audit
        self._wrong = 0
        self._locked_until = 0.0

    def locked(self, now: float) -> bool:
        return now < self._locked_until

    def check(self, pin: str, now: float) -> bool:
        if self.locked(now):
            self._audit.write("pin_locked")
            return False
        ok = pin_matches(pin, self._ui)
        self._audit.write("pin_ok" if ok else "pin_wrong")
        if ok:
            self._wrong = 0
            return True
        self._wrong += 1
        if self._wrong >= MAX_WRONG:
            self._locked_until = now + LOCK_SECONDS
            self._wrong = 0
        return False
