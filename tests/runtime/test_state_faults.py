"""The live cart with a state directory that fails: "cannot save, see staff" on the screen within a
second, a damaged journal moved aside with a staff notice, the checkout reconciled with the outbox
on start, a damaged outbox one line (exit 4) for `dashcart run` and `dashcart outbox`, and a real
full disk (a small tmpfs in a mount namespace)."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dashcart.cli import main
from dashcart.config import Config
from dashcart.core.basket import Basket, Journal
from dashcart.core.controller import Controller, ControllerSettings
from dashcart.events import BarcodeSeen, LaneDetected, ShopperAction, Tick, WeightSettled
from dashcart.runtime.cart_runtime import CartRuntime, wait_for
from dashcart.runtime.checkout_sender import CheckoutService
from dashcart.snapshot import SessionState

REPO = Path(__file__).resolve().parents[2]
JUICE = "2280000001285"
TOKEN = "dcs1:" + "a" * 40


def _config(state_dir: Path) -> Config:
    config = Config()
    scale = dataclasses.replace(config.scale, backend="serial", port=str(state_dir / "no-such-tty"))
    return dataclasses.replace(config, cart=dataclasses.replace(config.cart, state_dir=str(state_dir)), scale=scale)


def _storage(snap):
    return next((d for d in snap.devices if d.device == "storage"), None)


def test_a_failing_write_is_on_the_screen_within_a_second(tmp_path, catalogue):
    runtime = CartRuntime(_config(tmp_path), catalogue=catalogue)
    runtime.start()
    try:
        runtime.post(ShopperAction(runtime.clock(), "signin", TOKEN))
        assert wait_for(runtime, lambda s: s.state is SessionState.SHOPPING, 10)
        # what a read-only remount does to SQLite
        runtime._basket.journal._conn.execute("PRAGMA query_only = ON")
        t0 = time.monotonic()
        runtime.post(ShopperAction(runtime.clock(), "signout"))
        snap = wait_for(runtime, lambda s: _storage(s) is not None and _storage(s).state == "down", 5)
        took = time.monotonic() - t0
        assert snap is not None and took < 1.0
        assert _storage(snap).message.startswith("cannot save, see staff")
        assert snap.state is SessionState.SHOPPING          # the sign-out was not taken
        assert "degraded: storage" in runtime._status_line(snap)
    finally:
        runtime.stop()


def test_a_damaged_journal_is_moved_aside_with_a_staff_notice(tmp_path, catalogue):
    path = tmp_path / "basket.db"
    b = Basket.open(path)
    b.begin_session(0.0, TOKEN)
    b.journal.close()
    db = sqlite3.connect(path)
    db.execute("INSERT INTO journal (t, kind, data) VALUES (1, 'remove', '{\"id\": 5, \"qty\": 1}')")
    db.commit()
    db.close()
    runtime = CartRuntime(_config(tmp_path), catalogue=catalogue)
    runtime.start()
    try:
        snap = wait_for(runtime, lambda s: _storage(s) is not None, 5)
        assert snap is not None and "damaged" in _storage(snap).message and "row 2" in _storage(snap).message
        assert snap.state is SessionState.IDLE
        kept = [p for p in tmp_path.glob("basket.db.damaged-*") if not p.name.endswith(("-wal", "-shm"))]
        assert len(kept) == 1 and kept[0].stat().st_size > 0
    finally:
        runtime.stop()


def _session_paying(state_dir: Path, catalogue) -> str:
    """A session taken to "paying" by the real checkout service, then the cart dies (no answer)."""
    service = CheckoutService(Config(), state_dir=state_dir)
    c = Controller(catalogue, Basket(Journal(state_dir / "basket.db")), checkout=service,
                   settings=ControllerSettings(summary_s=1.0))
    c.handle(ShopperAction(0.0, "signin", TOKEN))
    c.handle(BarcodeSeen(1.0, camera="top", gtin13=JUICE, format="EAN-13"))
    c.handle(WeightSettled(2.0, delta_g=1062.0, total_g=1062.0, started_t=1.2))
    c.handle(Tick(4.0))
    c.handle(LaneDetected(5.0, lane="lane-1"))
    c.handle(Tick(7.0))
    assert c.snapshot().checkout.stage == "paying"
    order_id = c.snapshot().checkout.order_id
    c.basket.journal.close()
    service.outbox.close()
    return order_id


def test_an_order_settled_before_the_crash_ends_the_session_on_start(tmp_path, catalogue):
    order_id = _session_paying(tmp_path, catalogue)
    service = CheckoutService(Config(), state_dir=tmp_path)
    record = service.outbox.by_order_id(order_id)
    service.outbox.settle(record.idempotency_key, "local", 8.0, receipt="r")
    service.outbox.close()
    runtime = CartRuntime(_config(tmp_path), catalogue=catalogue)
    runtime.start()
    try:
        assert runtime.snapshot().state is SessionState.DONE
        runtime.post(ShopperAction(runtime.clock(), "signout"))
        assert wait_for(runtime, lambda s: s.state is SessionState.IDLE, 5)
    finally:
        runtime.stop()


def test_a_pending_order_is_sent_after_the_restart_and_ends_the_session(tmp_path, catalogue):
    _session_paying(tmp_path, catalogue)
    runtime = CartRuntime(_config(tmp_path), catalogue=catalogue)
    runtime.start()
    try:
        # the supervised sender delivers it (a local receipt: no store configured) and the answer arrives
        assert wait_for(runtime, lambda s: s.state is SessionState.DONE, 10)
    finally:
        runtime.stop()


def test_an_outbox_that_vanished_is_a_staff_question(tmp_path, catalogue):
    _session_paying(tmp_path, catalogue)
    for p in tmp_path.glob("outbox.sqlite*"):
        p.unlink()
    runtime = CartRuntime(_config(tmp_path), catalogue=catalogue)
    runtime.start()
    try:
        view = runtime.snapshot().checkout
        assert view.stage == "failed" and "staff" in view.reason
    finally:
        runtime.stop()


def _damage_outbox(state_dir: Path) -> Path:
    service = CheckoutService(Config(), state_dir=state_dir)
    service.outbox.close()
    path = state_dir / "outbox.sqlite"
    data = bytearray(path.read_bytes())
    data[4096:4096 + 200] = b"\xee" * 200          # the orders table's page: its header and cells
    path.write_bytes(bytes(data))
    return path


def test_dashcart_outbox_names_a_damaged_outbox_in_one_line(tmp_path, capsys):
    path = _damage_outbox(tmp_path)
    config = tmp_path / "dashcart.toml"
    config.write_text(f'[cart]\nstate_dir = "{tmp_path}"\n')
    code = main(["outbox", "--config", str(config)])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("dashcart outbox:")]
    assert code == 4, err
    assert len(lines) == 1 and str(path) in lines[0] and "Traceback" not in err


def test_dashcart_run_with_a_damaged_outbox_exits_4_in_one_line(tmp_path):
    path = _damage_outbox(tmp_path)
    (tmp_path / "dashcart.toml").write_text(f'[cart]\nstate_dir = "{tmp_path}"\n')
    child = subprocess.run([sys.executable, "-m", "dashcart", "run", "--headless", "--config",
                            str(tmp_path / "dashcart.toml")], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert child.returncode == 4, child.stderr
    lines = [line for line in child.stderr.splitlines() if line.startswith("dashcart run:")]
    assert len(lines) == 1 and str(path) in lines[0] and "Traceback" not in child.stderr


FULL_DISK_CHILD = r"""
import json, os, sys
from dashcart.core.basket import Basket, Journal
from dashcart.core.catalogue import Catalogue
from dashcart.core.controller import Controller
from dashcart.events import BarcodeSeen, ShopperAction, Tick, WeightSettled
state, csv = sys.argv[1], sys.argv[2]
c = Controller(Catalogue.from_csv(csv), Basket(Journal(os.path.join(state, "basket.db"))))
c.handle(ShopperAction(0.0, "signin", "tok"))
# leave the tmpfs almost full
try:
    with open(os.path.join(state, "filler"), "wb") as f:
        while True:
            f.write(b"\0" * 4096)
            f.flush()
