"""``dashcart fleet-status``: every cart's state, health and config version, from the broker's
retained messages (a table, or ``--json``)."""

from __future__ import annotations

import argparse
import json
import threading
import time
from typing import Any

from dashcart.commands.fleet_ingest import TLS_OPTIONS, broker_address, broker_options
from dashcart.config import Config
from dashcart.errors import RetryLater


def collect(address: Any, *, store: str = "+", wait_s: float = 1.0, ca_file: str = "", cert_file: str = "",
            key_file: str = "") -> dict[str, dict[str, Any]]:
    """``store/cart`` -> {"status", "health", "reported"} from the retained messages."""
    from dashcart.runtime.fleet import PREFIX, make_client

    carts: dict[str, dict[str, Any]] = {}
    lock = threading.Lock()
    connected = threading.Event()
    failure: list[str] = []

    def on_connect(client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            failure.append(str(reason))
        else:
            client.subscribe([(f"{PREFIX}/{store}/+/{leaf}", 1) for leaf in ("status", "health", "config/reported")])
        connected.set()

    def on_message(client: Any, userdata: Any, message: Any) -> None:
        parts = message.topic.split("/")
        if len(parts) < 5 or parts[3] == "_all":
            return
        leaf = "/".join(parts[4:]).replace("config/", "")
        try:
            body = json.loads(message.payload) if message.payload else None
        except ValueError:
            body = {"unreadable": message.payload[:80].decode("utf-8", "replace")}
        with lock:
            carts.setdefault(f"{parts[2]}/{parts[3]}", {})[leaf] = body

    client = make_client(f"dashcart-status-{time.monotonic_ns() % 10**9}", clean_session=True, address=address,
                         ca_file=ca_file, cert_file=cert_file, key_file=key_file, tls_names=TLS_OPTIONS)
    client.on_connect = on_connect
    client.on_message = on_message
    try:
        client.connect(address.host, address.port, keepalive=30)
    except (OSError, ValueError) as exc:
        raise RetryLater(f"{address}: cannot connect: {exc}") from None
    client.loop_start()
    try:
        if not connected.wait(5.0):
            raise RetryLater(f"{address}: no answer from the broker")
        if failure:
            raise RetryLater(f"{address}: refused: {failure[0]}")
        time.sleep(wait_s)   # retained messages arrive right after the subscription
    finally:
        client.disconnect()
        client.loop_stop()
    with lock:
        return {k: carts[k] for k in sorted(carts)}


def _row(cart: str, entry: dict[str, Any]) -> dict[str, Any]:
    status = entry.get("status") or {}
    health = entry.get("health") or {}
    reported = entry.get("reported") or {}
    scale = health.get("scale") or {}
    cameras = health.get("cameras") or {}
    return {
        "cart": cart,
        "state": status.get("state", "?"),
        "session": status.get("session"),
        "software": health.get("software") or status.get("software", ""),
        "model": health.get("model", ""),
        "catalogue": (health.get("catalogue") or {}).get("products") if isinstance(health.get("catalogue"), dict)
        else health.get("catalogue", ""),
        "scale": scale.get("state") or scale.get("device", ""),
        "drift_g": scale.get("drift_g"),
        "cameras": f"{sum(1 for c in cameras.values() if isinstance(c, dict) and c.get('ok'))}/{len(cameras)}",
        "orders_waiting": health.get("outbox_depth"),
        "telemetry_queued": (health.get("telemetry") or {}).get("queued"),
        "disk_free_mb": health.get("disk_free_mb"),
        "zone": health.get("zone", ""),
        "config": reported.get("version"),
        "config_status": reported.get("status", ""),
        # The version the cart was built from: behind "config" while a shopper still uses the cart.
        "config_running": health.get("config_version"),
        "config_reason": reported.get("reason", ""),
    }


def run(args: argparse.Namespace, config: Config) -> int:
    address = broker_address(args, config)
    carts = collect(address, store=args.store, wait_s=args.wait, ca_file=args.cafile, cert_file=args.cert,
                    key_file=args.key)
    if args.json:
        print(json.dumps({cart: {**entry, "summary": _row(cart, entry)} for cart, entry in carts.items()}, indent=1))
        return 0
    if not carts:
        print(f"no carts on {address}")
        return 0
    columns = ["cart", "state", "session", "software", "model", "catalogue", "scale", "drift_g", "cameras",
               "orders_waiting", "telemetry_queued", "disk_free_mb", "zone", "config", "config_status", "config_running"]
    rows = [_row(cart, entry) for cart, entry in carts.items()]
    text = [[("" if r[c] is None else str(r[c])) for c in columns] for r in rows]
    widths = [max(len(c), *(len(t[i]) for t in text)) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    for t in text:
        print("  ".join(v.ljust(w) for v, w in zip(t, widths)))
    return 0


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value <= 60:
        raise argparse.ArgumentTypeError(f"{text} s: from more than 0 to 60 s")
    return value


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "fleet-status", parents=[common], help="every cart's state, health and config version (from the broker)",
        description="Read the retained status, health and config/reported messages of every cart on the "
                    "store broker and print them as a table (or --json).")
    broker_options(parser)
    parser.add_argument("--store", default="+", help="only this store (default: all)")
    parser.add_argument("--wait", type=_seconds, default=1.0, metavar="S", help="how long to collect (default 1 s)")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(func=run)
