"""The fleet link: this cart's status, health, telemetry, configuration and commands over MQTT.

Contract ``dashcart/v1`` (docs/fleet.md, ../shared/DESIGN.md); topics under
``dashcart/v1/<store_id>/<cart_id>/``. The link runs on its own thread and talks to the cart
only through a bounded queue (``telemetry``) and the callables it was given (``health``, the
command handlers, ``on_config``), so a slow broker, DNS or TLS never holds up scanning,
weighing, the screen or checkout: when the queue is full an event is counted and dropped.

Telemetry goes through an on-disk outbox (:mod:`dashcart.runtime.fleet_outbox`) and leaves it
only when the ingest side acknowledges it; on every connection the link resends what is still
there. Connection attempts wait a random time (up to ``reconnect_max_s``, see
:class:`Backoff`), so a store's carts do not all come back in the same second.

A new paho client is made for every connection (``clean_session``: everything the cart must
hear is retained), so nothing queued inside paho for a dead connection is sent twice.
"""

from __future__ import annotations

import collections
import dataclasses
import enum
import functools
import json
import logging
import os
import queue
import random
import sqlite3
import ssl
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dashcart import __version__
from dashcart.config import BrokerAddress, Config, FleetSection, check_id, parse_broker_url, parse_public_key
from dashcart.errors import DashcartError, Misconfigured

log = logging.getLogger("dashcart.fleet")

PREFIX = "dashcart/v1"
#: Events waiting for the link thread; beyond this the cart drops (and counts) them.
QUEUE_LIMIT = 10_000
#: Telemetry sent but not yet acknowledged, at most (keeps a long ingest outage from
#: turning into a flood when it ends).
SEND_WINDOW = 200
#: How often health is sampled to see whether it changed.
HEALTH_SAMPLE_S = 2.0
#: How often the outbox budgets are enforced.
BUDGET_EVERY_S = 10.0
#: A broker that accepted the TCP connection but says nothing this long is given up on.
CONNACK_TIMEOUT_S = 10.0
#: While the broker cannot be reached, a warning this often (the first failure is said at once).
RETRY_WARN_EVERY_S = 300.0
#: Lines of this cart's log kept in memory for ``upload_logs``.
LOG_LINES = 5000
# -- addresses and topics ------------------------------------------------------------------


@dataclass(frozen=True)
class Topics:
    store_id: str
    cart_id: str

    @property
    def base(self) -> str:
        return f"{PREFIX}/{self.store_id}/{self.cart_id}"

    @property
    def status(self) -> str:
        return f"{self.base}/status"

    @property
    def health(self) -> str:
        return f"{self.base}/health"

    @property
    def telemetry(self) -> str:
        return f"{self.base}/telemetry"

    @property
    def ack(self) -> str:
        return f"{self.base}/ack"

    @property
    def desired(self) -> str:
        return f"{self.base}/config/desired"

    @property
    def store_desired(self) -> str:
        return f"{PREFIX}/{self.store_id}/_all/config/desired"

    @property
    def reported(self) -> str:
        return f"{self.base}/config/reported"

    def command(self, op: str, command_id: str) -> str:
        return f"{self.base}/cmd/{op}/{command_id}"


#: The names the TLS files go by in the cart's config (the commands pass their options' names).
TLS_NAMES = ("fleet.ca_file", "fleet.cert_file", "fleet.key_file")


def make_client(client_id: str, *, clean_session: bool, address: BrokerAddress, ca_file: str = "",
                cert_file: str = "", key_file: str = "", reconnect: bool = False,
                tls_names: tuple[str, str, str] = TLS_NAMES) -> Any:
    """A paho 2.x client for MQTT 3.1.1 (TLS set up for ``mqtts``). ``reconnect``: paho's own
    reconnecting in ``loop_start`` (tools); the link and the ingest reconnect themselves."""
    import paho.mqtt.client as mqtt

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean_session,
                         protocol=mqtt.MQTTv311, reconnect_on_failure=reconnect)
    if address.tls:
        client.tls_set_context(tls_context(ca_file, cert_file, key_file, tls_names))
    client.connect_timeout = 5.0
    return client


