"""The real scale driver: a pyserial URL, a reader thread, reconnection with backoff.

Opens any pyserial URL (``/dev/ttyUSB0``, a pty, ``loop://``, ``socket://host:port``),
reads lines on a :class:`serial.threaded.ReaderThread`, decodes them with
:class:`~dashcart.drivers.scale.decoder.LineDecoder` and queues the samples, stamped with the time
they arrived. When the device vanishes (USB cable pulled, bridge reset) it reopens it with
exponential backoff, forever, until closed. Nothing a serial line can contain reaches
beyond the counters.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

import serial
import serial.threaded

from dashcart.drivers.scale.decoder import Health, LineDecoder, ScaleCounters
from dashcart.events import DeviceStatus
from dashcart.readings import Gap, Sample, ScaleZeroed

log = logging.getLogger("dashcart.scale")

MAX_BUFFERED_BYTES = 4096       # a "line" longer than this is noise: drop it
QUEUE_LIMIT = 80 * 60           # a minute of samples; older ones are dropped if nobody reads
SICS_RESEND_S = 1.0             # ask a trade scale again to stream when it has gone quiet
WATCH_S = 0.25                  # how often the supervisor looks at the line's health


class _LineProtocol(serial.threaded.Protocol):
    """Splits the byte stream into lines without ever growing without bound or raising."""

    def __init__(self, owner: SerialScale) -> None:
        self.owner = owner
        self.buffer = bytearray()
        self.transport: serial.threaded.ReaderThread | None = None

    def connection_made(self, transport: serial.threaded.ReaderThread) -> None:
        self.transport = transport
        self.owner._connected(transport)

    def data_received(self, data: bytes) -> None:
        try:
            now = self.owner._clock()
            self.owner.counters.bytes_received += len(data)
            self.buffer.extend(data)
            while True:
                end = self.buffer.find(b"\n")
                if end < 0:
                    break
                line = bytes(self.buffer[:end])
                del self.buffer[: end + 1]
                self.owner._line(now, line)
            if len(self.buffer) > MAX_BUFFERED_BYTES:
                self.owner._line(now, bytes(self.buffer))   # counted as an over-long line
                self.buffer.clear()
        except Exception:   # a bug here must not take the reader down with the cart
            log.exception("scale: could not handle data; dropped")
            self.buffer.clear()

    def connection_lost(self, exc: BaseException | None) -> None:
        self.owner._lost(exc)


class SerialScale:
    """A scale on a serial port. Use as a context manager or call :meth:`close`.

    ``read(timeout)`` returns the samples (and gaps) that arrived since the last call.
    ``on_status`` is called with a :class:`dashcart.events.DeviceStatus` on every change of
    health (from the reader thread: keep it quick, e.g. put it on a queue). ``on_line(t, line)``
    gets every line exactly as received, garbage included (a trip recorder's tap; same thread).
    """

    def __init__(self, url: str, protocol: str = "hx711-bridge", baudrate: int = 115200, *,
                 clock: Callable[[], float] = time.monotonic,
                 on_status: Callable[[DeviceStatus], None] | None = None,
                 on_line: Callable[[float, bytes], None] | None = None,
                 backoff_s: tuple[float, float] = (0.1, 5.0), owned: object = None) -> None:
        self.url = url
        self.protocol = protocol
        self.baudrate = baudrate
        self._clock = clock
        self._on_status = on_status
        self._on_line = on_line
        self._backoff = backoff_s
        self._owned = owned           # e.g. the simulated bridge behind the port, stopped on close
        self._decoder = LineDecoder(protocol)
        self.counters: ScaleCounters = self._decoder.counters
        self._queue: queue.Queue[Sample | Gap | ScaleZeroed] = queue.Queue(QUEUE_LIMIT)
        self._closing = threading.Event()
        self._lost_event = threading.Event()
        self._reader: serial.threaded.ReaderThread | None = None
        self._connected_once = False
        self._last_line_t = 0.0
        self._lock = threading.Lock()
        self.connected = False
        self.last_error = ""
        self.health = Health("down", "not connected yet")   # what DeviceStatus last said
        self._reader_lock = threading.Lock()
        self._supervisor = threading.Thread(target=self._supervise, name=f"scale {url}", daemon=True)
        self._supervisor.start()

    # ------------------------------------------------------------ the interface
    def read(self, timeout: float | None = None) -> list[Sample | Gap | ScaleZeroed]:
        """Samples and gaps received since the last call; waits up to ``timeout`` for the first."""
        items: list[Sample | Gap | ScaleZeroed] = []
        try:
            items.append(self._queue.get(timeout=timeout) if timeout != 0 else self._queue.get_nowait())
        except queue.Empty:
            return items
        while True:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                return items

    def wait_connected(self, timeout: float) -> bool:
        deadline = self._clock() + timeout
        while not self.connected and self._clock() < deadline:
            time.sleep(0.02)
        return self.connected

    def command(self, text: str) -> bool:
        """Send one MT-SICS command (``Z``, ``T``, ``SIR`` ...) now; False when not connected.
        Its answer arrives with the readings: ``Z A`` / ``T S`` make the engine take the next
        rest as its new reference (a zeroed scale is no item going out)."""
        with self._lock:
            reader = self._reader
        if reader is None or not self.connected:
            return False
        try:
            reader.write(text.encode("ascii") + b"\r\n")
        except Exception as exc:   # the port went away under us; the supervisor reconnects
            log.warning("scale: could not send %r: %s", text, exc)
            return False
        return True

    def zero(self) -> bool:
        """A trade scale: zero it (``Z``; answered ``Z A``, or ``Z I`` while the load moves)."""
        return self.protocol == "mt-sics" and self.command("Z")

    def tare(self) -> bool:
        """A trade scale: tare the load on it (``T``; answered ``T S <tare>``, or ``T I``)."""
        return self.protocol == "mt-sics" and self.command("T")

    def describe(self) -> str:
        return f"{self.protocol} scale at {self.url} ({self.baudrate} baud)"

    def close(self) -> None:
        self._closing.set()
        self._lost_event.set()
        with self._lock:
            reader = self._reader
        if reader is not None:
            try:
                reader.close()
            except Exception:   # already gone with the device
                pass
        self._supervisor.join(timeout=5)
        stop = getattr(self._owned, "stop", None)
        if stop is not None:
            stop()

    def __enter__(self) -> SerialScale:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ the reader thread's side
    def _connected(self, transport: serial.threaded.ReaderThread) -> None:
        self.connected = True
        self._last_line_t = self._clock()
        self._decoder.liveness.connected(self._last_line_t)
        if self.protocol == "mt-sics":
            transport.write(b"SIR\r\n")

    def _line(self, now: float, line: bytes) -> None:
        self._last_line_t = now
        if self._on_line is not None:
            try:
                self._on_line(now, line)
            except Exception:   # a recorder's trouble must not cost the cart its weight
                log.exception("scale: line tap failed")
        with self._reader_lock:   # the supervisor reads the liveness window meanwhile
            items = self._decoder.decode(now, line)
        for item in items:
            try:
                self._queue.put_nowait(item)
            except queue.Full:
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    pass
                self._queue.put_nowait(item)

    def _lost(self, exc: BaseException | None) -> None:
        self.connected = False
        if exc is not None:
            self.last_error = str(exc)
        self._lost_event.set()

    # ------------------------------------------------------------ the supervisor
    def _status(self, state: str, message: str) -> None:
        if self._on_status is not None:
            try:
                self._on_status(DeviceStatus(self._clock(), "scale", state, message, self.counters.as_dict()))
            except Exception:
                log.exception("scale: status callback failed")

    def _open(self) -> serial.Serial:
        port = serial.serial_for_url(self.url, baudrate=self.baudrate, timeout=None, do_not_open=True)
        if self.url.startswith("/"):
            port.exclusive = True   # two readers would each get half the lines
        port.open()
        try:
            port.reset_input_buffer()   # stale bytes from before we listened are not news
        except (serial.SerialException, OSError):
            pass
        return port

    def _supervise(self) -> None:
        delay = self._backoff[0]
        while not self._closing.is_set():
            try:
                port = self._open()
            except (serial.SerialException, OSError, ValueError) as exc:
                self.last_error = str(exc)
                if delay == self._backoff[0]:
                    log.warning("scale: cannot open %s: %s; retrying", self.url, exc)
                    self._status("down", f"cannot open {self.url}: {exc}; check the cable and scale.port")
                self._closing.wait(delay)
                delay = min(delay * 2, self._backoff[1])
                continue
            self._lost_event.clear()
            reader = serial.threaded.ReaderThread(port, lambda: _LineProtocol(self))
            with self._lock:
                self._reader = reader
            reader.start()
            if self._connected_once:
                self.counters.reconnects += 1
                log.warning("scale: reconnected to %s", self.url)
            self._connected_once = True
            self.health = Health("ok", f"connected to {self.url}")
            self._status("ok", f"connected to {self.url}")
            delay = self._backoff[0]
            self._watch(reader)
            with self._lock:
                self._reader = None
            try:
                reader.close()
            except Exception:
                pass
            try:
                port.close()
            except Exception:
                pass
            if self._closing.is_set():
                break
            self._decoder.reset()
            self._enqueue_gap()
            log.warning("scale: lost %s (%s); reconnecting", self.url, self.last_error or "closed")
            self.health = Health("down", f"lost {self.url}: {self.last_error or 'closed'}; reconnecting")
            self._status("down", self.health.message)
        self.connected = False

    def _watch(self, reader: serial.threaded.ReaderThread) -> None:
        """Wait for the connection to end; meanwhile watch the line's health (a mute scale, a
        flood of corrupt lines) and nudge a quiet trade scale."""
        while not self._lost_event.wait(WATCH_S):
            now = self._clock()
            if self.protocol == "mt-sics" and now - self._last_line_t > SICS_RESEND_S:
                try:
                    reader.write(b"SIR\r\n")
                except Exception:
                    return
                self._last_line_t = now   # one nudge a second, not one per watch
            with self._reader_lock:
                health = self._decoder.liveness.check(now, self.connected)
            if health.state != self.health.state:
                if health.state == "ok":
                    log.warning("scale: %s talks again", self.url)
                else:
                    log.warning("scale: %s", health.message)
                self.health = Health(health.state, health.message or f"connected to {self.url}")
                self._status(self.health.state, self.health.message)

    def _enqueue_gap(self) -> None:
        try:
            self._queue.put_nowait(Gap(self._clock(), -1))
        except queue.Full:
            pass


def probe(url: str, protocol: str = "hx711-bridge", baudrate: int = 115200, seconds: float = 2.0,
          on_items: Callable[[list[Sample | Gap | ScaleZeroed]], object] | None = None,
          ) -> tuple[Health, ScaleCounters, bool]:
    """Listen to a scale for ``seconds`` (``dashcart doctor``): (its line's health, the
    counters, whether the port opened at all). A mute scale or a corrupt-line flood shows as
    it would on the cart's screen; a port another process holds does not open. ``on_items``
    gets what each read returned (doctor weighs it, to see the load the readings say)."""
    with SerialScale(url, protocol, baudrate, backoff_s=(0.2, 1.0)) as scale:
        opened = scale.wait_connected(min(1.0, seconds))
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            items = scale.read(timeout=0.1)
            if items and on_items is not None:
                on_items(items)
        if not scale.connected:
            return Health("down", scale.last_error or "could not open the port"), scale.counters, opened
        # as the line is now: scale.health keeps the words of its last change (a flood's first 19 lines)
        with scale._reader_lock:
            health = scale._decoder.liveness.check(time.monotonic())
        counters = scale.counters
        if health.state == "ok" and counters.readings == 0 and not counters.saturated:
            health = Health("down", f"no {protocol} readings in {seconds:g} s")
        elif health.state == "ok" and counters.saturated >= counters.readings:
            health = Health("down", f"every reading is at the scale's limit ({counters.saturated} saturated or "
                                    "overload): a loose load-cell wire, or a load beyond its capacity")
        return health, counters, opened
