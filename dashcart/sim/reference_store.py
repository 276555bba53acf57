"""A reference store implementing ``docs/store-api.yaml``: for demos, tests and store engineers.

What it trusts of a cart: nothing but its signature. It checks every field of the order
against the spec's bounds, that the ids are the ones the cart's id, session and sequence
derive, and then **prices the order itself** from its own catalogue and promotions
(:func:`dashcart.core.pricing.price_basket`) as they are when the order arrives (the cart's
``placed_at`` only within a 2-minute grace: :func:`priced_at`): the cart's prices are a claim,
the store's are what is charged, and the answer says so (``repriced``, ``priced_at``).
Idempotency keys belong to the cart that signed them; one order id is charged at most once; a shopper token is bound to the first cart
and session that use it. The charge and the reply are committed together in SQLite, so a retry
after a lost reply gets the same reply and no second charge. Orders are readable only by the
cart that placed them, and the receipt address is always masked.

``faults`` lets tests and benchmarks make it misbehave the ways real networks, proxies and
stores do.
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import io
import json
import logging
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from dashcart.core.canonical import canonical_json
from dashcart.core.catalogue import Catalogue
from dashcart.core.checkout.order import ORDER_FORMAT, mask_email, order_ids, sign, signature_valid
from dashcart.core.pricing import MAX_QTY, MAX_WEIGHT_G, BasketItem, PricingError, price_basket
from dashcart.core.signin import InvalidToken, parse_shopper_token

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024
BODY_DEADLINE_S = 10.0            # the whole body, however it is dripped (a 1 MiB order takes well under this)
HEAD_DEADLINE_S = 10.0            # the request line and headers, from their first byte
MAX_LINES = 500
MAX_CENTS = 100_000_000          # $1M: no basket costs more; bounds every integer the spec allows
MAX_SEQ = 999_999
PRICE_GRACE_S = 120.0            # a price offered this long before an order arrived is still honoured (priced_at)
# Fault names: what the next request meets.
FAULTS = ("none", "500", "503", "garbage", "slow", "drop-before-commit", "drop-after-commit", "wrong-order",
          "html-404", "html-400", "drip", "drip-after-commit")

CART_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
HEX32 = re.compile(r"[0-9a-f]{32}")
HEX12 = re.compile(r"[0-9a-f]{12}")
CODE = re.compile(r"[0-9]{13}|[0-9]{4,5}")
CURRENCY = re.compile(r"[A-Z]{3}")
ORDER_ID = re.compile(r"[A-Za-z0-9._-]{1,100}")
DIGITS = re.compile(r"[0-9]+")   # ASCII only: str.isdigit() also takes '²', which int() refuses
ORDER_PATH = re.compile(f"/v1/orders/({ORDER_ID.pattern})")
ORDER_FIELDS = {"format", "order_id", "idempotency_key", "cart_id", "session_id", "seq", "shopper_token",
                "currency", "lines", "subtotal_cents", "savings_cents", "total_cents", "placed_t", "placed_at"}
LINE_FIELDS = {"code", "name", "qty", "sold_by", "weight_g", "unit_price_cents", "price_cents", "savings_cents"}
ROUTES = {"/v1/orders": ("POST",), "/v1/health": ("GET",)}


# The request's headers: a mapping, or http.server's message object (both have .get).
Headers = Mapping[str, str] | Any


class StoreError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def read_signature(method: str, path: str, key: bytes) -> str:
    """What a cart sends to read its own order: ``hmac-sha256=`` of ``"GET /v1/orders/<id>"``."""
    return sign(f"{method} {path}".encode(), key)


def _integer(where: str, value: Any, minimum: int, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise StoreError(400, f"{where} must be a whole number")
    if not minimum <= value <= maximum:
        raise StoreError(400, f"{where} must be from {minimum} to {maximum}")
    return value


def _number(where: str, value: Any, minimum: float, maximum: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise StoreError(400, f"{where} must be a number")
    if not minimum <= value <= maximum:
        raise StoreError(400, f"{where} must be from {minimum:g} to {maximum:g}")
    return float(value)


def _string(where: str, value: Any, pattern: re.Pattern[str] | None = None, max_length: int = 200) -> str:
    if not isinstance(value, str) or not value or len(value) > max_length:
        raise StoreError(400, f"{where} must be a string of 1 to {max_length} characters")
    if pattern is not None and not pattern.fullmatch(value):
        raise StoreError(400, f"{where} {value[:40]!r} is not in the format the spec gives")
    return value


def check_order_shape(order: Any) -> dict[str, Any]:
    """The spec's ``Order`` schema, field by field; raises :class:`StoreError` (400) naming the field."""
    if not isinstance(order, dict):
        raise StoreError(400, "the body must be a JSON object")
    unknown = sorted(set(order) - ORDER_FIELDS)
    if unknown:
        raise StoreError(400, f"unknown field {unknown[0]!r}")
    missing = sorted(ORDER_FIELDS - {"placed_at"} - set(order))
    if missing:
        raise StoreError(400, f"missing field {missing[0]!r}")
    if order["format"] != ORDER_FORMAT:
        raise StoreError(400, f"format must be {ORDER_FORMAT}")
    _string("cart_id", order["cart_id"], CART_ID, 64)
    _string("order_id", order["order_id"], ORDER_ID, 100)
    _string("idempotency_key", order["idempotency_key"], HEX32)
    _string("session_id", order["session_id"], HEX12)
    _integer("seq", order["seq"], 1, MAX_SEQ)
    _string("shopper_token", order["shopper_token"], None, 133)
    try:
        if parse_shopper_token(order["shopper_token"]) != order["shopper_token"]:
            raise InvalidToken("has spaces around it")
    except InvalidToken as exc:
        raise StoreError(400, f"shopper_token {exc}") from None
    _string("currency", order["currency"], CURRENCY, 3)
    _number("placed_t", order["placed_t"], 0, 1e10)
    if "placed_at" in order:
        _number("placed_at", order["placed_at"], 0, 1e10)
    lines = order["lines"]
    if not isinstance(lines, list) or not 1 <= len(lines) <= MAX_LINES:
        raise StoreError(400, f"lines must be a list of 1 to {MAX_LINES} lines")
    for i, line in enumerate(lines, start=1):
        where = f"line {i}"
        if not isinstance(line, dict):
            raise StoreError(400, f"{where} must be an object")
        unknown = sorted(set(line) - LINE_FIELDS)
        missing = sorted(LINE_FIELDS - set(line))
        if unknown or missing:
            raise StoreError(400, f"{where}: {'unknown' if unknown else 'missing'} field "
                                  f"{(unknown or missing)[0]!r}")
        _string(f"{where} code", line["code"], CODE, 13)
        _string(f"{where} name", line["name"], None, 200)
        _integer(f"{where} qty", line["qty"], 1, MAX_QTY)
        if line["sold_by"] not in ("unit", "weight"):
            raise StoreError(400, f"{where} sold_by must be unit or weight")
        if line["weight_g"] is not None:
            _number(f"{where} weight_g", line["weight_g"], 0, MAX_WEIGHT_G)
        _integer(f"{where} unit_price_cents", line["unit_price_cents"], 1, MAX_CENTS)
        _integer(f"{where} price_cents", line["price_cents"], 0, MAX_CENTS)
        _integer(f"{where} savings_cents", line["savings_cents"], 0, MAX_CENTS)
    _integer("subtotal_cents", order["subtotal_cents"], 1, MAX_CENTS)
    _integer("savings_cents", order["savings_cents"], 0, MAX_CENTS)
    _integer("total_cents", order["total_cents"], 1, MAX_CENTS)
    return order


