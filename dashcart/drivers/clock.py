"""How far off the system clock may be, as the kernel says: the error bound NTP keeps.

The lane beacons' rotating identifiers are checked against the cart's wall clock, so the cart
must be able to prove that clock. Linux keeps, for the NTP daemon (systemd-timesyncd,
chrony), a maximum error (``adjtimex``'s ``maxerror``): set by the daemon at each update and
grown by the kernel by 500 ppm of elapsed time until the next, so it bounds the clock's error
for as long as the daemon keeps the clock. At 16 s the kernel calls the clock unsynchronised
(systemd's ``NTPSynchronized`` reads the same bound). Reading it needs no privilege.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import math
import sys

log = logging.getLogger(__name__)

UNSYNCHRONISED_US = 16_000_000   # the kernel's ceiling: at or past it there is no bound at all


class _Timeval(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long)]


class _Timex(ctypes.Structure):
    """``struct timex`` (linux/timex.h): the fields up to ``tai``, then the reserved tail."""

    _fields_ = [("modes", ctypes.c_uint), ("offset", ctypes.c_long), ("freq", ctypes.c_long),
                ("maxerror", ctypes.c_long), ("esterror", ctypes.c_long), ("status", ctypes.c_int),
                ("constant", ctypes.c_long), ("precision", ctypes.c_long), ("tolerance", ctypes.c_long),
                ("time", _Timeval), ("tick", ctypes.c_long), ("ppsfreq", ctypes.c_long),
                ("jitter", ctypes.c_long), ("shift", ctypes.c_int), ("stabil", ctypes.c_long),
                ("jitcnt", ctypes.c_long), ("calcnt", ctypes.c_long), ("errcnt", ctypes.c_long),
                ("stbcnt", ctypes.c_long), ("tai", ctypes.c_int), ("_reserved", ctypes.c_int * 11)]


def _adjtimex() -> _Timex | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        timex = _Timex()   # modes 0: read only
        if libc.adjtimex(ctypes.byref(timex)) < 0:
            log.warning("clock: adjtimex failed (errno %d)", ctypes.get_errno())
            return None
    except (OSError, AttributeError) as exc:
        log.warning("clock: cannot ask the kernel about the clock (%s)", exc)
        return None
    return timex


def clock_error_s() -> float | None:
    """The most the wall clock may be off now, in seconds; ``math.inf`` when the kernel says it
    is not synchronised; None where the kernel cannot be asked (not Linux)."""
    timex = _adjtimex()
    if timex is None:
        return None
    if timex.maxerror >= UNSYNCHRONISED_US or timex.maxerror < 0:
        return math.inf
    return timex.maxerror / 1e6


def describe(error_s: float | None) -> str:
    """One line for doctor and the logs."""
    if error_s is None:
        return "the kernel cannot be asked how far off the clock is"
    if math.isinf(error_s):
        return "the clock is not synchronised (NTP)"
    return f"the clock is synchronised (NTP), at most {error_s * 1000:.0f} ms off"
