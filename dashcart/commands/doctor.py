"""``dashcart doctor``: what this machine has for a cart, and what is missing.

Each check yields :class:`Finding` lines: what was found, and for anything missing how to fix
it. The checks take their inputs (paths, URLs, sysfs roots) as arguments so the tests can
point them at a loopback server or a made-up sysfs tree; the ``_config_*`` wrappers feed them
from the config. Doctor reports, it never crashes: a check that raises becomes a finding.
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import grp
import json
import os
import pwd
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dashcart.config import Config


@dataclass(frozen=True)
class Finding:
    area: str
    ok: bool
    detail: str
    fix: str = ""


def simulated(config: Config) -> bool:
    """The simulated cart (``scale.backend = "sim"``, the defaults): its parts are stand-ins, so
    the hardware a real cart needs is not a problem here."""
    return _setting(config, "scale.backend", "sim") == "sim"


def _setting(config: Config, dotted: str, default: Any) -> Any:
    """``config.<section>.<key>``, or ``default`` where this build's config has no such setting.

    Doctor runs against whatever sections exist, so it keeps working while parts land.
    """
    section, key = dotted.split(".")
    return getattr(getattr(config, section, None), key, default)


# --- the scale -------------------------------------------------------------------------------

def _serial_ports(config: Config) -> Iterator[Finding]:
    ports = sorted(glob.glob("/dev/ttyUSB*") + glob.glob("/dev/ttyACM*") + glob.glob("/dev/serial/by-id/*"))
    port = config.scale.port
    if config.scale.backend == "sim":
        yield Finding("scale", True, "simulated scale (scale.backend = \"sim\")")
        return
    if "://" in port:
        yield Finding("scale", True, f"{config.scale.protocol} scale at {port}")
    elif port and os.path.exists(port):
        if os.access(port, os.R_OK | os.W_OK):
            yield Finding("scale", True, f"{config.scale.protocol} scale at {port}")
        else:
            yield Finding("scale", False, f"{port} exists but this user may not open it",
                          "add the user to the dialout group (the service has it via SupplementaryGroups=)")
    else:
        yield Finding("scale", False, f"configured port {port!r} does not exist",
                      "plug in the scale bridge and set scale.port (see `ls /dev/serial/by-id`)")
    yield Finding("serial ports", bool(ports), ", ".join(ports) or "none found",
                  "" if ports else "is the bridge's USB cable in? is the user in the dialout group?")


def _scale_line(config: Config, seconds: float = 2.0) -> Iterator[Finding]:
    """Listen to the configured scale for a moment: does it talk, is its line clean, and can
    the cart weigh the load it carries?"""
    scale = config.scale
    port = scale.port
    if scale.backend == "sim" or not port or ("://" not in port and not os.access(port, os.R_OK | os.W_OK)):
        return   # nothing to listen to: _serial_ports said why
    from dashcart.core.weighing import RAW_SATURATED, WeighingEngine, feed_decoded
    from dashcart.drivers.scale.serial_scale import probe
    from dashcart.readings import Sample
    # The readings weighed as the cart weighs them: a load it takes for an overload (above
    # scale.capacity_g + 9 divisions) comes on a clean line, but the cart weighs nothing.
    engine = WeighingEngine(scale.offset, scale.counts_per_gram, config.weighing, scale.capacity_g)
    heaviest = [float("-inf")]   # gross grams, from the calibrated offset

    def weigh(items: list[Any]) -> None:
        feed_decoded(engine, items)
        for item in items:
            if isinstance(item, Sample) and item.raw is not None and item.raw not in RAW_SATURATED:
                heaviest[0] = max(heaviest[0], engine.gross_g(item.raw))
            elif isinstance(item, Sample) and item.grams is not None:
                heaviest[0] = max(heaviest[0], item.grams)

    health, counters, opened = probe(port, scale.protocol, scale.baudrate, seconds, on_items=weigh)
    counts = (f"{counters.readings} readings, {counters.corrupt} corrupt of {counters.lines} lines, "
              f"{counters.lost_readings} lost in {counters.seq_gaps} gaps in {seconds:g} s")
    if not opened:
        yield Finding("scale line", False, f"cannot open {port}: {health.message}",
                      "is `dashcart run` using it (see the cart's screen)? is the cable in?")
    elif health.state == "ok" and engine.too_heavy:
        yield Finding("scale line", False,
                      f"the load is above the scale's capacity: it reads up to {heaviest[0]:,.0f} g, over "
                      f"scale.capacity_g {scale.capacity_g:,.0f} g + 9 divisions ({engine.overload_g:,.0f} g), "
                      f"so the cart weighs nothing ({counts})",
                      "take the load out of the basket; if it is empty, scale.offset or scale.counts_per_gram "
                      "is wrong: run `dashcart calibrate`")
    elif health.state == "ok":
        yield Finding("scale line", True, counts)
    else:
        clean = counters.lines and not counters.corrupt   # the lines parse: baud rate and protocol are right
        yield Finding("scale line", False, f"{health.message} ({counts})",
                      "act on the reason above (the lines arrive clean: scale.protocol and scale.baudrate are right)"
                      if clean else "check scale.protocol and scale.baudrate, the cable, and that the scale is on")


# --- cameras ---------------------------------------------------------------------------------

# V4L2 nodes on a Pi that are not cameras: the hardware codecs and ISP.
_NOT_CAMERAS = ("bcm2835-codec", "bcm2835-isp", "rpi-hevc-dec", "pispbe", "rpivid")
# Nodes that are a CSI camera's receiver: usable through libcamera (picamera2), not plain V4L2.
_CSI_RECEIVERS = ("unicam", "rp1-cfe")


def check_cameras(v4l_root: Path = Path("/sys/class/video4linux")) -> Iterator[Finding]:
    usb: list[str] = []
    csi: list[str] = []
    for node in sorted(v4l_root.glob("video*"), key=lambda p: int(p.name[5:]) if p.name[5:].isdigit() else 0):
        name = _read(node / "name")
        index = _read(node / "index") or "0"
        if index != "0" or name.startswith(_NOT_CAMERAS):
            continue  # a UVC camera's metadata node, or a codec
        (csi if name.startswith(_CSI_RECEIVERS) else usb).append(f"/dev/{node.name} ({name or 'unnamed'})")
    if usb:
        yield Finding("cameras", True, ", ".join(usb))
    if csi:
        yield Finding("CSI cameras", True, ", ".join(csi) + " through libcamera",
                      "needs picamera2: install with `deploy/install.sh --csi`")
    if not usb and not csi:
        yield Finding("cameras", False, "no camera found",
                      "plug in a USB camera (`v4l2-ctl --list-devices`) or enable the CSI camera; "
                      "the cart runs on weight and touch without one")


def check_configured_cameras(specs: Iterable[Any], found: Iterable[Finding], dev: Path = Path("/dev")) -> Iterator[Finding]:
    """Each ``[[cameras.devices]]`` table: does its device exist?"""
    found = list(found)
    csi = any(f.area == "CSI cameras" for f in found)
    for spec in specs:
        area = f"camera {spec.id}"
        if spec.backend == "opencv":
            node = dev / f"video{spec.source}" if spec.source.isdigit() else Path(spec.source)
            if node.exists():
                yield Finding(area, True, f"{node}")
            else:
                yield Finding(area, False, f"{node} does not exist",
                              "plug the camera in, or set its source to a /dev/v4l/by-id/ name "
                              "(`v4l2-ctl --list-devices`; `sudo deploy/install.sh --reconfigure` finds them)")
        elif spec.backend == "picamera2":
            yield Finding(area, csi, "CSI camera through libcamera" if csi else "no CSI camera found",
                          "" if csi else "check the ribbon cable and `rpicam-hello --list-cameras`")
        else:
            yield Finding(area, True, f"{spec.backend}: {spec.source}")


def _cameras(config: Config) -> Iterator[Finding]:
    specs = config.cameras.devices
    if not specs:
        # No camera configured: the cart runs on weight and touch; what is plugged in is worth knowing.
        seen = [f for f in check_cameras() if f.ok]
        detail = "none configured: weight and touch only"
        if seen and not simulated(config):
            yield Finding("cameras", False, f"{detail}, but found {'; '.join(f.detail for f in seen)}",
                          "add a [[cameras.devices]] table for each (`sudo deploy/install.sh --reconfigure` "
                          "writes them)")
        else:
            yield Finding("cameras", True, detail)
        return
    yield from check_configured_cameras(specs, check_cameras())


# --- Bluetooth -------------------------------------------------------------------------------

def check_bluetooth(sys_class: Path = Path("/sys/class")) -> Iterator[Finding]:
    adapters = sorted(p.name for p in (sys_class / "bluetooth").glob("hci*"))
    blocked = [p.name for p in (sys_class / "rfkill").glob("rfkill*")
               if _read(p / "type") == "bluetooth" and "1" in (_read(p / "soft"), _read(p / "hard"))]
    if blocked:
        yield Finding("bluetooth", False, f"blocked by rfkill ({', '.join(blocked)})",
                      "sudo rfkill unblock bluetooth (a hard block is a switch or the firmware)")
    elif adapters:
        yield Finding("bluetooth", True, ", ".join(adapters))
    else:
        yield Finding("bluetooth", False, "no adapter",
                      "enable Bluetooth (systemctl enable --now bluetooth) or plug in a BLE dongle; "
                      "zones and the lane need it")


# Where the checks look (tests point these at made-up trees).
SYS_CLASS = Path("/sys/class")
PROC = Path("/proc")
TIMESYNC_FLAG = Path("/run/systemd/timesync/synchronized")
BLUEZ_MAIN_CONF = Path("/etc/bluetooth/main.conf")
BLUEZ_FIX = ("passive scanning (bleak's or_patterns) needs BlueZ's experimental interfaces: "
             "`sudo deploy/install.sh` sets Experimental = true in /etc/bluetooth/main.conf; "
             "then `sudo systemctl restart bluetooth`")


def check_bluez_mode(proc: Path = Path("/proc"), main_conf: Path = BLUEZ_MAIN_CONF) -> Iterator[Finding]:
    """Is bluetoothd running with its experimental interfaces (``-E``, or ``Experimental = true``
    in main.conf)? Without them BlueZ has no advertisement monitor and passive scanning fails."""
    running: list[list[str]] = []
    for comm in proc.glob("[0-9]*/comm"):
        if _read(comm) == "bluetoothd":
            try:
                running.append([a.decode(errors="replace") for a in (comm.parent / "cmdline").read_bytes().split(b"\0") if a])
            except OSError:
                running.append([])
    if not running:
        yield Finding("bluetooth mode", False, "bluetoothd is not running",
                      "sudo systemctl enable --now bluetooth")
        return
    args = running[0]
    if any(a in ("-E", "--experimental") or a.startswith("--experimental") for a in args):
        yield Finding("bluetooth mode", True, "bluetoothd --experimental (passive scanning available)")
        return
    if _conf_experimental(main_conf):
        yield Finding("bluetooth mode", True, f"Experimental = true in {main_conf} (passive scanning available)")
        return
    yield Finding("bluetooth mode", False, "bluetoothd runs without its experimental interfaces", BLUEZ_FIX)


def _conf_experimental(main_conf: Path) -> bool:
    import configparser
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    try:
        parser.read_string(main_conf.read_text(errors="replace"))
    except (OSError, configparser.Error):
        return False
    return parser.get("General", "Experimental", fallback="false").strip().lower() in ("true", "yes", "1")


def _bluetooth(config: Config) -> Iterator[Finding]:
    backend = _setting(config, "location.backend", "")
    if backend in ("sim", "none"):
        yield Finding("bluetooth", True, f"not needed (location.backend = {backend!r})")
        return
    yield from check_bluetooth(SYS_CLASS)
    yield from check_bluez_mode(PROC, BLUEZ_MAIN_CONF)


# --- the clock -------------------------------------------------------------------------------

TIME_FIX = ("sudo timedatectl set-ntp true and check the network (`timedatectl timesync-status`); the lane's "
            "rotating beacon ids are checked against this clock, and a Pi has no battery-backed clock")


def check_time_sync(timedatectl: Callable[[], str | None] | None = None,
                    synchronized_flag: Path | None = None) -> Iterator[Finding]:
    """Is the system clock synchronised (NTP)? ``timedatectl`` returns its NTPSynchronized value
    (None where there is no timedatectl: then systemd-timesyncd's flag file says)."""
    synchronized_flag = synchronized_flag or TIMESYNC_FLAG
    answer = (timedatectl or timedatectl_synchronized)()
    if answer is None:
        answer = "yes" if synchronized_flag.exists() else "no"
    if answer == "yes":
        yield Finding("time sync", True, "the clock is synchronised (NTP)")
    else:
        yield Finding("time sync", False, "the clock is not synchronised", TIME_FIX)


def timedatectl_synchronized() -> str | None:
    try:
        result = subprocess.run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"],
                                capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def check_clock_error(error_s: float | None, max_s: float) -> Iterator[Finding]:
    """Can the cart prove its clock well enough for the lane? ``error_s``: the kernel's bound
    (``dashcart.drivers.clock.clock_error_s``; None where it cannot be asked: nothing to say)."""
    from dashcart.drivers.clock import describe
    if error_s is None:
        return
    if error_s <= max_s:
        yield Finding("clock error", True, f"{describe(error_s)}; lane beacons are checked")
    else:
        yield Finding("clock error", False, f"{describe(error_s)}: lane beacons are not checked until it is "
                                            f"within checkout.eid_max_clock_error_s ({max_s:g} s)", TIME_FIX)


def _time_sync(config: Config) -> Iterator[Finding]:
    from dashcart.drivers.clock import clock_error_s
    lane = _setting(config, "location.lane", [])
    if _setting(config, "location.backend", "") != "bleak" or not any(k.startswith("eddystone-eid:") for k in lane):
        yield Finding("time sync", True, "not needed (no authenticated lane beacons heard live)")
        return
    yield from check_time_sync()
    yield from check_clock_error(clock_error_s(), config.checkout.eid_max_clock_error_s)


# --- the status light and buzzer ---------------------------------------------------------------

def check_gpio(pin_factory: str, dev: Path = Path("/dev")) -> Iterator[Finding]:
    if pin_factory == "none":
        yield Finding("status light", True, "none (gpio.pin_factory = \"none\")")
        return
    if pin_factory == "mock":
        yield Finding("status light", False, "simulated pins (gpio.pin_factory = \"mock\"): no light, no buzzer",
                      'set gpio.pin_factory = "auto" (wiring: docs/raspberry-pi.md, section 1)')
        return
    chips = sorted(str(p) for p in dev.glob("gpiochip*"))
    if not chips:
        yield Finding("status light", False, "no /dev/gpiochip*: not a Raspberry Pi?", "run on the Pi, or set "
                      'gpio.pin_factory = "none"')
    elif not all(os.access(c, os.R_OK | os.W_OK) for c in chips):
        yield Finding("status light", False, f"{chips[0]} is not writable by this user",
                      "add the user to the gpio group (the service has it)")
    else:
        yield Finding("status light", True, f"{pin_factory} pins on {', '.join(chips)}")


def _gpio(config: Config) -> Iterator[Finding]:
    if simulated(config):
        yield Finding("status light", True, f"simulated cart (gpio.pin_factory = {config.gpio.pin_factory!r})")
        return
    yield from check_gpio(config.gpio.pin_factory)


# --- display ---------------------------------------------------------------------------------

def check_display(environ: Mapping[str, str], drm_root: Path = Path("/sys/class/drm"),
                  boot_config: Path = Path("/boot/firmware/config.txt")) -> Iterator[Finding]:
    if environ.get("WAYLAND_DISPLAY") or environ.get("DISPLAY"):
        yield Finding("display", True, "a desktop session (X11/Wayland)")
        return
    cards = sorted(p for p in drm_root.glob("card*") if "-" not in p.name)
    if not cards:
        fix = "connect the touchscreen and enable KMS: dtoverlay=vc4-kms-v3d in /boot/firmware/config.txt, then reboot"
        yield Finding("display", False, "no KMS/DRM device (/dev/dri/card*)", fix)
        return
    connected = sorted(p.name for p in drm_root.glob("card*-*") if _read(p / "status") == "connected")
    if not connected:
        yield Finding("display", False, f"{', '.join(c.name for c in cards)} but no connected screen",
                      "check the DSI ribbon or HDMI cable (and that the screen has power); "
                      "`cat /sys/class/drm/card*-*/status`")
    else:
        shown_on = sorted({name.split("-", 1)[0] for name in connected})
        hint = ""
        if len(cards) > 1 and shown_on[0] != cards[0].name:
            # SDL probes the cards in order; Pi 5 has a render-only card in front of the display one.
            index = shown_on[0][4:]
            hint = (f"if the screen stays black: `systemctl edit dashcart`, add "
                    f"[Service] Environment=SDL_KMSDRM_DEVICE_INDEX={index}")
        yield Finding("display", True, f"KMSDRM: {', '.join(connected)} connected", hint)
        for card in cards:
            node = Path("/dev/dri") / card.name
            if node.exists() and not os.access(node, os.R_OK | os.W_OK):
                yield Finding("display access", False, f"{node} is not writable by this user",
                              "add the user to the video and render groups")
                break
    if boot_config.exists():
        lines = [ln.split("#", 1)[0].strip() for ln in boot_config.read_text(errors="replace").splitlines()]
        if not any(ln.startswith("dtoverlay=vc4-kms-v3d") or ln.startswith("dtoverlay=vc4-fkms-v3d") for ln in lines):
            yield Finding("display driver", False, f"{boot_config} does not load vc4-kms-v3d",
                          f"add `dtoverlay=vc4-kms-v3d` to {boot_config} and reboot (SDL's KMSDRM needs it)")


def _display(config: Config) -> Iterator[Finding]:
    if simulated(config) and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        yield Finding("display", True, "simulated cart without a desktop: `dashcart run --headless` or "
                                       "`dashcart demo --headless` need no screen")
        return
    yield from check_display(os.environ)


def _hangul_font(config: Config) -> Iterator[Finding]:
    from dashcart.ui.font_paths import INSTALL_HINT, installed_hangul_font
    configured = _setting(config, "ui.font", "")
    found = installed_hangul_font(configured)
    if configured and found != configured:
        yield Finding("hangul font", False, f"ui.font {configured} does not exist", INSTALL_HINT)
    else:
        yield Finding("hangul font", bool(found), found or "none found (Korean shows as boxes)",
                      "" if found else INSTALL_HINT)


# --- software --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Package:
    module: str        # what the cart imports
    distribution: str  # what pip installs
    needed_for: str
    alternative: str = ""  # a module accepted instead


PACKAGES: tuple[Package, ...] = (
    Package("serial", "pyserial", "the scale"),
    Package("numpy", "numpy", "everything"),
    Package("cv2", "opencv-python-headless", "cameras"),
    Package("ai_edge_litert", "ai-edge-litert", "the recognizer", alternative="tflite_runtime"),
    Package("pygame", "pygame-ce", "the touchscreen"),
    Package("gpiozero", "gpiozero", "the status light and buzzer"),
    Package("zxingcpp", "zxing-cpp", "barcodes"),
    Package("bleak", "bleak", "zones and the checkout lane"),
    Package("tomlkit", "tomlkit", "calibrate (edits the config file)"),
)

# Runs in a child interpreter: a native module that segfaults on import (a wheel for the wrong
# CPU, a library ABI mismatch) takes the child down, not doctor.
_PROBE = r"""
import importlib, importlib.metadata, json, sys
out = {}
for module, dist in json.loads(sys.argv[1]):
    try:
        importlib.import_module(module)
    except BaseException as exc:
        out[module] = {"ok": False, "error": f"{type(exc).__name__}: {exc}".splitlines()[0][:200]}
        continue
    try:
        version = importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        version = None
    out[module] = {"ok": True, "version": version}
print(json.dumps(out))
"""


def check_python_packages(packages: Iterable[Package] = PACKAGES, python: str = sys.executable,
                          env: Mapping[str, str] | None = None, timeout_s: float = 120.0) -> Iterator[Finding]:
    packages = list(packages)
    modules = [(p.module, p.distribution) for p in packages] + \
              [(p.alternative, p.alternative) for p in packages if p.alternative]
    probe_env = dict(os.environ if env is None else env, PYGAME_HIDE_SUPPORT_PROMPT="1")
    result = subprocess.run([python, "-c", _PROBE, json.dumps(modules)], capture_output=True, text=True,
                            timeout=timeout_s, env=probe_env)
    try:
        found = json.loads(result.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        why = f"signal {-result.returncode}" if result.returncode < 0 else f"exit {result.returncode}"
        yield Finding("python packages", False, f"importing them crashed Python ({why})",
                      f"reinstall: {python} -m pip install --force-reinstall "
                      + " ".join(p.distribution for p in packages))
        return
    for package in packages:
        area = f"package {package.distribution}"
        got = found.get(package.module, {})
        if got.get("ok"):
            yield Finding(area, True, f"{got.get('version') or 'installed'} ({package.needed_for})")
        elif package.alternative and found.get(package.alternative, {}).get("ok"):
            yield Finding(area, True, f"{package.alternative} instead ({package.needed_for})")
        else:
            yield Finding(area, False, f"cannot import {package.module}: {got.get('error', 'missing')}",
                          f"{python} -m pip install {package.distribution}  (needed for {package.needed_for})")
    if found.get("pygame", {}).get("ok") and found.get("pygame", {}).get("version") is None:
        yield Finding("package pygame-ce", False, "the original pygame is installed, not pygame-ce",
                      f"{python} -m pip uninstall -y pygame && {python} -m pip install pygame-ce "
                      "(pygame's wheels lack the KMSDRM driver)")


def _python_packages(config: Config) -> Iterator[Finding]:
    yield from check_python_packages()


# --- files: model and catalogue --------------------------------------------------------------

from dashcart.core.vision.recognizer import DEFAULT_MODEL  # noqa: E402  (the runtime's own default)


def check_model(path: Path) -> Iterator[Finding]:
    fix = "reinstall dashcart (the model ships inside the package: deploy/install.sh) or set the model path in the config"
    try:
        with path.open("rb") as handle:
            head = handle.read(8)
    except FileNotFoundError:
        yield Finding("model", False, f"{path} is missing: the recognizer cannot run", fix)
        return
    except OSError as exc:
        yield Finding("model", False, f"{path}: cannot read: {exc.strerror}", fix)
        return
    # A TFLite flatbuffer carries the file identifier "TFL3" after its 4-byte root offset.
    if head[4:8] != b"TFL3":
        yield Finding("model", False, f"{path} is not a TFLite model", fix)
        return
    yield Finding("model", True, f"{path} ({path.stat().st_size / 1e6:.1f} MB)")


def _model(config: Config) -> Iterator[Finding]:
    configured = _setting(config, "vision.model", "")
    yield from check_model(Path(configured) if configured else DEFAULT_MODEL)


def check_catalogue(path: Path) -> Iterator[Finding]:
    fix = "import one as the service user: sudo -u dashcart dashcart catalogue import CATALOGUE.csv (docs/raspberry-pi.md)"
    if not path.exists():
        yield Finding("catalogue", False, f"{path} does not exist", fix)
        return
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=2)
        try:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            products = db.execute("SELECT count(*) FROM products").fetchone()[0] if "products" in tables else None
        finally:
            db.close()
    except sqlite3.Error as exc:
        yield Finding("catalogue", False, f"{path}: {exc}", fix)
        return
    if products is None:
        yield Finding("catalogue", False, f"{path} has no products table", fix)
    elif products == 0:
        yield Finding("catalogue", False, f"{path} holds no products", fix)
    else:
        yield Finding("catalogue", True, f"{path}: {products} products")


def _catalogue(config: Config) -> Iterator[Finding]:
    configured = _setting(config, "catalogue.db", "")
    path = Path(configured) if configured else config.state_dir() / "catalogue.db"
    if simulated(config) and not configured and not path.exists():
        yield Finding("catalogue", True, "the demo store bundled with dashcart (no catalogue imported)")
        return
    yield from check_catalogue(path)


# --- the state directory: journal and outbox ---------------------------------------------------

#: Below this much free space the journal and outbox are about to fail to save.
STATE_FREE_MIN_MB = 50


def check_state(state_dir: Path, free_min_mb: float = STATE_FREE_MIN_MB) -> Iterator[Finding]:
    """Can the cart save (a test write with fsync, free space), and do its journal and outbox read
    back (checked on copies, so a running cart is not disturbed)?"""
    import shutil
    import tempfile

    fix = "free space on that filesystem, or remount it read-write; see cart.state_dir (docs/raspberry-pi.md)"
    if not state_dir.exists():
        # Not created here: `sudo dashcart doctor` would leave it owned by root, and the service
        # (User=dashcart) could then not save. The cart creates it at start.
        parent = next((p for p in state_dir.parents if p.exists()), Path("/"))
        if os.access(parent, os.W_OK | os.X_OK):
            yield Finding("state", True, f"{state_dir}: not there yet; the cart creates it at start ({parent} is writable)")
        else:
            yield Finding("state", False, f"{state_dir}: not there, and {parent} is not writable by this user",
                          "create it for the cart's user (deploy/install.sh does: install -d -o dashcart "
                          f"{state_dir}), or set cart.state_dir")
        return
    try:
        probe = state_dir / ".doctor-write-test"
        with probe.open("wb") as handle:
            handle.write(b"\0" * 4096)
            handle.flush()
            os.fsync(handle.fileno())
        probe.unlink()
    except OSError as exc:
        if isinstance(exc, PermissionError):
            fix = ("run doctor as the cart's user (sudo -u dashcart dashcart doctor); if that fails too, give the "
                   f"directory to that user (chown -R dashcart: {state_dir})")
        yield Finding("state", False, f"{state_dir}: cannot save: {exc.strerror or exc}", fix)
        return
    stat = os.statvfs(state_dir)
    free_mb = stat.f_bavail * stat.f_frsize / 1e6
    if free_mb < free_min_mb:
        yield Finding("state", False, f"{state_dir}: only {free_mb:.0f} MB free: the cart will soon fail to save",
                      fix)
    else:
        yield Finding("state", True, f"{state_dir}: writable, {free_mb:.0f} MB free")
    from dashcart.core.basket import Basket, Journal
    from dashcart.core.checkout.outbox import Outbox
    from dashcart.core.sqlite_files import FILE_SUFFIXES
    from dashcart.errors import DashcartError
    for name, open_copy in (("basket.db", lambda p: Basket(Journal(p)).journal.close()),
                            ("outbox.sqlite", lambda p: _read_outbox(Outbox, p))):
        path = state_dir / name
        if not path.exists():
            continue
        with tempfile.TemporaryDirectory(prefix="dashcart-doctor-") as scratch:
            # The main file with what SQLite restores it from: its -wal (commits not yet
            # checkpointed) and its -journal (a first transaction cut off, which SQLite rolls
            # back: without it an empty file reads as cut short). -shm is rebuilt from the -wal.
            for suffix in (s for s in FILE_SUFFIXES if s != "-shm"):
                if Path(f"{path}{suffix}").exists():
                    shutil.copyfile(f"{path}{suffix}", Path(scratch) / f"{name}{suffix}")
            try:
                open_copy(Path(scratch) / name)
            except (DashcartError, sqlite3.Error) as exc:
                detail = str(exc).replace(str(Path(scratch) / name), str(path))
                yield Finding(name, False, detail, "stop the cart and move the file aside for the on-call engineer "
                                                   "(`dashcart run` moves a damaged basket.db aside by itself)")
                continue
        yield Finding(name, True, f"{path} reads back")


def _read_outbox(outbox_cls: Any, path: Path) -> None:
    outbox = outbox_cls(path)
    try:
        outbox.all()
    finally:
        outbox.close()


def _state(config: Config) -> Iterator[Finding]:
    yield from check_state(config.state_dir())


# --- the store -------------------------------------------------------------------------------

HEALTH_PATH = "/v1/health"


def check_store(url: str, timeout_s: float = 3.0) -> Iterator[Finding]:
    """Ask the store API ``GET <store_url>/v1/health`` (docs/store-api.yaml): 200 is up."""
    if not url:
        yield Finding("store", False, "no store configured: a practice cart, nothing is charged",
                      "set checkout.store_url to the store API's base URL and checkout.cart_key to this cart's key")
        return
    if not url.startswith(("http://", "https://")):
        yield Finding("store", False, f"{url!r} is not an http(s) URL", "set checkout.store_url to https://...")
        return
    fix = ("check the cart's network (`nmcli device status`), the URL, and that the store server is up; "
           "orders wait in the outbox meanwhile")
    health = url.rstrip("/") + HEALTH_PATH
    request = urllib.request.Request(health, method="GET", headers={"User-Agent": "dashcart-doctor"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 (http(s) checked above)
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code  # it answered: reachable; the status says how it is
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        yield Finding("store", False, f"GET {health}: unreachable: {reason}", fix)
        return
    if status == 200:
        yield Finding("store", True, f"GET {health}: HTTP 200, the store API is up")
    elif status >= 500:
        yield Finding("store", False, f"GET {health}: HTTP {status}", "the store server is failing; call the store's IT")
    else:
        yield Finding("store", False, f"GET {health}: HTTP {status}, not the store API's health",
                      "check checkout.store_url: the base URL the API's /v1/... paths hang under")


def _store(config: Config) -> Iterator[Finding]:
    from dashcart.config import missing_keys
    for line in missing_keys(config) if isinstance(config, Config) else ():
        yield Finding("keys", False, line, "ask the store for it and set it in [checkout] "
                                           "(deploy/install.sh --reconfigure asks for it)")
    url = _setting(config, "checkout.store_url", "")
    if not url and simulated(config):
        yield Finding("store", True, "practice cart: no store configured, nothing is charged")
        return
    yield from check_store(url, _setting(config, "checkout.timeout_s", 3.0))


# --- the user --------------------------------------------------------------------------------

#: group -> what it opens; the unit's SupplementaryGroups= and deploy/install.sh use the same list.
GROUPS: dict[str, str] = {
    "dialout": "the serial scale", "video": "cameras and the display", "render": "the GPU",
    "input": "the touchscreen", "gpio": "the status light and buzzer", "bluetooth": "BLE beacons",
}


def check_groups(user: str, member_of: set[str], existing: set[str], is_root: bool) -> Iterator[Finding]:
    if is_root:
        yield Finding("user groups", True, "running as root: every device is open (the service runs as 'dashcart')")
        return
    absent = [g for g in GROUPS if g not in existing]
    missing = [g for g in GROUPS if g in existing and g not in member_of]
    if absent:
        yield Finding("user groups", False, f"group(s) {', '.join(absent)} do not exist on this system",
                      "deploy/install.sh creates them (the unit will not start without them)")
    if missing:
        needs = "; ".join(f"{g}: {GROUPS[g]}" for g in missing)
        yield Finding("user groups", False, f"{user} is not in {', '.join(missing)} ({needs})",
                      f"sudo usermod -aG {','.join(missing)} {user}, then log in again")
    if not absent and not missing:
        yield Finding("user groups", True, f"{user} is in {', '.join(GROUPS)}")


def _groups(config: Config) -> Iterator[Finding]:
    if simulated(config):
        yield Finding("user groups", True, "simulated cart: no device to open")
        return
    uid = os.geteuid()
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = str(uid)
    member_of = {grp.getgrgid(gid).gr_name for gid in set(os.getgroups()) | {os.getegid()} if _gid_known(gid)}
    existing = {g.gr_name for g in grp.getgrall()}
    yield from check_groups(user, member_of, existing, uid == 0)


def _gid_known(gid: int) -> bool:
    try:
        grp.getgrgid(gid)
    except KeyError:
        return False
    return True


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace").strip()
    except OSError:
        return ""


CHECKS: tuple[Callable[[Config], Iterator[Finding]], ...] = (
    _serial_ports, _scale_line, _cameras, _bluetooth, _time_sync, _gpio, _display, _hangul_font, _model, _catalogue, _state, _store, _python_packages,
    _groups,
)


def run_checks(config: Config, checks: Iterable[Callable[[Config], Iterator[Finding]]] | None = None) -> list[Finding]:
    findings: list[Finding] = []
    for check in CHECKS if checks is None else checks:
        try:
            findings.extend(check(config))
        except Exception as exc:  # doctor reports; it never crashes
            findings.append(Finding(check.__name__.strip("_"), False, f"check failed: {type(exc).__name__}: {exc}",
                                    "a bug in doctor: please report it with this line"))
    return findings


def run(args: argparse.Namespace, config: Config) -> int:
    findings = run_checks(config)
    problems = sum(not f.ok for f in findings)
    if getattr(args, "json", False):
        print(json.dumps({"config": config.source or None, "simulated": simulated(config), "problems": problems,
                          "findings": [dataclasses.asdict(f) for f in findings]}, indent=1))
        return 1 if problems and getattr(args, "strict", False) else 0
    width = max((len(f.area) for f in findings), default=0)
    print(f"config: {config.source or 'built-in defaults'}")
    for f in findings:
        mark = "ok  " if f.ok else "PROBLEM"
        print(f"{mark:7} {f.area:<{width}}  {f.detail}")
        if f.fix:
            print(f"{'':7} {'':<{width}}  -> {f.fix}")
    missing = sum(not f.ok for f in findings)
    print(f"{missing} problem(s) found" if missing else "everything a cart needs is here")
    return 1 if missing and getattr(args, "strict", False) else 0


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser("doctor", parents=[common], help="report what hardware and files the cart finds",
                                   description="Report what this machine has for a cart (scale port, cameras, "
                                               "Bluetooth, display, model, catalogue, store, Python packages, "
                                               "user groups) and how to fix what is missing.")
    parser.add_argument("--strict", action="store_true", help="exit 1 when anything is missing (for scripts)")
    parser.add_argument("--json", action="store_true",
                        help='one JSON object on stdout: {"config", "simulated", "problems", "findings": '
                             '[{"area", "ok", "detail", "fix"}]}')
    parser.set_defaults(func=run)
