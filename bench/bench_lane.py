"""Lane benchmark: who checks out, with the project's radio model, 1,000 tries per case.

    python -m bench.bench_lane [--tries N] [--quick]

The lane is two gates 3 m apart (entry, then exit), each a pair of authenticated Eddystone-EID
beacons on either side of a 1.0 m lane at cart-handle height (-59 dBm at 1 m), as
docs/checkout.md tells installers. The radio is ``dashcart/sim/lane_radio.py``: log-distance
path loss (n 2.2), 3.5 dB Gaussian noise, 3 % multipath spikes of +8 dB, lane beacons
advertising every 50 ms (20 a second, as the installation guide asks; at 8 a second the fastest
carts hugging a side were missed 3 times in 1,000), beacon clocks up to +-0.5 s off the cart's,
and a cart proving its own clock to 0-1.5 s (the kernel's NTP bound; 1.5 s, the most the cart
accepts, for the replays: the widest window). Everything after the radio is the cart's code:
the EID verifier and the locator with the default ``[location]`` and ``[checkout]`` settings.

Cases: carts through the lane (centre within +-0.2 m of the lane's axis: a 0.6 m cart in a
1.0 m lane), 0.3-1.5 m/s; carts passing beside it, 0.5-3 m outside its edge, 0.05-2 m/s,
either side; the same through the wrong way; recordings of genuine passes replayed 5-120 s
later (loud, in lane order); a faint cart (3-6 m away) whose RSSI reads 127 ("not available")
or a positive value; carts through the lane whose clock is not synchronised (nothing proven).
Prints each count next to its target.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from dataclasses import replace

from dashcart.config import CheckoutSection, LocationSection
from dashcart.core.lane_auth import EidVerifier
from dashcart.core.location import Locator, Site
from dashcart.events import BeaconSighting, LaneDetected
from dashcart.sim.lane_radio import PlacedBeacon, Radio, hear, straight

LANE_KEY = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
EPOCH = 1_767_225_600.0
RATE_HZ = 20.0           # lane beacons advertise every 50 ms
HALF_WIDTH = 0.5         # beacons on the lane's two sides, 1.0 m apart
GATE_X = (0.0, 3.0)      # entry, exit
NAMES = ("in-l", "in-r", "out-l", "out-r")
BEACONS = [PlacedBeacon("eddystone-eid", "in-l", GATE_X[0], HALF_WIDTH),
           PlacedBeacon("eddystone-eid", "in-r", GATE_X[0], -HALF_WIDTH),
           PlacedBeacon("eddystone-eid", "out-l", GATE_X[1], HALF_WIDTH),
           PlacedBeacon("eddystone-eid", "out-r", GATE_X[1], -HALF_WIDTH)]
SITE = Site(lane=("eddystone-eid:in-l+eddystone-eid:in-r", "eddystone-eid:out-l+eddystone-eid:out-r"))
SETTINGS = LocationSection()
CHECKOUT = CheckoutSection()


def locator() -> Locator:
    return Locator(SITE, SETTINGS, EidVerifier(LANE_KEY, NAMES, CHECKOUT.eid_period_s, CHECKOUT.eid_skew_periods,
                                               skew_s=CHECKOUT.eid_skew_s,
                                               max_clock_error_s=CHECKOUT.eid_max_clock_error_s))


def radio(rng: random.Random, cart_error: float | None) -> Radio:
    """``cart_error``: the bound the cart proves for its clock (None: a draw of 0 to the most accepted)."""
    error = rng.uniform(0.0, CHECKOUT.eid_max_clock_error_s) if cart_error is None else cart_error
    return Radio(lane_key=LANE_KEY, epoch=EPOCH + rng.uniform(0, 86_400), eid_period_s=CHECKOUT.eid_period_s,
                 beacon_clock_s=rng.uniform(-0.5, 0.5), rate_hz=RATE_HZ, cart_clock_error_s=error)


def checkouts(sightings: list[BeaconSighting]) -> int:
    loc = locator()
    return sum(isinstance(e, LaneDetected) for s in sightings for e in loc.on_sighting(s))


def pass_along(y: float, speed: float, rng: random.Random, seed: int, reverse: bool = False,
               lead_m: float = 4.0, cart_error: float | None = None) -> list[BeaconSighting]:
    start, end = (GATE_X[0] - lead_m, y), (GATE_X[1] + lead_m, y)
    path, duration = straight(end, start, speed) if reverse else straight(start, end, speed)
    return hear(BEACONS, path, duration, radio(rng, cart_error), seed)


def through(tries: int, rng: random.Random) -> tuple[int, float]:
    """Checked-out carts, and the worst delay from crossing the exit gate to LaneDetected."""
    ok, worst = 0, 0.0
    for i in range(tries):
        speed = rng.uniform(0.3, 1.5)
        sightings = pass_along(rng.uniform(-0.2, 0.2), speed, rng, i)
        loc = locator()
        found = [e for s in sightings for e in loc.on_sighting(s) if isinstance(e, LaneDetected)]
        if len(found) == 1:
            ok += 1
            crossed = (4.0 + GATE_X[1] - GATE_X[0]) / speed
            worst = max(worst, found[0].t - crossed)
    return ok, worst


def beside(tries: int, rng: random.Random, outside_m: tuple[float, float]) -> int:
    total = 0
    for i in range(tries):
        side = rng.choice((-1.0, 1.0))
        y = side * (HALF_WIDTH + rng.uniform(*outside_m))
        speed = math.exp(rng.uniform(math.log(0.05), math.log(2.0)))   # crawling to brisk
        total += checkouts(pass_along(y, speed, rng, 100_000 + i, reverse=rng.random() < 0.5, lead_m=2.0))
    return total


def wrong_way(tries: int, rng: random.Random) -> int:
    return sum(checkouts(pass_along(rng.uniform(-0.2, 0.2), rng.uniform(0.3, 1.5), rng, 200_000 + i, reverse=True))
               for i in range(tries))


def replayed(tries: int, rng: random.Random) -> tuple[int, int]:
    """A genuine pass recorded, then played back ``delay`` later from a cart anywhere, loud
    enough. Returns (checkouts of the replays, checkouts of the recordings played at once)."""
    hits = control = 0
    for i in range(tries):
        recording = pass_along(rng.uniform(-0.2, 0.2), rng.uniform(0.5, 1.5), rng, 300_000 + i,
                               cart_error=CHECKOUT.eid_max_clock_error_s)
        delay = rng.uniform(5.0, 120.0)
        hits += checkouts([replace(s, t=s.t + delay, wall_t=s.wall_t + delay) for s in recording])
        if i < 50:
            control += checkouts(recording)
    return hits, control


def not_readings(tries: int, rng: random.Random) -> int:
    """A cart 3-6 m from the lane whose scanner reports 127 (no reading) or positive dBm."""
    total = 0
    for i in range(tries):
        y = rng.choice((-1, 1)) * rng.uniform(3.0, 6.0)
        heard = pass_along(y, rng.uniform(0.3, 1.5), rng, 400_000 + i)
        mode = i % 3
        bogus = [replace(s, rssi=127.0 if mode == 0 else float(rng.randint(1, 126)) if mode == 1
                         else (127.0 if rng.random() < 0.5 else s.rssi)) for s in heard]
        total += checkouts(bogus)
    return total


def unsynchronised(tries: int, rng: random.Random) -> int:
    """Carts through the lane while the kernel says their clock is not synchronised."""
    return sum(checkouts(pass_along(rng.uniform(-0.2, 0.2), rng.uniform(0.3, 1.5), rng, 500_000 + i,
                                    cart_error=math.inf)) for i in range(tries))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tries", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="100 tries per case")
    parser.add_argument("--rate-hz", type=float, default=RATE_HZ, help="lane beacons' advertisements per second")
    args = parser.parse_args()
    globals()["RATE_HZ"] = args.rate_hz
    n = 100 if args.quick else args.tries
    rng = random.Random(17)
    start = time.perf_counter()
    rows = []
    ok, worst = through(n, rng)
    rows.append((f"carts through the lane ({n}), checked out", str(ok), str(n)))
    rows.append(("  exit gate crossed -> lane detected, worst (s)", f"{worst:.2f}", ""))
    for lo, hi in ((0.5, 1.0), (1.0, 3.0)):
        rows.append((f"carts passing {lo}-{hi} m outside the lane's edge, any speed ({n}), checkouts",
                     str(beside(n, rng, (lo, hi))), "0"))
    rows.append((f"carts through the wrong way ({n}), checkouts", str(wrong_way(n, rng)), "0"))
    hits, control = replayed(n, rng)
    rows.append((f"recordings replayed 5-120 s later ({n}), checkouts", str(hits), "0"))
    rows.append(("  control: the same recordings played live (50), checkouts", str(control), "50"))
    rows.append((f"RSSI 127 or positive, faint cart ({n}), checkouts", str(not_readings(n, rng)), "0"))
    rows.append((f"carts through the lane, clock not synchronised ({n}), checkouts", str(unsynchronised(n, rng)), "0"))
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'value':>8}  target")
    for name, value, target in rows:
        print(f"{name:<{width}}  {value:>8}  {target}")
    print(f"({args.rate_hz:g} advertisements/s per lane beacon; {time.perf_counter() - start:.0f} s; "
          f"python {sys.version.split()[0]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
