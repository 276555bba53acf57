"""``dashcart beacons``: what beacons the cart hears (site survey, calibration, fault finding)."""

from __future__ import annotations

import argparse
import json
import queue
import sys
import time
from pathlib import Path

from dashcart.config import Config
from dashcart.errors import Misconfigured, RetryLater


def _problem(path: Path, number: int, message: str, as_json: bool) -> None:
    print(json.dumps({"line": number, "error": message}) if as_json else f"{path}:{number}: {message}")


def _from_hci(path: Path, as_json: bool) -> int:
    from dashcart.drivers.beacon.advertisement import MalformedAdvertisement, beacon_from_advertisement, parse_hci_hex

    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise Misconfigured(f"{path}: cannot read: {exc}") from None
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        if text.startswith("{"):
            try:
                text = json.loads(text)["hci_event_hex"]
            except (ValueError, KeyError, TypeError):
                _problem(path, number, "not a JSON object with hci_event_hex", as_json)
                continue
        try:
            reports = parse_hci_hex(text)
        except MalformedAdvertisement as exc:
            _problem(path, number, f"malformed: {exc}", as_json)
            continue
        for ad in reports:
            beacon = beacon_from_advertisement(ad)
            row = {"line": number, "mac": ad.mac, "rssi": ad.rssi,
                   "kind": beacon.kind if beacon else None, "id": beacon.id if beacon else None}
            if as_json:
                print(json.dumps(row))
            else:
                what = f"{beacon.kind}:{beacon.id}" if beacon else "not a beacon"
                print(f"{path}:{number}: {ad.mac} {ad.rssi} dBm  {what}")
    return 0


def run(args: argparse.Namespace, config: Config) -> int:
    if args.hci:
        return _from_hci(Path(args.hci), args.json)
    from dashcart.events import BeaconSighting, DeviceStatus
    from dashcart.runtime.devices import open_beacon_scanner

    if config.location.backend == "sim" and not config.location.script:
        # the default config: nothing real is listened to, and a silent empty list would say "no beacons here"
        print("dashcart beacons: location.backend is \"sim\" with no script: nothing can be heard "
              "(set [location] backend = \"bleak\" for the cart's radio)", file=sys.stderr)
    scanner = open_beacon_scanner(config.location)
    events: queue.Queue = queue.Queue()
    scanner.start(events.put)
    end = time.monotonic() + args.seconds
    try:
        while (left := end - time.monotonic()) > 0:
            try:
                event = events.get(timeout=left)
            except queue.Empty:
                break
            if isinstance(event, BeaconSighting):
                if args.json:
                    print(json.dumps({"t": round(event.t, 3), "kind": event.kind, "id": event.id,
                                      "rssi": event.rssi}), flush=True)
                else:
                    print(f"{event.t:10.3f}  {event.rssi:5.0f} dBm  {event.kind}:{event.id}", flush=True)
            elif isinstance(event, DeviceStatus) and event.state != "ok":
                raise RetryLater(f"bluetooth: {event.message}")   # an adapter or bluetoothd that may come back
    finally:
        scanner.stop()
    return 0


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser("beacons", parents=[common], help="list the BLE beacons the cart hears",
                                   description="Print iBeacon and Eddystone sightings from the configured scanner "
                                               "([location] backend) for a while, or parse captured HCI "
                                               "advertising reports (one hex event per line, or JSON lines "
                                               "with hci_event_hex) with --hci.")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long to listen (default 10)")
    parser.add_argument("--hci", metavar="FILE", help="parse captured HCI events instead of listening")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(func=run)