def priced_at(placed_at: float | None, received_at: float) -> float:
    """The time an order is priced at: when the store received it, or the cart's ``placed_at``
    when that is at most ``PRICE_GRACE_S`` earlier.

    ``placed_at`` is the cart's word. It is signed, but with the cart's key, and whoever lifts
    that key from one SD card signs any time they like: honouring ``placed_at`` up to a day back
    let them backdate an order into a promotion that had ended (or forward-date it into one
    about to start) and pay less. An honest order can be late too: placed while the store was
    unreachable, it waits in the cart's outbox for minutes or hours, and the shopper saw the
    prices of the checkout. The store would honour those only on evidence it can check that the
    checkout happened then, and the order carries none an attacker with the cart's config cannot
    make: the session id and seq are hashes and counters the cart chooses, and the lane
    beacon's identifiers are computed with the lane key, which is in the same config (the cart
    verifies them with it). What the store knows itself is when the order arrived. So:

    * priced at receipt: the store never charges a price it no longer offers, however the
      order is dated; the reply says when it priced (``priced_at``) and ``repriced`` when that
      differs from what the cart asked, and the cart's receipt says why;
    * except within ``PRICE_GRACE_S`` (120 s) of receipt, the store's stated grace: an order
      whose checkout fell just before a promotion ended, delivered through a network blip (the
      cart retries 0.5 s doubling, each try at most its 5 s deadline, clocks within 1.5 s), is
      charged what the shopper saw. A backdater gains at most a price offered 2 minutes ago.

    Weighed and not taken: charging the higher of the two prices never lets backdating win
    either, but charges an honest late shopper more than the store offers at receipt when a
    price fell meanwhile (receipt pricing never does); refusing a ``placed_at`` older than the
    cart's previous order rejects honest ones (a cart delivers up to 4 orders side by side, and
    retries reorder them), and an order is money that must not be refused for being late.
    A ``placed_at`` ahead of the store's clock (a cart clock running fast) is priced at receipt.
    """
    if placed_at is not None and received_at - PRICE_GRACE_S <= placed_at <= received_at:
        return placed_at
    return received_at


