"""The simulated scale on a pseudo-terminal: the exact bytes a real bridge sends, in real time.

:class:`SimulatedBridge` opens a pty, points a stable symlink at its device (like
``/dev/serial/by-id/...`` on the Pi) and streams ``hx711-bridge/1`` readings at 80 Hz (or
answers MT-SICS commands like a trade scale), driven by a :class:`LoadScript` and by calls
made while it runs: :meth:`place`, :meth:`lift`, :meth:`push`, :meth:`fault`. The real
serial driver opens that symlink, so hardware-in-the-loop tests exercise every byte of the
real path. The pure part (load physics, line encoding, :func:`render_scale_log` for
recorded trips without real time) lives in :mod:`dashcart.sim.load_script`.
"""

from __future__ import annotations

import errno
import logging
import os
import pty
import select
import shutil
import socket
import tempfile
import termios
import threading
import time
import tty
from collections.abc import Callable
from pathlib import Path

import numpy as np

from dashcart.sim.load_script import (  # noqa: F401  (re-exported: the sim's public names)
    BANNER,
    FAULT_KINDS,
    RATE_HZ,
    Drift,
    Fault,
    Lift,
    LineEncoder,
    LoadEvent,
    LoadScript,
    Place,
    Push,
    SicsProfile,
    SicsScale,
    TrueChange,
    format_scale_log,
    load_at,
    push_phases,
    raw_counts,
    render_scale_log,
    render_sics_log,
    sics_fault_line,
)

log = logging.getLogger("dashcart.sim.scale")

# termios speed codes -> baud, to see what speed the reader set on the pty
_SPEEDS = {getattr(termios, name): int(name[1:]) for name in dir(termios)
           if name.startswith("B") and name[1:].isdigit()}


def demo_script() -> LoadScript:
    """What the simulated cart weighs when nobody scripts it: a shopper's loop, repeated.

    Nets to zero over its length so it can repeat forever.
    """
    return LoadScript(24.0, (
        Place(2.0, 500.0), Place(5.0, 1200.0), Push(8.0, 10.5, 300.0), Place(9.0, 90.0),
        Lift(13.0, 500.0), Place(16.0, 42.0), Lift(19.0, 1200.0), Lift(21.0, 132.0),
    ))


