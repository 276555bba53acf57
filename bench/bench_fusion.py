"""Fusion accuracy and replay speed over generated trips (prints a table; not a test).

    python bench/bench_fusion.py [--trips 200] [--seed 1000] [--min-events 10] [--max-events 40]

Each trip is generated (cart.tripgen: the simulated scale's wire lines, frames of the
cameras' configured size, 640x480, with EAN-13 labels, beacons, the shopper's answers), replayed through the cart's own code
(cart.replay: decoder, weighing engine, vision, controller, fusion, journal) and compared
with its truth. Replay time is the process CPU time of the replay alone, on one core.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from cart.catalogue import Catalogue  # noqa: E402
from cart.replay import replay  # noqa: E402
from cart.tripgen import ProductImages, ShopperOracle, question_action, basket_of, compare, generate_trip  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trips", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1000)
    parser.add_argument("--min-events", type=int, default=10)
    parser.add_argument("--max-events", type=int, default=40)
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--keep", metavar="DIR", help="keep the trips (and failed ones) here")
    parser.add_argument("--no-vision", action="store_true")
    parser.add_argument("--frame", default="640x480", help="camera frame size WxH (default: the cameras' default)")
    args = parser.parse_args()

    data = Path(args.data)
    catalogue = Catalogue.from_csv(data / "catalogue" / "demo_store.csv")
    images = ProductImages(data / "grocery-store")
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="dashcart-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    frame_size = tuple(int(v) for v in args.frame.lower().split("x"))
    totals = dict(trips=0, events=0, questions=0, exact=0, silent=0, silent_trips=0, wrong_commits=0,
                  paid=0, trip_s=0.0, replay_cpu_s=0.0, gen_s=0.0, settled=0, frames=0)
    kinds: dict[str, int] = {}
    events_by_how: dict[str, int] = {}
    failures: list[str] = []
    vision_mode = None
    for i in range(args.trips):
        seed = args.seed + i
        trip_dir = work / f"trip-{seed}"
        shutil.rmtree(trip_dir, ignore_errors=True)
        t0 = time.perf_counter()
        truth = generate_trip(trip_dir, catalogue, data / "grocery-store", seed,
                              events=rng.randint(args.min_events, args.max_events), images=images,
                              frame_size=frame_size)
        totals["gen_s"] += time.perf_counter() - t0
        c0 = time.process_time()
        result = replay(trip_dir, catalogue=catalogue, vision=not args.no_vision, oracle=ShopperOracle(truth))
        totals["replay_cpu_s"] += time.process_time() - c0
        vision_mode = type(result.controller).__name__ and ("on" if result.vision else "off")
        out = result.as_json()
        cmp = compare(truth, basket_of(out), out["events"])
        totals["trips"] += 1
        totals["paid"] += bool(out["checkout"] and out["checkout"]["status"] in ("local", "accepted"))
        totals["events"] += len(truth.actions)
        totals["questions"] += cmp.questions
        totals["exact"] += cmp.exact
        totals["silent"] += len(cmp.silent)
        totals["silent_trips"] += bool(cmp.silent)
        totals["wrong_commits"] += cmp.wrong_commits
        totals["trip_s"] += truth.duration_s
        totals["settled"] += result.settled
        totals["frames"] += result.frames
        for entry in out["events"]:
            if entry["type"] == "question":
                action = question_action(truth, entry["t"])
                key = f"{entry['kind']} after {action.kind if action else '?'}/{action.how if action else '?'}"
                kinds[key] = kinds.get(key, 0) + 1
        for action in truth.actions:
            key = f"{action.kind}/{action.how}"
            events_by_how[key] = events_by_how.get(key, 0) + 1
        if not cmp.exact or cmp.wrong_commits:
            failures.append(f"trip-{seed}: wrong {cmp.wrong_codes} silent {cmp.silent} "
                            f"wrong commits {cmp.wrong_commits}")
        elif not args.keep:
            shutil.rmtree(trip_dir, ignore_errors=True)
        print(f"\r{i + 1}/{args.trips} trips", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    n = totals["trips"]
    q_rate = totals["questions"] / max(totals["events"], 1)
    exact_rate = totals["exact"] / max(n, 1)
    speed = totals["trip_s"] / max(totals["replay_cpu_s"], 1e-9)
    print(f"dashcart fusion bench: {n} trips, {totals['events']} events ({args.min_events}-{args.max_events} per trip), "
          f"seed {args.seed}, vision {vision_mode} ({args.frame} frames)")
    print(f"{'metric':<46}{'measured':>16}  {'target':<12}")
    rows = [
        ("silent errors (wrong product, never asked)", f"{totals['silent']} in {totals['silent_trips']} trips", "0"),
        ("questions / events", f"{totals['questions']}/{totals['events']} = {100 * q_rate:.2f}%", "<= 3 %"),
        ("final basket exact (answers as shopper would)", f"{totals['exact']}/{n} = {100 * exact_rate:.2f}%", ">= 99.8 %"),
        ("replay speed (trip time / replay CPU time)", f"{speed:.1f}x", ">= 20x"),
        ("changes committed wrongly by fusion", f"{totals['wrong_commits']}", "(0 ideal)"),
        ("trips that paid at the lane", f"{totals['paid']}/{n}", ""),
    ]
    for name, value, target in rows:
        print(f"{name:<46}{value:>16}  {target:<12}")
    print(f"events by kind: {', '.join(f'{k} {v}' for k, v in sorted(events_by_how.items()))}")
    print(f"questions by kind: {', '.join(f'{k} {v}' for k, v in sorted(kinds.items())) or 'none'}")
    print(f"trip time {totals['trip_s']:.0f} s, replay CPU {totals['replay_cpu_s']:.1f} s, generation {totals['gen_s']:.1f} s, "
          f"{totals['settled']} settled changes, {totals['frames']} frames decoded")
    for line in failures[:20]:
        print(f"  look at: {line}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
