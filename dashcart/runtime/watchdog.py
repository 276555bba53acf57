"""Liveness of the cart's loops: heartbeats, the systemd watchdog ping, and a worker supervisor.

A process that is alive is not necessarily working: the camera thread can hang inside a V4L2
read, the scale reader can block on a wedged USB adapter, the UI can deadlock. So each loop
registers a :class:`Heartbeat` and beats it every time round (including when a read timed out
with nothing to report). :class:`SystemdWatchdog` pings systemd only while *every* registered
loop beat within its deadline; when one stops, the pings stop and systemd restarts the service
after ``WatchdogSec``. :class:`Supervisor` gets the first go: it restarts a crashed or stuck
worker thread in-process, with backoff, before systemd has to restart everything.

Time comes from an injected clock (``time.monotonic`` by default) so tests drive it by hand.
This module is wiring around the cart, not cart logic: the cart's own state takes time from
events, never from here.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from dashcart.runtime.sdnotify import Notifier

log = logging.getLogger(__name__)

Clock = Callable[[], float]

#: Supervisor restart delays: first restart after 1 s, then longer. systemd's WatchdogSec must
#: exceed a loop's deadline plus the longest of these (tests/test_systemd_unit.py checks).
DEFAULT_BACKOFF_S: tuple[float, ...] = (1.0, 2.0, 5.0, 10.0)


@dataclass(frozen=True)
class Stall:
    """A loop that has not beaten within its deadline."""

    name: str
    silent_s: float
    deadline_s: float

    def describe(self) -> str:
        return f"{self.name} silent for {self.silent_s:.1f} s (deadline {self.deadline_s:g} s)"


class Heartbeat:
    """One loop's liveness. Obtain from :meth:`Heartbeats.register`; call :meth:`beat` each time round."""

    def __init__(self, registry: Heartbeats, name: str, deadline_s: float, now: float) -> None:
        self.name = name
        self.deadline_s = deadline_s
        self._registry = registry
        self._last = now

    def beat(self) -> None:
        """Progress. Cheap enough to call from a tight loop (one float store)."""
        self._last = self._registry.clock()

    def close(self) -> None:
        """The loop ended on purpose: stop watching it."""
        self._registry.unregister(self)

    def __enter__(self) -> Heartbeat:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Heartbeats:
    """The registry of loops whose progress the watchdog requires."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self.clock = clock
        self._beats: dict[str, Heartbeat] = {}
        self._lock = threading.Lock()

    def register(self, name: str, deadline_s: float, *, replace: bool = False) -> Heartbeat:
        """Watch a loop called ``name`` that must beat at least every ``deadline_s`` seconds.

        It counts as having just beaten. A second loop under a taken name is a wiring bug and
        raises ValueError, unless ``replace`` (a restarted worker taking over from its stuck
        predecessor, whose later beats then count for nothing).
        """
        if not deadline_s > 0:
            raise ValueError(f"heartbeat {name!r}: deadline must be positive, got {deadline_s}")
        with self._lock:
            if name in self._beats and not replace:
                raise ValueError(f"heartbeat {name!r} is already registered")
            beat = Heartbeat(self, name, deadline_s, self.clock())
            self._beats[name] = beat
            return beat

    def unregister(self, beat: Heartbeat) -> None:
        with self._lock:
            if self._beats.get(beat.name) is beat:
                del self._beats[beat.name]

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._beats)

    def stalls(self) -> list[Stall]:
        """The loops past their deadline, longest silence first; empty when all are alive."""
        now = self.clock()
        with self._lock:
            beats = list(self._beats.values())
        found = [Stall(b.name, now - b._last, b.deadline_s) for b in beats if now - b._last > b.deadline_s]
        return sorted(found, key=lambda s: -s.silent_s)


class SystemdWatchdog:
    """Pings systemd's watchdog at half its interval, but only while every heartbeat is alive.

    Without ``WatchdogSec`` in the unit (``notifier.watchdog_interval_s`` is None) it still
    reports stalls in STATUS, checking every ``fallback_period_s``.
    """

    def __init__(self, notifier: Notifier, heartbeats: Heartbeats, *, fallback_period_s: float = 5.0) -> None:
        self.notifier = notifier
        self.heartbeats = heartbeats
        interval = notifier.watchdog_interval_s
        self.period_s = interval / 2 if interval else fallback_period_s
        self._stalled: tuple[str, ...] = ()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> bool:
        """One check: True when the ping went out (or would have, with no watchdog armed)."""
        stalls = self.heartbeats.stalls()
        names = tuple(s.name for s in stalls)
        if names != self._stalled:
            # Only on a change, so STATUS keeps whatever the controller last said while all is well.
            if stalls:
                text = "stalled: " + "; ".join(s.describe() for s in stalls)
                log.error("watchdog: %s", text)
                self.notifier.status(text)
            else:
                log.warning("watchdog: all loops are making progress again")
                self.notifier.status("running")
            self._stalled = names
        if stalls:
            return False
        if self.notifier.watchdog_interval_s:
            self.notifier.watchdog()
        return True

    def run(self) -> None:
        """Tick until :meth:`stop`; the body of the watchdog thread."""
        self.tick()
        while not self._stop.wait(self.period_s):
            self.tick()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self.run, name="systemd-watchdog", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


#: A worker body: loop until ``stop`` is set, calling ``heartbeat.beat()`` every time round.
#: Raising is a crash (restarted); returning before ``stop`` is set means the work is done.
WorkerTarget = Callable[[Heartbeat, threading.Event], None]


class _Worker:
    def __init__(self, name: str, target: WorkerTarget, deadline_s: float) -> None:
        self.name = name
        self.target = target
        self.deadline_s = deadline_s
        self.thread: threading.Thread | None = None
        self.stop = threading.Event()
        self.heartbeat: Heartbeat | None = None
        self.error: BaseException | None = None
        self.finished = False
        self.restart_at: float | None = None
        self.restarts: list[float] = []
        self.gave_up = False


class Supervisor:
    """Runs worker threads and restarts the ones that crash or stop beating, with backoff.

    Python cannot kill a thread, so a stuck worker is *abandoned*: its stop event is set (it exits
    if it ever wakes up) and a fresh thread takes over its heartbeat name. Its heartbeat stays
    overdue until the replacement beats, so the systemd ping pauses meanwhile; choose WatchdogSec
    longer than a deadline plus the backoff so the in-process restart gets its chance first.
    After ``max_restarts`` within ``window_s`` the supervisor gives up on that worker and leaves its
    heartbeat overdue: systemd then restarts the whole service, which is the right next step.
    """

    def __init__(self, heartbeats: Heartbeats, *, backoff_s: Sequence[float] = DEFAULT_BACKOFF_S,
                 max_restarts: int = 5, window_s: float = 300.0, poll_s: float = 1.0) -> None:
        self.heartbeats = heartbeats
        self.backoff_s = tuple(backoff_s)
        self.max_restarts = max_restarts
        self.window_s = window_s
        self.poll_s = poll_s
        self._workers: dict[str, _Worker] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, name: str, target: WorkerTarget, deadline_s: float) -> None:
        """Start ``target`` in a thread called ``name`` under a heartbeat of ``deadline_s``."""
        worker = _Worker(name, target, deadline_s)
        with self._lock:
            if name in self._workers:
                raise ValueError(f"worker {name!r} already added")
            self._workers[name] = worker
        self._launch(worker, replace=False)

    def join(self, name: str, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for ``name``'s current thread to leave (after :meth:`stop`,
        one that needs longer than the shared wait); True when none runs any more."""
        worker = self._workers.get(name)
        thread = worker.thread if worker is not None else None
        if thread is None:
            return True
        thread.join(timeout=timeout_s)
        return not thread.is_alive()

    def restarts(self, name: str) -> int:
        """How many times ``name`` was restarted (all time)."""
        return len(self._workers[name].restarts)

    def _launch(self, worker: _Worker, *, replace: bool) -> None:
        stop = threading.Event()
        beat = self.heartbeats.register(worker.name, worker.deadline_s, replace=replace)
        worker.stop, worker.heartbeat, worker.error, worker.restart_at = stop, beat, None, None

        def body() -> None:
            try:
                worker.target(beat, stop)
            except BaseException as exc:  # the supervisor decides; the thread just records it
                if worker.stop is stop:
                    worker.error = exc
                log.error("worker %s crashed: %s", worker.name, exc, exc_info=exc)
                return
            if worker.stop is stop and not stop.is_set():
                worker.finished = True
                beat.close()

        worker.thread = threading.Thread(target=body, name=worker.name, daemon=True)
        worker.thread.start()

    def poll(self) -> None:
        """One supervision pass: notice crashes and stalls, restart what is due."""
        now = self.heartbeats.clock()
        stalled = {s.name: s for s in self.heartbeats.stalls()}
        with self._lock:
            workers = list(self._workers.values())
        for worker in workers:
            if worker.finished or worker.gave_up or self._stop.is_set():
                continue
            if worker.restart_at is None:
                crashed = worker.error is not None or (worker.thread is not None and not worker.thread.is_alive())
                stall = stalled.get(worker.name)
                if not crashed and stall is None:
                    continue
                if stall is not None and not crashed:
                    why = stall.describe()
                else:
                    why = f"crashed ({type(worker.error).__name__}: {worker.error})" if worker.error else "exited"
                worker.stop.set()  # an abandoned thread that wakes up must leave quietly
                worker.restarts = [t for t in worker.restarts if now - t < self.window_s]
                if len(worker.restarts) >= self.max_restarts:
                    worker.gave_up = True
                    log.error("worker %s %s; %d restarts in %g s, giving up (systemd restarts the service)",
                              worker.name, why, len(worker.restarts), self.window_s)
                    continue
                delay = self.backoff_s[min(len(worker.restarts), len(self.backoff_s) - 1)]
                worker.restart_at = now + delay
                log.warning("worker %s %s; restarting in %g s", worker.name, why, delay)
            if now >= worker.restart_at:
                worker.restarts.append(now)
                self._launch(worker, replace=True)

    def run(self) -> None:
        while not self._stop.wait(self.poll_s):
            self.poll()

    def start(self) -> None:
        """Supervise in a background thread (the workers are already running since :meth:`add`)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self.run, name="supervisor", daemon=True)
            self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Ask every worker to stop and wait up to ``timeout_s`` for them in all."""
        deadline = time.monotonic() + timeout_s   # for all of it: systemd's stop timeout is the budget
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)
        with self._lock:
            workers = list(self._workers.values())
        for worker in workers:
            worker.stop.set()
        for worker in workers:
            if worker.thread is not None:
                worker.thread.join(timeout=max(0.0, deadline - time.monotonic()))
            if worker.heartbeat is not None:
                worker.heartbeat.close()
