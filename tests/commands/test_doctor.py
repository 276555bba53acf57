"""dashcart doctor: each check finds what is there, names what is missing with a fix, never crashes."""

import socket
import sqlite3
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest

from dashcart.cli import main
from dashcart.commands import doctor
from dashcart.commands.doctor import (
    Finding,
    Package,
    check_bluetooth,
    check_cameras,
    check_catalogue,
    check_display,
    check_groups,
    check_model,
    check_python_packages,
    check_state,
    check_store,
    run_checks,
)
from dashcart.drivers.scale.protocol import encode_hx711


def only(findings):
    findings = list(findings)
    assert len(findings) == 1, findings
    return findings[0]


# --- the store, over real HTTP on loopback ---------------------------------------------------

@pytest.fixture
def store():
    """A store API stand-in answering with the status the test sets."""
    state = {"status": 200, "requests": []}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            state["requests"].append((self.command, self.path))
            self.send_response(state["status"])
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_HEAD = do_GET

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state["url"] = f"http://127.0.0.1:{server.server_address[1]}/api"
    yield state
    server.shutdown()
    server.server_close()


def test_the_store_is_asked_for_its_health(store):
    f = only(check_store(store["url"], timeout_s=5))
    assert f.ok and "HTTP 200" in f.detail
    assert store["requests"] == [("GET", "/api/v1/health")]
    store["status"] = 404  # something answers, but not the store API: the URL is wrong
    f = only(check_store(store["url"] + "/", timeout_s=5))
    assert not f.ok and "404" in f.detail and "checkout.store_url" in f.fix


def test_the_reference_store_is_healthy(tmp_path, catalogue):
    """The real reference store (which answers 501 to HEAD) is up by its GET /v1/health."""
    from dashcart.sim.reference_store import ReferenceStore, StoreServer
    server = StoreServer(ReferenceStore(tmp_path / "store.sqlite", {"cart-0001": b"k" * 16},
                                        catalogue=catalogue)).start()
    try:
        f = only(check_store(server.url, timeout_s=5))
    finally:
        server.stop()
    assert f.ok and f.detail == f"GET {server.url}/v1/health: HTTP 200, the store API is up"


def test_store_answering_5xx_is_a_problem(store):
    store["status"] = 503
    f = only(check_store(store["url"], timeout_s=5))
    assert not f.ok and "503" in f.detail and f.fix


def _dead_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_unreachable_store_is_named_with_a_fix():
    url = f"http://127.0.0.1:{_dead_port()}/api"
    f = only(check_store(url, timeout_s=2))
    assert not f.ok and url in f.detail and "unreachable" in f.detail
    assert "outbox" in f.fix


def test_store_that_never_answers_times_out():
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # accepts the connection, never says a word
    try:
        f = only(check_store(f"http://127.0.0.1:{silent.getsockname()[1]}/", timeout_s=0.3))
    finally:
        silent.close()
    assert not f.ok and "unreachable" in f.detail


def test_store_setting_is_wired_from_the_config():
    url = f"http://127.0.0.1:{_dead_port()}/"
    config = SimpleNamespace(checkout=SimpleNamespace(store_url=url, timeout_s=2.0))
    f = only(doctor._store(config))  # noqa: SLF001
    assert not f.ok and url in f.detail
    # A real cart with no store is a practice cart: a problem there, the point of the simulated one.
    real = SimpleNamespace(scale=SimpleNamespace(backend="serial"))
    f = only(doctor._store(real))  # noqa: SLF001
    assert not f.ok and "checkout.store_url" in f.fix and "nothing is charged" in f.detail
    assert only(doctor._store(SimpleNamespace())).ok  # noqa: SLF001


@pytest.mark.parametrize("url", ["store.example/api", "ftp://store.example/"])
def test_store_url_that_is_not_http(url):
    f = only(check_store(url))
    assert not f.ok and "not an http(s) URL" in f.detail


# --- never crashes ---------------------------------------------------------------------------

def _broken(config):
    yield Finding("half", True, "found before the failure")
    raise RuntimeError("sysfs went away")


def test_a_broken_check_becomes_a_finding():
    findings = run_checks(config=None, checks=(_broken,))
    assert findings[0] == Finding("half", True, "found before the failure")
    assert not findings[1].ok and findings[1].area == "broken"
    assert "RuntimeError: sysfs went away" in findings[1].detail


