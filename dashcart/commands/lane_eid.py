"""``dashcart lane-eid``: the identifier a lane beacon should broadcast now (provisioning, checks)."""

from __future__ import annotations

import argparse
import json
import time

from dashcart.config import Config
from dashcart.errors import Misconfigured

#: The end of the year 9999 in Unix seconds: a later --at is a typo.
AT_MAX = 253402300799.0


def lane_beacon_name(beacon: str) -> str:
    """The name the cart authenticates (``location.lane``'s ``eddystone-eid:<name>`` without its
    kind, as ``open_locator`` takes it); a bare name is taken as it is."""
    kind, sep, name = beacon.partition(":")
    if not sep:
        return beacon
    if kind.lower() != "eddystone-eid" or not name:
        raise Misconfigured(f"lane-eid: {beacon!r} is not an eddystone-eid lane beacon (eddystone-eid:<name>)")
    return name


def run(args: argparse.Namespace, config: Config) -> int:
    from dashcart.config import parse_hex_key
    from dashcart.core.lane_auth import current_eid, period_counter

    try:
        key = parse_hex_key(config.checkout.lane_key, f"{config.source or 'config'}: checkout.lane_key")
    except ValueError as exc:
        raise Misconfigured(str(exc)) from None
    at = time.time() if args.at is None else args.at
    if not 0 <= at <= AT_MAX:   # also refuses NaN
        raise Misconfigured(f"--at: {args.at!r} is not Unix seconds from 0 to {AT_MAX:.0f}")
    period = config.checkout.eid_period_s
    for beacon in args.beacon:
        eid = current_eid(key, lane_beacon_name(beacon), at, period)
        if args.json:
            print(json.dumps({"beacon": beacon, "eid": eid, "counter": period_counter(at, period),
                              "period_s": period, "valid_until": (period_counter(at, period) + 1) * period}))
        else:
            print(f"{beacon}: {eid}")
    return 0


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser("lane-eid", parents=[common], help="print the lane beacons' current identifiers",
                                   description="Print the rotating Eddystone-EID identifier each named lane "
                                               "beacon should broadcast now (from checkout.lane_key).")
    parser.add_argument("beacon", nargs="+", help="lane beacons as in location.lane (eddystone-eid:<name>), or the bare <name>")
    parser.add_argument("--at", type=float, help="Unix time to compute for (default: now)")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(func=run)
