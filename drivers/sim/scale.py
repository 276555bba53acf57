"""The simulated HX711 bridge: load scripts, their exact wire lines, and (below) the live
simulator on a pseudo-terminal. The pure part lives in :mod:`drivers.sim.scale_script`."""

from __future__ import annotations

from drivers.sim.scale_script import (  # noqa: F401  (re-exported: the sim's public names)
    BANNER, FAULT_KINDS, RATE_HZ, Drift, Fault, Lift, LoadEvent, LoadScript, Place, Push, TrueChange,
    format_scale_log, render_scale_log,
)