def tls_context(ca_file: str, cert_file: str, key_file: str, names: tuple[str, str, str] = TLS_NAMES) -> ssl.SSLContext:
    """What paho's ``tls_set`` makes (the broker's certificate and host name checked; the
    system's CAs when no ``ca_file``), but a file that is missing or unusable is one line
    (:class:`Misconfigured`) naming the setting, not a traceback at the first connection."""
    for name, path in zip(names, (ca_file, cert_file, key_file)):
        if path and not os.path.isfile(path):
            raise Misconfigured(f"{name}: {path}: no such file")
    try:
        context = ssl.create_default_context(cafile=ca_file or None)
    except (OSError, ssl.SSLError) as exc:
        raise Misconfigured(f"{names[0]}: {ca_file or 'the system CAs'}: not a usable CA file: {exc}") from None
    if cert_file or key_file:
        if not cert_file:
            raise Misconfigured(f"{names[2]}: a key needs its certificate ({names[1]})")
        try:
            context.load_cert_chain(cert_file, key_file or None)
        except (OSError, ssl.SSLError) as exc:
            raise Misconfigured(f"{names[1]}: {cert_file}"
                                f"{' with ' + key_file if key_file else ''}: not a usable certificate and key: {exc}") from None
    return context


class Backoff:
    """Waits between connection attempts: the first (at start, or after a connection was lost)
    a random time in [0, ``cap_s``], every later one ``cap_s`` exactly.

    A store's carts lose the broker together, so what matters is how their attempts fall when it
    returns, after an outage of any length. With a random phase and a fixed period each cart's
    next attempt is uniform over the period whatever the outage was: 200 carts with an 8 s cap
    come back at 25 a second (simulated: at most 38 in the busiest second), all within the cap. A
    doubling window ("equal jitter", [w/2, w] with w = 1, 2, 4, 8 s), used before, was fine
    after a 60 s outage (37 in the busiest second) but sent 150 a second after a 1 s restart and
    about 55 after 10 s: carts that failed together retried together. The cost: a lone cart
    whose link drops waits up to ``cap_s`` (half of it on average) before it tries again; its
    telemetry waits on disk meanwhile."""

    def __init__(self, cap_s: float, rng: random.Random) -> None:
        self.cap_s = cap_s
        self.rng = rng
        self.failures = 0

    def next_delay(self) -> float:
        self.failures += 1
        return self.rng.uniform(0.0, self.cap_s) if self.failures == 1 else self.cap_s

    def reset(self) -> None:
        self.failures = 0


class OutageWarning:
    """When to warn that the broker cannot be reached: at the first failed attempt, then every
    ``every_s`` while it lasts. An unreachable broker is news for the operator once, then every
    few minutes, not at every attempt (a store's Wi-Fi down would flood the journal)."""

    def __init__(self, every_s: float = RETRY_WARN_EVERY_S) -> None:
        self.every_s = every_s
        self._said_at: float | None = None
        self._unsaid = 0   # failed attempts since the last warning

    def failed(self, now: float) -> int | None:
        """One more failed attempt: the number of them since the last warning when it is time
        for the next one, else None (say it at debug level)."""
        self._unsaid += 1
        if self._said_at is not None and now - self._said_at < self.every_s:
            return None
        count, self._said_at, self._unsaid = self._unsaid, now, 0
        return count

    def said_lost(self, now: float) -> None:
        """The lost connection was just warned about: that word covers the attempt that follows
        it at once; failures after that are said in ``every_s`` if still so."""
        self._said_at, self._unsaid = now, -1

    def reset(self) -> None:
        """Connected: the next failure is news again."""
        self._said_at, self._unsaid = None, 0


# -- applied configuration on disk ------------------------------------------------------------


#: Starts with a document that did not get as far as the fleet link (crashed, or killed by the
#: watchdog) before the cart stops using it; a start that fails with a one-line error counts at once.
FAILED_STARTS = 2


def applied_config_path(state_dir: Path) -> Path:
    return state_dir / "fleet" / "config.json"


def _trial_path(state_dir: Path) -> Path:
    """The document the cart is starting with, until the start got as far as the fleet link."""
    return state_dir / "fleet" / "trial.json"


def _refused_path(state_dir: Path) -> Path:
    """The version the cart could not start with, and why."""
    return state_dir / "fleet" / "refused.json"


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.error("fleet: %s is unreadable (%s); ignoring it", path, exc)
        return None
    return data if isinstance(data, dict) else None


def read_applied(state_dir: Path) -> dict[str, Any] | None:
    """The last applied ``config/desired`` message (``version``, ``doc``, ``sig``), or None."""
    return _read_json(applied_config_path(state_dir))


def read_refused(state_dir: Path) -> tuple[int, str]:
    """(the highest version the cart could not start with, why); (0, '') when none."""
    data = _read_json(_refused_path(state_dir)) or {}
    version = data.get("version")
    return (version, str(data.get("reason", ""))) if isinstance(version, int) else (0, "")