def test_doctor_command_survives_a_broken_check_and_a_dead_store(monkeypatch, capsys, tmp_path):
    def dead_store(config):
        yield from check_store(f"http://127.0.0.1:{_dead_port()}/", timeout_s=2)

    monkeypatch.setattr(doctor, "CHECKS", (doctor._serial_ports, _broken, dead_store))  # noqa: SLF001
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "check failed: RuntimeError: sysfs went away" in out
    assert "unreachable" in out and "-> check the cart's network" in out
    assert main(["doctor", "--strict"]) == 1


# --- model and catalogue files ---------------------------------------------------------------

def test_model_missing_wrong_and_present(tmp_path):
    path = tmp_path / "recognizer.tflite"
    f = only(check_model(path))
    assert not f.ok and str(path) in f.detail and "missing" in f.detail and f.fix
    path.write_bytes(b"<html>404</html>")  # a failed download
    assert "not a TFLite model" in only(check_model(path)).detail
    path.write_bytes(b"\x1c\x00\x00\x00TFL3" + bytes(100))
    assert only(check_model(path)).ok


def test_default_model_path_is_inside_the_package():
    assert doctor.DEFAULT_MODEL.parts[-4:] == ("core", "vision", "models", "recognizer.tflite")


def test_catalogue_checks(tmp_path):
    path = tmp_path / "catalogue.db"
    f = only(check_catalogue(path))
    assert not f.ok and "does not exist" in f.detail and "dashcart catalogue import" in f.fix
    path.write_bytes(b"not a database, just bytes" * 100)
    f = only(check_catalogue(path))
    assert not f.ok and "not a database" in f.detail
    path.unlink()
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE products (code TEXT PRIMARY KEY, name TEXT)")
    db.commit()
    assert "no products" in only(check_catalogue(path)).detail
    db.executemany("INSERT INTO products VALUES (?, ?)", [("4011", "Banana"), ("4131", "Apple")])
    db.commit()
    db.close()
    f = only(check_catalogue(path))
    assert f.ok and "2 products" in f.detail


def test_catalogue_path_follows_the_config(tmp_path):
    config = SimpleNamespace(catalogue=SimpleNamespace(db=str(tmp_path / "mine.db")))
    assert str(tmp_path / "mine.db") in only(doctor._catalogue(config)).detail  # noqa: SLF001


# --- Python packages, imported for real in a child interpreter --------------------------------

def test_packages_import_or_say_why(tmp_path):
    (tmp_path / "needs_libfoo.py").write_text("raise ImportError('libfoo.so.1: cannot open shared object file')\n")
    packages = (Package("json", "json-stdlib", "parsing"),
                Package("needs_libfoo", "foo-py", "foo things"),
                Package("no_such_module_xyz", "xyz", "nothing", alternative="json"))
    found = list(check_python_packages(packages, env={"PYTHONPATH": str(tmp_path)}))
    assert [f.ok for f in found] == [True, False, True]
    assert "libfoo.so.1" in found[1].detail and "pip install foo-py" in found[1].fix
    assert "json instead" in found[2].detail


def test_a_package_that_crashes_python_is_reported(tmp_path):
    (tmp_path / "segfaults.py").write_text("import ctypes\nctypes.string_at(0)\n")
    f = only(check_python_packages((Package("segfaults", "segfaults", "testing"),), env={"PYTHONPATH": str(tmp_path)}))
    assert not f.ok and "crashed Python" in f.detail


def test_the_cart_packages_are_all_named():
    names = {p.distribution for p in doctor.PACKAGES}
    assert names >= {"pyserial", "numpy", "opencv-python-headless", "ai-edge-litert", "pygame-ce", "gpiozero",
                     "zxing-cpp", "bleak"}


# --- hardware seen through sysfs -------------------------------------------------------------

def _sysfs(root, files):
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
    return root


def test_display_connected_disconnected_and_absent(tmp_path):
    drm = _sysfs(tmp_path / "drm", {"card1/dev": "226:1", "card1-HDMI-A-1/status": "disconnected",
                                    "card1-DSI-1/status": "disconnected"})
    f = only(check_display({}, drm, tmp_path / "no-config.txt"))
    assert not f.ok and "no connected screen" in f.detail and "ribbon" in f.fix
    (drm / "card1-DSI-1" / "status").write_text("connected\n")
    f = only(check_display({}, drm, tmp_path / "no-config.txt"))
    assert f.ok and "card1-DSI-1" in f.detail and f.fix == ""
    (drm / "card0").mkdir()  # Pi 5: the render-only v3d card comes first
    f = only(check_display({}, drm, tmp_path / "no-config.txt"))
    assert f.ok and "SDL_KMSDRM_DEVICE_INDEX=1" in f.fix
    f = only(check_display({}, tmp_path / "empty", tmp_path / "no-config.txt"))
    assert not f.ok and "vc4-kms-v3d" in f.fix
    assert only(check_display({"WAYLAND_DISPLAY": "wayland-0"}, tmp_path / "empty")).ok


