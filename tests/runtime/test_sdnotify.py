import os
import subprocess
import sys
from pathlib import Path

import pytest

from dashcart.runtime.sdnotify import Notifier, socket_address, watchdog_interval_s
from tests.notify_socket import NotifyReceiver


@pytest.fixture(params=[False, True], ids=["path", "abstract"])
def receiver(request):
    r = NotifyReceiver(abstract=request.param)
    yield r
    r.close()


def test_ready_status_watchdog_stopping_reach_the_socket(receiver):
    with Notifier.from_environment({"NOTIFY_SOCKET": receiver.env_value}) as notifier:
        assert notifier.enabled
        assert notifier.ready("cart up")
        assert notifier.status("weighing")
        assert notifier.watchdog()
        assert notifier.extend_timeout(2.5)
        assert notifier.stopping("shutting down")
    texts = [receiver.receive()[0] for _ in range(5)]
    assert texts == ["READY=1\nSTATUS=cart up", "STATUS=weighing", "WATCHDOG=1",
                     "EXTEND_TIMEOUT_USEC=2500000", "STOPPING=1\nSTATUS=shutting down"]


def test_ready_goes_out_once(receiver):
    notifier = Notifier.from_environment({"NOTIFY_SOCKET": receiver.env_value})
    assert notifier.ready()
    assert not notifier.ready()          # no second READY, nothing sent
    assert notifier.ready("reconnected")  # only the status
    assert receiver.receive()[0] == "READY=1"
    assert receiver.receive()[0] == "STATUS=reconnected"
    assert receiver.messages() == []


def test_status_text_cannot_inject_assignments(receiver):
    notifier = Notifier.from_environment({"NOTIFY_SOCKET": receiver.env_value})
    notifier.status("scale lost\nREADY=1")
    assert receiver.receive()[0] == "STATUS=scale lost READY=1"


def test_no_op_outside_systemd():
    notifier = Notifier.from_environment({})
    assert not notifier.enabled
    assert notifier.watchdog_interval_s is None
    assert notifier.ready() is False and notifier.watchdog() is False and notifier.stopping() is False


@pytest.mark.parametrize("value", ["relative/path", "vsock:2:1234", "@"])
def test_unusable_socket_value_disables(value):
    assert socket_address(value) is None
    assert not Notifier.from_environment({"NOTIFY_SOCKET": value}).enabled


def test_vanished_socket_is_reported_not_raised():
    receiver = NotifyReceiver()
    notifier = Notifier.from_environment({"NOTIFY_SOCKET": receiver.env_value})
    receiver.close()
    assert notifier.watchdog() is False
    assert notifier.watchdog() is False


def test_watchdog_interval():
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000"}) == 30.0
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}) == 30.0
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}) is None  # another process's
    assert watchdog_interval_s({"WATCHDOG_USEC": "0"}) is None
    assert watchdog_interval_s({"WATCHDOG_USEC": "soon"}) is None
    assert watchdog_interval_s({}) is None
    n = Notifier.from_environment({"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "4000000"})
    assert n.watchdog_interval_s == 4.0
    # No socket, no watchdog: pings would go nowhere.
    assert Notifier.from_environment({"WATCHDOG_USEC": "4000000"}).watchdog_interval_s is None


def test_a_child_process_notifies_as_itself():
    """As under systemd: the environment names the socket and the main process sends READY."""
    receiver = NotifyReceiver()
    try:
        env = dict(os.environ, NOTIFY_SOCKET=receiver.env_value)
        code = "from dashcart.runtime.sdnotify import Notifier; import os; print(os.getpid()); Notifier.from_environment().ready('up')"
        child = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60,
                               cwd=str(Path(__file__).resolve().parents[2]))
        assert child.returncode == 0, child.stderr
        text, pid = receiver.receive()
        assert text == "READY=1\nSTATUS=up"
        assert pid == int(child.stdout.strip())
    finally:
        receiver.close()
