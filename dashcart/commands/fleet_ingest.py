"""``dashcart fleet-ingest``: the store-side subscriber that stores every cart's telemetry
(deduplicated by cart, boot and seq) and publishes the acks that let carts empty their outboxes."""

from __future__ import annotations

import argparse
import logging
import signal
import sqlite3
import threading

from dashcart.config import Config
from dashcart.errors import RetryLater

log = logging.getLogger("dashcart.fleet.ingest")


#: The TLS options' names, for a one-line error about one of their files.
TLS_OPTIONS = ("--cafile", "--cert", "--key")


def broker_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--broker", metavar="URL", default="",
                        help="mqtt://HOST:PORT or mqtts://HOST:PORT (default: [fleet] broker_url)")
    parser.add_argument("--cafile", default="", help="mqtts: the CA of the broker's certificate")
    parser.add_argument("--cert", default="", help="mqtts: client certificate (PEM)")
    parser.add_argument("--key", default="", help="mqtts: its private key (PEM)")


def broker_address(args: argparse.Namespace, config: Config) -> object:
    from dashcart.errors import Misconfigured
    from dashcart.runtime.fleet import parse_broker_url
    url = args.broker or config.fleet.broker_url
    if not url:
        raise Misconfigured("--broker: no broker given (and no [fleet] broker_url in the config)")
    return parse_broker_url(url, "--broker" if args.broker else "fleet.broker_url")


def run(args: argparse.Namespace, config: Config) -> int:
    from dashcart.runtime.fleet import check_id
    from dashcart.runtime.fleet_ingest import FleetIngest

    address = broker_address(args, config)
    store = "+" if args.store == "+" else check_id(args.store, "--store")
    ingest = FleetIngest(address, args.db, store_id=store, ca_file=args.cafile, cert_file=args.cert,  # type: ignore[arg-type]
                         key_file=args.key, tls_names=TLS_OPTIONS)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    log.info("ingest: %s -> %s", address, args.db)
    try:
        ingest.run(stop)
    except sqlite3.Error as exc:   # e.g. the disk is full: nothing unstored was acknowledged
        raise RetryLater(f"{args.db}: cannot store telemetry: {exc}") from None
    c = ingest.counters
    log.info("ingest: stored %d, duplicates %d, malformed %d, acks %d", c.stored, c.duplicates, c.malformed, c.acks)
    return 0


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "fleet-ingest", parents=[common], help="store the carts' telemetry and acknowledge it (store side)",
        description="Subscribe to every cart's telemetry on the store broker, store it in an SQLite file "
                    "(each (cart, boot, seq) once) and publish the acks that let the carts delete it. "
                    "Runs until SIGTERM or Ctrl-C.")
    broker_options(parser)
    parser.add_argument("--db", required=True, metavar="FILE", help="the SQLite file telemetry goes to")
    parser.add_argument("--store", default="+", help="only this store's carts (default: all)")
    parser.set_defaults(func=run)