def test_display_boot_config_without_kms_overlay(tmp_path):
    drm = _sysfs(tmp_path / "drm", {"card0/dev": "226:0", "card0-HDMI-A-1/status": "connected"})
    boot = tmp_path / "config.txt"
    boot.write_text("# dtoverlay=vc4-kms-v3d\ncamera_auto_detect=1\n")
    found = list(check_display({}, drm, boot))
    assert found[0].ok and not found[-1].ok and "dtoverlay=vc4-kms-v3d" in found[-1].fix
    boot.write_text("dtoverlay=vc4-kms-v3d\n")
    assert all(f.ok for f in check_display({}, drm, boot))


def test_cameras_skip_codecs_and_metadata_nodes(tmp_path):
    v4l = _sysfs(tmp_path, {"video0/name": "HD Pro Webcam C920", "video0/index": "0",
                            "video1/name": "HD Pro Webcam C920", "video1/index": "1",
                            "video10/name": "bcm2835-codec-decode", "video10/index": "0",
                            "video19/name": "bcm2835-isp", "video19/index": "0"})
    f = only(check_cameras(v4l))
    assert f.ok and f.detail == "/dev/video0 (HD Pro Webcam C920)"


def test_cameras_only_codecs_is_no_camera_and_csi_is_named(tmp_path):
    v4l = _sysfs(tmp_path / "a", {"video10/name": "bcm2835-codec-decode", "video10/index": "0"})
    f = only(check_cameras(v4l))
    assert not f.ok and "no camera" in f.detail
    csi = _sysfs(tmp_path / "b", {"video0/name": "unicam-image", "video0/index": "0"})
    f = only(check_cameras(csi))
    assert f.area == "CSI cameras" and "picamera2" in f.fix


def test_bluetooth_adapter_and_rfkill(tmp_path):
    sys_class = _sysfs(tmp_path, {"bluetooth/hci0/address": "dc:a6:32:00:00:01",
                                  "rfkill/rfkill0/type": "bluetooth", "rfkill/rfkill0/soft": "1",
                                  "rfkill/rfkill0/hard": "0", "rfkill/rfkill1/type": "wlan",
                                  "rfkill/rfkill1/soft": "1"})
    f = only(check_bluetooth(sys_class))
    assert not f.ok and "rfkill" in f.detail and "rfkill unblock bluetooth" in f.fix
    (sys_class / "rfkill" / "rfkill0" / "soft").write_text("0\n")
    f = only(check_bluetooth(sys_class))
    assert f.ok and f.detail == "hci0"
    assert not only(check_bluetooth(tmp_path / "nothing")).ok


# --- the user's groups -----------------------------------------------------------------------

ALL_GROUPS = {"dialout", "video", "render", "input", "gpio", "bluetooth"}


def test_groups():
    assert only(check_groups("dashcart", ALL_GROUPS, ALL_GROUPS, is_root=False)).ok
    f = only(check_groups("pi", {"video", "input"}, ALL_GROUPS, is_root=False))
    assert not f.ok and "dialout" in f.detail and "the serial scale" in f.detail
    assert f.fix.startswith("sudo usermod -aG dialout,render,gpio,bluetooth pi")
    found = list(check_groups("pi", ALL_GROUPS - {"gpio"}, ALL_GROUPS - {"gpio"}, is_root=False))
    assert [f.ok for f in found] == [False] and "gpio" in found[0].detail and "install.sh" in found[0].fix
    assert only(check_groups("root", set(), set(), is_root=True)).ok


def test_groups_match_the_unit():
    from tests.deploy.test_systemd_unit import UNIT, parse_unit
    unit_groups = parse_unit(UNIT.read_text())["Service"]["SupplementaryGroups"][0].split()
    assert set(unit_groups) == set(doctor.GROUPS)


