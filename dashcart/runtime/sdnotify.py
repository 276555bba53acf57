"""A dependency-free client for systemd's notify protocol (``sd_notify(3)``).

Under a ``Type=notify`` unit systemd passes ``NOTIFY_SOCKET`` (a Unix datagram socket: a path,
or ``@name`` for the abstract namespace) and, with ``WatchdogSec=``, ``WATCHDOG_USEC``. The cart
tells it READY=1 once the cart is up, STATUS=... for ``systemctl status``, WATCHDOG=1 as the
keep-alive, and STOPPING=1 on the way out. Outside systemd (a developer's shell, the tests, the
demo) every call is a harmless no-op, so callers never need to ask where they run.

The environment is read once, by :meth:`Notifier.from_environment`; nothing happens at import.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Mapping

log = logging.getLogger(__name__)


def socket_address(value: str) -> str | bytes | None:
    """The ``sendto`` address for a ``NOTIFY_SOCKET`` value; None when it is not one we can use.

    ``@name`` is Linux's abstract namespace: a leading NUL byte in the kernel's terms.
    """
    if value.startswith("@") and len(value) > 1:
        return b"\0" + value[1:].encode()
    if value.startswith("/"):
        return value
    return None  # empty, relative, or vsock:... (VMs; not for a cart)


def watchdog_interval_s(environ: Mapping[str, str]) -> float | None:
    """``WATCHDOG_USEC`` in seconds, when it is meant for this process; else None.

    systemd sets ``WATCHDOG_PID`` too; a value inherited by a child process (another PID) must not
    make that child believe it owns the parent's watchdog.
    """
    usec = environ.get("WATCHDOG_USEC", "")
    pid = environ.get("WATCHDOG_PID", "")
    if pid and pid != str(os.getpid()):
        return None
    try:
        value = int(usec)
    except ValueError:
        return None
    return value / 1_000_000 if value > 0 else None


class Notifier:
    """Sends notify messages to systemd. With no address every method returns False and sends nothing.

    Thread-safe: the watchdog thread and the main thread may both send.
    """

    def __init__(self, address: str | bytes | None = None, *, watchdog_interval_s: float | None = None) -> None:
        self.address = address
        #: systemd's WatchdogSec in seconds, or None when no watchdog is armed for us.
        self.watchdog_interval_s = watchdog_interval_s
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._warned = False
        self._ready_sent = False

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Notifier:
        """The notifier systemd asked for, or a disabled one when not run by systemd."""
        env = os.environ if environ is None else environ
        raw = env.get("NOTIFY_SOCKET", "")
        address = socket_address(raw)
        if raw and address is None:
            log.warning("NOTIFY_SOCKET=%r is not a socket path or @abstract name; not notifying systemd", raw)
        return cls(address, watchdog_interval_s=watchdog_interval_s(env) if address is not None else None)

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, message: str) -> bool:
        """Send one datagram of ``KEY=value`` lines; True when systemd's socket took it.

        Failing to notify must never take the cart down: errors are logged once and swallowed
        (systemd itself will act if READY or the watchdog pings never arrive).
        """
        if self.address is None:
            return False
        data = message.encode("utf-8")
        with self._lock:
            try:
                if self._sock is None:
                    self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                self._sock.sendto(data, self.address)
            except OSError as exc:
                if not self._warned:
                    log.warning("cannot notify systemd at %r: %s", self.address, exc)
                    self._warned = True
                return False
        return True

    def ready(self, status: str | None = None) -> bool:
        """The cart is up: systemd finishes ``systemctl start`` and starts dependants.

        READY=1 goes out once per process; a later call only updates STATUS (a reconnect path
        calling ready() again must not look like a second start-up in the journal).
        """
        if self._ready_sent:
            return self.status(status) if status else False
        sent = self.send("READY=1" + (f"\nSTATUS={_one_line(status)}" if status else ""))
        self._ready_sent = sent
        return sent

    def status(self, text: str) -> bool:
        """Free text shown by ``systemctl status dashcart``."""
        return self.send(f"STATUS={_one_line(text)}")

    def watchdog(self) -> bool:
        """The keep-alive: the process is healthy. Send at least every ``watchdog_interval_s``."""
        return self.send("WATCHDOG=1")

    def stopping(self, status: str | None = None) -> bool:
        """Shutting down on purpose: systemd will not treat the silence that follows as a hang."""
        return self.send("STOPPING=1" + (f"\nSTATUS={_one_line(status)}" if status else ""))

    def reloading(self, status: str | None = None) -> bool:
        """Starting again in this same process (``dashcart run`` re-executes itself to take a new
        fleet config): systemd waits for the READY=1 of the new start instead of a stop."""
        return self.send(f"RELOADING=1\nMONOTONIC_USEC={time.monotonic_ns() // 1000}"
                         + (f"\nSTATUS={_one_line(status)}" if status else ""))

    def extend_timeout(self, seconds: float) -> bool:
        """Ask for more time to start or stop (loading the model on a cold Pi, flushing the outbox)."""
        return self.send(f"EXTEND_TIMEOUT_USEC={int(seconds * 1_000_000)}")

    def close(self) -> None:
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None

    def __enter__(self) -> Notifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _one_line(text: str) -> str:
    # A newline would start a new KEY=value assignment in the datagram.
    return " ".join(str(text).split())
