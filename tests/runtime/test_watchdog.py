import threading

import pytest

from dashcart.runtime.sdnotify import Notifier
from dashcart.runtime.watchdog import Heartbeats, Supervisor, SystemdWatchdog
from tests.notify_socket import NotifyReceiver


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def receiver():
    r = NotifyReceiver()
    yield r
    r.close()


def _notifier(receiver, watchdog_usec="10000000"):
    return Notifier.from_environment({"NOTIFY_SOCKET": receiver.env_value, "WATCHDOG_USEC": watchdog_usec})


def test_registry_reports_only_overdue_loops(clock):
    beats = Heartbeats(clock)
    scale = beats.register("scale reader", 2.0)
    camera = beats.register("camera capture", 5.0)
    assert beats.names() == ["camera capture", "scale reader"]
    clock.advance(3)
    assert [s.name for s in beats.stalls()] == ["scale reader"]
    scale.beat()
    assert beats.stalls() == []
    clock.advance(6)
    stalls = beats.stalls()
    assert [s.name for s in stalls] == ["camera capture", "scale reader"]  # longest silence first
    assert stalls[0].silent_s == pytest.approx(9) and stalls[0].deadline_s == 5
    camera.close()
    scale.close()
    assert beats.stalls() == [] and beats.names() == []


def test_registry_rejects_duplicates_unless_replacing(clock):
    beats = Heartbeats(clock)
    old = beats.register("ui", 1.0)
    with pytest.raises(ValueError, match="already registered"):
        beats.register("ui", 1.0)
    with pytest.raises(ValueError, match="positive"):
        beats.register("controller", 0)
    new = beats.register("ui", 1.0, replace=True)
    clock.advance(2)
    old.beat()  # the replaced loop's beats count for nothing
    assert [s.name for s in beats.stalls()] == ["ui"]
    old.close()  # nor does closing it unregister its successor
    assert beats.names() == ["ui"]
    new.beat()
    assert beats.stalls() == []


def test_ping_only_while_every_loop_progresses(clock, receiver):
    beats = Heartbeats(clock)
    loops = {name: beats.register(name, 3.0) for name in ("scale reader", "camera capture", "ui", "controller")}
    watchdog = SystemdWatchdog(_notifier(receiver), beats)
    assert watchdog.period_s == 5.0  # half of WATCHDOG_USEC

    assert watchdog.tick()
    assert receiver.messages() == ["WATCHDOG=1"]

    clock.advance(2)
    for beat in loops.values():
        beat.beat()
    clock.advance(2)
    assert watchdog.tick()
    assert receiver.messages() == ["WATCHDOG=1"]

    # The camera hangs; everything else keeps going.
    for _ in range(3):
        clock.advance(2)
        for name, beat in loops.items():
            if name != "camera capture":
                beat.beat()
    assert not watchdog.tick()
    assert receiver.messages() == ["STATUS=stalled: camera capture silent for 8.0 s (deadline 3 s)"]
    clock.advance(1)
    assert not watchdog.tick()
    assert receiver.messages() == []  # no ping, and no repeated status while nothing changed

    for beat in loops.values():
        beat.beat()
    assert watchdog.tick()
    assert receiver.messages() == ["STATUS=running", "WATCHDOG=1"]


def test_no_watchdog_armed_means_no_pings_but_stalls_still_reported(clock, receiver):
    beats = Heartbeats(clock)
    beats.register("scale reader", 1.0)
    watchdog = SystemdWatchdog(Notifier.from_environment({"NOTIFY_SOCKET": receiver.env_value}), beats,
                               fallback_period_s=7)
    assert watchdog.period_s == 7
    assert watchdog.tick()
    assert receiver.messages() == []
    clock.advance(2)
    assert not watchdog.tick()
    assert receiver.messages()[0].startswith("STATUS=stalled: scale reader")


def test_watchdog_thread_pings_on_its_own(receiver):
    beats = Heartbeats()
    beats.register("controller", 3600)
    watchdog = SystemdWatchdog(_notifier(receiver, watchdog_usec="20000"), beats)
    watchdog.start()
    try:
        assert receiver.receive()[0] == "WATCHDOG=1"
        assert receiver.receive()[0] == "WATCHDOG=1"
    finally:
        watchdog.stop()


