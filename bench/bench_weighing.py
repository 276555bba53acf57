"""Weighing accuracy and speed on generated traces (vibration, drift, glitches, wire faults).

    python -m bench.bench_weighing [--traces N] [--minutes M] [--seed S] [--protocol mt-sics]
                                   [--stability-range D --noise-d N]

With ``--protocol mt-sics`` each trace is streamed by a simulated trade scale instead (its own
motion detection; a random division of 1, 2 or 5 g, 4-10 readings a second, kg or g), and a
change counts as correct within max(2 g, one division, 0.5 %). ``--stability-range 5
--noise-d 1`` makes it a scale set to its widest stability range on a cart that is never
still: it says stable while its display flickers by a division or two.

Each trace is a random shopping session rendered by the simulated bridge into the exact
wire lines, then run through the line decoder and the weighing engine like a replay. A
reported change counts as correct when the changes reported between a true change's start
and the next one add up to its delta within max(2 g, 0.5 %); two items dropped 0.5 s apart
may come as one change or two. Confirmation latency is measured from the moment the load
truly comes to rest (ringing and shaking below 0.5 g).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from dashcart.core.weighing import WeighingEngine
from dashcart.drivers.scale.protocol import Reading, parse_hx711
from dashcart.sim.load_script import (
    Drift,
    Fault,
    Lift,
    LoadScript,
    Place,
    Push,
    SicsProfile,
    render_scale_log,
    render_sics_log,
)
from dashcart.trips.scale_replay import replay_pairs

# An item that starts moving within the confirmation budget after the previous one came to
# rest may be reported together with it ("two items 0.5 s apart: two changes or their sum").
CONFIRM_BUDGET_S = 0.5
WIRE_FAULTS = ("garbage", "bad_crc", "drop", "truncated", "sign_glitch", "spike", "saturation", "bridge_error")


def _hand(rng: random.Random, grams: float) -> dict:
    """How this item is put in or taken out: every shopper and every item rings differently."""
    return {"press_s": rng.uniform(0.15, 0.5), "press_g": rng.uniform(0.0, 0.6) * min(grams, 800.0),
            "ring_g": rng.uniform(0.03, 0.3) * min(grams, 1000.0) + rng.uniform(1, 10),
            "ring_hz": rng.uniform(3.0, 14.0), "ring_decay_s": rng.uniform(0.05, 0.25)}


def random_session(rng: random.Random, minutes: float) -> LoadScript:
    duration = minutes * 60.0
    events: list = []
    present: list[float] = []
    t = 2.0
    while t < duration - 6.0:
        roll = rng.random()
        if present and (roll < 0.3 or sum(present) > 12000):   # a cart holds ~15 kg
            grams = present.pop(rng.randrange(len(present)))
            events.append(Lift(t, grams, **_hand(rng, grams)))
        else:
            grams = round(rng.choice([rng.uniform(10, 60), rng.uniform(60, 600), rng.uniform(600, 3000)]), 1)
            events.append(Place(t, grams, **_hand(rng, grams)))
            present.append(grams)
            if rng.random() < 0.15:                       # a second item half a second later
                second = round(rng.uniform(10, 800), 1)
                events.append(Place(t + 0.5, second, **_hand(rng, second)))
                present.append(second)
        if rng.random() < 0.25:                           # the cart is pushed, maybe meanwhile
            t0 = t + rng.uniform(-1.0, 0.5)
            events.append(Push(max(0.5, t0), max(0.5, t0) + rng.uniform(1.0, 5.0), rng.uniform(100, 600),
                               decay_s=rng.uniform(0.05, 0.2)))
        t += rng.uniform(3.0, 9.0)
    quiet = [e.t - 1.2 for e in events if isinstance(e, Place)]
    for _ in range(int(minutes * 12)):                    # ~ one wire fault every 5 s
        events.append(Fault(rng.uniform(1, duration - 1), rng.choice(WIRE_FAULTS), count=rng.randint(1, 3)))
    for start in rng.sample(quiet, min(len(quiet), 2)):   # silence / unplug while nothing moves
        if start > 1 and not any(isinstance(e, Push) and e.t0 - 1 < start < e.rest_t() + 1 for e in events):
            events.append(Fault(start, rng.choice(("silence", "disconnect")), duration_s=0.6))
    events.append(Drift(0.0, duration, rng.uniform(-0.05, 0.05)))
    return LoadScript(duration, tuple(events), initial_g=rng.uniform(0, 200), noise_counts=rng.uniform(40, 160))


def score(script: LoadScript, changes, division_g: float = 0.0,  # type: ignore[no-untyped-def]
          merge_within_s: float = CONFIRM_BUDGET_S) -> dict:
    truth = script.truth(merge_within_s=merge_within_s)
    used = set()
    found = big = correct_events = 0
    errors: list[float] = []
    latencies: list[float] = []
    for i, true in enumerate(truth):
        end = truth[i + 1].started_t if i + 1 < len(truth) else float("inf")
        mine = [k for k, c in enumerate(changes) if true.started_t <= c.t < end and k not in used]
        used.update(mine)
        total = sum(changes[k].delta_g for k in mine)
        allowed = max(2.0, division_g, 0.005 * abs(true.delta_g))
        if mine:
            errors.append(abs(total - true.delta_g) / allowed)
        ok = bool(mine) and abs(total - true.delta_g) <= allowed
        if abs(true.delta_g) >= 10:
            big += 1
            found += ok
        if ok:
            correct_events += len(mine)
            latencies.append(changes[mine[-1]].t - true.rest_t)
    return {"truth": big, "found": found, "events": len(changes), "correct_events": correct_events,
            "errors": errors, "latencies": latencies}


def engine_speed(pairs, seconds: float) -> float:  # type: ignore[no-untyped-def]
    samples = [(t, m.raw) for t, line in pairs if isinstance(m := parse_hx711(line), Reading)]
    engine = WeighingEngine(0, 420.0)
    start = time.process_time()
    for t, raw in samples:
        engine.feed_raw(t, raw)
    return seconds / max(time.process_time() - start, 1e-9)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=int, default=20)
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--protocol", choices=("hx711-bridge", "mt-sics"), default="hx711-bridge")
    parser.add_argument("--stability-range", type=float, default=SicsProfile.stability_range_d, metavar="D",
                        help="mt-sics: the scale is stable while its conversions stay within D divisions")
    parser.add_argument("--noise-d", type=float, default=SicsProfile.noise_d, metavar="N",
                        help="mt-sics: the scale's internal noise in divisions (1 sigma)")
    args = parser.parse_args()
    sics = args.protocol == "mt-sics"
    rng = random.Random(args.seed)
    totals = {"truth": 0, "found": 0, "events": 0, "correct_events": 0, "errors": [], "latencies": []}
    replay_cpu = engine_rt = 0.0
    seconds = 0.0
    for n in range(args.traces):
        script = random_session(rng, args.minutes)
        division = 0.0
        if sics:
            unit = rng.choice(("kg", "g"))
            division = rng.choice((1.0, 2.0, 5.0))
            profile = SicsProfile(division_g=division, unit=unit, decimals=3 if unit == "kg" else 1,
                                  rate_hz=rng.uniform(4.0, 10.0), stability_range_d=args.stability_range,
                                  noise_d=args.noise_d)
            pairs = render_sics_log(script, seed=args.seed * 1000 + n, profile=profile)
        else:
            pairs = render_scale_log(script, seed=args.seed * 1000 + n, offset=0, counts_per_gram=420.0)
        start = time.process_time()
        changes = replay_pairs(pairs, args.protocol, 0, 420.0).changes
        replay_cpu += time.process_time() - start
        seconds += script.duration_s
        # A trade scale confirms only after its own motion detection (0.5 s) and its next
        # reading: an item that starts moving within that time may come with the one before.
        merge = profile.settle_s + 2.0 / profile.rate_hz if sics else CONFIRM_BUDGET_S
        result = score(script, changes, division, merge)
        for key in totals:
            totals[key] += result[key]
        if n == 0 and not sics:
            engine_rt = engine_speed(pairs, script.duration_s)
    recall = totals["found"] / max(totals["truth"], 1)
    precision = totals["correct_events"] / max(totals["events"], 1)
    lat = sorted(totals["latencies"])
    p50 = statistics.median(lat)
    p95 = lat[min(len(lat) - 1, int(round(0.95 * (len(lat) - 1))))]
    worst = max(totals["errors"])
    rows = [
        ("recall, changes >= 10 g", f"{recall:.4f} ({totals['found']}/{totals['truth']})", ">= 0.99", recall >= 0.99),
        ("precision (no phantoms)", f"{precision:.4f} ({totals['correct_events']}/{totals['events']})", ">= 0.99",
         precision >= 0.99),
        ("worst |error| / max(2 g, d, 0.5 %)" if sics else "worst |error| / max(2 g, 0.5 %)", f"{worst:.2f}", "<= 1",
         worst <= 1.0),
        ("median confirmation after rest", f"{p50:.3f} s", "<= 0.5 s", p50 <= 0.5),
        ("p95 confirmation after rest", f"{p95:.3f} s", "<= 1.0 s", p95 <= 1.0),
        ("earliest confirmation vs rest", f"{lat[0]:+.3f} s", "(< 0: before rest)", True),
        ("engine speed (feed_raw, 1 core)", f"{engine_rt:.0f}x real time" if not sics else "-", ">= 100x",
         engine_rt >= 100 or sics),
        ("decode + engine (replay)", f"{seconds / replay_cpu:.0f}x real time", "", True),
    ]
    what = (f"trade-scale readings (4-10 a second; stability range {args.stability_range:g} d, noise "
            f"{args.noise_d:g} d)" if sics else "80 Hz readings")
    print(f"{args.traces} traces x {args.minutes:g} min = {seconds / 60:.0f} min of {what}, seed {args.seed}")
    print(f"{'metric':<34} {'measured':<26} {'target':<20} ok")
    for name, value, target, ok in rows:
        print(f"{name:<34} {value:<26} {target:<20} {'yes' if ok else 'NO'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