def write_applied(state_dir: Path, message: dict[str, Any], path: Path | None = None) -> None:
    """Atomically: a cart that loses power mid-write starts with the old document or the new."""
    path = path or applied_config_path(state_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".config.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(message, handle, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def with_applied_config(config: Config) -> tuple[Config, int]:
    """``config`` with the fleet document applied last laid over it, and that document's
    version (0: none). Checked again (signature, schema) against this config file; a document
    that no longer fits is logged and skipped, and so is one the cart did not finish starting
    with :data:`FAILED_STARTS` times (see :func:`refuse_failed_start`). The start is on trial
    until :func:`started` says it got as far as the fleet link."""
    from dashcart.core.fleet_config import judge

    if not config.fleet.broker_url:
        return config, 0
    state_dir = config.state_dir()
    stored = read_applied(state_dir)
    if stored is None:
        return config, 0
    trial = _read_json(_trial_path(state_dir)) or {}
    tries = int(trial.get("tries", 0)) if trial.get("version") == stored.get("version") else 0
    if tries >= FAILED_STARTS:
        _refuse(state_dir, stored, f"the cart did not finish starting with it {tries} times")
        return with_applied_config(config)   # the one applied before it, if any (on trial in turn)
    try:
        key = parse_public_key(config.fleet.config_public_key) if config.fleet.config_public_key else None
    except Misconfigured:
        key = None
    verdict = judge(json.dumps(stored).encode(), applied_version=0, public_key=key, base=config)
    if not verdict.apply or verdict.config is None:
        log.error("fleet: the stored config version %s no longer applies (%s); running the config file",
                  stored.get("version"), verdict.reason)
        return config, 0
    write_applied(state_dir, {"version": verdict.version, "tries": tries + 1}, _trial_path(state_dir))
    log.info("fleet: running config version %d from %s", verdict.version, applied_config_path(state_dir))
    return verdict.config, int(verdict.version or 0)


def started(state_dir: Path) -> None:
    """The cart started with its fleet document (it got as far as the link): no longer on trial."""
    _trial_path(state_dir).unlink(missing_ok=True)


def refuse_failed_start(config: Config, error: str) -> bool:
    """The cart failed to start (``error``, one line). If it was starting with a fleet document,
    the document is refused (kept as ``config.refused.json``; the link reports it rejected with
    this reason and refuses it again when it is retained) and True says: start again, from the
    config file. A schema-valid document can still name what this cart cannot start with (a
    serial scale with no port): the store's carts must not all stay down for it."""
    state_dir = config.state_dir()
    stored = read_applied(state_dir)
    trial = _read_json(_trial_path(state_dir))
    if stored is None or trial is None or trial.get("version") != stored.get("version"):
        return False
    _refuse(state_dir, stored, f"the cart could not start with it: {error}")
    return True


def _refuse(state_dir: Path, stored: dict[str, Any], reason: str) -> None:
    """Keep the document aside, go back to the one applied before it (or the config file), and
    remember the refusal: the highest refused version (this and every older one stay refused)."""
    version = stored.get("version")
    previous = _previous_path(state_dir)
    log.error("fleet: config version %s refused, running %s: %s", version,
              "the one before it" if previous.exists() else "the config file", reason)
    if isinstance(version, int) and version > read_refused(state_dir)[0]:
        write_applied(state_dir, {"version": version, "reason": reason}, _refused_path(state_dir))
    os.replace(applied_config_path(state_dir), state_dir / "fleet" / "config.refused.json")
    if previous.exists():
        os.replace(previous, applied_config_path(state_dir))
    _trial_path(state_dir).unlink(missing_ok=True)


def _previous_path(state_dir: Path) -> Path:
    """The document applied before the current one: what the cart goes back to if it cannot start
    with the current one."""
    return state_dir / "fleet" / "config.previous.json"


def apply_document(state_dir: Path, message: dict[str, Any]) -> None:
    """Keep ``message`` as the applied document, the one it replaces as the previous one."""
    current = applied_config_path(state_dir)
    if current.exists():
        os.replace(current, _previous_path(state_dir))
    write_applied(state_dir, message)


# -- the log ring for upload_logs --------------------------------------------------------------


class LogRing(logging.Handler):
    """The cart's last log lines, in memory (``upload_logs`` sends them)."""

    def __init__(self, size: int = LOG_LINES) -> None:
        super().__init__(logging.DEBUG)
        self.lines: collections.deque[str] = collections.deque(maxlen=size)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:   # a bad log call must not break the caller
            self.handleError(record)


# -- the link --------------------------------------------------------------------------------


class LinkState(enum.Enum):
    WAITING = "waiting"          # for the next connection attempt
    CONNECTING = "connecting"    # TCP up, CONNACK not yet
    CONNECTED = "connected"
    STOPPED = "stopped"


CommandHandler = Callable[[dict[str, Any]], str]


@dataclass
class LinkCounters:
    connects: int = 0
    connect_failures: int = 0
    published: int = 0
    acked: int = 0
    dropped: int = 0             # events the full queue refused
    evicted: int = 0
    configs_applied: int = 0
    configs_rejected: int = 0
    commands: int = 0


class FleetLink:
    """One cart's link. ``start()`` runs it on a thread; ``telemetry()`` never blocks."""

    def __init__(self, section: FleetSection, cart_id: str, state_dir: Path, *,
                 health: Callable[[], dict[str, Any]] | None = None,
                 commands: Mapping[str, CommandHandler] | None = None,
                 on_config: Callable[[int, Config], None] | None = None,
                 base_config: Config | None = None, applied_version: int = 0,
                 software: str = "", clock: Callable[[], float] = time.monotonic,
                 rng: random.Random | None = None, capture_logs: bool = True,
                 budget_every_s: float = BUDGET_EVERY_S) -> None:
        self.section = section
        self.address = parse_broker_url(section.broker_url)
        self.topics = Topics(check_id(section.store_id, "fleet.store_id"), check_id(cart_id, "cart.id"))
        if self.address.tls:
            tls_context(section.ca_file, section.cert_file, section.key_file)   # one line at start if unusable
        self.public_key = parse_public_key(section.config_public_key) if section.config_public_key else None
        self.state_dir = Path(state_dir)
        self.health_source = health
        self.handlers: dict[str, CommandHandler] = {"upload_logs": self._upload_logs, **(commands or {})}
        self.on_config = on_config
        self.base_config = base_config or Config()
        self.applied_version = applied_version
        #: The highest version the cart could not start with (refused again when it comes again).
        self.refused_version, self._refused_reason = read_refused(self.state_dir)
        self.software = software or f"dashcart {__version__}"
        self.clock = clock
        self.rng = rng or random.Random()
        self.budget_every_s = budget_every_s
        self.boot_id = uuid.uuid4().hex[:16]
        self.counters = LinkCounters()
        self.state = LinkState.WAITING
        self.session = 0
        self._queue: queue.Queue[tuple[str, dict[str, Any], bool, float]] = queue.Queue(QUEUE_LIMIT)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._results: queue.Queue[tuple[str, str, str, str]] = queue.Queue()
        self._executor: ThreadPoolExecutor | None = None
        self._running: dict[str, Future[str]] = {}
        self._log_ring = LogRing() if capture_logs else None
        self._outbox: Any = None
        self._client: Any = None
        self._seq = 0
        self._cursor = 0
        self._progress_at = 0.0
        self._resend_after = section.resend_after_s
        self._backoff = Backoff(section.reconnect_max_s, self.rng)
        self._outage = OutageWarning()
        self._next_attempt = 0.0
        self._connecting_since = 0.0
        self._health_sampled = float("-inf")
        self._health_sent = float("-inf")
        self._last_health: dict[str, Any] | None = None
        self._budget_at = float("-inf")
        self._unpublished: list[tuple[str, str, str, str]] = []
        self.connected_event = threading.Event()
        self.failed = ""
        #: Telemetry on disk not yet acknowledged (updated by the link's thread about once a second).
        self.unacked = 0
        self._counted_at = float("-inf")

    # -- the cart's side (any thread) ---------------------------------------------------------

    def start(self) -> None:
        if self._log_ring is not None:
            logging.getLogger("dashcart").addHandler(self._log_ring)
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="fleet-cmd")
        self._thread = threading.Thread(target=self._run, name="fleet-link", daemon=True)
        self._thread.start()

    def telemetry(self, kind: str, data: Mapping[str, Any] | None = None, *, fault: bool = False) -> bool:
        """Queue one event for the fleet; False (and counted) when the queue is full."""
        try:
            self._queue.put_nowait((kind, dict(data or {}), fault, time.time()))
            return True
        except queue.Full:
            self.counters.dropped += 1
            return False

    def stop(self, timeout: float = 3.0) -> None:
        """Say offline, flush the outbox, close. Returns within about ``timeout``."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
        if self._log_ring is not None:
            logging.getLogger("dashcart").removeHandler(self._log_ring)

    @property
    def connected(self) -> bool:
        return self.state is LinkState.CONNECTED

    # -- the link thread ----------------------------------------------------------------------

    def _run(self) -> None:
        from dashcart.runtime.fleet_outbox import FleetOutbox
        try:
            self._outbox = FleetOutbox(self.state_dir / "fleet" / "outbox.sqlite",
                                       max_bytes=int(self.section.outbox_max_mb * 1024 * 1024),
                                       max_age_s=self.section.outbox_max_age_h * 3600.0)
        except DashcartError as exc:
            self.failed = str(exc)
            log.error("fleet: no link: %s", exc)
            self.state = LinkState.STOPPED
            return
        try:
            self._interrupted_commands()
            # A randomised start: a store's carts powered on together do not connect together.
            self._next_attempt = self.clock() + self._backoff.next_delay()
            while not self._stop.is_set():
                try:
                    self._step()
                except (OSError, sqlite3.Error, ValueError, RuntimeError, AttributeError, TypeError) as exc:
                    # A fault of ours or the disk's: drop the connection, wait, start over.
                    log.exception("fleet: link step failed (%s); reconnecting", exc)
                    self._lost(f"error: {exc}")
                    self._stop.wait(1.0)
            self._say_goodbye()
        except Exception:   # the link must never take the cart down; it says why and stops
            log.exception("fleet: the link failed; the cart carries on without it")
            self.failed = "crashed"
        finally:
            self._close_client()
            self.state = LinkState.STOPPED
            self._outbox.close()

    def _step(self) -> None:
        now = self.clock()
        self._drain()
        if now - self._budget_at >= self.budget_every_s:
            self._budget_at = now
            self._enforce_budget(now)
        if now - self._counted_at >= 1.0:
            self._counted_at = now
            self._outbox.flush()
            self.unacked = self._outbox.depth()
        if self._client is None:
            if now >= self._next_attempt:
                self._connect()
            else:
                self._outbox.flush()
                self._stop.wait(min(0.1, max(0.0, self._next_attempt - now)))
            return
        self._outbox.flush()
        if self.state is LinkState.CONNECTING and now - self._connecting_since > CONNACK_TIMEOUT_S:
            self._lost("no CONNACK")
            return
        if self.state is LinkState.CONNECTED:
            self._send(now)
        if self.state is LinkState.CONNECTED:
            self._publish_results()
        if self.state is LinkState.CONNECTED:
            self._health_tick(now)
        import paho.mqtt.client as mqtt
        rc = self._client.loop(timeout=0.1) if self._client is not None else mqtt.MQTT_ERR_SUCCESS
        if rc != mqtt.MQTT_ERR_SUCCESS and self._client is not None:
            self._lost(f"loop: {mqtt.error_string(rc)}")

    def _drain(self) -> None:
        for _ in range(QUEUE_LIMIT):
            try:
                kind, data, fault, wall = self._queue.get_nowait()
            except queue.Empty:
                return
            self._add(kind, data, fault, wall)

    def _add(self, kind: str, data: dict[str, Any], fault: bool, wall: float, row_id: int | None = None) -> None:
        self._seq += 1
        body = {"boot_id": self.boot_id, "seq": self._seq, "ts": round(wall, 3), "kind": kind, **data}
        if fault:
            body["fault"] = True
        payload = json.dumps(body, separators=(",", ":"), default=str).encode()
        self._outbox.add(self.boot_id, self._seq, payload, created=wall, fault=fault, row_id=row_id)

    def _enforce_budget(self, now: float) -> None:
        evicted, last_id = self._outbox.enforce_budget(time.time())
        if not evicted:
            return
        count = sum(e.last - e.first + 1 for e in evicted)
        self.counters.evicted += count
        log.warning("fleet: the telemetry outbox is over budget; dropped %d unsent events", count)
        # Kept as a fault: the ingest side must learn these seqs are gone, or its watermark would
        # wait for them. It takes the place of the last evicted row, ahead of everything after
        # the gap: sent last, it could sit behind a full send window that waits for it.
        self._add("evicted", {"lost": [{"boot_id": e.boot_id, "first": e.first, "last": e.last} for e in evicted]},
                  True, time.time(), row_id=last_id)
        self._outbox.flush()
        self._cursor = min(self._cursor, last_id - 1)

    # -- connecting ---------------------------------------------------------------------------

    def _connect(self) -> None:
        try:
            client = make_client(f"dashcart-{self.topics.store_id}-{self.topics.cart_id}", clean_session=True,
                                 address=self.address, ca_file=self.section.ca_file,
                                 cert_file=self.section.cert_file, key_file=self.section.key_file)
        except DashcartError as exc:   # a certificate file gone or replaced by a bad one since start
            self.counters.connect_failures += 1
            log.error("fleet: cannot connect: %s", exc)
            self._retry_later(str(exc))
            return
        self.session = self._outbox.next_session()
        client.max_inflight_messages_set(100)
        client.will_set(self.topics.status, json.dumps({"state": "offline", "session": self.session}), qos=1,
                        retain=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        self.state = LinkState.CONNECTING
        try:
            client.connect(self.address.host, self.address.port, keepalive=self.section.keepalive_s)
        except (OSError, ValueError) as exc:   # refused, DNS, TLS handshake, timeout
            self.counters.connect_failures += 1
            self._retry_later(f"{self.address}: {exc}")
            sock = client.socket()
            if sock is not None:
                sock.close()
            return
        self._client = client
        self._connecting_since = self.clock()

    def _retry_later(self, why: str) -> None:
        delay = self._backoff.next_delay()
        self._next_attempt = self.clock() + delay
        self.state = LinkState.WAITING
        self.connected_event.clear()
        attempts = self._outage.failed(self.clock())
        if attempts is not None:
            log.warning("fleet: cannot reach the broker: %s (%d attempt(s) since the last word; telemetry "
                        "waits on disk, next attempt in %.0f s)", why, attempts, delay)
        else:
            log.debug("fleet: %s; next attempt in %.1f s", why, delay)

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            self.counters.connect_failures += 1
            log.warning("fleet: %s refused the connection: %s", self.address, reason)
            self._close_client()
            self._retry_later(str(reason))
            return
        self.state = LinkState.CONNECTED
        self.counters.connects += 1
        self._backoff.reset()
        self._outage.reset()
        t = self.topics
        client.publish(t.status, json.dumps({"state": "online", "session": self.session, "boot_id": self.boot_id,
                                             "software": self.software}), qos=1, retain=True)
        client.subscribe([(t.ack, 1), (t.desired, 1), (t.store_desired, 1), (f"{t.base}/cmd/+/+", 1),
                          (t.status, 1)])
        if self.applied_version:
            self._report({"version": self.applied_version, "status": "ok"})
        # Everything still in the outbox goes again: the broker may have lost what it acknowledged.
        self._cursor = 0
        self._progress_at = self.clock()
        self._resend_after = self.section.resend_after_s
        self._health_sent = float("-inf")
        self._publish_results()
        self.connected_event.set()
        log.info("fleet: connected to %s (session %d)", self.address, self.session)

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if client is self._client:
            self._lost(str(reason))

    def _lost(self, why: str) -> None:
        was = self.state
        self._close_client()
        if was is LinkState.CONNECTING:
            # Closed before CONNACK: e.g. the broker refused our certificate after the TLS handshake.
            self.counters.connect_failures += 1
        if was is LinkState.CONNECTED:
            log.warning("fleet: lost %s (%s); telemetry waits on disk", self.address, why)
            self._outage.said_lost(self.clock())
        self._retry_later(why)

    def _close_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.on_disconnect = None
            try:
                sock = client.socket()
                if sock is not None:
                    sock.close()
            except OSError:
                pass

    def _say_goodbye(self) -> None:
        """A clean stop: offline (no Last Will for a DISCONNECT), then close."""
        client = self._client
        if client is None or self.state is not LinkState.CONNECTED:
            return
        info = client.publish(self.topics.status, json.dumps({"state": "offline", "session": self.session}), qos=1,
                              retain=True)
        deadline = self.clock() + 1.0
        while not info.is_published() and self.clock() < deadline and self._client is not None:
            client.loop(timeout=0.05)
        client.on_disconnect = None
        client.disconnect()
        client.loop(timeout=0.05)

    # -- sending ------------------------------------------------------------------------------

    def _send(self, now: float) -> None:
        outstanding = self._outbox.count_upto(self._cursor) if self._cursor else 0
        if outstanding == 0:
            self._progress_at = now
        elif now - self._progress_at >= self._resend_after:
            # Sent, not acknowledged: the broker or the ingest side lost it. Again, from the
            # oldest; waiting longer each time nothing moves (the ingest side may be away).
            log.info("fleet: %d events unacknowledged for %.0f s; sending them again", outstanding,
                     now - self._progress_at)
            self._cursor = 0
            outstanding = 0
            self._progress_at = now
            self._resend_after = min(self._resend_after * 2, self.section.resend_after_s * 16)
        room = SEND_WINDOW - outstanding
        if room <= 0:
            return
        client = self._client
        for row in self._outbox.after(self._cursor, room):
            # A write error inside publish() runs on_disconnect at once: stop with this client.
            if self._client is not client:
                return
            client.publish(self.topics.telemetry, row.payload, qos=1)
            self._cursor = row.id
            self.counters.published += 1

    def _report(self, body: dict[str, Any]) -> None:
        if self._client is not None:
            self._client.publish(self.topics.reported, json.dumps(body), qos=1, retain=True)

    # -- health -------------------------------------------------------------------------------

    def _health_tick(self, now: float) -> None:
        if now - self._health_sampled < HEALTH_SAMPLE_S:
            return
        self._health_sampled = now
        health = self.health()
        due = now - self._health_sent >= self.section.health_period_s
        if self._client is None:
            return
        if due or self._last_health is None or _significant(health) != _significant(self._last_health):
            self._client.publish(self.topics.health, json.dumps(health, default=str), qos=1, retain=True)
            self._health_sent = now
            self._last_health = health

    def health(self) -> dict[str, Any]:
        """The cart's health (from ``health``) with the link's own numbers."""
        health: dict[str, Any] = {"software": self.software}
        if self.health_source is not None:
            try:
                health.update(self.health_source())
            except Exception as exc:  # a broken probe must not stop the link; the fleet sees it
                log.exception("fleet: collecting health failed")
                health["health_error"] = f"{type(exc).__name__}: {exc}"
        health["boot_id"] = self.boot_id
        health.setdefault("config_version", self.applied_version)   # the cart's own says which one it runs
        health["telemetry"] = {"queued": self._outbox.depth() if self._outbox else 0,
                               "evicted": self._outbox.evictions if self._outbox else self.counters.evicted,
                               "dropped": self.counters.dropped, "connects": self.counters.connects}
        return health

    # -- what arrives -------------------------------------------------------------------------

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        topic: str = message.topic
        try:
            if topic == self.topics.ack:
                self._on_ack(message.payload)
            elif topic in (self.topics.desired, self.topics.store_desired):
                self._on_desired(message.payload, bool(message.retain))
            elif topic == self.topics.status:
                self._on_own_status(message.payload)
            elif topic.startswith(f"{self.topics.base}/cmd/"):
                self._on_command(topic, message.payload, bool(message.retain))
        except Exception:  # one bad message must not stop the link
            log.exception("fleet: handling a message on %s failed", topic)

    def _on_ack(self, payload: bytes) -> None:
        try:
            data = json.loads(payload)
            boot_id, seq = str(data["boot_id"]), int(data["seq"])
        except (ValueError, KeyError, TypeError):
            log.warning("fleet: ignoring a malformed ack %r", payload[:80])
            return
        freed = self._outbox.acknowledge(boot_id, seq)
        if freed:
            self.counters.acked += freed
            self._progress_at = self.clock()
            self._resend_after = self.section.resend_after_s

    def _on_own_status(self, payload: bytes) -> None:
        """An offline of another session published after this session's online (a Last Will a
        broker or a bridge delivered late): say online again. Any other session, not only an
        older one: the counter starts again from 1 when the outbox file was moved aside, and a
        will from before that must not hide this session either. (This session's own offline
        comes only from :meth:`_say_goodbye`, or as its will when it is no longer connected.)"""
        try:
            data = json.loads(payload)
        except ValueError:
            return
        if (isinstance(data, dict) and data.get("state") == "offline" and data.get("session") != self.session
                and self._client is not None):
            self._client.publish(self.topics.status, json.dumps(
                {"state": "online", "session": self.session, "boot_id": self.boot_id, "software": self.software}),
                qos=1, retain=True)

    def _on_desired(self, payload: bytes, retained: bool) -> None:
        from dashcart.core.fleet_config import judge
        verdict = judge(payload, applied_version=self.applied_version, public_key=self.public_key,
                        base=self.base_config)
        if verdict.apply and verdict.version is not None and verdict.version <= self.refused_version:
            verdict = dataclasses.replace(verdict, apply=False, reason=self._refused_reason)
        if verdict.apply and verdict.desired is not None and verdict.config is not None:
            desired = verdict.desired
            apply_document(self.state_dir, {"version": desired.version, "doc": desired.doc, "sig": desired.sig})
            self.applied_version = desired.version
            self.counters.configs_applied += 1
            log.info("fleet: config version %d applied", desired.version)
            if self.on_config is not None:
                try:
                    self.on_config(desired.version, verdict.config)
                except Exception:
                    log.exception("fleet: the cart failed to take config version %d", desired.version)
            self._report({"version": desired.version, "status": "ok"})
            return
        if verdict.stale and verdict.version == self.applied_version:
            self._report({"version": self.applied_version, "status": "ok"})
            return
        if verdict.stale and retained:
            return   # an older document still retained (e.g. the store-wide one): not news
        self.counters.configs_rejected += 1
        log.warning("fleet: config version %s rejected: %s", verdict.version, verdict.reason)
        self._report({"version": self.applied_version, "status": "rejected", "reason": verdict.reason,
                      "rejected_version": verdict.version})

    # -- commands -----------------------------------------------------------------------------

    def _interrupted_commands(self) -> None:
        """Commands that were executing when the cart stopped: they failed (run once, not twice)."""
        for command_id, op in self._outbox.commands_in("executing"):
            self._outbox.set_command(command_id, op, "failed", "interrupted: the cart restarted while it ran")
            self._unpublished.append((op, command_id, "failed", "interrupted: the cart restarted while it ran"))

    def _on_command(self, topic: str, payload: bytes, retained: bool) -> None:
        parts = topic[len(self.topics.base) + 1:].split("/")
        if len(parts) != 3:
            return
        _, op, command_id = parts
        try:
            body = json.loads(payload) if payload else {}
        except ValueError:
            body = None
        if not isinstance(body, dict):
            log.warning("fleet: command %s/%s is not a JSON object; ignored", op, command_id)
            return
        state = body.get("state")
        seen = self._outbox.command(command_id)
        if seen is not None:
            _, done_state, detail = seen
            # Our final word did not stick (lost with a broker, or the cart stopped first): again.
            # (A live "executing" is only the echo of our own message.)
            if done_state in ("successful", "failed") and (state == "init" or (retained and state == "executing")):
                self._publish_command(op, command_id, done_state, detail)
            return
        if state != "init":
            return
        self.counters.commands += 1
        handler = self.handlers.get(op)
        if handler is None:
            self._outbox.set_command(command_id, op, "failed", f"unknown command {op!r}")
            self._publish_command(op, command_id, "failed", f"unknown command {op!r}")
            return
        self._outbox.set_command(command_id, op, "executing")
        self._publish_command(op, command_id, "executing", "")
        log.info("fleet: command %s %s", op, command_id)
        assert self._executor is not None
        future = self._executor.submit(handler, body)
        self._running[command_id] = future
        future.add_done_callback(functools.partial(self._finished, op, command_id))

    def _finished(self, op: str, command_id: str, future: Future[str]) -> None:
        try:
            detail, state = str(future.result() or ""), "successful"
        except BaseException as exc:   # the handler's failure is the command's result
            detail, state = (str(exc) or type(exc).__name__).splitlines()[0][:300], "failed"
        self._results.put((op, command_id, state, detail))

    def _publish_results(self) -> None:
        while True:
            try:
                op, command_id, state, detail = self._results.get_nowait()
            except queue.Empty:
                break
            self._running.pop(command_id, None)
            self._outbox.set_command(command_id, op, state, detail)
            self._unpublished.append((op, command_id, state, detail))
        if self.state is LinkState.CONNECTED:
            pending, self._unpublished = self._unpublished, []
            for op, command_id, state, detail in pending:
                self._publish_command(op, command_id, state, detail)

    def _publish_command(self, op: str, command_id: str, state: str, detail: str) -> None:
        if self._client is None:
            self._unpublished.append((op, command_id, state, detail))
            return
        body: dict[str, Any] = {"state": state}
        if detail:
            body["reason" if state == "failed" else "result"] = detail
        self._client.publish(self.topics.command(op, command_id), json.dumps(body), qos=1, retain=True)

    def _upload_logs(self, body: dict[str, Any]) -> str:
        url = body.get("url")
        if not isinstance(url, str) or urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise ValueError("upload_logs needs an http(s) \"url\"")
        lines = list(self._log_ring.lines) if self._log_ring is not None else []
        text = "\n".join(lines) + "\n"
        text += "health: " + json.dumps(self._last_health or {}, default=str) + "\n"
        data = text.encode()
        request = urllib.request.Request(url, data=data, method="PUT",
                                         headers={"Content-Type": "text/plain; charset=utf-8",
                                                  "X-Dashcart-Cart": self.topics.cart_id})
        with urllib.request.urlopen(request, timeout=15) as reply:   # noqa: S310 (scheme checked above)
            status = reply.status
        return f"uploaded {len(lines)} log lines ({len(data)} bytes), HTTP {status}"


def _significant(health: dict[str, Any]) -> dict[str, Any]:
    """What counts as a change worth publishing at once: not the numbers that wobble."""
    out = {k: v for k, v in health.items() if k not in ("disk_free_mb", "outbox_depth", "telemetry")}
    cameras = out.get("cameras")
    if isinstance(cameras, dict):
        out["cameras"] = {name: (c.get("ok") if isinstance(c, dict) else c) for name, c in cameras.items()}
    scale = out.get("scale")
    if isinstance(scale, dict):
        out["scale"] = {k: v for k, v in scale.items() if k not in ("drift_g", "zero_g")}
    return out
