"""A reference store implementing ``docs/store-api.yaml``: for demos, tests and store engineers.

It checks the cart's signature, deduplicates by idempotency key in SQLite (the charge and the
reply are committed together, so a retry after a lost reply gets the same reply and no second
charge), and answers with a receipt address. ``faults`` lets tests and benchmarks make it
misbehave the ways real networks and stores do.
"""

from __future__ import annotations

import collections
import hashlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from dashcart.core.checkout.order import ORDER_FORMAT, signature_valid
from dashcart.core.signin import InvalidToken, parse_shopper_token

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024
# Fault names: what the next request meets.
FAULTS = ("none", "500", "503", "garbage", "slow", "drop-before-commit", "drop-after-commit", "wrong-order")


class StoreError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class ReferenceStore:
    """The store's logic on one SQLite file; :class:`StoreServer` puts HTTP in front of it."""

    def __init__(self, db_path: str | Path, cart_keys: Mapping[str, bytes],
                 shoppers: Mapping[str, str] | None = None) -> None:
        self._db = sqlite3.connect(db_path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("""CREATE TABLE IF NOT EXISTS orders (
            idempotency_key TEXT PRIMARY KEY, order_id TEXT NOT NULL, cart_id TEXT NOT NULL,
            body_sha256 TEXT NOT NULL, total_cents INTEGER NOT NULL, reply TEXT NOT NULL)""")
        self._lock = threading.Lock()
        self._cart_keys = dict(cart_keys)
        self._shoppers = dict(shoppers or {})

    def charges(self) -> list[tuple[str, str, int]]:
        with self._lock:
            return list(self._db.execute("SELECT idempotency_key, order_id, total_cents FROM orders ORDER BY rowid"))

    def find(self, order_id: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT reply FROM orders WHERE order_id = ?", (order_id,)).fetchone()
        return row[0] if row else None

    def _check(self, body: bytes, headers: Mapping[str, str]) -> dict[str, Any]:
        cart_id = headers.get("X-Dashcart-Cart", "")
        key = self._cart_keys.get(cart_id)
        if key is None:
            raise StoreError(403, f"unknown cart {cart_id!r}")
        if not signature_valid(body, headers.get("X-Dashcart-Signature", ""), key):
            raise StoreError(401, "bad signature")
        try:
            order = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise StoreError(400, "body is not JSON") from None
        if not isinstance(order, dict) or order.get("format") != ORDER_FORMAT:
            raise StoreError(400, f"format must be {ORDER_FORMAT}")
        if order.get("idempotency_key") != headers.get("Idempotency-Key") or order.get("cart_id") != cart_id:
            raise StoreError(400, "Idempotency-Key and X-Dashcart-Cart must match the body")
        lines = order.get("lines")
        if not isinstance(lines, list) or not lines:
            raise StoreError(422, "no lines")
        try:
            total = sum(int(line["price_cents"]) for line in lines)
        except (KeyError, TypeError, ValueError):
            raise StoreError(422, "every line needs an integer price_cents") from None
        if total != order.get("total_cents"):
            raise StoreError(422, "total_cents is not the sum of the lines")
        try:
            parse_shopper_token(str(order.get("shopper_token", "")))
        except InvalidToken as exc:
            raise StoreError(422, f"shopper_token {exc}") from None
        if self._shoppers and order["shopper_token"] not in self._shoppers:
            raise StoreError(403, "unknown shopper")
        return order

    def place(self, body: bytes, headers: Mapping[str, str], *, commit_hook: Any = None) -> tuple[int, str]:
        """(HTTP status, reply JSON). Raises :class:`StoreError` for a refusal."""
        order = self._check(body, headers)
        digest = hashlib.sha256(body).hexdigest()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute("SELECT body_sha256, reply FROM orders WHERE idempotency_key = ?",
                                       (order["idempotency_key"],)).fetchone()
                if row is not None:
                    self._db.execute("COMMIT")
                    if row[0] != digest:
                        raise StoreError(409, "this idempotency key was used for a different order")
                    reply = json.loads(row[1])
                    reply["duplicate"] = True
                    return 200, json.dumps(reply)
                # Charging the card on file happens here, in the same transaction as the record.
                reply_doc = {"order_id": order["order_id"], "status": "accepted",
                             "total_cents": order["total_cents"], "currency": order.get("currency", ""),
                             "receipt": {"to": self._shoppers.get(order["shopper_token"], "")}}
                reply = json.dumps(reply_doc)
                self._db.execute("INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?)",
                                 (order["idempotency_key"], order["order_id"], order["cart_id"], digest,
                                  order["total_cents"], reply))
                self._db.execute("COMMIT")
            except StoreError:
                raise
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return 201, reply

    def close(self) -> None:
        self._db.close()


class _Handler(BaseHTTPRequestHandler):
    server: StoreServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("store: " + format, *args)

    def _send(self, status: int, text: str | bytes) -> None:
        data = text.encode() if isinstance(text, str) else text
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            # The cart stopped waiting (its timeout); it will ask again and get this same reply.
            log.debug("store: the cart went away before the reply")

    def _drop(self) -> None:
        self.close_connection = True
        self.connection.close()

    def do_GET(self) -> None:
        if self.path == "/v1/health":
            self._send(200, '{"status":"ok"}')
        elif self.path.startswith("/v1/orders/"):
            reply = self.server.store.find(self.path.rsplit("/", 1)[1])
            self._send(200, reply) if reply else self._send(404, '{"error":"no such order"}')
        else:
            self._send(404, '{"error":"not found"}')

    def do_POST(self) -> None:
        self.server.requests += 1
        if self.path != "/v1/orders":
            self._send(404, '{"error":"not found"}')
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._send(413, '{"error":"order too large"}')
            return
        body = self.rfile.read(length)
        fault = self.server.next_fault()
        if fault == "slow":
            time.sleep(self.server.slow_s)
        if fault == "drop-before-commit":
            self._drop()
            return
        if fault in ("500", "503"):
            self._send(int(fault), '{"error":"internal"}')
            return
        try:
            status, reply = self.server.store.place(body, self.headers)
        except StoreError as exc:
            self._send(exc.status, json.dumps({"error": str(exc)}))
            return
        if fault == "drop-after-commit":
            self._drop()
        elif fault == "garbage":
            self._send(200, b"<html>502 Bad Gateway</html>")
        elif fault == "wrong-order":
            doc = json.loads(reply)
            doc["order_id"] = "someone-else"
            self._send(status, json.dumps(doc))
        else:
            self._send(status, reply)


class StoreServer(ThreadingHTTPServer):
    """The reference store on ``host:port`` (0: any free port), served from a thread."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, store: ReferenceStore, host: str = "127.0.0.1", port: int = 0, slow_s: float = 2.0) -> None:
        super().__init__((host, port), _Handler)
        self.store = store
        self.slow_s = slow_s
        self.requests = 0
        self._faults: collections.deque[str] = collections.deque()
        self._faults_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def inject(self, *faults: str) -> None:
        """The next requests meet these faults, one each, in order."""
        for fault in faults:
            if fault not in FAULTS:
                raise ValueError(f"unknown fault {fault!r}")
        with self._faults_lock:
            self._faults.extend(faults)

    def clear_faults(self) -> None:
        with self._faults_lock:
            self._faults.clear()

    def next_fault(self) -> str | None:
        with self._faults_lock:
            return self._faults.popleft() if self._faults else None

    def start(self) -> StoreServer:
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="store-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
