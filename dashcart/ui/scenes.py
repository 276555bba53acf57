"""A named screen to draw: a snapshot and the overlay the shopper has open.

The snapshots come from the real controller (``dashcart.sim.demo_scenes`` plays the demo's
trip through it); this module only says how the UI is set up to show one.
"""

from __future__ import annotations

from dataclasses import dataclass

from dashcart.snapshot import Snapshot


@dataclass(frozen=True)
class Scene:
    """``snapshot`` as the controller published it; ``mode`` the overlay the shopper opened
    (help, produce, remove...), ``query``/``digits`` what they typed so far."""

    name: str
    snapshot: Snapshot
    mode: str | None = None
    query: str = ""
    digits: str = ""
    produce_tab: str = "search"
    pending_remove: str = ""
