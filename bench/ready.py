"""`dashcart run` as systemd sees it: time to READY=1, watchdog pings, memory, clean stop.

Starts `python -m dashcart run` on the simulated hardware (or --config FILE) with NOTIFY_SOCKET and
WATCHDOG_USEC set, exactly as the unit does, and listens on a real datagram socket. Prints a
table. Targets (issue 7): READY in under 3 s; under 250 MB resident.

    python -m bench.ready [--config FILE] [--seconds 10] [--watchdog-s 4]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _rss_mb(pid: int, field: str) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", help="config file (default: built-in simulated cart)")
    ap.add_argument("--seconds", type=float, default=10.0, help="how long to keep it running after READY")
    ap.add_argument("--watchdog-s", type=float, default=4.0, help="WatchdogSec to simulate")
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="dashcart-ready-")
    sock_path = os.path.join(tmp, "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(sock_path)
    env = dict(os.environ, NOTIFY_SOCKET=sock_path, WATCHDOG_USEC=str(int(args.watchdog_s * 1e6)),
               SDL_VIDEODRIVER=os.environ.get("SDL_VIDEODRIVER", "dummy"),
               SDL_AUDIODRIVER=os.environ.get("SDL_AUDIODRIVER", "dummy"),
               XDG_STATE_HOME=os.path.join(tmp, "state"))
    cmd = [sys.executable, "-m", "dashcart", "run"] + (["--config", args.config] if args.config else [])
    start = time.monotonic()
    child = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    # WATCHDOG_PID would pin the watchdog to this pid; systemd sets it to the main pid, which is the child.
    rows: list[tuple[str, str]] = []
    ready_s = None
    pings: list[float] = []
    statuses: list[str] = []
    stopping = False
    deadline = start + 60
    try:
        while time.monotonic() < deadline and child.poll() is None:
            sock.settimeout(0.2)
            try:
                message = sock.recv(4096).decode()
            except TimeoutError:
                if ready_s is not None and time.monotonic() - start > ready_s + args.seconds:
                    break
                continue
            now = time.monotonic() - start
            for line in message.splitlines():
                if line == "READY=1" and ready_s is None:
                    ready_s = now
                    deadline = time.monotonic() + args.seconds + 1
                elif line == "WATCHDOG=1":
                    pings.append(now)
                elif line.startswith("STATUS="):
                    statuses.append(line[7:])
        peak = _rss_mb(child.pid, "VmHWM")
        rss = _rss_mb(child.pid, "VmRSS")
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
            sock.settimeout(5)
            try:
                while True:
                    if "STOPPING=1" in sock.recv(4096).decode():
                        stopping = True
                        break
            except (TimeoutError, OSError):
                pass
        try:
            code = child.wait(timeout=20)
        except subprocess.TimeoutExpired:
            child.kill()
            code = child.wait()
        err = child.stderr.read() if child.stderr else ""
    finally:
        sock.close()
        shutil.rmtree(tmp, ignore_errors=True)

    if ready_s is None and "invalid choice: 'run'" in err:
        print("dashcart run is not part of this build; nothing to measure")
        return 2
    gaps = [b - a for a, b in zip(pings, pings[1:])]
    rows += [
        ("READY=1 after", f"{ready_s:.2f} s (target < 3 s)" if ready_s is not None else "never"),
        ("watchdog pings", f"{len(pings)} in {args.seconds:g} s; longest gap {max(gaps):.2f} s "
                           f"(must stay < {args.watchdog_s:g} s)" if gaps else f"{len(pings)}"),
        ("resident memory", f"{rss:.0f} MB now, {peak:.0f} MB peak (target < 250 MB)"),
        ("STOPPING=1 on SIGTERM", "yes" if stopping else "no"),
        ("exit code", str(code)),
        ("last STATUS", statuses[-1] if statuses else "-"),
    ]
    width = max(len(k) for k, _ in rows)
    print(f"{'measure':<{width}}  value")
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    if ready_s is None:
        print(err[-2000:], file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