def test_doctor_on_this_machine_runs(capsys):
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    for area in ("scale", "cameras", "display", "model", "catalogue", "store", "package numpy", "user groups"):
        assert area in out, area


# --- a real cart: the installer's config ----------------------------------------------------------

def _installer_config(tmp_path, **env):
    """The config deploy/install.sh writes (its --print-config), on a Pi tree of ``env``."""
    import os
    import subprocess
    from pathlib import Path
    script = Path(__file__).resolve().parents[2] / "deploy" / "install.sh"
    result = subprocess.run(["bash", str(script), "--print-config", "--store-url",
                             f"http://127.0.0.1:{_dead_port()}/api", "--cart-key", "ab" * 16, "--lane-key", "cd" * 16,
                             "--lane", "eddystone-eid:lane1-entry eddystone-eid:lane1-exit"],
                            capture_output=True, text=True, check=True, timeout=30,
                            env={**os.environ, "DASHCART_DEV": str(tmp_path), "DASHCART_SYS": str(tmp_path), **env})
    path = tmp_path / "dashcart.toml"
    path.write_text(result.stdout)
    return path


def test_doctor_json_on_the_installers_config_names_each_problem_with_its_fix(tmp_path, monkeypatch, capsys):
    """No BLE adapter, no time sync, an unreachable store: each a problem with its fix."""
    import json
    config = _installer_config(tmp_path)
    nothing = tmp_path / "empty"
    nothing.mkdir()
    monkeypatch.setattr(doctor, "SYS_CLASS", nothing)              # no Bluetooth adapter
    monkeypatch.setattr(doctor, "PROC", nothing)                   # no bluetoothd
    monkeypatch.setattr(doctor, "timedatectl_synchronized", lambda: "no")
    assert main(["doctor", "--json", "--config", str(config)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["simulated"] is False and report["config"] == str(config)
    problems = {f["area"]: f for f in report["findings"] if not f["ok"]}
    assert report["problems"] == len(problems) == sum(not f["ok"] for f in report["findings"])
    assert "no adapter" in problems["bluetooth"]["detail"] and "BLE dongle" in problems["bluetooth"]["fix"]
    assert "bluetoothd is not running" in problems["bluetooth mode"]["detail"]
    assert "not synchronised" in problems["time sync"]["detail"] and "timedatectl set-ntp true" in problems["time sync"]["fix"]
    assert "unreachable" in problems["store"]["detail"] and "/v1/health" in problems["store"]["detail"]
    assert "network" in problems["store"]["fix"]
    assert all(f["fix"] for f in problems.values()), [a for a, f in problems.items() if not f["fix"]]
    assert main(["doctor", "--json", "--strict", "--config", str(config)]) == 1


def test_doctor_on_the_simulated_cart_reports_no_problem(capsys):
    import json
    assert main(["doctor", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["simulated"] is True
    assert [f for f in report["findings"] if not f["ok"]] == []


def test_bluez_experimental_mode(tmp_path):
    proc = tmp_path / "proc"
    (proc / "812").mkdir(parents=True)
    (proc / "812" / "comm").write_text("bluetoothd\n")
    (proc / "812" / "cmdline").write_bytes(b"/usr/libexec/bluetooth/bluetoothd\0")
    conf = tmp_path / "main.conf"
    conf.write_text("[General]\n#Experimental = false\n")
    f = only(doctor.check_bluez_mode(proc, conf))
    assert not f.ok and "experimental" in f.detail and "Experimental = true" in f.fix
    conf.write_text("[General]\nExperimental = true\n")
    assert only(doctor.check_bluez_mode(proc, conf)).ok
    conf.write_text("")
    (proc / "812" / "cmdline").write_bytes(b"/usr/libexec/bluetooth/bluetoothd\0--experimental\0")
    assert only(doctor.check_bluez_mode(proc, conf)).ok


def test_time_sync(tmp_path):
    assert only(doctor.check_time_sync(lambda: "yes")).ok
    assert not only(doctor.check_time_sync(lambda: "no")).ok
    flag = tmp_path / "synchronized"
    assert not only(doctor.check_time_sync(lambda: None, flag)).ok      # no timedatectl, no flag
    flag.touch()
    assert only(doctor.check_time_sync(lambda: None, flag)).ok


def test_clock_error_against_what_the_lane_accepts():
    import math
    assert only(doctor.check_clock_error(0.02, 1.5)).ok
    unsynced = only(doctor.check_clock_error(math.inf, 1.5))
    assert not unsynced.ok and "not synchronised" in unsynced.detail and "timedatectl" in unsynced.fix
    assert not only(doctor.check_clock_error(2.0, 1.5)).ok
    assert list(doctor.check_clock_error(None, 1.5)) == []


def test_status_light(tmp_path):
    f = only(doctor.check_gpio("mock", tmp_path))
    assert not f.ok and 'pin_factory = "auto"' in f.fix
    assert not only(doctor.check_gpio("auto", tmp_path)).ok        # no gpiochip
    (tmp_path / "gpiochip0").touch()
    assert only(doctor.check_gpio("auto", tmp_path)).ok
    assert only(doctor.check_gpio("none", tmp_path)).ok


def test_configured_cameras_must_exist(tmp_path):
    from dashcart.config import CameraSpec
    (tmp_path / "video0").touch()
    found = list(doctor.check_configured_cameras([CameraSpec(id="top", source="0"),
                                                  CameraSpec(id="side", source=str(tmp_path / "v4l/gone"))],
                                                 [], tmp_path))
    assert [(f.area, f.ok) for f in found] == [("camera top", True), ("camera side", False)]
    assert "--reconfigure" in found[1].fix


# --- the state directory: journal and outbox, on copies --------------------------------------

@pytest.mark.parametrize("name", ["basket.db", "outbox.sqlite"])
def test_state_files_read_back_or_are_named(tmp_path, name):
    """A file cut short is named with its path; an empty file beside the ``-journal`` of its first
    transaction (a cart killed while making it) is what the cart itself starts from cleanly, so
    the doctor must not call it damaged; and the real files are never touched."""
    path = tmp_path / name
    path.write_bytes(b"")
    found = {f.area: f for f in check_state(tmp_path)}
    assert found["state"].ok
    assert not found[name].ok and str(path) in found[name].detail and "\n" not in found[name].detail

    Path(f"{path}-journal").write_bytes(b"\0" * 512)   # what SIGKILL after the journal's fsync leaves
    found = {f.area: f for f in check_state(tmp_path)}
    assert found[name].ok, found[name]
    assert path.read_bytes() == b"" and Path(f"{path}-journal").exists()   # checked on copies only


def test_a_state_directory_that_is_not_there_is_not_created_by_the_doctor(tmp_path):
    # `sudo dashcart doctor` before the first start would leave it owned by root, and the
    # service's user could then not save there.
    state = tmp_path / "var" / "dashcart"
    found = only(check_state(state))
    assert found.ok and "the cart creates it at start" in found.detail
    assert not state.exists() and not state.parent.exists()


def _pty_scale(lines, stop):
    """A pty whose far end writes ``lines`` (cycled) at 80 Hz until ``stop``: a bridge as the wire sees it."""
    import itertools
    import os
    import time

    master, slave = os.openpty()
    name = os.ttyname(slave)
    os.close(slave)

    def write():
        for line in itertools.cycle(lines):
            if stop.is_set():
                break
            os.write(master, line)
            time.sleep(1 / 80)
        os.close(master)

    threading.Thread(target=write, daemon=True).start()
    return name


@pytest.mark.parametrize("lines, says, fix", [
    # every reading at the HX711's limit: a loose wire, not a clean line
    ([encode_hx711(i, 8388607) for i in range(200)], "every reading is at the scale's limit", "lines arrive clean"),
    # a hung bridge repeating its last line
    ([encode_hx711(7, 1000)], "the same reading (seq 7) again", "lines arrive clean"),
    # a flood of junk: the counts said are the line's now, not its first 0.25 s
    ([b"\xf0\x0f junk\n"], "lines corrupt in the last 2 s", "scale.baudrate"),
])
def test_doctor_names_a_scale_line_that_talks_but_cannot_weigh(lines, says, fix):
    import dataclasses
    import re

    from dashcart.config import load_config

    stop = threading.Event()
    try:
        port = _pty_scale(lines, stop)
        config = load_config(None)
        scale = dataclasses.replace(config.scale, backend="serial", port=port)
        [line] = doctor._scale_line(dataclasses.replace(config, scale=scale), seconds=1.5)
    finally:
        stop.set()
    assert not line.ok and says in line.detail and fix in line.fix, line
    flood = re.search(r"(\d+) of \d+ lines corrupt", line.detail)
    assert flood is None or int(flood.group(1)) >= 80, line.detail
