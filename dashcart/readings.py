"""What the sensors deliver, as values: the vocabulary shared by the drivers that produce
readings and the core that consumes them.

The drivers (scale, cameras, beacons) make these; the pure core (weighing, vision, location)
takes them. Neither needs the other's modules for it, so the core never imports a driver.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Sample:
    """One weight reading: ``raw`` counts (hx711-bridge) or ``grams`` (mt-sics)."""

    t: float
    raw: int | None = None
    grams: float | None = None
    stable: bool | None = None    # the trade scale's own stability flag
    saturated: bool = False


@dataclass(frozen=True)
class Gap:
    """Readings were lost before ``t`` (``lost`` of them; -1 when unknown)."""

    t: float
    lost: int = -1


@dataclass(frozen=True)
class ScaleZeroed:
    """A trade scale acknowledged a zero (``Z A``) or a tare (``T S ...``) at ``t``: its readings
    jump by the load it took off, which is not an item going out."""

    t: float
    kind: str = "zero"   # "zero" | "tare"


@dataclass(frozen=True)
class Frame:
    """One timestamped frame (BGR ``uint8``); ``t`` on the event clock."""

    camera: str
    t: float
    image: np.ndarray


def normalize_beacon_key(key: str) -> str:
    """``<kind>:<id>`` in the parser's spelling (lower case, dashed iBeacon UUID).

    Site descriptions are typed by people: accept an iBeacon UUID with or without dashes.
    Raises ValueError naming what is wrong.
    """
    kind, sep, ident = key.strip().partition(":")
    kind = kind.lower()
    if not sep or not ident:
        raise ValueError(f"{key!r} is not <kind>:<id>")
    if kind == "ibeacon":
        parts = ident.split(":")
        if len(parts) != 3:
            raise ValueError(f"{key!r}: an iBeacon id is <uuid>:<major>:<minor>")
        try:
            beacon_uuid = uuid.UUID(parts[0])
            major, minor = int(parts[1]), int(parts[2])
        except ValueError:
            raise ValueError(f"{key!r}: bad iBeacon uuid, major or minor") from None
        if not (0 <= major <= 65535 and 0 <= minor <= 65535):
            raise ValueError(f"{key!r}: major and minor are 0..65535")
        return f"ibeacon:{beacon_uuid}:{major}:{minor}"
    if kind == "eddystone-uid":
        ns, _, inst = ident.lower().partition(":")
        if len(ns) != 20 or len(inst) != 12 or not _is_hex(ns + inst):
            raise ValueError(f"{key!r}: an Eddystone UID is <20 hex namespace>:<12 hex instance>")
        return f"eddystone-uid:{ns}:{inst}"
    if kind == "eddystone-eid":
        # In a site description the id names the lane beacon (its identity key derives from it).
        return f"eddystone-eid:{ident}"
    raise ValueError(f"{key!r}: kind must be ibeacon, eddystone-uid or eddystone-eid")


def _is_hex(text: str) -> bool:
    try:
        int(text, 16)
    except ValueError:
        return False
    return True
