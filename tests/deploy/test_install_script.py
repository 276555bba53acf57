"""deploy/install.sh: the dry run shows every step and changes nothing; its default config loads."""

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from dashcart.config import parse_config

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "deploy" / "install.sh"

# Commands that change the system: in a dry run none of them may run.
MUTATORS = ("apt-get", "groupadd", "useradd", "usermod", "install", "python3", "pip", "chgrp", "chmod",
            "chown", "mv", "cp", "mkdir", "tee", "mktemp", "ln", "rm")

STUBS = {
    # systemctl: answer the read-only queries like a machine where nothing is enabled; log the rest.
    "systemctl": 'case "$1" in is-enabled) echo disabled; exit 1;; is-active) echo inactive; exit 3;; esac\n'
                 'echo "systemctl $*" >> "$STUB_LOG"; exit 97',
    "dpkg-query": "exit 1",  # nothing installed
    "apt-cache": 'echo "$2:"; echo "  Installed: (none)"; echo "  Candidate: 1.0"',
    "getent": 'for g in $FAKE_GROUPS; do [ "$2" = "$g" ] && { echo "$g:x:1:"; exit 0; }; done; exit 2',
    "id": 'if [ "$1" = -u ] && [ $# = 1 ]; then echo "${FAKE_UID:-0}"; exit 0; fi\n'
          'if [ -n "$FAKE_USER_GROUPS" ]; then\n'
          '  case "$1" in -u) echo 999;; -nG) echo "$FAKE_USER_GROUPS";; esac; exit 0\n'
          'fi\n'
          'echo "id: dashcart: no such user" >&2; exit 1',
}


@pytest.fixture
def sandbox(tmp_path):
    """A PATH whose system-changing commands only record that they were called."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "calls.log"
    for name in MUTATORS:
        STUBS.setdefault(name, None)
    for name, body in STUBS.items():
        stub = bindir / name
        stub.write_text("#!/bin/sh\n" + (body or f'echo "{name} $*" >> "$STUB_LOG"; exit 97') + "\n")
        stub.chmod(stub.stat().st_mode | stat.S_IXUSR)
    env = {"PATH": f"{bindir}:{os.environ['PATH']}", "STUB_LOG": str(log), "FAKE_GROUPS": "dialout video input"}

    def run(*args, **extra):
        return subprocess.run(["bash", str(SCRIPT), *args], env={**env, **extra}, capture_output=True,
                              text=True, timeout=60)

    run.log = log
    return run


def _plus_lines(out: str) -> list[str]:
    return [line[2:] for line in out.splitlines() if line.startswith("+ ")]


def test_dry_run_on_a_fresh_pi_shows_every_step_and_changes_nothing(sandbox):
    before = {p: os.path.exists(p) for p in ("/etc/dashcart", "/opt/dashcart", "/etc/systemd/system/dashcart.service")}
    result = sandbox("--dry-run")
    assert result.returncode == 0, result.stderr
    assert not sandbox.log.exists(), sandbox.log.read_text()
    assert {p: os.path.exists(p) for p in before} == before

    steps = _plus_lines(result.stdout)
    apt = next(s for s in steps if "apt-get install" in s)
    for package in ("python3-venv", "fonts-nanum", "bluez", "libgbm1"):
        assert package in apt.split()
    assert "python3-picamera2" not in apt  # only with --csi
    assert [s for s in steps if s.startswith("groupadd")] == [
        "groupadd --system gpio", "groupadd --system render", "groupadd --system bluetooth"]
    assert any(s.startswith("useradd --system") and s.endswith(" dashcart") for s in steps)
    assert "usermod --append --groups dialout,video,gpio,input,render,bluetooth dashcart" in steps
    assert "python3 -m venv /opt/dashcart/venv" in steps
    assert f"/opt/dashcart/venv/bin/pip install --quiet --upgrade {REPO}\\[pi\\]" in steps
    assert f"install -m 0644 {REPO}/systemd/dashcart.service /etc/systemd/system/dashcart.service" in steps
    assert "systemctl enable dashcart.service" in steps
    assert not any("systemctl start" in s or "systemctl restart" in s for s in steps)
    assert "+ write /etc/dashcart/dashcart.toml (mode 0640, root:dashcart):" in result.stdout


def test_dry_run_with_user_present_adds_only_missing_groups(sandbox):
    result = sandbox("--dry-run", "--start", "--csi", FAKE_USER_GROUPS="dashcart dialout video",
                     FAKE_GROUPS="dialout video gpio input render bluetooth")
    assert result.returncode == 0, result.stderr
    steps = _plus_lines(result.stdout)
    assert not any(s.startswith(("useradd", "groupadd")) for s in steps)
    assert "usermod --append --groups gpio,input,render,bluetooth dashcart" in steps
    assert "python3 -m venv --system-site-packages /opt/dashcart/venv" in steps
    assert "python3-picamera2" in next(s for s in steps if "apt-get install" in s)
    assert steps[-1] == "systemctl start dashcart.service"
    assert not sandbox.log.exists()


def test_the_written_default_config_is_one_the_cart_accepts(sandbox):
    result = sandbox("--print-config")
    assert result.returncode == 0, result.stderr
    config = parse_config(result.stdout, "default dashcart.toml")
    assert config.scale.backend == "serial" and config.scale.protocol == "hx711-bridge"
    assert config.cart.state_dir == "/var/lib/dashcart"
    # and it is exactly what the dry run says it would write
    dry = sandbox("--dry-run").stdout
    shown = [line[4:] for line in dry.splitlines() if line.startswith("|   ")]
    assert "\n".join(shown).strip() == result.stdout.strip()


def test_real_run_needs_root(sandbox):
    result = sandbox(FAKE_UID="1000")
    assert result.returncode == 1
    assert "run as root" in result.stderr
    assert not sandbox.log.exists()


def test_unknown_option_is_refused(sandbox):
    result = sandbox("--dry-rnu")
    assert result.returncode != 0 and "unknown option --dry-rnu" in result.stderr


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck not installed")
def test_shellcheck_is_clean():
    result = subprocess.run(["shellcheck", str(SCRIPT)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout
