"""Crash points over generated trips: kill the cart just before and just after each durable write
(journal and outbox commits), restart it from its files, let the trip go on, and count what went
wrong against the same trip without a crash (see ``tests/trips/crash_harness.py`` for the model).

    python -m bench.bench_crash_points [--trips 20] [--events 10] [--no-demo]

Prints one line per trip and the totals: lost lines, doubled lines, stuck checkouts, and orders
stored while the screen still offered to change the basket (targets: 0, 0, 0, 0).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from dashcart.core.catalogue import Catalogue
from dashcart.events import Event
from dashcart.trips.generator import Truth, generate_trip
from tests.conftest import SHARED_DATA
from tests.trips.crash_harness import Outcome, drive, problems, record_demo, record_events

#: What a crash point can get wrong, counted over all of them (targets: 0 each).
WRONG = ("lost", "doubled", "stuck", "changeable", "order_mismatch")


def crash_every_write(events: list[Event], catalogue: Catalogue, truth: Truth | None, root: Path, name: str,
                      totals: dict[str, int], **options: Any) -> tuple[Outcome, int]:
    """The trip without a crash, then killed just before and just after each of its durable
    writes; adds what went wrong to ``totals``. Returns the run without a crash and how many
    crash points went wrong."""
    reference = drive(events, catalogue, truth, root / f"{name}-ref", **options)
    bad = 0
    for k in range(1, reference.writes + 1):
        for when in ("before", "after"):
            out = drive(events, catalogue, truth, root / f"{name}-{k}-{when}", crash_at=k, when=when,
                        reference=reference, **options)
            totals["points"] += 1
            totals["lost"] += sum(line not in out.basket for line in reference.basket)
            totals["doubled"] += sum(line not in reference.basket for line in out.basket)
            totals["stuck"] += out.state != reference.state
            totals["changeable"] += out.changeable_with_order
            totals["order_mismatch"] += [o[1:] for o in out.orders] != [o[1:] for o in reference.orders]
            bad += bool(problems(out, reference))
    return reference, bad


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trips", type=int, default=20)
    parser.add_argument("--events", type=int, default=10)
    parser.add_argument("--seed", type=int, default=100)
    parser.add_argument("--no-demo", dest="demo", action="store_false",
                        help="skip the demo's scripted trip (recorded live first: about 20 s)")
    args = parser.parse_args()
    catalogue = Catalogue.from_csv(SHARED_DATA / "catalogue" / "demo_store.csv", SHARED_DATA / "grocery-store")
    root = Path(tempfile.mkdtemp(prefix="dashcart-crash-", dir="/dev/shm" if Path("/dev/shm").is_dir() else None))
    totals = dict.fromkeys(("points", "trips_done", *WRONG), 0)
    t0 = time.monotonic()
    try:
        for i in range(args.trips):
            seed = args.seed + i
            trip = root / f"trip{seed}"
            truth = generate_trip(trip, catalogue, SHARED_DATA / "grocery-store", seed, events=args.events)
            events = record_events(trip, catalogue, truth)
            reference, bad = crash_every_write(events, catalogue, truth, root, str(seed), totals)
            totals["trips_done"] += reference.state == "done"
            print(f"trip {seed}: {len(events)} events, {reference.writes} durable writes, "
                  f"{2 * reference.writes} crash points, {bad} wrong; ended {reference.state}", flush=True)
            shutil.rmtree(trip, ignore_errors=True)
        if args.demo:
            recorded = record_demo(root / "demo")
            reference, bad = crash_every_write(recorded.events, recorded.catalogue, None, root, "demo", totals,
                                               settings=recorded.settings, fusion=recorded.fusion)
            print(f"demo trip: {len(recorded.events)} events, {reference.writes} durable writes, "
                  f"{2 * reference.writes} crash points, {bad} wrong; ended {reference.state}", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"{args.trips} trips ({totals['trips_done']} checked out){' and the demo trip' if args.demo else ''}, "
          f"{totals['points']} crash points: "
          f"{totals['lost']} lost lines, {totals['doubled']} doubled, {totals['stuck']} stuck checkouts, "
          f"{totals['changeable']} orders stored while the basket could change, "
          f"{totals['order_mismatch']} order lists different from the run without a crash; "
          f"{time.monotonic() - t0:.0f} s")
    return 0 if not any(totals[k] for k in WRONG) else 1


if __name__ == "__main__":
    sys.exit(main())
