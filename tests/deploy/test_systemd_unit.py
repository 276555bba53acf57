"""The unit that runs the cart on a Pi: its contract with cart/ and systemd's own verdict on it."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dashcart.errors import Misconfigured, PermanentlyBroken, RetryLater
from dashcart.runtime.watchdog import DEFAULT_BACKOFF_S

UNIT = Path(__file__).resolve().parents[2] / "systemd" / "dashcart.service"
EXEC_START = "/opt/dashcart/venv/bin/dashcart run --config /etc/dashcart/dashcart.toml"


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """Sections -> key -> every value (systemd keys may repeat: DeviceAllow=, Environment=)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        assert current is not None, f"key outside a section: {line}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


@pytest.fixture(scope="module")
def service():
    return parse_unit(UNIT.read_text())["Service"]


def one(service, key):
    values = service.get(key, [])
    assert len(values) == 1, f"{key}= should appear once, found {values}"
    return values[0]


def test_notify_watchdog_and_restart(service):
    assert one(service, "Type") == "notify"
    assert one(service, "NotifyAccess") == "main"
    assert one(service, "ExecStart") == EXEC_START
    assert one(service, "Restart") == "on-failure"
    watchdog_s = int(one(service, "WatchdogSec").rstrip("s"))
    # The in-process supervisor must get its chance before systemd restarts everything.
    assert watchdog_s > max(DEFAULT_BACKOFF_S) * 2


def test_exit_codes_that_restarting_cannot_fix_stop_the_loop(service):
    codes = one(service, "RestartPreventExitStatus").split()
    assert str(Misconfigured.exit_code) in codes and str(PermanentlyBroken.exit_code) in codes
    assert str(RetryLater.exit_code) not in codes  # a missing device may come back: keep trying


def test_own_user_groups_and_directories(service):
    assert one(service, "User") == "dashcart"
    groups = one(service, "SupplementaryGroups").split()
    assert set(groups) >= {"dialout", "video", "gpio", "input", "render", "bluetooth"}
    assert one(service, "ConfigurationDirectory") == "dashcart"
    assert one(service, "StateDirectory") == "dashcart"
    assert "SDL_VIDEODRIVER=kmsdrm" in service["Environment"]


def test_hardening(service):
    expected = {"ProtectSystem": "strict", "NoNewPrivileges": "yes", "ProtectHome": "yes",
                "PrivateTmp": "yes", "DevicePolicy": "closed", "CapabilityBoundingSet": ""}
    for key, value in expected.items():
        assert one(service, key) == value, key
    assert "PrivateDevices" not in service  # it would hide the scale, cameras and display
    allowed = {entry.split()[0] for entry in service["DeviceAllow"]}
    for device in ("char-ttyUSB", "char-ttyACM", "char-video4linux", "char-drm", "char-input", "char-gpiochip"):
        assert device in allowed, device


def _systemd_analyze() -> str:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze not installed")
    return tool


def _runnable_copy(tmp_path: Path) -> Path:
    """The unit with ExecStart's program replaced by one that exists here (same arguments).

    verify insists that the program exists; everything else it checks is the real file.
    """
    text = UNIT.read_text()
    program = EXEC_START.split()[0]
    assert text.count(f"ExecStart={program} ") == 1
    copy = tmp_path / UNIT.name
    copy.write_text(text.replace(f"ExecStart={program} ", f"ExecStart={sys.executable} -m dashcart "))
    return copy


def test_systemd_analyze_verify(tmp_path):
    tool = _systemd_analyze()
    result = subprocess.run([tool, "verify", str(_runnable_copy(tmp_path))],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    # Unknown or misspelt keys are only warnings to systemd; here they fail.
    complaints = [line for line in result.stderr.splitlines()
                  if re.search(r"Unknown|ignoring|[Ii]nvalid|Failed to parse|deprecated", line)]
    assert complaints == []


def test_verify_catches_a_broken_unit(tmp_path):
    """The check above can fail: a misspelt key is caught."""
    tool = _systemd_analyze()
    copy = _runnable_copy(tmp_path)
    copy.write_text(copy.read_text().replace("ProtectHome=yes", "ProtectHomes=yes"))
    result = subprocess.run([tool, "verify", str(copy)], capture_output=True, text=True, timeout=60)
    assert "ProtectHomes" in result.stderr


def test_exposure_score_stays_low(tmp_path):
    tool = _systemd_analyze()
    result = subprocess.run([tool, "security", "--offline=true", "--threshold=30", str(_runnable_copy(tmp_path))],
                            capture_output=True, text=True, timeout=60)
    if "--offline" in result.stderr or "unrecognized option" in result.stderr:
        pytest.skip("systemd-analyze too old for offline security analysis (needs systemd 250)")
    # threshold 30 = an exposure of 3.0 out of 10 ("OK"); the unit scores about 1.8.
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr


def test_it_starts_after_the_clock_is_set():
    """The lane's rotating beacon ids are checked against the wall clock: order after time-sync
    (ordering only, no Requires=: an offline cart must still start)."""
    unit = parse_unit(UNIT.read_text())["Unit"]
    assert "time-sync.target" in " ".join(unit["After"]).split()
    assert not any("time-sync" in v for k in ("Requires", "Requisite", "BindsTo") for v in unit.get(k, []))