class ReferenceStore:
    """The store's logic on one SQLite file; :class:`StoreServer` puts HTTP in front of it.

    ``catalogue``: what the store sells and at what price (with its promotions); ``currency``:
    the one currency it charges in; ``clock``: Unix time (tests pass a fixed one).
    """

    def __init__(self, db_path: str | Path, cart_keys: Mapping[str, bytes],
                 shoppers: Mapping[str, str] | None = None, *, catalogue: Catalogue, currency: str = "USD",
                 clock: Callable[[], float] = time.time) -> None:
        self._db = sqlite3.connect(db_path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # Keys are the cart's: (cart_id, idempotency_key). One order id, one charge.
        self._db.execute("""CREATE TABLE IF NOT EXISTS charges (
            cart_id TEXT NOT NULL, idempotency_key TEXT NOT NULL, order_id TEXT NOT NULL UNIQUE,
            body_sha256 TEXT NOT NULL, total_cents INTEGER NOT NULL, reply TEXT NOT NULL,
            charged_at REAL NOT NULL, PRIMARY KEY (cart_id, idempotency_key))""")
        self._db.execute("""CREATE TABLE IF NOT EXISTS shopper_sessions (
            token_sha256 TEXT PRIMARY KEY, cart_id TEXT NOT NULL, session_id TEXT NOT NULL,
            first_at REAL NOT NULL)""")
        self._lock = threading.Lock()
        self._cart_keys = dict(cart_keys)
        self._shoppers = dict(shoppers or {})
        self.catalogue = catalogue
        self.currency = currency
        self._clock = clock

    def charges(self) -> list[tuple[str, str, int]]:
        """(idempotency key, order id, total charged) for every charge, oldest first."""
        with self._lock:
            return list(self._db.execute("SELECT idempotency_key, order_id, total_cents FROM charges ORDER BY rowid"))

    def find(self, order_id: str, cart_id: str) -> str | None:
        """The reply given for ``order_id`` if ``cart_id`` placed it."""
        with self._lock:
            row = self._db.execute("SELECT reply FROM charges WHERE order_id = ? AND cart_id = ?",
                                   (order_id, cart_id)).fetchone()
        return row[0] if row else None

    def authorize_read(self, method: str, path: str, headers: Headers) -> str:
        """The cart id whose credentials sign this read; raises 401 otherwise."""
        cart_id = headers.get("X-Dashcart-Cart", "")
        key = self._cart_keys.get(cart_id)
        if key is None or not hmac.compare_digest(read_signature(method, path, key),
                                                  headers.get("X-Dashcart-Signature", "")):
            raise StoreError(401, "reading an order needs the placing cart's X-Dashcart-Cart and signature")
        return cart_id

    def _check(self, body: bytes, headers: Headers) -> dict[str, Any]:
        cart_id = headers.get("X-Dashcart-Cart", "")
        key = self._cart_keys.get(cart_id)
        if key is None:
            raise StoreError(403, f"unknown cart {cart_id[:64]!r}")
        if not signature_valid(body, headers.get("X-Dashcart-Signature", ""), key):
            raise StoreError(401, "bad signature")
        try:
            order = json.loads(body, parse_constant=_no_constant)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise StoreError(400, "the body is not JSON") from None
        check_order_shape(order)
        # One body, one meaning: a key given twice, or numbers spelled another way, would let
        # a parser other than this one (an auditor's, the payment side's) read a different
        # order from the same signed bytes. The cart signs canonical_json, so an honest cart
        # always passes; anything else is refused, not re-read.
        try:
            canonical = canonical_json(order)
        except ValueError:   # a lone surrogate ("\ud800" in a name) has no UTF-8: no canonical body holds it
            canonical = b""
        if canonical != body:
            raise StoreError(400, "the body is not canonical JSON (sorted keys, no spaces, each key once): "
                                  "sign and send exactly what canonical_json makes")
        if order["idempotency_key"] != headers.get("Idempotency-Key") or order["cart_id"] != cart_id:
            raise StoreError(400, "Idempotency-Key and X-Dashcart-Cart must match the body")
        # Ids are the signing cart's own: derived from its id, the session and the sequence.
        # Another cart cannot squat them, and one order id has one key.
        order_id, idem_key = order_ids(cart_id, order["session_id"], order["seq"])
        if order["order_id"] != order_id or order["idempotency_key"] != idem_key:
            raise StoreError(422, "order_id and idempotency_key are not this cart's ids for this session and seq")
        if order["currency"] != self.currency:
            raise StoreError(422, f"currency {order['currency']} is not this store's ({self.currency})")
        lines = order["lines"]
        if sum(line["price_cents"] for line in lines) != order["total_cents"]:
            raise StoreError(422, "total_cents is not the sum of the lines")
        if order["subtotal_cents"] != order["total_cents"] + order["savings_cents"]:
            raise StoreError(422, "subtotal_cents is not total_cents + savings_cents")
        if self._shoppers and order["shopper_token"] not in self._shoppers:
            raise StoreError(403, "unknown shopper")
        return order

    def _price(self, order: dict[str, Any], received_at: float) -> dict[str, Any]:
        """The store's own prices for the order's items, at :func:`priced_at`: what is charged."""
        at = priced_at(order.get("placed_at"), received_at)
        items = []
        for i, line in enumerate(order["lines"], start=1):
            product = self.catalogue.get(line["code"])
            if product is None:
                raise StoreError(422, f"line {i}: product {line['code']} is not sold here")
            if product.sold_by != line["sold_by"]:
                raise StoreError(422, f"line {i}: {line['code']} is sold by {product.sold_by}, not {line['sold_by']}")
            items.append(BasketItem(line["code"], line["qty"], line["weight_g"]))
        try:
            priced = price_basket(items, self.catalogue, at, self.catalogue.promotions_by_code)
        except PricingError as exc:
            raise StoreError(422, str(exc)) from None
        if priced.total_cents < 1:
            raise StoreError(422, "nothing to charge: the store prices this basket at 0")
        if priced.subtotal_cents > MAX_CENTS:
            # what the store would charge must fit the API's Money too, not only what the cart asked
            raise StoreError(422, f"the store prices this basket above the most an order may cost ({MAX_CENTS} cents)")
        theirs = [(line["unit_price_cents"], line["savings_cents"], line["price_cents"]) for line in order["lines"]]
        ours = [(line.unit_price_cents, line.savings_cents, line.price_cents) for line in priced.lines]
        return {"subtotal_cents": priced.subtotal_cents, "savings_cents": priced.savings_cents,
                "total_cents": priced.total_cents, "repriced": theirs != ours, "priced_at": round(at, 3),
                "lines": [{"code": line.code, "qty": line.qty, "weight_g": line.weight_g,
                           "unit_price_cents": line.unit_price_cents, "savings_cents": line.savings_cents,
                           "price_cents": line.price_cents, "promotion": line.label or line.promotion}
                          for line in priced.lines]}

    def place(self, body: bytes, headers: Headers) -> tuple[int, str]:
        """(HTTP status, reply JSON). Raises :class:`StoreError` for a refusal."""
        order = self._check(body, headers)
        digest = hashlib.sha256(body).hexdigest()
        token_digest = hashlib.sha256(order["shopper_token"].encode()).hexdigest()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute("SELECT body_sha256, reply FROM charges WHERE cart_id = ? AND idempotency_key = ?",
                                       (order["cart_id"], order["idempotency_key"])).fetchone()
                if row is not None:
                    self._db.execute("COMMIT")
                    if row[0] != digest:
                        raise StoreError(409, "this idempotency key was used for a different order")
                    reply = json.loads(row[1])
                    reply["duplicate"] = True
                    return 200, json.dumps(reply)
                bound = self._db.execute("SELECT cart_id, session_id FROM shopper_sessions WHERE token_sha256 = ?",
                                         (token_digest,)).fetchone()
                if bound is not None and tuple(bound) != (order["cart_id"], order["session_id"]):
                    raise StoreError(403, "this shopper token was used in another session; sign in again")
                now = self._clock()
                charged = self._price(order, now)
                # Charging the card on file happens here, in the same transaction as the record.
                reply_doc = {"order_id": order["order_id"], "status": "accepted", "currency": self.currency,
                             **charged, "receipt": {"to": mask_email(self._shoppers.get(order["shopper_token"], ""))}}
                reply = json.dumps(reply_doc)
                if bound is None:
                    self._db.execute("INSERT INTO shopper_sessions VALUES (?, ?, ?, ?)",
                                     (token_digest, order["cart_id"], order["session_id"], now))
                self._db.execute("INSERT INTO charges VALUES (?, ?, ?, ?, ?, ?, ?)",
                                 (order["cart_id"], order["idempotency_key"], order["order_id"], digest,
                                  charged["total_cents"], reply, now))
                self._db.execute("COMMIT")
            except StoreError:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return 201, reply

    def close(self) -> None:
        self._db.close()


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _error(message: str) -> str:
    return json.dumps({"error": message})


def _allowed(path: str) -> tuple[str, ...] | None:
    """The methods ``path`` declares; None: no such path."""
    route = path.split("?", 1)[0]
    return ROUTES.get(route, ("GET",) if ORDER_PATH.fullmatch(route) else None)


class _DeadlineReader(io.RawIOBase):
    """The connection's reads for one request, each given at most what is left of a deadline.

    A socket timeout alone is per read: a client dripping a byte inside every timeout holds its
    thread for as long as it likes (slowloris). Waiting for a request to start is bounded by
    the idle timeout only; from its first byte the head must arrive within ``HEAD_DEADLINE_S``,
    and the body within ``BODY_DEADLINE_S`` of its start."""

    def __init__(self, sock: Any, idle_s: float) -> None:
        self._sock = sock
        self.idle_s = idle_s
        self.deadline: float | None = None
        self.head_started = False    # the current request's first byte has come
        self.expired = False

    def readable(self) -> bool:
        return True

    def next_request(self) -> None:
        self.deadline, self.head_started, self.expired = None, False, False

    def readinto(self, buffer: Any) -> int:
        wait = self.idle_s
        if self.deadline is not None:
            wait = min(wait, self.deadline - time.monotonic())
            if wait <= 0:
                self.expired = True
                raise TimeoutError("the request did not arrive in time")
        self._sock.settimeout(wait)
        try:
            got: int = self._sock.recv_into(buffer)
        except TimeoutError:
            self.expired = self.deadline is not None
            raise
        if got and not self.head_started:
            self.head_started = True
            self.deadline = time.monotonic() + HEAD_DEADLINE_S
        return got


class _Handler(BaseHTTPRequestHandler):
    server: StoreServer
    raw_requestline: bytes   # set by the stdlib before parse_request
    protocol_version = "HTTP/1.1"
    # A refusal of a request line without a version still gets a status line and headers.
    default_request_version = "HTTP/1.1"
    # A client that stops sending mid-request frees its thread after this long.
    timeout = 30.0

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("store: " + format, *args)

    def setup(self) -> None:
        super().setup()
        self._reader = _DeadlineReader(self.connection, self.timeout)
        self.rfile = io.BufferedReader(self._reader)

    def handle_one_request(self) -> None:
        self._reader.next_request()
        super().handle_one_request()   # the stdlib closes the connection on a TimeoutError
        if self._reader.expired and not self.wfile.closed:
            # the head was dripped past its deadline: say so before closing, as for a body
            # (what the stdlib's parse_request would have set, for the status line and the log)
            self.command = getattr(self, "command", None) or ""
            self.request_version = getattr(self, "request_version", self.default_request_version)
            self.requestline = getattr(self, "requestline", "")
            self._send(408, _error("the request's head did not arrive in time"))

    def parse_request(self) -> bool:
        if len(self.raw_requestline.split()) == 2:
            # HTTP/0.9 ("GET /path", no version): the stdlib would wait for headers that never
            # come; nobody speaks it to a store, so it is refused at once.
            self.command, self.request_version = "", self.default_request_version
            self.requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
            self.send_error(400, "the request line has no HTTP version")
            return False
        return super().parse_request()

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Every refusal, including the HTTP parser's own (bad request line, unknown method,
        headers too long), is the spec's JSON ``Error``, never the stdlib's HTML page."""
        allow = ""
        if code == 501:  # a method the stdlib has no do_X for: not allowed on any path here
            code, message = 405, f"method {self.command} is not allowed"
            allow = ", ".join(_allowed(self.path) or ())
        self.close_connection = True
        self._send(code, _error(message or self.responses.get(code, ("error",))[0]), close=True, allow=allow)

    def _send(self, status: int, text: str | bytes, *, close: bool = True, allow: str = "") -> None:
        data = text.encode() if isinstance(text, str) else text
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if allow:
                self.send_header("Allow", allow)
            if close:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            # The cart stopped waiting (its timeout); it will ask again and get this same reply.
            log.debug("store: the cart went away before the reply")

    def _read_body(self, length: int) -> bytes | None:
        """The body, or None when it does not all arrive within ``BODY_DEADLINE_S`` in all."""
        self._reader.deadline = time.monotonic() + BODY_DEADLINE_S
        try:
            body = self.rfile.read(length)
        except OSError:   # TimeoutError included
            return None
        finally:
            # the caller answers a late body (408); handle_one_request must not answer it again
            # as a head that did not arrive (a second reply, on a connection already closed)
            self._reader.expired = False
        return body if len(body) == length else None

    def _drop(self) -> None:
        self.close_connection = True
        self.connection.close()

    def _drip(self, status: int, text: str) -> None:
        """An answer one byte at a time (a congested or hostile intermediary)."""
        data = text.encode()
        head = (f"HTTP/1.1 {status} OK\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n"
                f"Connection: close\r\n\r\n").encode() + data
        try:
            for i in range(len(head)):
                self.wfile.write(head[i:i + 1])
                self.wfile.flush()
                time.sleep(self.server.drip_s)
        except OSError:
            pass
        self._drop()

    def _not_allowed(self, path: str) -> bool:
        route = path.split("?", 1)[0]
        allowed = _allowed(route)
        if allowed is None:
            self._send(404, _error("not found"))
            return True
        if self.command not in allowed:
            self._send(405, _error(f"method {self.command} is not allowed on {route}"), allow=", ".join(allowed))
            return True
        return False

    def do_GET(self) -> None:
        if self._not_allowed(self.path):
            return
        route = self.path.split("?", 1)[0]
        if route == "/v1/health":
            self._send(200, '{"status":"ok"}')
            return
        match = ORDER_PATH.fullmatch(route)
        assert match is not None
        try:
            cart_id = self.server.store.authorize_read("GET", route, self.headers)
        except StoreError as exc:
            self._send(exc.status, _error(str(exc)))
            return
        reply = self.server.store.find(match.group(1), cart_id)
        self._send(200, reply) if reply else self._send(404, _error("no such order"))

    def do_POST(self) -> None:
        self.server.requests += 1
        if self._not_allowed(self.path):
            return
        if self.headers.get_all("Transfer-Encoding"):
            # Any of it, however many times: a proxy in front may honour another one than this
            # and read another body (request smuggling); an order is sent with a Content-Length.
            self._send(411, _error("send the order with a Content-Length, without Transfer-Encoding"))
            return
        given = self.headers.get_all("Content-Length") or []
        if not given:
            self._send(411, _error("Content-Length is required"))
            return
        if len({text.strip() for text in given}) > 1:
            # Two lengths: a proxy in front may have read a different body than this (smuggling).
            self._send(400, _error("Content-Length is given twice with different values"))
            return
        text = given[0].strip()
        if not DIGITS.fullmatch(text):
            self._send(400, _error("Content-Length is not a whole number"))
            return
        length = int(text)
        if length > MAX_BODY:
            self._send(413, _error("order too large"))
            return
        body = self._read_body(length)
        if body is None:
            self._send(408, _error("the body did not arrive in time (fewer bytes than Content-Length)"))
            self._drop()
            return
        fault = self.server.next_fault()
        if fault == "slow":
            time.sleep(self.server.slow_s)
        if fault == "drop-before-commit":
            self._drop()
            return
        if fault in ("500", "503"):
            self._send(int(fault), _error("internal"))
            return
        if fault in ("html-404", "html-400"):
            # A proxy or captive portal answering for the store: not the store's Error JSON.
            status = int(fault[5:])
            page = f"<html><body><h1>{status}</h1>Sign in to the guest Wi-Fi</body></html>"
            self.send_response(status)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(page.encode())
            return
        if fault == "drip":
            self._drip(503, _error("busy"))
            return
        try:
            status, reply = self.server.store.place(body, self.headers)
        except StoreError as exc:
            self._send(exc.status, _error(str(exc)))
            return
        except Exception:  # noqa: BLE001 - a bug or a broken database: still an answer (the cart retries a 5xx)
            log.exception("store: cannot place an order")
            self._send(500, _error("the store could not record the order; nothing was charged"))
            return
        if fault == "drop-after-commit":
            self._drop()
        elif fault == "drip-after-commit":
            self._drip(status, reply)
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
    # socketserver's default backlog is 5: a burst of carts (or retries) past it is reset unanswered.
    request_queue_size = 128

    def __init__(self, store: ReferenceStore, host: str = "127.0.0.1", port: int = 0, slow_s: float = 2.0,
                 drip_s: float = 0.25) -> None:
        super().__init__((host, port), _Handler)
        self.store = store
        self.slow_s = slow_s
        self.drip_s = drip_s
        self.requests = 0
        self._faults: collections.deque[str] = collections.deque()
        self._faults_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        name = host.decode() if isinstance(host, (bytes, bytearray)) else host
        return f"http://{name}:{port}"

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
