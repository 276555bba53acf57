"""The store API client: ``POST /v1/orders`` with the signed body and its idempotency key.

Every failure is sorted into one of two kinds. Transient (:class:`StoreUnavailable`): refused,
timed out, reset, a 5xx/408/425/429, a 4xx whose body is not the store's JSON ``Error`` (a
proxy's or captive portal's page, not the store's word), or a reply that is not what the API
promises -- the order stays in the outbox and is sent again, which is safe because the store
deduplicates by key. Permanent (:class:`StoreRejected`): a 4xx with the store's ``Error`` body
-- the store understood and said no, so sending again would not help; staff must.

``timeout_s`` is a deadline for the whole exchange (name lookup, connect, send, every byte of
the answer), not per socket read: a reply dripped a byte at a time is cut off when the deadline
passes, and so is a resolver that does not answer.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from dashcart.core.checkout.order import mask_email

ORDERS_PATH = "/v1/orders"
# The API's Money: no order costs more (a store's answer above it is not one the API promises).
MAX_CHARGE_CENTS = 100_000_000
# An accepted order's reply repeats every line with its price and savings: the API's 500 lines
# with long promotion labels are about 100 KiB, so 1 MiB (the largest order body) is the bound.
MAX_REPLY_BYTES = 1024 * 1024


class StoreUnavailable(Exception):
    """Try again later; ``str()`` is one line for the log and the screen."""


class StoreRejected(Exception):
    """The store refused this order for good."""


@dataclass(frozen=True)
class StoreReply:
    order_id: str
    status: str          # accepted
    receipt_to: str      # masked
    duplicate: bool      # the store had this order already (an earlier reply was lost)
    raw: str             # the reply body, kept in the outbox
    total_cents: int = 0            # what the store charged (its own prices)
    repriced: bool = False          # the store's prices differ from the cart's
    lines: tuple[dict[str, Any], ...] = field(default=(), compare=False)  # the store's priced lines


class StoreClient:
    def __init__(self, base_url: str, timeout_s: float = 5.0) -> None:
        parsed = urllib.parse.urlsplit(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"{base_url!r} is not an http(s) URL")
        self._https = parsed.scheme == "https"
        self._host = parsed.hostname
        self._port = parsed.port
        self._prefix = parsed.path.rstrip("/")
        self._timeout_s = timeout_s

    def _connection(self, end: float) -> http.client.HTTPConnection:
        connection: http.client.HTTPConnection
        if self._https:
            connection = http.client.HTTPSConnection(self._host, self._port, timeout=self._timeout_s,
                                                     context=ssl.create_default_context())
        else:
            connection = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout_s)
        # http.client opens its socket through this attribute: the lookup and connect keep the deadline.
        connection._create_connection = lambda address, timeout, source=None: _open_socket(  # type: ignore[attr-defined]
            address, timeout, end)
        return connection

    def submit(self, body: bytes, *, idempotency_key: str, cart_id: str, signature: str,
               order_id: str, total_cents: int) -> StoreReply:
        headers = {"Content-Type": "application/json", "Idempotency-Key": idempotency_key,
                   "X-Dashcart-Cart": cart_id, "X-Dashcart-Signature": signature}
        connection = self._connection(time.monotonic() + self._timeout_s)
        expired = threading.Event()

        def cut_off() -> None:
            # The whole exchange is past its deadline: shut the socket so the blocked read ends now.
            expired.set()
            sock = connection.sock
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        deadline = threading.Timer(self._timeout_s, cut_off)
        deadline.daemon = True
        deadline.start()
        try:
            connection.request("POST", self._prefix + ORDERS_PATH, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read(MAX_REPLY_BYTES + 1)
            if expired.is_set():
                raise TimeoutError
        except TimeoutError:
            raise StoreUnavailable(f"the store did not answer within {self._timeout_s:g} s") from None
        except (OSError, http.client.HTTPException) as exc:
            if expired.is_set():
                raise StoreUnavailable(f"the store did not answer within {self._timeout_s:g} s") from None
            raise _unavailable(exc) from None
        finally:
            deadline.cancel()
            connection.close()
        return _interpret(response.status, data, order_id, total_cents, response.getheader("Content-Type", ""))


def _open_socket(address: tuple[str, int], timeout: float | None, end: float) -> socket.socket:
    """``socket.create_connection`` that ends by ``end`` (monotonic), name lookup included: a
    resolver cannot be interrupted, so it runs in a helper thread left behind when time is up."""
    host, port = address
    found: list[Any] = []
    done = threading.Event()

    def lookup() -> None:
        try:
            found.append(socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM))
        except OSError as exc:
            found.append(exc)
        finally:
            done.set()

    threading.Thread(target=lookup, name="store-lookup", daemon=True).start()
    if not done.wait(max(0.0, end - time.monotonic())):
        raise TimeoutError
    if isinstance(found[0], OSError):
        raise found[0]
    error: OSError = OSError(f"{host} has no address")
    for family, kind, proto, _, sockaddr in found[0]:
        left = end - time.monotonic()
        if left <= 0:
            raise TimeoutError
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(left)
            sock.connect(sockaddr)
        except OSError as exc:
            sock.close()
            error = exc
            continue
        sock.settimeout(timeout)
        return sock
    raise error


def _unavailable(exc: BaseException) -> StoreUnavailable:
    """One line for the log and the screen for a failure on the wire."""
    if isinstance(exc, ConnectionRefusedError):
        return StoreUnavailable("the store refused the connection")
    if isinstance(exc, (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError,
                        http.client.IncompleteRead)):
        return StoreUnavailable("the store closed the connection without an answer")
    return StoreUnavailable(f"cannot reach the store: {exc}")


def _interpret(status: int, data: bytes, order_id: str, total_cents: int, content_type: str) -> StoreReply:
    if status >= 500 or status in (408, 425, 429):
        raise StoreUnavailable(f"the store answered HTTP {status}")
    if len(data) > MAX_REPLY_BYTES:
        raise StoreUnavailable(f"the store's answer (HTTP {status}) is too long")
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        document = None
    if 400 <= status < 500:
        reason = document.get("error") if isinstance(document, dict) else None
        json_typed = content_type.split(";")[0].strip().lower() == "application/json"
        if not isinstance(reason, str) or not reason or not json_typed:
            # Not the store's Error: a proxy, a captive portal or a load balancer spoke. The store
            # may never have seen the order; retrying is safe (it deduplicates), giving up is not.
            raise StoreUnavailable(f"HTTP {status} from something that is not the store (no Error body)")
        raise StoreRejected(f"the store refused the order (HTTP {status}: {reason[:200]})")
    if status not in (200, 201) or not isinstance(document, dict):
        raise StoreUnavailable(f"the store answered HTTP {status} with something that is not an order reply")
    receipt = document.get("receipt")
    to = receipt.get("to", "") if isinstance(receipt, dict) else ""
    charged = document.get("total_cents")
    lines = document.get("lines", [])
    if (document.get("order_id") != order_id or document.get("status") != "accepted" or not isinstance(to, str)
            or isinstance(charged, bool) or not isinstance(charged, int) or not 1 <= charged <= MAX_CHARGE_CENTS
            or not isinstance(lines, list) or not all(isinstance(line, dict) for line in lines)):
        # Not ours, or not an answer the API promises: do not show a receipt for it; retrying is safe.
        raise StoreUnavailable("the store's answer does not match the order sent")
    # The store prices the order: what it charged is the truth, shown and printed as such.
    return StoreReply(order_id, "accepted", mask_email(to), bool(document.get("duplicate", False)),
                      data.decode("utf-8"), total_cents=charged,
                      repriced=bool(document.get("repriced", False)) or charged != total_cents,
                      lines=tuple(lines))