class SimulatedBridge:
    """A scale on a pty (or a TCP port). ``port`` is what to open once :meth:`start` returned:
    the pty's stable path, or ``socket://127.0.0.1:PORT`` with ``transport="tcp"`` (a scale
    behind a serial-to-Ethernet converter, or an MT-SICS emulator).

    ``repeat`` replays the script forever (its load must net to zero); events added while
    it runs are on the bridge's own clock (seconds since start, from ``clock``).
    With ``protocol="mt-sics"`` it is a trade scale (:class:`SicsScale` with ``sics``, by
    default 35 kg x 5 g streaming about 5 readings a second in kg after ``SIR``).
    """

    def __init__(self, script: LoadScript | None = None, *, seed: int = 0, offset: int = 0,
                 counts_per_gram: float = 420.0, protocol: str = "hx711-bridge", repeat: bool = False,
                 baudrate: int = 115200, clock: Callable[[], float] = time.monotonic,
                 sics: SicsProfile | None = None, transport: str = "pty") -> None:
        if transport not in ("pty", "tcp"):
            raise ValueError(f"transport must be pty or tcp, not {transport!r}")
        self.script = script or LoadScript(0.0)
        self.protocol = protocol
        self.transport = transport
        self.sics = sics or SicsProfile()
        self.offset = offset
        self.counts_per_gram = counts_per_gram
        self.repeat = repeat and self.script.duration_s > 0
        self.baudrate = baudrate
        self._clock = clock
        self._rng = np.random.default_rng(seed)
        self._phases = push_phases(self.script, self._rng)
        self._encoder = LineEncoder(self._rng)
        self._extra: list[LoadEvent] = []
        self._faults = list(self.script.faults)
        self._lock = threading.Lock()
        self._dir = Path(tempfile.mkdtemp(prefix="dashcart-scale-"))
        self.port = str(self._dir / "ttySIM0")
        self._master = -1
        self._slave = -1
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = 0.0
        self._blind_until = -1.0
        self._reconnect_at: float | None = None
        self._scale = SicsScale(self.sics, self._rng, self.load_g)
        self._mute = False
        self._injected: list[str] = []
        self._listener: socket.socket | None = None
        self._client: socket.socket | None = None
        self._tcp_port = 0
        self._inbox = b""
        self.connections = 0
        self.commands: list[str] = []   # every command the reader sent, in order (for tests)

    # ------------------------------------------------------------ life cycle
    def start(self) -> str:
        self._t0 = self._clock()
        self._open_port()
        self._thread = threading.Thread(target=self._run, name="sim-scale", daemon=True)
        self._thread.start()
        return self.port

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._close_port()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> SimulatedBridge:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def now(self) -> float:
        """Seconds on the bridge's clock (since :meth:`start`)."""
        return self._clock() - self._t0

    # ------------------------------------------------------------ what happens to the cart
    def place(self, grams: float, **kw: float) -> Place:
        event = Place(self.now(), grams, **kw)
        self._add(event)
        return event

    def lift(self, grams: float, **kw: float) -> Lift:
        event = Lift(self.now(), grams, **kw)
        self._add(event)
        return event

    def push(self, seconds: float, amplitude_g: float = 300.0) -> Push:
        now = self.now()
        event = Push(now, now + seconds, amplitude_g)
        with self._lock:
            self._phases[1000 + len(self._extra)] = (float(self._rng.uniform(0, 6.28)), 1.1)
        self._add(event)
        return event

    def fault(self, kind: str, duration_s: float = 0.0, count: int = 1) -> None:
        """Inject a wire fault now (see :data:`FAULT_KINDS`)."""
        with self._lock:
            self._faults.append(Fault(self.now(), kind, duration_s, count))

    def inject(self, line: str, count: int = 1) -> None:
        """Send ``line`` (no newline) ``count`` times with the next reading: exact junk for
        tests that count corrupt lines (random garbage may happen to be a valid line)."""
        with self._lock:
            self._injected.extend([line] * count)

    def _flush_injected(self) -> None:
        with self._lock:
            lines, self._injected = self._injected, []
        for line in lines:
            self._send(line)

    def mute(self, on: bool = True) -> None:
        """The scale stops sending (and answering) with its port still open, until unmuted:
        a hung microcontroller, a trade scale switched to another interface mode."""
        self._mute = on

    @property
    def streaming(self) -> bool:
        """A trade scale: whether it was told ``SIR`` (and not ``@`` since)."""
        return self._scale.streaming

    def _add(self, event: LoadEvent) -> None:
        with self._lock:
            self._extra.append(event)

    def load_g(self, t: float) -> float:
        """The true load at bridge time ``t`` (for tests and the MT-SICS mode)."""
        times = np.array([t])
        with self._lock:
            extra = list(self._extra)
            extra_phases = {i: self._phases.get(1000 + i, (0.3, 1.7)) for i in range(len(extra))}
        scripted_t = times % self.script.duration_s if self.repeat else times
        load = load_at(scripted_t, self.script.events, self.script.initial_g, self._phases)
        load += load_at(times, extra, 0.0, extra_phases)
        return float(load[0])

    # ------------------------------------------------------------ the port (pty or TCP)
    def _open_port(self) -> None:
        if self.transport == "tcp":
            self._open_listener()
        else:
            self._open_pty()

    def _close_port(self) -> None:
        if self.transport == "tcp":
            self._close_tcp()
        else:
            self._close_pty()

    def _open_pty(self) -> None:
        master, slave = pty.openpty()
        tty.setraw(slave)   # a UART has no line discipline: no echo, no CR/LF mangling
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        link = self._dir / "ttySIM0.new"
        link.unlink(missing_ok=True)
        os.symlink(os.ttyname(slave), link)
        os.replace(link, self.port)
        self._boot()

    def _boot(self) -> None:
        self.connections += 1
        self._encoder.boot()
        self._inbox = b""
        if self.protocol == "hx711-bridge":
            self._send(BANNER)
        else:
            # a trade scale powers up quiet: it streams again only when asked (SIR)
            self._scale.streaming = False
            self._scale.tare_g = 0.0

    def _close_pty(self) -> None:
        # Like pulling the USB cable: the device node goes away and readers get EIO.
        Path(self.port).unlink(missing_ok=True)
        for fd in (self._master, self._slave):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._master = self._slave = -1

    def _open_listener(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self._tcp_port))   # the same port again after an unplug
        listener.listen(1)
        listener.setblocking(False)
        self._tcp_port = listener.getsockname()[1]
        self.port = f"socket://127.0.0.1:{self._tcp_port}"
        self._listener = listener

    def _accept(self) -> None:
        if self._listener is None or self._client is not None:
            return
        try:
            client, _ = self._listener.accept()
        except (BlockingIOError, OSError):
            return
        client.setblocking(False)
        self._client = client
        self._master = client.fileno()
        self._boot()

    def _drop_client(self) -> None:
        if self._client is not None:
            try:
                self._client.close()
            except OSError:
                pass
        self._client = None
        self._master = -1

    def _close_tcp(self) -> None:
        # Like pulling the converter's cable: the connection drops and new ones are refused.
        self._drop_client()
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def _send(self, line: str) -> None:
        if not line or self._master < 0 or self._mute:
            return
        data = (line + ("\r\n" if self.protocol == "mt-sics" else "\n")).encode("utf-8", "replace")
        reader_baud = self._reader_baud()
        if reader_baud and reader_baud != self.baudrate:
            # A UART listening at the wrong speed sees framing garbage, more or fewer bytes.
            n = max(1, len(data) * reader_baud // self.baudrate)
            data = bytes(self._rng.integers(0, 256, min(n, 256), dtype=np.uint8))
        try:
            os.write(self._master, data)
        except BlockingIOError:
            pass   # nobody reading and the buffer is full: a UART would drop them too
        except OSError as exc:
            if self.transport == "tcp":
                self._drop_client()   # the reader hung up; wait for the next one
            elif exc.errno not in (errno.EIO, errno.EAGAIN):
                raise

    def _reader_baud(self) -> int:
        """The speed the reader set on the port (0: unknown, not set yet, or TCP)."""
        if self.transport == "tcp":
            return 0
        try:
            return _SPEEDS.get(termios.tcgetattr(self._slave)[5], 0)
        except (termios.error, OSError):
            return 0

    def _drain_commands(self) -> list[str]:
        if self._master < 0:
            return []
        try:
            chunk = os.read(self._master, 4096)
        except (BlockingIOError, OSError):
            return []
        if not chunk and self.transport == "tcp":
            self._drop_client()   # the reader closed the connection
            return []
        self._inbox = (self._inbox + chunk)[-4096:]
        *commands, self._inbox = self._inbox.split(b"\n")
        return [c.strip().decode("ascii", "replace") for c in commands]

    # ------------------------------------------------------------ the firmware
    def _wait(self, seconds: float) -> None:
        fds = [fd for fd in (self._master,) if fd >= 0]
        if self._listener is not None and self._client is None:
            fds.append(self._listener.fileno())
        if fds:
            select.select(fds, [], [], seconds)
        else:
            self._stop.wait(seconds)

    def _run(self) -> None:
        if self.protocol == "mt-sics":
            self._run_sics()
            return
        rate = RATE_HZ
        k = 0
        while not self._stop.is_set():
            due = k / rate
            now = self.now()
            if due > now:
                self._wait(due - now)
                self._accept()
                self._drain_commands()
                continue
            if now - due > 1.0:   # we were suspended: the readings of that time are lost
                skipped = int((now - due) * rate)
                k += skipped
                self._encoder.seq = (self._encoder.seq + skipped) % 65536
                continue
            self._tick(due)
            k += 1

    def _due_faults(self, t: float) -> list[Fault]:
        with self._lock:
            due = [f for f in self._faults if f.t <= t]
            self._faults = [f for f in self._faults if f.t > t]
        return due

    def _blind(self, t: float, fault: Fault) -> None:
        self._blind_until = max(self._blind_until, t + fault.duration_s)
        if fault.kind == "disconnect":
            self._close_port()
            self._reconnect_at = self._blind_until

    def _tick(self, t: float) -> None:
        for fault in self._due_faults(t):
            if fault.kind in ("silence", "disconnect"):
                self._blind(t, fault)
            else:
                self._encoder.pending.append(fault)
        if t < self._blind_until:
            if self._reconnect_at is None:
                self._encoder.seq = (self._encoder.seq + 1) % 65536   # stalled: conversions lost
            return
        if self._reconnect_at is not None:
            self._reconnect_at = None
            self._open_port()
        self._flush_injected()
        load = self.load_g(t)
        raw = int(raw_counts(np.array([load]), self._rng, self.offset, self.counts_per_gram,
                             self.script.noise_counts)[0])
        for line in self._encoder.lines_for(raw):
            self._send(line)

    def _run_sics(self) -> None:
        """A trade scale: answers commands as they come, streams after SIR at its own pace."""
        profile = self.sics
        next_t = 1.0 / profile.rate_hz
        while not self._stop.is_set():
            now = self.now()
            if next_t > now:
                self._wait(min(next_t - now, 0.05))
                self._accept()
                for command in self._drain_commands():
                    self.commands.append(command)
                    if self._mute or self._master < 0:
                        continue
                    for line in self._scale.command(self.now(), command):
                        self._send(line)
                if self._reconnect_at is not None and self.now() >= self._reconnect_at:
                    self._reconnect_at = None
                    self._open_port()
                continue
            t = next_t
            next_t += 1.0 / profile.rate_hz + float(self._rng.uniform(-profile.jitter_s, profile.jitter_s))
            if now - t > 1.0:   # suspended: catch up without a burst
                next_t = now + 1.0 / profile.rate_hz
            lines = [self._scale.reading(t)]
            for fault in self._due_faults(t):
                if fault.kind in ("silence", "disconnect"):
                    self._blind(t, fault)
                elif lines:   # each fault garbles the line (garbage adds one before it)
                    lines = lines[:-1] + sics_fault_line(fault, lines[-1], self._rng)
            if t < self._blind_until or self._reconnect_at is not None or not self._scale.streaming:
                continue
            self._flush_injected()
            for line in lines:
                self._send(line)