class Worker:
    """A worker body the test steers: it beats on request, hangs, or crashes."""

    def __init__(self) -> None:
        self.started = threading.Semaphore(0)
        self.runs = 0
        self.crash = False
        self.exited = threading.Event()

    def __call__(self, heartbeat, stop) -> None:
        self.runs += 1
        self.started.release()
        if self.crash:
            raise OSError("camera unplugged")
        stop.wait()  # "hangs" until the supervisor abandons it
        self.exited.set()

    def wait_started(self) -> None:
        assert self.started.acquire(timeout=10), "worker did not start"


def _wait_dead(supervisor, name):
    thread = supervisor._workers[name].thread  # noqa: SLF001
    thread.join(timeout=10)
    assert not thread.is_alive()


def test_supervisor_restarts_a_stuck_worker_with_backoff(clock, receiver):
    beats = Heartbeats(clock)
    supervisor = Supervisor(beats, backoff_s=(1, 4), max_restarts=5)
    worker = Worker()
    supervisor.add("camera capture", worker, deadline_s=2)
    worker.wait_started()
    watchdog = SystemdWatchdog(_notifier(receiver), beats)
    try:
        clock.advance(3)
        supervisor.poll()  # stuck: abandoned, restart scheduled in 1 s
        assert worker.exited.wait(10)  # the abandoned thread was told to stop
        assert worker.runs == 1
        assert not watchdog.tick()  # ping paused until the replacement runs
        clock.advance(1)
        supervisor.poll()
        worker.wait_started()
        assert worker.runs == 2 and supervisor.restarts("camera capture") == 1
        assert watchdog.tick()  # the fresh worker's heartbeat counts
        assert receiver.messages()[-1] == "WATCHDOG=1"

        worker.exited.clear()
        clock.advance(3)
        supervisor.poll()
        clock.advance(1)
        supervisor.poll()
        assert worker.runs == 2  # second restart waits the longer backoff
        clock.advance(3)
        supervisor.poll()
        worker.wait_started()
        assert worker.runs == 3
    finally:
        supervisor.stop()


def test_supervisor_restarts_a_crashed_worker_then_gives_up(clock, receiver):
    beats = Heartbeats(clock)
    supervisor = Supervisor(beats, backoff_s=(1,), max_restarts=2, window_s=100)
    worker = Worker()
    worker.crash = True
    supervisor.add("scale reader", worker, deadline_s=30)
    watchdog = SystemdWatchdog(_notifier(receiver), beats)
    try:
        for expected_runs in (1, 2, 3):
            worker.wait_started()
            _wait_dead(supervisor, "scale reader")
            assert worker.runs == expected_runs
            supervisor.poll()
            clock.advance(1)
            supervisor.poll()
        assert supervisor.restarts("scale reader") == 2
        clock.advance(60)
        supervisor.poll()
        assert worker.runs == 3  # gave up
        # ...and its heartbeat is left overdue, so systemd restarts the service.
        assert not watchdog.tick()
        assert "stalled: scale reader" in receiver.messages()[-1]
    finally:
        supervisor.stop()


def test_supervisor_lets_a_finished_worker_go(clock):
    beats = Heartbeats(clock)
    supervisor = Supervisor(beats)
    done = threading.Event()

    def once(heartbeat, stop):
        heartbeat.beat()
        done.set()

    supervisor.add("replay", once, deadline_s=1)
    assert done.wait(10)
    _wait_dead(supervisor, "replay")
    clock.advance(5)
    supervisor.poll()
    assert supervisor.restarts("replay") == 0
    assert beats.names() == [] and beats.stalls() == []


def test_supervisor_stop_ends_workers_and_unregisters(clock):
    beats = Heartbeats(clock)
    supervisor = Supervisor(beats)
    worker = Worker()
    supervisor.add("ui", worker, deadline_s=1)
    worker.wait_started()
    supervisor.stop()
    assert worker.exited.is_set()
    assert beats.names() == []


def test_supervisor_join_waits_longer_for_one_worker_past_the_stop(clock):
    beats = Heartbeats(clock)
    supervisor = Supervisor(beats)
    release = threading.Event()

    def busy(beat, stop):
        release.wait(10)     # inside one piece of work; sees its stop only after it

    supervisor.add("controller", busy, deadline_s=1)
    supervisor.stop(timeout_s=0.05)
    assert not supervisor.join("controller", 0.05)   # still inside
    release.set()
    assert supervisor.join("controller", 5)
    assert supervisor.join("nobody", 0)