except OSError:
    pass
t, taken = 1.0, 0
while not c.save_fault and t < 400:
    c.handle(BarcodeSeen(t, camera="top", gtin13=sys.argv[3], format="EAN-13"))
    c.handle(WeightSettled(t + 1, delta_g=1062.0, total_g=0.0, started_t=t + 0.2))
    c.handle(Tick(t + 3))
    t += 4
again = Basket(Journal(os.path.join(state, "basket.db")))
print(json.dumps({"fault": c.save_fault, "memory": c.basket.quantity(sys.argv[3]),
                  "disk": again.quantity(sys.argv[3]), "unsaved": c.unsaved}))
"""


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare (util-linux) for a private tmpfs")
def test_a_real_full_disk_mid_trip_is_a_save_fault_and_loses_nothing_taken(tmp_path, shared_data):
    state = tmp_path / "state"
    state.mkdir()
    script = (f"mount -t tmpfs -o size=160k tmpfs {state} && "
              f"{sys.executable} -c '{FULL_DISK_CHILD}' {state} {shared_data / 'catalogue' / 'demo_store.csv'} {JUICE}")
    child = subprocess.run(["unshare", "-rm", "sh", "-c", script], cwd=REPO, capture_output=True, text=True,
                           timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})
    if child.returncode != 0 and ("Operation not permitted" in child.stderr or "mount:" in child.stderr):
        pytest.skip(f"no private tmpfs here: {child.stderr.strip().splitlines()[-1]}")
    assert child.returncode == 0, child.stderr
    out = json.loads(child.stdout.strip().splitlines()[-1])
    assert "full" in out["fault"] and out["unsaved"] >= 1
    assert out["memory"] == out["disk"]          # what the screen shows is what the disk has


def test_the_sender_survives_a_damaged_outbox_page_and_says_so(tmp_path, catalogue, monkeypatch):
    """A read of a damaged page raises in the sender: it is restarted (not dead for the run), the
    screen shows the outbox down meanwhile, and the order still goes once the read works."""
    _session_paying(tmp_path, catalogue)
    real = CheckoutService._wait_for_due
    failures = []

    def flaky(self):
        if len(failures) < 2:
            failures.append(1)
            raise sqlite3.DatabaseError("database disk image is malformed")
        return real(self)
    monkeypatch.setattr(CheckoutService, "_wait_for_due", flaky)
    seen = []       # every published snapshot: "down" may be followed by "ok" within one poll
    runtime = CartRuntime(_config(tmp_path), catalogue=catalogue, on_snapshot=seen.append)
    runtime.supervisor.backoff_s = (0.1, 0.2)
    runtime.start()
    try:
        assert wait_for(runtime, lambda s: s.state is SessionState.DONE, 60), runtime.snapshot()
        downs = [d for snap in seen for d in snap.devices if d.device == "outbox" and d.state == "down"]
        assert downs and "outbox.sqlite" in downs[0].message and "see staff" in downs[0].message
        assert len(failures) == 2 and runtime.supervisor.restarts("checkout sender") >= 2
    finally:
        runtime.stop()


READ_ONLY_CHILD = "mount -t tmpfs -o size=1m tmpfs {state} && mount -o remount,ro {state} && " \
                  "{python} -m dashcart run --headless --config {config}"


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare (util-linux) for a private tmpfs")
def test_a_read_only_state_directory_at_start_is_one_line(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    config = tmp_path / "dashcart.toml"
    config.write_text(f'[cart]\nstate_dir = "{state / "dashcart"}"\n')
    script = READ_ONLY_CHILD.format(state=state, python=sys.executable, config=config)
    child = subprocess.run(["unshare", "-rm", "sh", "-c", script], cwd=REPO, capture_output=True, text=True,
                           timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})
    if "mount:" in child.stderr and "dashcart" not in child.stderr:
        pytest.skip(f"no private tmpfs here: {child.stderr.strip().splitlines()[-1]}")
    lines = [line for line in child.stderr.splitlines() if line.startswith("dashcart run:")]
    assert child.returncode == 3, child.stderr
    assert len(lines) == 1 and str(state / "dashcart") in lines[0] and "Traceback" not in child.stderr


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare (util-linux) for a private tmpfs")
def test_a_read_only_state_directory_with_the_carts_files_is_not_taken_for_damage(tmp_path):
    """The journal and outbox of a session on a state directory mounted read-only: one line saying
    the outbox cannot be written (exit 3, it may come back), not "damaged, move it aside" (exit 4)."""
    seed = tmp_path / "seed"
    basket = Basket.open(seed / "basket.db")       # left open, as by a killed cart: its -wal and -shm stay
    basket.begin_session(0.0, TOKEN)
    CheckoutService(Config(), state_dir=seed).outbox.close()
    state = tmp_path / "state"
    state.mkdir()
    config = tmp_path / "dashcart.toml"
    config.write_text(f'[cart]\nstate_dir = "{state / "dashcart"}"\n')
    script = (f"mount -t tmpfs -o size=1m tmpfs {state} && cp -r {seed} {state / 'dashcart'} && "
              f"mount -o remount,ro {state} && {sys.executable} -m dashcart run --headless --config {config}")
    child = subprocess.run(["unshare", "-rm", "sh", "-c", script], cwd=REPO, capture_output=True, text=True,
                           timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})
    if "mount:" in child.stderr and "dashcart" not in child.stderr:
        pytest.skip(f"no private tmpfs here: {child.stderr.strip().splitlines()[-1]}")
    basket.journal.close()
    lines = [line for line in child.stderr.splitlines() if line.startswith("dashcart run:")]
    assert child.returncode == 3, child.stderr
    assert len(lines) == 1 and "cannot write the outbox" in lines[0] and "move it aside" not in lines[0]
