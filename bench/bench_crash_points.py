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

from dashcart.core.catalogue import Catalogue
from dashcart.trips.generator import generate_trip
from tests.conftest import SHARED_DATA
from tests.trips.crash_harness import drive, record_events


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
    totals = dict(points=0, lost=0, doubled=0, stuck=0, changeable=0, order_mismatch=0, questions=0, trips_done=0)
    t0 = time.monotonic()
    try:
        for i in range(args.trips):
            seed = args.seed + i
            trip = root / f"trip{seed}"
            truth = generate_trip(trip, catalogue, SHARED_DATA / "grocery-store", seed, events=args.events)
            events = record_events(trip, catalogue, truth)
            reference = drive(events, catalogue, truth, root / f"ref{seed}")
            totals["trips_done"] += reference.state == "done"
            bad = 0
            for k in range(1, reference.writes + 1):
                for when in ("before", "after"):
                    out = drive(events, catalogue, truth, root / f"{seed}-{k}-{when}", crash_at=k, when=when,
                                reference=reference)
                    totals["points"] += 1
                    lost = [x for x in reference.basket if x not in out.basket]
                    extra = [x for x in out.basket if x not in reference.basket]
                    totals["lost"] += len(lost)
                    totals["doubled"] += len(extra)
                    totals["stuck"] += out.state != reference.state
                    totals["changeable"] += out.changeable_with_order
                    totals["order_mismatch"] += [o[1:] for o in out.orders] != [o[1:] for o in reference.orders]
                    bad += bool(lost or extra or out.state != reference.state or out.changeable_with_order)
            print(f"trip {seed}: {len(events)} events, {reference.writes} durable writes, "
                  f"{2 * reference.writes} crash points, {bad} wrong; ended {reference.state}", flush=True)
            shutil.rmtree(trip, ignore_errors=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if args.demo:
        from tests.trips.crash_harness import record_demo
        recorded = record_demo(root / "demo")
        options = dict(settings=recorded.settings, fusion=recorded.fusion)
        reference = drive(recorded.events, recorded.catalogue, None, root / "demo-ref", **options)
        bad = 0
        for k in range(1, reference.writes + 1):
            for when in ("before", "after"):
                out = drive(recorded.events, recorded.catalogue, None, root / f"demo-{k}-{when}", crash_at=k,
                            when=when, reference=reference, **options)
                totals["points"] += 1
                lost = [x for x in reference.basket if x not in out.basket]
                extra = [x for x in out.basket if x not in reference.basket]
                totals["lost"] += len(lost)
                totals["doubled"] += len(extra)
                totals["stuck"] += out.state != reference.state
                totals["changeable"] += out.changeable_with_order
                totals["order_mismatch"] += [o[1:] for o in out.orders] != [o[1:] for o in reference.orders]
                bad += bool(lost or extra or out.state != reference.state or out.changeable_with_order)
        print(f"demo trip: {len(recorded.events)} events, {reference.writes} durable writes, "
              f"{2 * reference.writes} crash points, {bad} wrong; ended {reference.state}", flush=True)
    print(f"{args.trips} trips ({totals['trips_done']} checked out){' and the demo trip' if args.demo else ''}, "
          f"{totals['points']} crash points: "
          f"{totals['lost']} lost lines, {totals['doubled']} doubled, {totals['stuck']} stuck checkouts, "
          f"{totals['changeable']} orders stored while the basket could change, "
          f"{totals['order_mismatch']} order lists different from the run without a crash; "
          f"{time.monotonic() - t0:.0f} s")
    shutil.rmtree(root, ignore_errors=True)
    return 0 if not any(totals[k] for k in ("lost", "doubled", "stuck", "changeable", "order_mismatch")) else 1


if __name__ == "__main__":
    sys.exit(main())
