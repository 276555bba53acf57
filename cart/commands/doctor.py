"""``dashcart doctor``: what this machine has for a cart, and what is missing."""

from __future__ import annotations

import argparse
import glob
import importlib.util
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from cart.config import Config


@dataclass(frozen=True)
class Finding:
    area: str
    ok: bool
    detail: str
    fix: str = ""


def _serial_ports(config: Config) -> Iterator[Finding]:
    ports = sorted(glob.glob("/dev/ttyUSB*") + glob.glob("/dev/ttyACM*") + glob.glob("/dev/serial/by-id/*"))
    if config.scale.backend == "sim":
        yield Finding("scale", True, "simulated scale (scale.backend = \"sim\")")
    elif config.scale.port and (os.path.exists(config.scale.port) or "://" in config.scale.port):
        yield Finding("scale", True, f"{config.scale.protocol} scale at {config.scale.port}")
    else:
        yield Finding("scale", False, f"configured port {config.scale.port!r} does not exist",
                      "plug in the scale bridge and set scale.port (see `ls /dev/serial/by-id`)")
    yield Finding("serial ports", bool(ports), ", ".join(ports) or "none found",
                  "" if ports else "is the bridge's USB cable in? is the user in the dialout group?")


def _cameras(config: Config) -> Iterator[Finding]:
    devices = sorted(glob.glob("/dev/video*"))
    yield Finding("cameras", bool(devices), ", ".join(devices) or "no /dev/video* devices",
                  "" if devices else "plug in a USB camera or enable the CSI camera; the cart runs on weight and touch without one")


def _bluetooth(config: Config) -> Iterator[Finding]:
    adapters = sorted(os.listdir("/sys/class/bluetooth")) if os.path.isdir("/sys/class/bluetooth") else []
    yield Finding("bluetooth", bool(adapters), ", ".join(adapters) or "no adapter",
                  "" if adapters else "enable Bluetooth (bluetoothd) or plug in a BLE dongle; zones and the lane need it")


def _display(config: Config) -> Iterator[Finding]:
    has = bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or glob.glob("/dev/dri/card*"))
    yield Finding("display", has, "X11/Wayland or KMS device present" if has else "no display found",
                  "" if has else "connect the touchscreen; on Pi OS Lite the cart draws through KMSDRM (/dev/dri)")


def _python_packages(config: Config) -> Iterator[Finding]:
    for module, package in (("serial", "pyserial"), ("numpy", "numpy")):
        found = importlib.util.find_spec(module) is not None
        yield Finding(f"package {package}", found, "installed" if found else "missing",
                      "" if found else f"pip install {package}")


CHECKS: tuple[Callable[[Config], Iterator[Finding]], ...] = (
    _serial_ports, _cameras, _bluetooth, _display, _python_packages,
)


def run_checks(config: Config) -> list[Finding]:
    findings: list[Finding] = []
    for check in CHECKS:
        try:
            findings.extend(check(config))
        except Exception as exc:  # doctor reports; it never crashes
            findings.append(Finding(check.__name__.strip("_"), False, f"check failed: {exc}"))
    return findings


def run(args: argparse.Namespace, config: Config) -> int:
    findings = run_checks(config)
    width = max(len(f.area) for f in findings)
    print(f"config: {config.source or 'built-in defaults'}")
    for f in findings:
        mark = "ok  " if f.ok else "MISSING"
        print(f"{mark:7} {f.area:<{width}}  {f.detail}")
        if f.fix:
            print(f"{'':7} {'':<{width}}  -> {f.fix}")
    return 0


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser("doctor", parents=[common], help="report what hardware and files the cart finds",
                                   description="Report what this machine has for a cart (serial ports, cameras, "
                                               "Bluetooth, display, model, catalogue) and how to fix what is missing.")
    parser.set_defaults(func=run)
