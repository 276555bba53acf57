"""What the screen remembers that the controller does not: which overlay is open, what the
shopper has typed, how far the basket is scrolled. Named modes, one at a time."""

from __future__ import annotations

from dataclasses import dataclass

# The overlays a shopper can open; None: the screen follows the session (welcome, shopping,
# question, checkout).
MODES = (None, "produce", "remove", "remove_pending", "help", "staff_pin", "staff_menu", "trouble",
         "none_fits", "question_plu")


@dataclass
class UiState:
    language: str = "en"
    mode: str | None = None
    scroll: int = 0                  # first basket line shown
    produce_tab: str = "search"      # search | plu
    query: str = ""                  # produce search text
    digits: str = ""                 # PLU or PIN being typed
    question_id: int | None = None   # the question a PLU entry / none-fits answers
    pending_remove: str = ""         # code the shopper said they will take out
    pending_remove_qty: int = 0
    note: str = ""                   # a short line of the UI's own (wrong PIN, staff called)
    note_until: float = 0.0
    trouble_seen: frozenset[str] = frozenset()  # devices whose trouble screen was dismissed

    def open(self, mode: str | None) -> None:
        assert mode in MODES, mode
        self.mode = mode
        self.digits = ""
        if mode != "produce":
            self.query = ""
